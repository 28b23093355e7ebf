#!/usr/bin/env bash
# Builds the real-GPU NVML check here (release) into a folder to carry to a GPU machine that
# has no Rust toolchain: target/gpu-check/ by default, or the folder given as $1.
#
#   tests/gpu/build-real-nvml-check.sh            # -> target/gpu-check/nvml-check
#   tests/gpu/real-nvml-check.sh target/gpu-check # on the GPU machine (see that script)
#
# It also runs the freshly built binary against the fake libnvidia-ml for a few seconds, so
# that a broken build is found here and not on the borrowed machine.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
out=${1:-target/gpu-check}
cargo build --release -p ea-meters --example nvml-check
cargo build --release -p fake-nvml
mkdir -p "$out"
cp target/release/examples/nvml-check "$out/nvml-check"
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
