#!/usr/bin/env bash
# Brings up a real LXD for zonecast's tests, demo and benchmarks, without
# systemd, and tears down what it brought up.
#
#   scripts/lxd.sh up              install, start (unless ours runs), initialise, import image "busybox"
#   scripts/lxd.sh down            delete zc-* instances and projects; stop LXD if this script started it
#   scripts/lxd.sh status          print what runs and who owns it
#   scripts/lxd.sh env             print `export LXD_DIR=...` for the LXD that up brought up
#   scripts/lxd.sh restart-daemon  stop our LXD by PID (SIGTERM: containers keep running) and start it again
#
# On a machine without LXD it starts Debian's at /var/lib/lxd. On a machine
# that already runs an LXD (Debian's, the snap, started by hand or by
# systemd) it never touches that one: it starts a private LXD of its own,
# LXD_DIR=/var/lib/zonecast-lxd, inside a network namespace it creates
# (zonecast-lxd), so that its bridge, its dnsmasq and its nftables rules
# cannot meet the other's. `scripts/lxd.sh env` says which LXD_DIR to use;
# lxc, LXD's client library and zonecast-watcher all read LXD_DIR.
#
# Everything stays on the machine: the bridge lxdbr0 (10.99.1.1/24 NAT,
# fd42:99:1:1::1/64) and the loopback. No image server is contacted: the
# image is built from Debian's busybox-static (scripts/lxd-image.sh).
#
# Environment: ZC_LXD_STATE (default /run/zonecast-lxd) holds lxd.pid (the
# PID of the lxd this script started), lxd.dir (its LXD_DIR), lxd.netns
# (its network namespace, private mode only) and lxd.log. The private
# LXD_DIR and network namespace are named after ZC_LXD_STATE's last
# element. LXD_DIR, when set, names an LXD to use as it is, not owned.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
state=${ZC_LXD_STATE:-/run/zonecast-lxd}
pidfile=$state/lxd.pid
dirfile=$state/lxd.dir
netnsfile=$state/lxd.netns
logfile=$state/lxd.log
private_name=$(basename "$state")
given_dir=${LXD_DIR:-}
prefix=zc-

# use_dir DIR points lxc, lxd waitready and this script at DIR.
use_dir() { export LXD_DIR=$1; socket=$LXD_DIR/unix.socket; }
if [ -n "$given_dir" ]; then use_dir "$given_dir"
elif [ -s "$dirfile" ]; then use_dir "$(cat "$dirfile")"
else use_dir /var/lib/lxd; fi

log() { echo "lxd.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# answers: the socket of a running LXD answers.
answers() { [ -S "$socket" ] && lxd waitready --timeout=1 >/dev/null 2>&1; }

# ourpid prints the PID of the lxd this script started, if it still runs.
ourpid() {
  [ -f "$pidfile" ] || return 1
  local pid; pid=$(cat "$pidfile")
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f "$(command -v lxd)")" ] || return 1
  echo "$pid"
}

# other_lxd succeeds when an LXD this script did not start runs: a socket
# of Debian's or the snap's answers, or an lxd process is not ours.
other_lxd() {
  local s p mine; mine=$(ourpid || true)
  for s in /var/lib/lxd/unix.socket /var/snap/lxd/common/lxd/unix.socket; do
    [ -z "$mine" ] && [ -S "$s" ] && LXD_DIR=$(dirname "$s") lxd waitready --timeout=1 >/dev/null 2>&1 && return 0
  done
  for p in $(pgrep -x lxd || true); do [ "$p" = "$mine" ] || return 0; done
  return 1
}

# cgroup_mounts prints the commands that mount this host's cgroup
# hierarchies again under /sys/fs/cgroup (and its symlinks there): `ip
# netns exec` gives its command a fresh /sys without them, and an LXD
# without cgroups cannot freeze an instance (copy a running one), nor limit
# one. Mounting a hierarchy again attaches to the same one, not a new one.
cgroup_mounts() {
  findmnt -rn -o TARGET,FSTYPE,OPTIONS | awk '$1 == "/sys/fs/cgroup" || index($1, "/sys/fs/cgroup/") == 1 {
    printf "mkdir -p %s; mount -t %s -o %s %s %s\n", $1, $2, $3, $2, $1 }'
  local l
  for l in $(find /sys/fs/cgroup -maxdepth 1 -type l 2>/dev/null); do
    printf 'ln -sfn %s %s\n' "$(readlink "$l")" "$l"
  done
}

