#!/usr/bin/env bash
# Runs a private PowerDNS Authoritative server (for `make demo` and `make bench`)
# with its own config dir: never /etc/powerdns, loopback only, no systemd.
#
#   scripts/pdns.sh start DIR [--backend gsqlite3|lmdb] [--dns-port N] [--api-port N]
#   scripts/pdns.sh stop DIR
#
# start writes DIR/pdns.conf, DIR/db/, DIR/pdns.pid, DIR/api-key (mode 0600)
# and DIR/pdns.log, then waits until the API and DNS answer. It is idempotent:
# when DIR/pdns.pid names a live pdns_server it says so and exits 0.
# stop sends SIGTERM to the PID in DIR/pdns.pid only (SIGKILL after 10 s).
set -euo pipefail

SCHEMA=/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql

die() { echo "pdns.sh: $*" >&2; exit 1; }
usage() {
  sed -n '4,5p' "$0" | sed 's/^#   /usage: /' >&2
  exit 2
}

# live_pid DIR: prints the PID from DIR/pdns.pid if it is a running
# pdns_server started for DIR, else nothing.
live_pid() {
  local dir=$1 pid
  [ -f "$dir/pdns.pid" ] || return 0
  pid=$(<"$dir/pdns.pid")
  [[ $pid =~ ^[0-9]+$ ]] || return 0
  [ -r "/proc/$pid/cmdline" ] || return 0
  local cmdline
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
  case $cmdline in
    *pdns_server*"--config-dir=$dir "*) echo "$pid" ;;
  esac
}

api_ready() { # api_ready PORT KEYFILE
  # The key goes through stdin, never on a command line.
  curl -fsS -o /dev/null --max-time 2 -H @- "http://127.0.0.1:$1/api/v1/servers/localhost" \
    <<<"X-API-Key: $(<"$2")" 2>/dev/null
}

dns_ready() { # dns_ready PORT: any answer (REFUSED included) will do
  dig @127.0.0.1 -p "$1" +norec +time=1 +tries=1 testpdns.invalid. SOA >/dev/null 2>&1
}

cmd_start() {
  [ $# -ge 1 ] || usage
  local dir=$1; shift
  local backend=gsqlite3 dns_port=5300 api_port=8081
  while [ $# -gt 0 ]; do
    case $1 in
      --backend) backend=${2:?--backend needs a value}; shift 2 ;;
      --dns-port) dns_port=${2:?--dns-port needs a value}; shift 2 ;;
      --api-port) api_port=${2:?--api-port needs a value}; shift 2 ;;
      *) usage ;;
    esac
  done
  case $backend in gsqlite3|lmdb) ;; *) die "unknown backend $backend (gsqlite3 or lmdb)" ;; esac
  [[ $dns_port =~ ^[0-9]+$ && $api_port =~ ^[0-9]+$ ]] || die "ports must be numbers"
  command -v pdns_server >/dev/null || [ -x /usr/sbin/pdns_server ] ||
    die "pdns_server not found: run scripts/deps.sh pdns"
  local bin
  bin=$(command -v pdns_server || echo /usr/sbin/pdns_server)

  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  local pid
  pid=$(live_pid "$dir")
  if [ -n "$pid" ]; then
    echo "pdns.sh: pdns_server already running for $dir (pid $pid)"
    exit 0
  fi

  mkdir -p "$dir/db"
  chmod 700 "$dir/db"
  if [ ! -s "$dir/api-key" ]; then
    (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/api-key")
  fi
  chmod 600 "$dir/api-key"

  local launch
  case $backend in
    gsqlite3)
      command -v sqlite3 >/dev/null || die "sqlite3 not found: run scripts/deps.sh pdns"
      if [ ! -s "$dir/db/pdns.sqlite3" ]; then
        sqlite3 "$dir/db/pdns.sqlite3" <"$SCHEMA"
      fi
      launch="launch=gsqlite3
gsqlite3-database=$dir/db/pdns.sqlite3" ;;
    lmdb)
      launch="launch=lmdb
lmdb-filename=$dir/db/pdns.lmdb" ;;
  esac

  (umask 077; cat >"$dir/pdns.conf" <<EOF
# written by scripts/pdns.sh
$launch
local-address=127.0.0.1
local-port=$dns_port
socket-dir=$dir
api=yes
api-key=$(<"$dir/api-key")
webserver=yes
webserver-address=127.0.0.1
webserver-port=$api_port
webserver-allow-from=127.0.0.0/8
security-poll-suffix=
guardian=no
daemon=no
disable-syslog=yes
write-pid=no
EOF
  )

  echo "=== pdns.sh: starting at $(date -Is)" >>"$dir/pdns.log"
  setsid "$bin" "--config-dir=$dir" --guardian=no --daemon=no --disable-syslog --write-pid=no \
    </dev/null >>"$dir/pdns.log" 2>&1 &
  pid=$!
  echo "$pid" >"$dir/pdns.pid"

  local i
  for i in $(seq 1 200); do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$dir/pdns.pid"
      tail -n 20 "$dir/pdns.log" >&2
      die "pdns_server exited during startup (log: $dir/pdns.log)"
    fi
    if api_ready "$api_port" "$dir/api-key" && dns_ready "$dns_port"; then
      echo "pdns.sh: pdns_server ($backend) pid $pid: API http://127.0.0.1:$api_port (key in $dir/api-key), DNS 127.0.0.1:$dns_port"
      return 0
    fi
    sleep 0.1
  done
  tail -n 20 "$dir/pdns.log" >&2
  die "pdns_server pid $pid not ready after 20 s (still running; stop it with: $0 stop $dir)"
}

cmd_stop() {
  [ $# -eq 1 ] || usage
  local dir=$1
  [ -d "$dir" ] || die "no such directory $dir"
  dir=$(cd "$dir" && pwd)
  local pid
  pid=$(live_pid "$dir")
  if [ -z "$pid" ]; then
    echo "pdns.sh: no pdns_server running for $dir"
    rm -f "$dir/pdns.pid"
    return 0
  fi
  kill -TERM "$pid"
  local i
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "pdns.sh: pid $pid ignored SIGTERM for 10 s: SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/pdns.pid"
  echo "pdns.sh: stopped pdns_server pid $pid"
}

[ $# -ge 1 ] || usage
action=$1; shift
case $action in
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  *) usage ;;
esac
