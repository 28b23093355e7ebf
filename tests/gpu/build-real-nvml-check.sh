#!/usr/bin/env bash
# Builds the real-GPU checks here (release) into a folder to carry to a GPU machine that has
# no Rust toolchain: target/gpu-check/ by default, or the folder given as $1. It holds
# nvml-check (the NVML meter alone), gpu-job (a job through the plugin's prolog and epilog),
# energy-assess-sampler, energy-assess, and ea-meters-tests (the ea-meters unit tests, whose
# ignored hardware tests run there).
#
#   tests/gpu/build-real-nvml-check.sh            # -> target/gpu-check/
#   tests/gpu/real-nvml-check.sh target/gpu-check # on the GPU machine (see that script)
#   tests/gpu/gpu-job-check.sh target/gpu-check   # likewise
#
# It also runs the freshly built binary against the fake libnvidia-ml for a few seconds, so
# that a broken build is found here and not on the borrowed machine.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
out=${1:-target/gpu-check}
cargo build --release -p ea-meters --example nvml-check --bin energy-assess-sampler
cargo build --release -p energy-assess-spank --example gpu-job
cargo build --release -p energy-assess
cargo build --release -p fake-nvml
tests=$(cargo test --release -p ea-meters --lib --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["lib"]:
        print(m["executable"])')
mkdir -p "$out"
cp target/release/examples/nvml-check target/release/examples/gpu-job \
  target/release/energy-assess-sampler target/release/energy-assess "$out/"
cp "$tests" "$out/ea-meters-tests"
echo "built $out/nvml-check ($(du -h "$out/nvml-check" | cut -f1)); newest glibc symbol it needs:" \
  "$(objdump -T "$out/nvml-check" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)"

# Smoke test against the fake library: two GPUs, 300 W with a counter, 90 W without.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
now=$(date +%s)
cat > "$tmp/fake-nvml.json" <<JSON
{"gpus": [
  {"uuid": "GPU-00000000-fake-0000-0000-000000000000", "name": "Fake H100", "power_w": 300, "counter_since_unix_s": $((now - 60))},
  {"uuid": "GPU-11111111-fake-0000-0000-000000000000", "name": "Fake P100", "power_w": 90, "energy_counter": false, "counter_since_unix_s": $((now - 60))}
]}
JSON
EA_FAKE_NVML_CONFIG="$tmp/fake-nvml.json" "$out/nvml-check" --nvml-library "$repo/target/release/libnvidia_ml_fake.so" \
  --duration-s 2 --interval-ms 100 --json "$tmp/out.json"
python3 - "$tmp/out.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
g = d["gpus"][0]
rel = g["relative_difference_power_vs_counter"]
assert abs(rel) < 0.01, f"fake GPU: counter and integrated power differ by {rel:.2%}"
assert d["gpus"][1]["energy_counter_j"] is None and d["gpus"][1]["energy_integrated_power_j"] > 0
print(f"smoke test against the fake libnvidia-ml: OK (counter vs power {rel:+.4%})")
PY

# The same library through the plugin: a 2 s job on the fake GPU 0 must leave a record whose
# GPU meter read about 300 W.
EA_FAKE_NVML_CONFIG="$tmp/fake-nvml.json" OUT="$tmp/job" NVML_LIBRARY="$repo/target/release/libnvidia_ml_fake.so" \
  JOB_COMMAND="sleep 2" tests/gpu/gpu-job-check.sh "$out" > "$tmp/job.log" 2>&1 ||
  { cat "$tmp/job.log"; exit 1; }
grep -q '^gpu-job check: OK' "$tmp/job.log" || { cat "$tmp/job.log"; exit 1; }
echo "smoke test of gpu-job against the fake libnvidia-ml: OK"
