#!/usr/bin/env bash
# The NVML meter on a real NVIDIA GPU under load. Runs on a GPU machine with the NVIDIA driver
# and python3 + torch, and no Rust toolchain: the binary comes from
# tests/gpu/build-real-nvml-check.sh, built elsewhere and carried.
#
#   tests/gpu/real-nvml-check.sh [BIN_DIR]      (BIN_DIR: default target/gpu-check)
#
# Timeline (about 85 s): the meter starts at once (150 ms interval, energy counter and power
# side by side, through ea-meters' NvmlSource); the GPUs idle for IDLE_S s (12), run bf16
# matrix products for LOAD_S s (60), then idle again until the meter stops. Results go to $OUT
# (default ./gpu-check-out): nvml-check.json (per GPU: energy by counter and by integrated
# power, relative difference, idle and load power), nvml-check.txt, load.log, nvidia-smi
# readings before and after.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin_dir=${1:-$here/../../target/gpu-check}
out=${OUT:-$PWD/gpu-check-out}
idle_s=${IDLE_S:-12}
load_s=${LOAD_S:-60}
interval_ms=${INTERVAL_MS:-150}
total_s=$((idle_s + load_s + 8))
mkdir -p "$out"
phases="$out/phases.txt"
rm -f "$phases"
query=index,name,uuid,driver_version,power.draw,power.limit,temperature.gpu,clocks.sm
nvidia-smi --query-gpu=$query --format=csv > "$out/nvidia-smi-before.csv" 2>&1 || true
t0=$(date +%s.%N)
"$bin_dir/nvml-check" --interval-ms "$interval_ms" --duration-s "$total_s" --phases "$phases" \
  --json "$out/nvml-check.json" > "$out/nvml-check.txt" 2>&1 &
check=$!
python3 "$here/load.py" --t0 "$t0" --idle-s "$idle_s" --load-s "$load_s" --phases "$phases" > "$out/load.log" 2>&1 \
  || echo "the load failed; see $out/load.log" >&2
nvidia-smi --query-gpu=$query --format=csv > "$out/nvidia-smi-after-load.csv" 2>&1 || true
wait "$check"
cat "$out/load.log" "$out/nvml-check.txt"
