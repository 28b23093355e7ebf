#!/usr/bin/env bash
# Soak run: many short assessed jobs (array tasks and plain jobs) through the local cluster
# while faults are injected at random (samplers killed, the spool read-only for a few
# seconds, slurmd restarted), then ingest; prints what ran, what was expected, stored,
# salvaged and lost, and any drained node. Run as root on the project's machine:
#
#   tests/soak/soak.sh                 # 2,000 jobs (10 arrays of 100 tasks, 1,000 plain)
#   JOBS=200 tests/soak/soak.sh        # a short one
#
# The spool is a tmpfs of its own (so it can be flipped read-only), the store a temporary
# file; the cluster is the e2e tests' (tests/cluster/up.sh), held under their lock.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
source tests/cluster/lib.sh
[ "$(id -u)" = 0 ] || die "run as root"

JOBS=${JOBS:-2000}
SEED=${SEED:-1}
OUT=${OUT:-$repo/tests/soak/results/$(date +%Y-%m-%d)-$JOBS.txt}
SPOOL=/var/tmp/ea-soak-spool
WORK=$(mktemp -d /tmp/ea-soak-XXXXXX)
LOCK=/var/lib/energy-assess-testbed/e2e.lock
RANDOM=$SEED

say "building"
cargo build -q -p energy-assess-spank -p ea-meters --bins --lib -p ea-sim -p fake-nvml -p energy-assess
bin=$repo/target/debug
mkdir -p "$(dirname "$LOCK")"
exec 9>"$LOCK"
flock 9
PLUGIN_SO=$bin/libenergy_assess_spank.so SAMPLER=$bin/energy-assess-sampler NODES=3 tests/cluster/up.sh >/dev/null
meters=$(NODES=3 BIN_DIR=$bin tests/sim/nodes.sh start)

