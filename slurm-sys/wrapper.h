/* The one header the SPANK API needs; spank.h pulls in slurm_version.h and slurm_errno.h. */
#include <slurm/spank.h>
