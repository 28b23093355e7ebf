#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser of outside data (fuzz/: cargo-fuzz, libFuzzer, with
# overflow checks and debug assertions on), for a bounded time per target.
#
#   tests/fuzz/run.sh [TARGET...]          every target when none is named
#
# Installs cargo-fuzz if it is missing, builds every target once, then fuzzes each for
# FUZZ_SECONDS from a scratch copy of its committed seeds (fuzz/seeds/TARGET/ copied to
# fuzz/corpus/TARGET/, which is not tracked), and prints per target the executions, the
# executions per second and whether it crashed. A crashing input is left under
# fuzz/artifacts/TARGET/ (with the run's log beside it), and the script exits non-zero.
#
# Environment:
#   FUZZ_SECONDS=30     fuzzing time per target (libFuzzer's -max_total_time)
#   FUZZ_JOBS=nproc     targets fuzzed at once (each libFuzzer process uses one core)
#   FUZZ_RSS_MB=2048    memory limit of one target (-rss_limit_mb; and -malloc_limit_mb under
#                       a sanitizer)
#   FUZZ_SANITIZER=none cargo-fuzz's sanitizer: `none` by default, because the parsers are safe
#                       Rust (store, record and impact forbid unsafe code; meters' unsafe code is
#                       not on their paths) and, on two cores, AddressSanitizer makes the build
#                       1.6 times and each execution 3 to 4 times slower; `address` for a deeper
#                       look at the dependencies' unsafe code
#   FUZZ_TIMEOUT=10     seconds one input may take before it counts as a hang (-timeout)
#   FUZZ_KEEP_CORPUS=1  start from the corpus a previous run grew, not from the seeds alone
#   FUZZ_KEEP_GOING=1   do not stop at the first crash (libFuzzer's fork mode, crashes, OOMs
#                       and timeouts recorded and skipped): to find several bugs in one run
#
# Longer runs: FUZZ_SECONDS=3600 tests/fuzz/run.sh sacct_text
# Reproduce a crash: fuzz/target/x86_64-unknown-linux-gnu/release/TARGET fuzz/artifacts/TARGET/crash-...
# Minimise it: RUSTC_BOOTSTRAP=1 cargo fuzz tmin --fuzz-dir fuzz TARGET fuzz/artifacts/TARGET/crash-...
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"

seconds=${FUZZ_SECONDS:-30}
jobs=${FUZZ_JOBS:-$(nproc)}
rss=${FUZZ_RSS_MB:-2048}
timeout=${FUZZ_TIMEOUT:-10}
sanitizer=${FUZZ_SANITIZER:-none}

say() { printf '\n==> %s\n' "$*"; }
die() { printf 'tests/fuzz/run.sh: %s\n' "$*" >&2; exit 2; }

# cargo-fuzz passes -Z flags to rustc: the stable toolchain takes them with RUSTC_BOOTSTRAP=1.
export RUSTC_BOOTSTRAP=1
# The plugin's crate is linked for its config parser; the committed Slurm bindings need neither
# Slurm's headers nor libclang.
export SLURM_SYS_USE_FALLBACK=1
export PATH="$HOME/.cargo/bin:$PATH"

if ! cargo fuzz --version >/dev/null 2>&1; then
  say "installing cargo-fuzz"
  cargo install cargo-fuzz --locked --version 0.13.2
fi

# The longest input each target is given, in bytes: about the largest seed (a few kB of a
# dump, a record with its series), short for single fields.
max_len() {
  case "$1" in
    sacct_fields | hostlist) echo 1024 ;;
    factors_series | site_config) echo 4096 ;;
    sacct_json) echo 16384 ;;
    record) echo 12288 ;;
    *) echo 8192 ;;
  esac
}

