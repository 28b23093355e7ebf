#!/usr/bin/env bash
# Brings up a local Slurm 22.05 cluster for energy-assess's tests and demo, on this one host:
# munge, MariaDB + slurmdbd (so that sacct works), slurmctld, and NODES slurmd daemons (Slurm's
# multiple-slurmd setup: nodes n1..nN on 127.0.0.1, ports 17001...), with PrologFlags so that
# the SPANK job prolog runs on every node at allocation, an unprivileged test user with an
# association, and the energy_assess plugin loaded from plugstack.conf.
#
# Run as root. Idempotent: it installs only missing Debian packages, writes a config only
# when its content changed, restarts only the daemons a change concerns (slurmd learns only at
# start-up that a plugin has a job prolog, so a new plugin .so restarts the slurmd), starts
# what is not running, and resumes drained nodes. Daemons are started and stopped by pid file
# (no systemd here). Knobs, as environment variables:
#   NODES=3             number of slurmd (1..9)
#   WITH_DBD=1          slurmdbd + MariaDB for sacct
#   PROLOG_FLAGS=Contain  "" to unset (then the prolog runs only when a step reaches a node)
#   PLUGIN_SO=path      energy_assess.so to install; unset: no plugin line (plugin removed)
#   SAMPLER=path        energy-assess-sampler binary to install next to it (optional)
#   FORWARDER=path      energy-assess-forwarder binary to install next to it (optional; the
#                       plugin starts it when PLUGIN_ARGS names a collector=)
#   PLUGIN_ARGS="..."   key=value arguments for the plugstack line
#   TEST_USER=alice     unprivileged user with an association in account "energy"
#   GPU_NODES=2         the first GPU_NODES nodes have GPUS_PER_NODE GPUs (gres/gpu) whose
#   GPUS_PER_NODE=2     device files are placeholders: there is no GPU here, the meters see
#                       simulated ones (tests/sim/nodes.sh); Slurm only allocates them
#   SMOKE=0             1: run srun/sbatch/sacct smoke tests at the end
#   TEST_SPOOL=/var/spool/energy-assess  the spool the tests and demo use: when slurmctld has
#                       no saved state (job ids restart at 1), its records and the demo's store
#                       are moved aside to /var/lib/energy-assess-testbed/stale/
set -euo pipefail

NODES=${NODES:-3}
WITH_DBD=${WITH_DBD:-1}
PROLOG_FLAGS=${PROLOG_FLAGS-Contain}
PLUGIN_SO=${PLUGIN_SO:-}
SAMPLER=${SAMPLER:-}
PLUGIN_ARGS=${PLUGIN_ARGS:-config=/etc/slurm/energy-assess.toml}
TEST_USER=${TEST_USER:-alice}
GPU_NODES=${GPU_NODES:-2}
GPUS_PER_NODE=${GPUS_PER_NODE:-2}
SMOKE=${SMOKE:-0}
CLUSTER=testbed
SPANK_DIR=/usr/local/lib/slurm-spank
LIBEXEC_DIR=/usr/local/libexec/energy-assess
STATE_DIR=/var/lib/energy-assess-testbed
# The spool the tests and the demo configure (their site config's `spool`).
TEST_SPOOL=${TEST_SPOOL:-/var/spool/energy-assess}

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

[ "$(id -u)" = 0 ] || die "run as root (it installs packages and starts daemons)"
[[ "$NODES" =~ ^[1-9]$ ]] || die "NODES must be 1..9, not '$NODES'"

# --- packages ------------------------------------------------------------------------------
pkgs=(munge slurmctld slurmd slurm-client libslurm-dev)
[ "$WITH_DBD" = 1 ] && pkgs+=(slurmdbd mariadb-server)
install_packages "${pkgs[@]}"
say "packages ok (slurm $(dpkg-query -W -f='${Version}' slurmd))"

# --- users and directories -----------------------------------------------------------------
if ! id "$TEST_USER" >/dev/null 2>&1; then
  useradd -m -s /bin/bash "$TEST_USER"
  say "created user $TEST_USER"