start_daemon() {
  mkdir -p "$state" /var/log/lxd "$LXD_DIR"
  getent group lxd >/dev/null || groupadd --system lxd
  # setsid, ip netns exec and sh all exec: $! is lxd itself. setsid: the
  # daemon outlives this script and its session.
  if [ -s "$netnsfile" ]; then
    setsid ip netns exec "$(cat "$netnsfile")" sh -ec "$(cgroup_mounts)
exec lxd --group lxd --logfile=\"\$1\"" sh "$logfile" </dev/null >>"$state/lxd.out" 2>&1 &
  else
    setsid lxd --group lxd --logfile="$logfile" </dev/null >>"$state/lxd.out" 2>&1 &
  fi
  echo $! >"$pidfile"
  echo "$LXD_DIR" >"$dirfile"
  if ! lxd waitready --timeout=60; then
    tail -n 20 "$logfile" "$state/lxd.out" >&2 || true
    die "lxd (pid $(cat "$pidfile")) did not become ready"
  fi
}

# stop_daemon PID SIGNAL-MODE waits for our lxd to exit. Mode "shutdown" stops
# its instances first (lxd shutdown); mode "term" leaves them running.
stop_daemon() {
  local pid=$1 mode=$2
  if [ "$mode" = shutdown ]; then
    lxd shutdown --timeout=60 >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
  else
    kill -TERM "$pid" 2>/dev/null || true
  fi
  for _ in $(seq 1 300); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
  if [ -d "/proc/$pid" ]; then
    log "lxd $pid did not exit after 30 s, killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
}

initialise() {
  if lxc network show lxdbr0 >/dev/null 2>&1 && lxc storage show default >/dev/null 2>&1 \
     && lxc profile device get default eth0 network >/dev/null 2>&1; then
    return 0
  fi
  log "initialising (bridge lxdbr0, dir storage)"
  # lxd init --auto fails here (it takes the network's accept-anything TCP
  # for "subnet in use"): give explicit subnets.
  lxd init --preseed <<'EOF'
config: {}
networks:
- name: lxdbr0
  type: bridge
  config:
    ipv4.address: 10.99.1.1/24
    ipv4.nat: "true"
    ipv6.address: fd42:99:1:1::1/64
    ipv6.nat: "true"
storage_pools:
- name: default
  driver: dir
profiles:
- name: default
  devices:
    eth0:
      name: eth0
      network: lxdbr0
      type: nic
    root:
      path: /
      pool: default
      type: disk
EOF
}

import_image() {
  if lxc image alias list --format=csv 2>/dev/null | grep -q '^busybox,'; then
    return 0
  fi
  local tmp; tmp=$(mktemp -d)
  "$here/lxd-image.sh" "$tmp/busybox.tar.gz"
  lxc image import "$tmp/busybox.tar.gz" --alias busybox >/dev/null
  rm -rf "$tmp"
  log "imported image busybox"
}

cmd_up() {
  local t0=$SECONDS
  "$here/deps.sh" lxd
  if pid=$(ourpid) && answers; then
    log "lxd already running (pid $pid, started by this script, LXD_DIR=$LXD_DIR)"
  elif [ -n "$given_dir" ] && answers; then
    log "lxd already running at LXD_DIR=$LXD_DIR, not started by this script: using it, not owning it"
  else
    rm -f "$pidfile" "$netnsfile"
    if [ -z "$given_dir" ] && other_lxd; then
      # Someone else's LXD: ours goes beside it, in a namespace of its own.
      use_dir "/var/lib/$private_name"
      [ -e "/run/netns/$private_name" ] || ip netns add "$private_name"
      ip -n "$private_name" link set lo up
      mkdir -p "$state"; echo "$private_name" >"$netnsfile"
      log "another LXD runs on this machine: starting a private one (LXD_DIR=$LXD_DIR, network namespace $private_name)"
    elif [ -z "$given_dir" ]; then
      use_dir /var/lib/lxd
    fi
    start_daemon
    log "started lxd (pid $(cat "$pidfile"), log $logfile)"
  fi
  initialise
  import_image
  log "up in $((SECONDS - t0)) s (socket $socket)"
}

