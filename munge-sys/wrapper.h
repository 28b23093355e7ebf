/* libmunge's one public header (Debian: libmunge-dev). */
#include <munge.h>
