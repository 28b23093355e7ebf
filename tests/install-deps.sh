#!/usr/bin/env bash
# Installs the Debian packages that building and testing energy-assess need (only the missing
# ones; apt-get update only when something is missing). Run as root.
#   build:  libclang-dev (bindgen), libslurm-dev (<slurm/spank.h>), libmunge-dev (<munge.h>,
#           the collector's and forwarder's MUNGE credentials), pkg-config
#   tests:  munge slurmctld slurmd slurm-client slurmdbd mariadb-server (the local cluster),
#           chromium (renders the HTML report in a test), python3-venv
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/cluster/lib.sh"
[ "$(id -u)" = 0 ] || die "run as root"
install_packages libclang-dev libslurm-dev libmunge-dev pkg-config \
  munge slurmctld slurmd slurm-client slurmdbd mariadb-server \
  chromium python3-venv "$@"
command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs), then run this again"
say "dependencies ok"
