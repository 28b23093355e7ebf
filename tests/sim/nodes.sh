#!/usr/bin/env bash
# Simulated meters for the nodes of the local test cluster, which has no RAPL, GPU or BMC.
#
#   tests/sim/nodes.sh start    creates or keeps one simulated node per slurmd under $SIM_DIR:
#                               a powercap tree advanced by ea-powercap-sim (small counter range,
#                               so RAPL wraps every few seconds), a fake-nvml.json (GPUs read
#                               through the real nvml-wrapper code path by the fake libnvidia-ml)
#                               and a fake-ipmi-watts (read by tests/sim/fake-ipmitool), then
#                               prints the [meters] section of a site config that uses them.
#   tests/sim/nodes.sh stop     stops the powercap simulators.
#
# Environment: NODES=3, GPU_NODES=2 (the first nodes have two GPUs each, matching
# tests/cluster/up.sh), SIM_DIR=/var/lib/energy-assess-testbed/sim, BIN_DIR=<repo>/target/debug
# (where ea-powercap-sim and libnvidia_ml_fake.so are), INTERVAL=1s.
#
# Node k draws, constantly: package-0 = 40+10k W, dram = 5+k W, psys = package + dram + 20 W;
# GPU g of node k draws 100+50g-10k W (GPU-simulated-nK-G); the BMC reads 250+25k W.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
NODES=${NODES:-3}
GPU_NODES=${GPU_NODES:-2}
SIM_DIR=${SIM_DIR:-/var/lib/energy-assess-testbed/sim}
BIN_DIR=${BIN_DIR:-$repo/target/debug}
INTERVAL=${INTERVAL:-1s}
# 300 J: a wrap every 3 to 6 s, several per test job, while a 1 s interval stays inside it.
MAX_RANGE_UJ=${MAX_RANGE_UJ:-300000000}

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

case "${1:-}" in
start)
  [ -x "$BIN_DIR/ea-powercap-sim" ] || { echo "no $BIN_DIR/ea-powercap-sim: cargo build -p ea-sim -p fake-nvml" >&2; exit 1; }
  [ -f "$BIN_DIR/libnvidia_ml_fake.so" ] || { echo "no $BIN_DIR/libnvidia_ml_fake.so: cargo build -p fake-nvml" >&2; exit 1; }
  now=$(date +%s)
  for k in $(seq 1 "$NODES"); do
    root=$SIM_DIR/n$k
    mkdir -p "$root"
    pkg=$((40 + 10 * k)); dram=$((5 + k)); psys=$((pkg + dram + 20))
    if ! alive "$root/sim.pid"; then
      rm -f "$root/truth.log"
      "$BIN_DIR/ea-powercap-sim" --root "$root" --zone "package-0=$pkg" --zone "dram=$dram" \
        --zone "psys=$psys" --max-range-uj "$MAX_RANGE_UJ" --period-ms 50 \
        --truth-log "$root/truth.log" --pid-file "$root/sim.pid" --daemon >/dev/null
    fi
    echo $((250 + 25 * k)) > "$root/fake-ipmi-watts"
    if [ ! -f "$root/fake-nvml.json" ]; then
      if [ "$k" -le "$GPU_NODES" ]; then
        gpus=""
        for g in 0 1; do
          [ -n "$gpus" ] && gpus+=","
          gpus+="{\"uuid\":\"GPU-simulated-n$k-$g\",\"name\":\"NVIDIA A100-SXM4-80GB (simulated)\",\"power_w\":$((100 + 50 * g - 10 * k)),\"counter_since_unix_s\":$now}"
        done
        printf '{"gpus":[%s]}\n' "$gpus" > "$root/fake-nvml.json"
      else
        printf '{"init_error":"driver-not-loaded","gpus":[]}\n' > "$root/fake-nvml.json"
      fi
    fi
  done
  cat <<CONF
[meters]
sysroot = "$SIM_DIR/%n"
interval = "$INTERVAL"
nvml_library = "$BIN_DIR/libnvidia_ml_fake.so"
ipmi_command = ["$repo/tests/sim/fake-ipmitool", "dcmi", "power", "reading"]
CONF
  ;;
stop)
  for pidfile in "$SIM_DIR"/n*/sim.pid; do
    [ -e "$pidfile" ] || continue
    alive "$pidfile" && kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  done
  ;;
*)
  echo "usage: $0 start|stop" >&2
  exit 2
  ;;
esac
