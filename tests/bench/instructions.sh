#!/usr/bin/env bash
# Instructions executed by `ingest` and `report` on a synthetic month, counted by valgrind's
# cachegrind (no cache simulation). Unlike wall or CPU time on this shared two-core machine,
# the count is the same from run to run (within 0.2 %, rayon's work stealing aside), so two
# builds can be compared on one run each. Kernel time (reading files, writing the store) is
# not counted: compare system time with `/usr/bin/time` for that.
#
# The month is made once by the month benchmark (`postproc/benches/month.rs`) in $DIR and
# reused. Prints one line per command: its instruction count.
#
# Usage: tests/bench/instructions.sh [JOBS] [BINARY]
#   JOBS     jobs in the month (default 100000: a run of ingest takes about 20 s under valgrind)
#   BINARY   the energy-assess to measure (default: a release build of this checkout)
# Environment: DIR, where the month is kept (default target/bench/month-JOBS).
set -euo pipefail
JOBS=${1:-100000}
repo=$(cd "$(dirname "$0")/../.." && pwd)
DIR=${DIR:-$repo/target/bench/month-$JOBS}
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
if [ -n "${2:-}" ]; then
    bin=$2
else
    cargo build --release -p energy-assess --manifest-path "$repo/Cargo.toml" >/dev/null 2>&1
    bin=$repo/target/release/energy-assess
fi
if [ ! -f "$DIR/sacct.txt" ]; then
    mkdir -p "$DIR"
    EA_BENCH_JOBS=$JOBS EA_BENCH_DIR=$DIR cargo bench -p energy-assess --bench month \
        --manifest-path "$repo/Cargo.toml" >/dev/null 2>&1
fi
count() {
    local what=$1; shift
    local out
    out=$(valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null "$bin" "$@" 2>&1 >/dev/null)
    echo "$what: $(echo "$out" | sed -n 's/.*I *refs: *//p') instructions"
}
rm -f "$DIR/store.sqlite" "$DIR/store.sqlite-journal"
count "ingest ($JOBS jobs)" ingest --config "$DIR/postproc.toml" -q --sacct "$DIR/sacct.txt" --spool "$DIR/spool"
count "report ($JOBS jobs)" report --config "$DIR/postproc.toml" --month 2026-11 --format html -o "$DIR/report.html"
