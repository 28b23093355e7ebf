#!/usr/bin/env bash
# Stops the local test cluster started by up.sh: every slurmd, then slurmctld and slurmdbd,
# then MariaDB and munged, by pid file (SIGTERM, SIGKILL only after 30 s). Packages,
# configs, Slurm state and the accounting database are kept, so up.sh restarts in seconds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
[ "$(id -u)" = 0 ] || die "run as root"
stop_slurmds
stop_daemon /run/slurmctld.pid slurmctld & stop_daemon /run/slurmdbd.pid slurmdbd & wait
stop_daemon /run/mysqld/mysqld.pid mariadb
stop_daemon /run/munge/munged.pid munged
"$here/../sim/nodes.sh" stop
left=$(pgrep -c slurmstepd || true)
[ "${left:-0}" = 0 ] || say "warning: $left slurmstepd process(es) still running"
say "cluster down"
