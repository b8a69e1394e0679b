#!/usr/bin/env bash
# `make demo`: on a fresh Debian 12 machine as root, installs what it needs
# (PowerDNS, dig, LXD), brings up LXD with a local busybox image, starts a
# local PowerDNS, zonecast-syncer (with its embedded NATS JetStream) and
# zonecast-watcher, launches a container and shows dig answering its AAAA
# and A, deletes it and shows the names gone. It ends with records
# published by hand from two origins.
#
# Everything listens on 127.0.0.1: PowerDNS DNS :5300 and API :8081, NATS
# :4222, syncer metrics :9470, watcher metrics :9471. State lives in
# .state/demo/. What the demo started (processes by PID, the container
# zc-demo, and LXD itself if it was not running) is stopped at the end;
# DEMO_KEEP=1 leaves it running (then `scripts/demo.sh stop` stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin:/usr/sbin:/sbin

state=$PWD/.state/demo
zone=demo.zonecast.test
dns_port=5300
api_port=8081
nats_port=4222
http=127.0.0.1:9470
watcher_http=127.0.0.1:9471
container=zc-demo

# stop_pid NAME: SIGTERM to the PID in $state/NAME.pid if it still runs
# zonecast-NAME, and wait for it.
stop_pid() {
  local name=$1 pid
  [ -f "$state/$name.pid" ] || return 0
  pid=$(cat "$state/$name.pid")
  if [ -d "/proc/$pid" ] && grep -q "zonecast-$name" "/proc/$pid/cmdline" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 100); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
  fi
  rm -f "$state/$name.pid"
}

stop_all() {
  eval "$(scripts/lxd.sh env)"
  if [ -f "$state/container" ]; then
    lxc delete --force "$(cat "$state/container")" >/dev/null 2>&1 || true
    rm -f "$state/container"
  fi
  stop_pid watcher
  stop_pid syncer
  [ -f "$state/pdns/pdns.pid" ] && scripts/pdns.sh stop "$state/pdns" || true
  if [ -f "$state/lxd-started" ]; then
    # LXD was not running before the demo: stop it again.
    scripts/lxd.sh down || true
    rm -f "$state/lxd-started"
  fi
}

if [ "${1:-}" = stop ]; then stop_all; exit 0; fi

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }
d() { show dig @127.0.0.1 -p "$dns_port" +noall +answer +authority "$@"; }
short() { dig @127.0.0.1 -p "$dns_port" +short "$@"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f s", b - a }'; }

say "installing PowerDNS and dig if missing"
scripts/deps.sh pdns

stop_all
rm -rf "$state"; mkdir -p "$state"
[ "${DEMO_KEEP:-0}" = 1 ] || trap stop_all EXIT

say "bringing up LXD (installs and initialises it if missing, builds the busybox image)"
# On a machine that runs its own LXD, lxd.sh leaves it alone and starts a
# private one beside it; either way, what the demo started it stops.
lxd_was_running=0
case $(scripts/lxd.sh status 2>/dev/null || true) in *'lxd: running, pid '*) lxd_was_running=1 ;; esac
scripts/lxd.sh up
[ "$lxd_was_running" = 1 ] || touch "$state/lxd-started"
eval "$(scripts/lxd.sh env)"

say "building zonecast-syncer and zonecast-watcher"
go build -o bin/zonecast-syncer ./cmd/syncer
go build -o bin/zonecast-watcher ./cmd/watcher

say "starting PowerDNS (gsqlite3) on 127.0.0.1:$dns_port, API on :$api_port"
scripts/pdns.sh start "$state/pdns" --dns-port "$dns_port" --api-port "$api_port"

say "starting zonecast-syncer for zone $zone (embedded NATS JetStream on 127.0.0.1:$nats_port)"
# Every daemon its own NATS user: the syncer keeps its own (unrestricted)
# password, and defines user "watcher" (role source: its origin, its zones)
# for the watcher, whose password file only the watcher is given.
mkdir -p "$state/syncer"
bin/zonecast-syncer passwd --password-file "$state/watcher-nats-password" >/dev/null
ZONECAST_ZONE=$zone \
ZONECAST_NODE_ID=demo-host \
ZONECAST_LOCAL_WATCHER_PASSWORD_FILE=$state/watcher-nats-password \
ZONECAST_PDNS_URL=http://127.0.0.1:$api_port \
ZONECAST_PDNS_API_KEY_FILE=$state/pdns/api-key \
ZONECAST_STATE_DIR=$state/syncer \
ZONECAST_NATS_LISTEN=127.0.0.1:$nats_port \
ZONECAST_HTTP_LISTEN=$http \
ZONECAST_NS=ns1.$zone \
ZONECAST_LOG_FORMAT=console \
  setsid bin/zonecast-syncer >"$state/syncer.log" 2>&1 &
