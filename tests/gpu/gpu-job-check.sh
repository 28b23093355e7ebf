#!/usr/bin/env bash
# One assessed job on a GPU machine without Slurm, through the plugin's own job_prolog and
# job_epilog (target/gpu-check/gpu-job): the prolog starts the real sampler, which reads GPU 0
# through nvml-wrapper; the job (tests/gpu/job-load.py: idle, bf16 matrix products, idle)
# reads GPU 0's NVML energy counter itself, through nvidia-ml-py, first and last; the epilog
# writes the node's record. Then energy-assess shows the job from the spool with its footprint
# (an inventory of this node is written here), ingests the record and queries it with acct.
# The check: the record's GPU energy against the job's own counter reading (the record's span
# holds the job's, so it may only exceed it by the idle power over the difference).
#
#   tests/gpu/gpu-job-check.sh [BIN_DIR]     (BIN_DIR: default target/gpu-check)
#
# Environment: OUT (results, default ./gpu-job-out), IDLE_S (5), LOAD_S (30); for the smoke
# test against the fake libnvidia-ml (build-real-nvml-check.sh): NVML_LIBRARY, JOB_COMMAND
# instead of the load, EXPECT_POWER_W (300: the fake GPU 0's power).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "${1:-$here/../../target/gpu-check}" && pwd)
out=${OUT:-$PWD/gpu-job-out}
job_id=${JOB_ID:-4242}
mkdir -p "$out"
out=$(cd "$out" && pwd)
spool="$out/spool"
rm -rf "$spool" "$out/store.sqlite" "$out/reference.json"
mkdir -p "$spool"
lib=()
if [ -n "${NVML_LIBRARY:-}" ]; then lib=(--nvml-library "$NVML_LIBRARY"); fi
if [ -n "${JOB_COMMAND:-}" ]; then
  cmd=(sh -c "$JOB_COMMAND")
else
  cmd=(python3 "$here/job-load.py" --idle-s "${IDLE_S:-5}" --load-s "${LOAD_S:-30}" --counters "$out/reference.json")
fi
"$bin/gpu-job" --spool "$spool" --sampler "$bin/energy-assess-sampler" --job-id "$job_id" \
  --gpus 0 --interval 1s "${lib[@]}" -- "${cmd[@]}" | tee "$out/gpu-job.json"

# This node, for the footprint: its CPUs as lscpu counts them, its memory, GPU 0 as an H100.
host=$(cat /proc/sys/kernel/hostname)
cpus=$(nproc)
mem_gb=$(awk '/MemTotal/ {printf "%d", $2 / 1048576}' /proc/meminfo)
cat > "$out/inventory.toml" <<TOML
[site]
name = "gpu-check"
location = "FRA"
pue = 1.2
lifetime_years = 5

[[group]]
name = "gpu-check"
nodes = "$host"
slurm_cpus = $cpus
[group.cpu]
model = "AMD EPYC"
sockets = 1
cores_per_socket = $cpus
die_area_per_core_mm2 = 13.14
[group.ram]
total_gb = $mem_gb
[[group.gpu]]
model = "NVIDIA H100 SXM 80GB"
count = 1
memory_gb = 80
TOML
cat > "$out/postproc.toml" <<TOML
[store]
path = "$out/store.sqlite"
[site]
cluster = "gpu-check"
timezone = "UTC"
inventory = "$out/inventory.toml"
TOML
ea=("$bin/energy-assess")
"${ea[@]}" inventory check "$out/inventory.toml"
"${ea[@]}" job "$job_id" --spool "$spool" --config "$out/postproc.toml" | tee "$out/job.txt"
"${ea[@]}" job "$job_id" --spool "$spool" --config "$out/postproc.toml" --json > "$out/job.json"
"${ea[@]}" ingest --config "$out/postproc.toml" --spool "$spool" | tee "$out/ingest.txt"
"${ea[@]}" acct --config "$out/postproc.toml" -j "$job_id" \
  -o JobID,NodeList,Elapsed,EnergyRaw,EnergyGPU,EnergySource,EnergyScope,MeanPower,GWPUse,GWPEmbodied,GWP,PE,ADPe \
  | tee "$out/acct.txt"
cp "$spool"/records/job-"$job_id".*.json "$out/record.json"

python3 - "$out" "${EXPECT_POWER_W:-300}" <<'PY'
import json, os, sys
out, expect_w = sys.argv[1], float(sys.argv[2])
rec = json.load(open(f"{out}/record.json"))
assert rec["schema_version"] == 3, rec["schema_version"]
gpu = [m for m in rec["meters"] if m["id"].startswith("nvml:") and not m["id"].endswith(":power")]
assert gpu, f"no NVML meter in the record: {[m['id'] for m in rec['meters']]}"
g = gpu[0]
power = [m for m in rec["meters"] if m["id"] == g["id"] + ":power"]
span_s = (rec["end"] - rec["start"]) / 1e6
line = f"record: {g['id']} ({g.get('label')}) {g['energy_j']:.1f} J over {span_s:.2f} s, method {g['method']}, job_owned {g.get('job_owned')}"
if power:
    line += f"; integrated power {power[0]['energy_j']:.1f} J"
print(line)
assert g.get("job_owned") is True, "GPU 0 is the job's (SLURM_JOB_GPUS=0)"
series = rec.get("series", {}).get(g["id"])
assert series, "the record keeps GPU 0's power series"
ref_path = f"{out}/reference.json"
if os.path.exists(ref_path):
    ref = json.load(open(ref_path))
    assert ref["uuid"] in g["id"], (ref["uuid"], g["id"])
    ref_s = ref["last"]["unix_s"] - ref["first"]["unix_s"]
    extra_s = span_s - ref_s
    rel = (g["energy_j"] - ref["energy_j"]) / ref["energy_j"]
    print(f"job's own NVML counter: {ref['energy_j']:.1f} J over {ref_s:.2f} s; record - job = "
          f"{g['energy_j'] - ref['energy_j']:+.1f} J ({rel:+.3%}) for {extra_s:.2f} s more span")
    assert -0.005 < rel < 0.05, f"record and the job's own counter differ by {rel:.2%}"
else:
    mean = g["energy_j"] / span_s
    print(f"mean power {mean:.1f} W (expected {expect_w:.0f} W)")
    assert abs(mean - expect_w) < 0.1 * expect_w, mean
print("gpu-job check: OK")
PY