umount -l "$SPOOL" 2>/dev/null || true
mkdir -p "$SPOOL"
mount -t tmpfs -o size=1G,mode=0700 tmpfs "$SPOOL"
cleanup() {
  mount -o remount,rw "$SPOOL" 2>/dev/null || true
  cp /etc/slurm/energy-assess.toml "$WORK/site.toml" 2>/dev/null || true
  printf '# written by the e2e tests\nspool = "/var/spool/energy-assess"\n%s\n' "$meters" > /etc/slurm/energy-assess.toml
  umount -l "$SPOOL" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
printf '# written by tests/soak/soak.sh\nspool = "%s"\n%s\norphan_after = "10s"\n' "$SPOOL" "$meters" \
  > /etc/slurm/energy-assess.toml

t0=$(date +%s)
start=$(date -d "@$((t0 - 60))" +%Y-%m-%dT%H:%M:%S)
submit_dir=$(runuser -u alice -- mktemp -d /tmp/ea-soak-jobs-XXXXXX)
arrays=$((JOBS / 200))
plain=$((JOBS - arrays * 100))
say "submitting $arrays arrays of 100 tasks and $plain plain jobs"
ids=()
for a in $(seq 1 "$arrays"); do
  n=$((1 + RANDOM % 3))
  ids+=("$(cd "$submit_dir" && runuser -u alice -- sbatch --parsable -o /dev/null --array=1-100 \
    -N"$n" --energy-assess --wrap 'sleep 0.$((RANDOM % 10))')")
done
for j in $(seq 1 "$plain"); do
  n=$((1 + RANDOM % 3))
  ids+=("$(cd "$submit_dir" && runuser -u alice -- sbatch --parsable -o /dev/null -N"$n" \
    --energy-assess --wrap "sleep 0.$((RANDOM % 10))")")
done
printf '%s\n' "${ids[@]}" > "$WORK/submitted"

# Faults, every 5 to 15 s while jobs remain.
faults=$WORK/faults
: > "$faults"
inject() {
  while [ -n "$(squeue -h -u alice -o %i | head -1)" ]; do
    sleep $((5 + RANDOM % 11))
    case $((RANDOM % 3)) in
    0)
      pidfile=$(ls "$SPOOL"/running/*.sampler.pid 2>/dev/null | shuf -n1 || true)
      if [ -n "$pidfile" ]; then
        pid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' "$pidfile" 2>/dev/null || true)
        [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null && echo "$(date +%s) sampler-kill $(basename "$pidfile")" >> "$faults"
      fi
      ;;
    1)
      if mount -o remount,ro "$SPOOL" 2>/dev/null; then
        echo "$(date +%s) spool-read-only 3s" >> "$faults"
        sleep 3
        for _ in $(seq 1 50); do mount -o remount,rw "$SPOOL" 2>/dev/null && break; sleep 0.1; done
      fi
      ;;
    2)
      node=n$((1 + RANDOM % 3))
      stop_daemon "/run/slurmd-$node.pid" "slurmd $node" >/dev/null
      /usr/sbin/slurmd -N "$node"
      echo "$(date +%s) slurmd-restart $node" >> "$faults"
      ;;
    esac
  done
}
inject &
injector=$!
while [ -n "$(squeue -h -u alice -o %i | head -1)" ]; do sleep 2; done
wait "$injector" || true
mount -o remount,rw "$SPOOL"
t1=$(date +%s)
say "jobs done in $((t1 - t0)) s; $(wc -l < "$faults") faults injected"

# A last assessed job on every node: its prolog and epilog salvage what the read-only spool
# kept from earlier epilogs; then the samplers' own salvage (orphan_after) has had its time.
runuser -u alice -- srun -N3 --energy-assess true
sleep 20
end=$(date -d "@$(( $(date +%s) + 60 ))" +%Y-%m-%dT%H:%M:%S)

db=$WORK/store.sqlite
cat > "$WORK/postproc.toml" <<CONF
[store]
path = "$db"
[site]
cluster = "testbed"
inventory = "$repo/configs/inventory/testbed.toml"
CONF
say "ingesting"
"$bin/energy-assess" ingest --config "$WORK/postproc.toml" -q --spool "$SPOOL" --live --start "$start" --end "$end" \
  > "$WORK/ingest.txt" 2>&1 || { cat "$WORK/ingest.txt"; die "ingest failed"; }

sacct -X -P -n -u alice -S "$start" -E "$end" -o JobID,JobIDRaw,NNodes,State > "$WORK/sacct.txt"
sinfo -h -N -o '%N %T' > "$WORK/sinfo.txt"
cp /var/log/slurm/slurmd-n*.log "$WORK/" 2>/dev/null || true
mkdir -p "$(dirname "$OUT")"
python3 - "$WORK" "$SPOOL" "$db" "$((t1 - t0))" > "$OUT" <<'PY'
import json, os, re, sqlite3, sys
work, spool, db, seconds = sys.argv[1:5]
submitted = set(open(f"{work}/submitted").read().split())
jobs = []
for line in open(f"{work}/sacct.txt"):
    jid, raw, nn, state = line.strip().split("|")
    base = jid.split("_")[0]
    if base in submitted and "[" not in jid:
        jobs.append((jid, int(raw), int(nn), state.split()[0]))
expected = {(raw, n) for _, raw, nn, _ in jobs for n in range(nn)}
records, salvaged, flags = {}, 0, {}
for name in os.listdir(f"{spool}/records"):
    m = re.fullmatch(r"job-(\d+)\.(.+)\.json", name)
    if not m:
        continue
    r = json.load(open(f"{spool}/records/{name}"))
    records.setdefault(r["job_id"], []).append(r)
raws = {raw for _, raw, _, _ in jobs}
present = sum(len(records.get(raw, [])) for raw in raws)
for raw in raws:
    for r in records.get(raw, []):
        for f in r.get("flags", []):
            flags[f] = flags.get(f, 0) + 1
want = sum(nn for _, _, nn, _ in jobs)
logs = "".join(open(f"{work}/{f}", errors="replace").read() for f in os.listdir(work) if f.startswith("slurmd-"))
lost = []
for _, raw, nn, _ in jobs:
    if len(records.get(raw, [])) < nn:
        said = re.search(rf"job {raw}: (cannot record its start|energy not measured on this node|spool unusable)[^\n]*", logs)
        lost.append((raw, nn - len(records.get(raw, [])), said.group(0) if said else None))
con = sqlite3.connect(db)
stored_jobs = con.execute(f"SELECT count(*) FROM jobs WHERE job_id_raw IN ({','.join(map(str, raws))})").fetchone()[0]
stored_records = con.execute(f"SELECT count(*) FROM node_records WHERE job_id_raw IN ({','.join(map(str, raws))})").fetchone()[0]
from_records = con.execute("SELECT count(*) FROM jobs WHERE state_raw LIKE '%from node records%'").fetchone()[0]
measured = con.execute(f"SELECT count(*) FROM job_measured m JOIN jobs j USING (cluster, job_id) WHERE j.job_id_raw IN ({','.join(map(str, raws))})").fetchone()[0]
faults = [l.split()[1] for l in open(f"{work}/faults")]
drained = [l.strip() for l in open(f"{work}/sinfo.txt") if any(s in l for s in ("drain", "down", "fail"))]
print(f"soak: {len(jobs)} jobs ({sum(1 for j in jobs if '_' in j[0])} array tasks) in {seconds} s")
print(f"states: " + ", ".join(f"{s} {sum(1 for j in jobs if j[3] == s)}" for s in sorted({j[3] for j in jobs})))
print("faults injected: " + ", ".join(f"{k} {faults.count(k)}" for k in sorted(set(faults))))
print(f"records expected {want}, in the spool {present}, salvaged {flags.get('salvaged', 0)}")
print("record flags: " + ", ".join(f"{k} {v}" for k, v in sorted(flags.items())))
unexplained = [l for l in lost if l[2] is None]
print(f"records lost {sum(l[1] for l in lost)} on {len(lost)} jobs; with the reason in the slurmd log: "
      f"{sum(l[1] for l in lost if l[2])}; without: {sum(l[1] for l in unexplained)}")
for raw, n, said in lost[:10]:
    print(f"  job {raw}: {n} missing: {said}")
print(f"store: {stored_jobs} jobs, {stored_records} node records, {measured} measured; jobs made from records: {from_records}")
print(f"drained nodes: {drained if drained else 'none'}")
PY
cat "$OUT"