mapfile -t all < <(cargo fuzz list --fuzz-dir fuzz)
[ "${#all[@]}" -gt 0 ] || die "no fuzz targets in fuzz/"
if [ $# -gt 0 ]; then
  targets=("$@")
  for t in "${targets[@]}"; do
    printf '%s\n' "${all[@]}" | grep -qx -- "$t" || die "no target $t; targets: ${all[*]}"
  done
else
  targets=("${all[@]}")
fi

say "cargo fuzz build --sanitizer $sanitizer (every target, once)"
build_start=$SECONDS
cargo fuzz build --fuzz-dir fuzz --sanitizer "$sanitizer"
echo "built in $((SECONDS - build_start)) s"

triple=$(rustc -vV | sed -n 's/^host: //p')
bin_dir=fuzz/target/$triple/release
logs=fuzz/artifacts/logs
mkdir -p "$logs"

fuzz_one() {
  local t=$1 corpus=fuzz/corpus/$1 art=fuzz/artifacts/$1
  mkdir -p "$art"
  if [ "${FUZZ_KEEP_CORPUS:-0}" != 1 ]; then
    rm -rf "$corpus"
  fi
  mkdir -p "$corpus"
  cp -f fuzz/seeds/"$t"/* "$corpus"/ 2>/dev/null || true
  touch "$logs/$t.start"
  local extra=()
  if [ "$sanitizer" != none ]; then
    extra+=(-malloc_limit_mb="$rss")
  fi
  if [ "${FUZZ_KEEP_GOING:-0}" = 1 ]; then
    extra+=(-fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1)
  fi
  local rc=0
  "$bin_dir/$t" "$corpus" \
    -max_total_time="$seconds" -max_len="$(max_len "$t")" \
    -rss_limit_mb="$rss" -timeout="$timeout" \
    -artifact_prefix="$art/" -print_final_stats=1 "${extra[@]}" \
    >"$logs/$t.log" 2>&1 || rc=$?
  echo "$rc" >"$logs/$t.rc"
}

say "fuzzing ${targets[*]} for $seconds s each, $jobs at a time"
running=0
for t in "${targets[@]}"; do
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
  fuzz_one "$t" &
  running=$((running + 1))
done
wait || true

say "results"
printf '%-16s %12s %10s  %s\n' target executions exec/s result
failed=0
for t in "${targets[@]}"; do
  log=$logs/$t.log
  rc=$(cat "$logs/$t.rc" 2>/dev/null || echo 1)
  # Plain mode prints stat:: lines at the end; fork mode prints its progress lines instead.
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  if [ -z "$execs" ]; then
    last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' <<<"$last")
    rate=$(sed -n 's/.*exec\/s: \([0-9]*\).*/\1/p' <<<"$last")
  fi
  mapfile -t found < <(find "fuzz/artifacts/$t" -maxdepth 1 -type f \
    \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' \) \
    -newer "$logs/$t.start" | sort)
  if [ "${#found[@]}" -gt 0 ] || { [ "$rc" != 0 ] && [ "${FUZZ_KEEP_GOING:-0}" != 1 ]; }; then
    failed=1
    result="CRASH (exit $rc): ${found[*]:-see $log}"
  else
    result=ok
  fi
  printf '%-16s %12s %10s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "$result"
done

if [ "$failed" = 1 ]; then
  for t in "${targets[@]}"; do
    rc=$(cat "$logs/$t.rc" 2>/dev/null || echo 1)
    if [ "$rc" != 0 ] || find "fuzz/artifacts/$t" -maxdepth 1 -newer "$logs/$t.start" -name 'crash-*' | grep -q .; then
      say "$t: what libFuzzer said"
      grep -E -A12 "panicked at|ERROR: (libFuzzer|AddressSanitizer)|SUMMARY" "$logs/$t.log" | head -40 || tail -20 "$logs/$t.log"
    fi
  done
  echo
  echo "fuzzing found crashes: inputs under fuzz/artifacts/TARGET/, logs under $logs/"
  exit 1
fi
echo
echo "fuzzing: ${#targets[@]} targets, no crash"
