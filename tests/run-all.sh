#!/usr/bin/env bash
# Runs every test of energy-assess: unit and integration tests of every crate, and the
# end-to-end tests against a real local Slurm cluster (started by tests/cluster/up.sh from the
# e2e fixture). Run as root on Debian 12; installs what it needs first.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
source tests/cluster/lib.sh
[ "$(id -u)" = 0 ] || die "run as root: the end-to-end tests start Slurm daemons"
tests/install-deps.sh
# A fresh clone gains nothing from incremental caches, and they double the target's size.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
say "disk free for the build: $(df -h --output=avail . | tail -1 | tr -d ' ')"
if cargo fmt --version >/dev/null 2>&1; then
  say "cargo fmt --check"
  cargo fmt --all -- --check >/dev/null || die "code is not formatted: run cargo fmt --all"
fi
if cargo clippy --version >/dev/null 2>&1; then
  say "cargo clippy --workspace --all-targets -- -D warnings"
  cargo clippy -q --workspace --all-targets -- -D warnings || die "clippy found problems (above)"
fi
if cargo nextest --version >/dev/null 2>&1; then
  say "cargo nextest run --workspace"
  cargo nextest run --workspace --no-fail-fast "$@"
else
  say "cargo-nextest not found; using cargo test"
  cargo test --workspace --no-fail-fast "$@"
fi
# Every fuzz target for a bounded time (FUZZ_SECONDS=0 skips; longer: tests/fuzz/run.sh).
if [ "${FUZZ_SECONDS:-20}" != 0 ]; then
  say "tests/fuzz/run.sh (${FUZZ_SECONDS:-20} s a target)"
  FUZZ_SECONDS=${FUZZ_SECONDS:-20} tests/fuzz/run.sh
fi
say "all tests passed"