fi
mkdir -p /run/munge /var/log/slurm /var/lib/slurm/slurmctld "$STATE_DIR" /etc/slurm/plugstack.conf.d
chown munge:munge /run/munge
chown slurm:slurm /var/log/slurm /var/lib/slurm/slurmctld
for i in $(seq 1 "$NODES"); do mkdir -p "/var/lib/slurm/slurmd-n$i"; done
# Placeholder GPU device files for gres.conf: Slurm numbers GPUs by the files' trailing digits
# and stats them; nothing opens them. Kept out of /dev so no real tool mistakes them for GPUs.
gpu_dev_dir=$STATE_DIR/dev
mkdir -p "$gpu_dev_dir"
for g in $(seq 0 $((GPUS_PER_NODE - 1))); do
  [ -c "$gpu_dev_dir/nvidia$g" ] || mknod "$gpu_dev_dir/nvidia$g" c 195 "$g"
done

# --- munge ---------------------------------------------------------------------------------
if ! pid_alive /run/munge/munged.pid; then
  [ -s /etc/munge/munge.key ] || { mkdir -p /etc/munge; dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key; }
  runuser -u munge -- /usr/sbin/munged
  wait_for 10 "munge" bash -c 'munge -n | unmunge >/dev/null 2>&1'
  say "munged started (pid $(cat /run/munge/munged.pid))"
fi

# --- configs -------------------------------------------------------------------------------
host=$(hostname -s)
read -r cpus boards sockets cores threads mem < <(node_shape)
node_mem=$(( mem / NODES ))
[ "$node_mem" -gt 512 ] || node_mem=512
acct_lines="AccountingStorageType=accounting_storage/none"
if [ "$WITH_DBD" = 1 ]; then
  acct_lines=$'AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageHost=localhost\nAccountingStoragePort=6819'
fi
prolog_line=""
[ -n "$PROLOG_FLAGS" ] && prolog_line="PrologFlags=$PROLOG_FLAGS"

[ "$GPU_NODES" -le "$NODES" ] || GPU_NODES=$NODES
gres_lines=""
[ "$GPU_NODES" -gt 0 ] && gres_lines=$'GresTypes=gpu\nAccountingStorageTRES=gres/gpu'
# One NodeName line for the GPU nodes, one for the others.
node_lines() {
  local shape="NodeHostname=$host NodeAddr=127.0.0.1 CPUs=$cpus Boards=$boards SocketsPerBoard=$sockets CoresPerSocket=$cores ThreadsPerCore=$threads RealMemory=$node_mem State=UNKNOWN"
  if [ "$GPU_NODES" -gt 0 ]; then
    echo "NodeName=n[1-$GPU_NODES] Port=[17001-$((17000 + GPU_NODES))] Gres=gpu:$GPUS_PER_NODE $shape"
  fi
  if [ "$GPU_NODES" -lt "$NODES" ]; then
    echo "NodeName=n[$((GPU_NODES + 1))-$NODES] Port=[$((17001 + GPU_NODES))-$((17000 + NODES))] $shape"
  fi
}
slurm_conf=$(cat <<CONF
# generated by energy-assess tests/cluster/up.sh (NODES=$NODES WITH_DBD=$WITH_DBD)
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
AuthType=auth/munge
CryptoType=crypto/munge
SlurmUser=slurm
SlurmdUser=root
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
MailProg=/bin/true
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd-%n.pid
SlurmdSpoolDir=/var/lib/slurm/slurmd-%n
StateSaveLocation=/var/lib/slurm/slurmctld
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=256
$acct_lines
$gres_lines
JobCompType=jobcomp/filetxt
JobCompLoc=/var/log/slurm/jobcomp.log
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
AcctGatherEnergyType=acct_gather_energy/none
$prolog_line
PrologEpilogTimeout=120
SlurmctldDebug=info
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdDebug=info
SlurmdLogFile=/var/log/slurm/slurmd-%n.log
$(node_lines)
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
)
slurm_changed=0
write_if_changed /etc/slurm/slurm.conf 0644 root:root "$slurm_conf" && slurm_changed=1
gres_conf="# generated by energy-assess tests/cluster/up.sh"
[ "$GPU_NODES" -gt 0 ] && gres_conf+=$'\n'"NodeName=n[1-$GPU_NODES] Name=gpu File=$gpu_dev_dir/nvidia[0-$((GPUS_PER_NODE - 1))]"
write_if_changed /etc/slurm/gres.conf 0644 root:root "$gres_conf" && slurm_changed=1
write_if_changed /etc/slurm/plugstack.conf 0644 root:root "include /etc/slurm/plugstack.conf.d/*.conf" || true