echo $! >"$state/syncer.pid"
for _ in $(seq 100); do curl -fs "http://$http/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
show curl -s "http://$http/readyz"

say "starting zonecast-watcher (node id demo-host) on the local LXD socket"
ZONECAST_ZONE=$zone \
ZONECAST_NODE_ID=demo-host \
ZONECAST_NATS_URL=nats://127.0.0.1:$nats_port \
ZONECAST_NATS_USER=watcher \
ZONECAST_NATS_PASSWORD_FILE=$state/watcher-nats-password \
ZONECAST_HTTP_LISTEN=$watcher_http \
ZONECAST_POLL_INTERVAL=10s \
ZONECAST_LOG_FORMAT=console \
  setsid bin/zonecast-watcher >"$state/watcher.log" 2>&1 &
echo $! >"$state/watcher.pid"
for _ in $(seq 100); do curl -fs "http://$watcher_http/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
show curl -s "http://$watcher_http/readyz"

say "launching container $container"
lxc delete --force "$container" >/dev/null 2>&1 || true
echo "$container" >"$state/container"
t0=$(now)
show lxc launch busybox "$container"

say "waiting for dig to answer $container.$zone AAAA and A"
for _ in $(seq 150); do
  [ -n "$(short "$container.$zone" AAAA)" ] && [ -n "$(short "$container.$zone" A)" ] && break
  sleep 0.1
done
echo "answered $(since "$t0") after lxc launch"
d "$container.$zone" AAAA
d "$container.$zone" A
show lxc list "$container" -c n46 --format=compact
d $zone SOA

say "deleting $container: its names go"
t0=$(now)
show lxc delete --force "$container"
rm -f "$state/container"
for _ in $(seq 100); do
  [ -z "$(short "$container.$zone" AAAA)" ] && [ -z "$(short "$container.$zone" A)" ] && break
  sleep 0.1
done
echo "gone $(since "$t0") after lxc delete"
d "$container.$zone" AAAA
dig @127.0.0.1 -p "$dns_port" "$container.$zone" A | grep -E 'status:|^;; ANSWER' || true

say "the watcher's NATS user publishes its own origin only: another origin's record is refused"
if timeout 10 bin/zonecast-syncer publish --nats-url "nats://127.0.0.1:$nats_port" --nats-user watcher \
    --nats-password-file "$state/watcher-nats-password" --origin node-a --name forged.$zone --type A 192.0.2.66 \
    >"$state/forged.log" 2>&1; then
  echo "UNEXPECTED: the watcher's user published as node-a"; exit 1
fi
echo "refused: $(tail -1 "$state/forged.log")"

say "watcher metrics (excerpt)"
curl -s "http://$watcher_http/metrics" | grep -E '^zonecast_watcher_' || true

pub() { bin/zonecast-syncer publish --nats-url "nats://127.0.0.1:$nats_port" \
  --nats-password-file "$state/syncer/nats-password" "$@"; }

say "records published by hand, as two origins (node-a and node-b): the RRset is their union"
show pub --origin node-a --name web.$zone --type AAAA --ttl 60 2001:db8:100::10
show pub --origin node-b --name web.$zone --type AAAA --ttl 60 2001:db8:200::10
show pub --origin node-a --name www.$zone --type CNAME web.$zone
sleep 0.2
d web.$zone AAAA
d www.$zone AAAA

say "node-a withdraws its AAAA (a tombstone): node-b's address remains"
show pub --origin node-a --name web.$zone --type AAAA --delete
sleep 0.2
d web.$zone AAAA

say "the SOA serial is the stream sequence of the zone's last message"
d $zone SOA

if [ "${DEMO_KEEP:-0}" = 1 ]; then
  say "left running (DEMO_KEEP=1); stop with: scripts/demo.sh stop"
else
  say "done; stopping what the demo started (DEMO_KEEP=1 keeps it running)"
fi