cmd_env() { echo "export LXD_DIR=$LXD_DIR"; }

# delete_ours deletes the instances and projects named zc-* (what tests create).
delete_ours() {
  local p i
  local projects; projects=$(lxc project list --format=csv 2>/dev/null | cut -d, -f1 | sed 's/ (current)$//')
  for p in $projects; do
    for i in $(lxc list --project "$p" --format=csv -c n 2>/dev/null); do
      case $i in "$prefix"*) lxc delete --project "$p" --force "$i" >/dev/null || log "deleting $p/$i failed";; esac
    done
  done
  for p in $projects; do
    case $p in
      "$prefix"*)
        # A project holds its own default profile and maybe images; LXD
        # refuses to delete a project that still has instances or images.
        # Only a project with its own images (features.images=true) holds
        # images; otherwise the list is the default project's, shared.
        if [ "$(lxc project get "$p" features.images 2>/dev/null)" = true ]; then
          for img in $(lxc image list --project "$p" --format=csv -c f 2>/dev/null); do
            lxc image delete --project "$p" "$img" >/dev/null 2>&1 || true
          done
        fi
        lxc project delete "$p" >/dev/null || log "deleting project $p failed";;
    esac
  done
}

cmd_down() {
  if answers; then delete_ours; fi
  local pid
  if pid=$(ourpid); then
    # dnsmasq for lxdbr0 is a child of our lxd: note it, stop it by PID if
    # it outlives its parent.
    local dnsmasq; dnsmasq=$(pgrep -P "$pid" -x dnsmasq || true)
    stop_daemon "$pid" shutdown
    for d in $dnsmasq; do kill -TERM "$d" 2>/dev/null || true; done
    if [ -s "$netnsfile" ]; then
      # The namespace holds the bridge and the nftables rules: they go with it.
      local ns; ns=$(cat "$netnsfile")
      ip netns del "$ns" 2>/dev/null || log "removing network namespace $ns failed"
      rm -f "$pidfile" "$dirfile" "$netnsfile"
      log "stopped lxd (pid $pid) and removed its network namespace $ns"
      return
    fi
    nft delete table inet lxd 2>/dev/null || true
    rm -f "$pidfile" "$dirfile"
    log "stopped lxd (pid $pid) and removed nft table inet lxd"
  else
    log "lxd not started by this script: left running"
  fi
}

cmd_restart_daemon() {
  local pid
  pid=$(ourpid) || die "restart-daemon: lxd was not started by this script (run: scripts/lxd.sh up on a machine without a running lxd)"
  stop_daemon "$pid" term
  start_daemon
  log "restarted lxd (old pid $pid, new pid $(cat "$pidfile"))"
}

cmd_status() {
  if answers; then
    if pid=$(ourpid); then echo "lxd: running, pid $pid, started by scripts/lxd.sh"
    else echo "lxd: running, not started by scripts/lxd.sh"; fi
    echo "socket: $socket"
    if [ -s "$netnsfile" ]; then echo "network namespace: $(cat "$netnsfile")"; fi
    lxc network list --format=csv 2>/dev/null | awk -F, '$1=="lxdbr0"{print "network: lxdbr0 " $4 " " $5; f=1} END{if(!f) print "network: lxdbr0 missing"}'
    if lxc image alias list --format=csv 2>/dev/null | grep -q '^busybox,'; then echo "image: busybox"; else echo "image: busybox missing"; fi
    lxc list --all-projects --format=csv -c e,n,s 2>/dev/null | sed 's/^/instance: /'
  else
    echo "lxd: not running (run: scripts/lxd.sh up)"
    return 3
  fi
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
  restart-daemon) cmd_restart_daemon ;;
  *) echo "usage: $0 up|down|status|env|restart-daemon" >&2; exit 2 ;;
esac
