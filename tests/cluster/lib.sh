# Shell helpers shared by tests/cluster/*.sh. Sourced, not run.

_t0=$(date +%s.%N)
say() { printf '[testbed %5.1fs] %s\n' "$(awk -v a="$(date +%s.%N)" -v b="$_t0" 'BEGIN {print a - b}')" "$*"; }
die() { echo "testbed: error: $*" >&2; exit 1; }

# install_packages PKG...: apt-get installs the ones that are missing (update first, once).
install_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "apt-get install: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null || die "apt-get update failed"
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
}

# pid_alive PIDFILE: the process named in the pid file exists.
pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# wait_for SECONDS WHAT CMD...: retries CMD every 0.1 s until it succeeds.
wait_for() {
  local secs=$1 what=$2; shift 2
  local deadline=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || die "timed out after ${secs}s waiting for $what"
    sleep 0.1
  done
}

# stop_daemon PIDFILE NAME: SIGTERM, wait up to 30 s, SIGKILL as a last resort.
stop_daemon() {
  local pidfile=$1 name=$2 pid
  pid_alive "$pidfile" || { rm -f "$pidfile"; return 0; }
  pid=$(cat "$pidfile")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    say "$name did not stop on SIGTERM; killed"
  fi
  rm -f "$pidfile"
  say "$name stopped"
}

# stop_slurmds: every slurmd of this host, in parallel.
stop_slurmds() {
  local f
  for f in /run/slurmd-n*.pid; do
    [ -e "$f" ] || continue
    stop_daemon "$f" "slurmd $(basename "$f" .pid | sed 's/slurmd-//')" &
  done
  wait
}

# write_if_changed PATH MODE OWNER CONTENT: returns 0 when it wrote, 1 when unchanged.
write_if_changed() {
  local path=$1 mode=$2 owner=$3 content=$4
  if [ -f "$path" ] && [ "$(cat "$path")" = "$content" ]; then
    chmod "$mode" "$path"; chown "$owner" "$path"
    return 1
  fi
  mkdir -p "$(dirname "$path")"
  printf '%s\n' "$content" > "$path.tmp"
  chmod "$mode" "$path.tmp"; chown "$owner" "$path.tmp"
  mv -f "$path.tmp" "$path"
  return 0
}

# node_shape: "CPUs Boards Sockets Cores Threads RealMemoryMB" of this host, from slurmd -C.
node_shape() {
  local line
  line=$(/usr/sbin/slurmd -C | head -n 1)
  local get
  get() { echo "$line" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k {print $2}'; }
  echo "$(get CPUs) $(get Boards) $(get SocketsPerBoard) $(get CoresPerSocket) $(get ThreadsPerCore) $(get RealMemory)"
}
