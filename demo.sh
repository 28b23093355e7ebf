#!/usr/bin/env bash
# energy-assess, the main job, on one fresh Debian 12 machine, as root:
#   1. installs what it needs (Slurm 22.05, munge, MariaDB, libclang from Debian) and builds;
#   2. brings up a local Slurm cluster (three slurmd on this host, slurmdbd for sacct) with the
#      energy_assess plugin loaded and simulated meters on its nodes (this kind of machine has
#      no RAPL, GPU or BMC: see tests/sim/nodes.sh);
#   3. runs jobs as an ordinary user: a 3-node `sbatch --energy-assess=summary` job, a GPU job
#      on a node another job shares, and one job without the option;
#   4. shows the 3-node job's records, its summary file and `energy-assess job`;
#   5. gathers the records into SQLite through the collector (`energy-assess collect` on
#      127.0.0.1: each node's forwarder sends them MUNGE-signed, no shared filesystem),
#      ingests the cluster's accounting, and prints the job's footprint and the month's report.
# Run it again at any time: every step is idempotent. `tests/cluster/down.sh` stops the cluster.
set -euo pipefail
repo=$(cd "$(dirname "$0")" && pwd)
cd "$repo"
source tests/cluster/lib.sh
[ "$(id -u)" = 0 ] || die "run as root: it installs packages and starts Slurm daemons"

section() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

section "1. dependencies and build"
tests/install-deps.sh
say "cargo build --release (the first build takes a few minutes on 2 cores)"
cargo build --release --quiet -p energy-assess-spank -p ea-meters -p ea-forward -p energy-assess -p ea-sim -p fake-nvml
bin=$repo/target/release

section "2. local Slurm cluster with the plugin and simulated meters"
PLUGIN_SO=$bin/libenergy_assess_spank.so SAMPLER=$bin/energy-assess-sampler \
  FORWARDER=$bin/energy-assess-forwarder tests/cluster/up.sh
meters=$(BIN_DIR=$bin tests/sim/nodes.sh start)
# The nodes send their records to the collector on this host (started below).
printf 'spool = "/var/spool/energy-assess"\ncollector = ["http://127.0.0.1:7373"]\n\n%s\n' \
  "$meters" > /etc/slurm/energy-assess.toml
say "site config /etc/slurm/energy-assess.toml:"
sed 's/^/    /' /etc/slurm/energy-assess.toml
# The post-processor as a site installs it: setgid to a group that alone may read the store,
# so users query it through the tool, which shows them only their own jobs.
groupadd -f energy-assess
install -m 2755 -g energy-assess "$bin/energy-assess" /usr/local/bin/energy-assess
ea=/usr/local/bin/energy-assess
mkdir -p /etc/energy-assess /var/lib/energy-assess
cat > /etc/energy-assess/postproc.toml <<CONF
# written by demo.sh
[store]
path = "/var/lib/energy-assess/demo.sqlite"
group = "energy-assess"
[site]
cluster = "testbed"
inventory = "$repo/configs/inventory/testbed.toml"
CONF
# The collector, as the systemd unit configs/systemd/energy-assess-collect.service runs it at a
# site. Here the three slurmd run on this host, which speaks for n1-n3; the sacct side runs
# below by hand, so its schedule is off.
cat > /etc/energy-assess/collect.toml <<CONF
# written by demo.sh
listen = "127.0.0.1:7373"
live_interval_s = 0
[hosts]
"$(cat /proc/sys/kernel/hostname)" = "n[1-3]"
CONF
if [ -f /run/energy-assess-collect.pid ]; then
  kill "$(cat /run/energy-assess-collect.pid)" 2>/dev/null || true
  sleep 1
fi
nohup "$ea" collect --collect-config /etc/energy-assess/collect.toml \
  >/var/log/energy-assess-collect.log 2>&1 &
echo $! > /run/energy-assess-collect.pid
wait_for 30 "the collector to listen on 127.0.0.1:7373" bash -c 'exec 3<>/dev/tcp/127.0.0.1/7373'
say "collector running (pid $(cat /run/energy-assess-collect.pid), log /var/log/energy-assess-collect.log)"

section "3. jobs, as user alice"
workdir=$(runuser -u alice -- mktemp -d /tmp/energy-assess-demo-XXXXXX)
submit() { (cd "$workdir" && runuser -u alice -- sbatch --parsable -o 'slurm-%j.out' "$@"); }
job=$(submit -N3 --energy-assess=summary --wrap 'srun hostname; sleep 20')
say "sbatch -N3 --energy-assess=summary -> job $job"
gpujob=$(submit -N1 -n1 -w n1 --gres=gpu:1 --mem=512 --energy-assess --wrap 'sleep 12')
say "sbatch -w n1 --gres=gpu:1 --energy-assess -> job $gpujob (shares n1 with job $job)"
plain=$(submit -N1 -n2 --wrap 'sleep 5')
say "sbatch -N1 -n2 (no --energy-assess: estimated later) -> job $plain"
for j in "$job" "$gpujob" "$plain"; do
  wait_for 180 "job $j to finish (and its epilogs to run)" bash -c "! squeue -h -j $j 2>/dev/null | grep -q ."
done
say "all jobs done"

section "4. what the nodes recorded"
ls -l /var/spool/energy-assess/records/*/"$job"/ | sed 's/^/    /'
say "summary file next to the job's output, written as alice:"
ls -l "$workdir/energy-assess-$job.txt" | sed 's/^/    /'
sed 's/^/    /' "$workdir/energy-assess-$job.txt"
section "energy-assess job $job"
"$ea" job "$job"

section "5. the records through the collector, sacct's accounting, the footprint, the report"
wait_for 120 "the forwarders to deliver job $job's 3 records and job $gpujob's" bash -c \
  "[ \"\$($ea acct -j $job,$gpujob -X -n -P -o MeasuredNodes | tr '\\n' ' ')\" = '3/3 1/1 ' ]"
say "the store has the jobs' records, sent by the nodes' forwarders:"
"$ea" collect --status | sed 's/^/    /'
if command -v curl >/dev/null; then
  curl -s http://127.0.0.1:7373/metrics | grep -E '^energy_assess_collect_records_(stored|duplicate)' | sed 's/^/    /' || true
fi
"$ea" ingest --live --start now-1days --end now
section "energy-assess acct -j $job,$gpujob,$plain"
"$ea" acct -j "$job,$gpujob,$plain" -X -o JobID,User,NNodes,Elapsed,EnergySource,Energy,GWPUse,GWPEmbodied,GWP,PE,ADPe
section "as alice: energy-assess job $job (from the store; the spool is root's)"
runuser -u alice -- "$ea" job "$job"
section "energy-assess report --month $(date +%Y-%m)"
"$ea" report --month "$(date +%Y-%m)"
"$ea" report --month "$(date +%Y-%m)" --format html --output "$workdir/report.html"
say "HTML report with charts: $workdir/report.html"
say "done. More: energy-assess acct --help, energy-assess report --help, docs/"
