#!/usr/bin/env bash
# Overhead of the energy_assess plugin on job launch, measured on the local test cluster.
#
# One run measures, with hyperfine, the latency of `srun -n1 true` (a new allocation each
# time, so it includes the job prolog and epilog on its node) in three configurations:
#   none      no plugin line in plugstack.conf (Slurm alone);
#   loaded    the plugin loaded, the job not assessed: Slurm's own cost of having a SPANK
#             plugin with job_prolog/job_epilog (it forks `slurmstepd spank prolog|epilog`);
#   assessed  the plugin loaded and `--energy-assess` given: the plugin's own work on top
#             (config, record, starting and stopping the job's sampler, which reads this
#             host's real meters: none here, so it finds them absent, says why, and starts
#             no sampler);
#   metered   as assessed, with simulated meters on every node (tests/sim/nodes.sh: three
#             RAPL zones, two GPUs through the real nvml-wrapper path and a fake libnvidia-ml,
#             a BMC through a fake ipmitool), so the job's sampler is started and stopped.
# The slurmd are restarted between configurations (they only learn at start-up whether a
# plugin has a prolog). Prints the medians and the two differences, and writes the hyperfine
# JSON exports to $OUT_DIR (default target/bench).
#
# Usage (root): tests/bench/overhead.sh [RUNS]       default 50 runs per configuration
set -euo pipefail
RUNS=${1:-50}
repo=$(cd "$(dirname "$0")/../.." && pwd)
OUT_DIR=${OUT_DIR:-$repo/target/bench}
mkdir -p "$OUT_DIR"
source "$repo/tests/cluster/lib.sh"
[ "$(id -u)" = 0 ] || die "run as root"
install_packages hyperfine

cargo build --release -p energy-assess-spank -p ea-meters -p ea-sim -p fake-nvml --lib --bins --manifest-path "$repo/Cargo.toml" >/dev/null 2>&1 \
  || die "cargo build --release -p energy-assess-spank -p ea-meters -p ea-sim -p fake-nvml failed"
so=$repo/target/release/libenergy_assess_spank.so
sampler=$repo/target/release/energy-assess-sampler
site=/etc/slurm/energy-assess.toml
printf 'spool = "/var/spool/energy-assess"\n' > "$site"

measure() { # NAME COMMAND
  local name=$1 cmd=$2
  hyperfine -N --runs "$RUNS" --warmup 3 --export-json "$OUT_DIR/overhead-$name.json" "$cmd" >/dev/null
  python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results'][0]; print('%.1f %.1f %.1f' % (r['median']*1e3, r['mean']*1e3, r['stddev']*1e3))" \
    "$OUT_DIR/overhead-$name.json"
}

PLUGIN_SO= "$repo/tests/cluster/up.sh" >/dev/null
read -r none_med none_mean none_sd < <(measure none "srun -n1 true")
PLUGIN_SO=$so SAMPLER=$sampler "$repo/tests/cluster/up.sh" >/dev/null
read -r loaded_med loaded_mean loaded_sd < <(measure loaded "srun -n1 true")
read -r assessed_med assessed_mean assessed_sd < <(measure assessed "srun -n1 --energy-assess true")
BIN_DIR=$repo/target/release "$repo/tests/sim/nodes.sh" start >> "$site"
read -r metered_med metered_mean metered_sd < <(measure metered "srun -n1 --energy-assess true")
"$repo/tests/sim/nodes.sh" stop >/dev/null
printf 'spool = "/var/spool/energy-assess"\n' > "$site"

printf '\nsrun -n1 true, %d runs each, %s, PrologFlags=%s\n' "$RUNS" "$(hostname -s)" "$(scontrol show config | awk '/^PrologFlags/ {print $3}')"
printf '%-34s %8s %8s %8s\n' configuration "median" "mean" "sd"
printf '%-34s %6.1fms %6.1fms %6.1fms\n' "no plugin" "$none_med" "$none_mean" "$none_sd"
printf '%-34s %6.1fms %6.1fms %6.1fms\n' "plugin loaded, job not assessed" "$loaded_med" "$loaded_mean" "$loaded_sd"
printf '%-34s %6.1fms %6.1fms %6.1fms\n' "plugin loaded, --energy-assess" "$assessed_med" "$assessed_mean" "$assessed_sd"
printf '%-34s %6.1fms %6.1fms %6.1fms\n' "... with 6 simulated meters" "$metered_med" "$metered_mean" "$metered_sd"
awk -v a="$none_med" -v b="$loaded_med" -v c="$assessed_med" -v d="$metered_med" 'BEGIN {
  printf "Slurm running a SPANK prolog/epilog (loaded - none):  %+.1f ms\n", b - a
  printf "the plugin'"'"'s own work (assessed - loaded):            %+.1f ms\n", c - b
  printf "total (assessed - none):                              %+.1f ms\n", c - a
  printf "with a sampler and 6 meters (metered - loaded):       %+.1f ms\n", d - b
}'