plugin_fingerprint="none"
plugstack_file=/etc/slurm/plugstack.conf.d/energy-assess.conf
if [ -n "$PLUGIN_SO" ]; then
  [ -f "$PLUGIN_SO" ] || die "PLUGIN_SO=$PLUGIN_SO does not exist (build it: cargo build --release -p energy-assess-spank)"
  mkdir -p "$SPANK_DIR"
  install -m 0755 "$PLUGIN_SO" "$SPANK_DIR/energy_assess.so.new" && mv -f "$SPANK_DIR/energy_assess.so.new" "$SPANK_DIR/energy_assess.so"
  if [ -n "$SAMPLER" ]; then
    mkdir -p "$LIBEXEC_DIR"
    install -m 0755 "$SAMPLER" "$LIBEXEC_DIR/energy-assess-sampler.new" && mv -f "$LIBEXEC_DIR/energy-assess-sampler.new" "$LIBEXEC_DIR/energy-assess-sampler"
  fi
  if [ -n "${FORWARDER:-}" ]; then
    mkdir -p "$LIBEXEC_DIR"
    install -m 0755 "$FORWARDER" "$LIBEXEC_DIR/energy-assess-forwarder.new" && mv -f "$LIBEXEC_DIR/energy-assess-forwarder.new" "$LIBEXEC_DIR/energy-assess-forwarder"
  fi
  write_if_changed "$plugstack_file" 0644 root:root "optional $SPANK_DIR/energy_assess.so $PLUGIN_ARGS" || true
  plugin_fingerprint=$(cat "$plugstack_file" "$SPANK_DIR/energy_assess.so" | sha256sum | cut -d' ' -f1)
else
  rm -f "$plugstack_file"
fi
plugin_changed=0
if [ "$(cat "$STATE_DIR/plugin.sha256" 2>/dev/null || echo unset)" != "$plugin_fingerprint" ]; then
  plugin_changed=1
fi

if [ "$WITH_DBD" = 1 ]; then
  write_if_changed /etc/slurm/slurmdbd.conf 0600 slurm:slurm "$(cat <<CONF
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
DebugLevel=info
LogFile=/var/log/slurm/slurmdbd.log
PidFile=/run/slurmdbd.pid
SlurmUser=slurm
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageLoc=slurm_acct_db
StorageUser=slurm
StoragePass=slurmdbpass
CONF
)" || true
  write_if_changed /etc/mysql/mariadb.conf.d/99-energy-assess-testbed.cnf 0644 root:root "$(printf '[mysqld]\ninnodb_buffer_pool_size=256M\ninnodb_lock_wait_timeout=900\ninnodb_log_file_size=64M\nmax_allowed_packet=16M')" || true
fi

# --- daemons -------------------------------------------------------------------------------
if [ "$slurm_changed" = 1 ]; then
  say "slurm.conf changed: restarting slurmctld and slurmd"
  stop_slurmds
  stop_daemon /run/slurmctld.pid slurmctld
fi
if [ "$plugin_changed" = 1 ]; then
  say "plugin or plugstack changed: restarting slurmd"
  stop_slurmds
fi

if [ "$WITH_DBD" = 1 ]; then
  if ! pid_alive /run/mysqld/mysqld.pid; then
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
    [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
    (setsid /usr/sbin/mariadbd --user=mysql --pid-file=/run/mysqld/mysqld.pid --socket=/run/mysqld/mysqld.sock \
        >>/var/log/mysql-testbed.log 2>&1 < /dev/null &)
    wait_for 30 "mariadb" mariadb-admin --socket=/run/mysqld/mysqld.sock ping
    say "mariadb started (pid $(cat /run/mysqld/mysqld.pid))"
  fi
  mariadb --socket=/run/mysqld/mysqld.sock -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db; CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurmdbpass'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
  if ! pid_alive /run/slurmdbd.pid; then
    /usr/sbin/slurmdbd
    wait_for 30 "slurmdbd" bash -c 'exec 3<>/dev/tcp/127.0.0.1/6819' 
    say "slurmdbd started (pid $(cat /run/slurmdbd.pid))"
  fi
else
  stop_daemon /run/slurmdbd.pid slurmdbd
fi

if ! pid_alive /run/slurmctld.pid; then
  # Without saved state (first start, or Slurm reinstalled) slurmctld numbers jobs from 1 again,
  # and the records and store of earlier jobs with the same ids would pass for the new jobs'.
  # They are moved aside, not deleted.
  if [ ! -e /var/lib/slurm/slurmctld/job_state ]; then
    stale=$STATE_DIR/stale/$(date +%Y%m%dT%H%M%S)
    for old in "$TEST_SPOOL/records" "$TEST_SPOOL/running" /var/lib/energy-assess/demo.sqlite; do
      if [ -e "$old" ] && [ -n "$(ls -A "$old" 2>/dev/null)" ]; then
        mkdir -p "$stale"
        mv "$old" "$stale/"
        say "new job-id space: moved $old to $stale/"
      fi
    done
  fi
  /usr/sbin/slurmctld 2>>/var/log/slurm/slurmctld.stderr
  wait_for 30 "slurmctld" scontrol ping
  say "slurmctld started (pid $(cat /run/slurmctld.pid))"
fi
for i in $(seq 1 "$NODES"); do
  if ! pid_alive "/run/slurmd-n$i.pid"; then
    /usr/sbin/slurmd -N "n$i"
  fi
done
# Stop slurmd of nodes that a smaller NODES removed.
for pidfile in /run/slurmd-n*.pid; do
  [ -e "$pidfile" ] || continue
  n=${pidfile#/run/slurmd-n}; n=${n%.pid}
  [ "$n" -le "$NODES" ] || stop_daemon "$pidfile" "slurmd n$n"
done
echo "$plugin_fingerprint" > "$STATE_DIR/plugin.sha256"

# Nodes a failed prolog or a restart left drained or down are resumed.
wait_for 30 "nodes to register" bash -c "[ \$(sinfo -h -N -o '%N %T' | grep -cvE 'unknown|not_responding|\\*') -ge $NODES ]"
bad=$(sinfo -h -N -o '%N %T' | awk '$2 ~ /drain|down|fail/ {print $1}' | paste -sd, -)
if [ -n "$bad" ]; then
  scontrol update nodename="$bad" state=resume || true
  say "resumed $bad"
fi
wait_for 30 "nodes idle" bash -c "[ \$(sinfo -h -N -o '%T' | grep -cE '^(idle|mixed|allocated)') -ge $NODES ]"
say "nodes: $(sinfo -h -o '%D %T %N' | paste -sd';' -)"

# --- accounting ----------------------------------------------------------------------------
if [ "$WITH_DBD" = 1 ]; then
  wait_for 30 "cluster registration" bash -c "sacctmgr -n -P show cluster format=cluster | grep -qx $CLUSTER"
  sacctmgr -n -P show account energy format=account | grep -qx energy \
    || sacctmgr -i add account energy Cluster=$CLUSTER Description=testbed Organization=testbed >/dev/null
  sacctmgr -n -P show assoc user="$TEST_USER" format=account | grep -qx energy \
    || sacctmgr -i add user "$TEST_USER" Account=energy DefaultAccount=energy >/dev/null
  say "association: $TEST_USER -> energy"
fi

if [ "$SMOKE" = 1 ]; then
  say "srun -N$NODES hostname -> $(srun -N"$NODES" -l hostname | sort | paste -sd' ' -)"
  jobdir=$(runuser -u "$TEST_USER" -- mktemp -d)
  id=$(cd "$jobdir" && runuser -u "$TEST_USER" -- sbatch --parsable -N"$NODES" -o /dev/null --wrap 'srun hostname')
  wait_for 60 "job $id" bash -c "! squeue -h -j $id 2>/dev/null | grep -q ."
  say "sbatch job $id done"
  [ "$WITH_DBD" = 1 ] && say "sacct: $(sacct -n -X -P -j "$id" --format=JobID,User,Account,NodeList,State)"
fi
say "cluster up"
