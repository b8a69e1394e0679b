#!/usr/bin/env bash
# `make demo`: on a fresh Debian 12 machine as root, installs what it needs,
# starts a local PowerDNS and zonecast-syncer (with its embedded NATS
# JetStream), publishes sample records and shows dig answering them.
#
# Everything listens on 127.0.0.1: PowerDNS DNS :5300 and API :8081, NATS
# :4222, syncer metrics :9470. State lives in .state/demo/. The processes it
# started are stopped at the end, by PID; DEMO_KEEP=1 leaves them running
# (then `scripts/demo.sh stop` stops them).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin:/usr/sbin:/sbin

state=$PWD/.state/demo
zone=demo.zonecast.test
dns_port=5300
api_port=8081
nats_port=4222
http=127.0.0.1:9470

stop_all() {
  if [ -f "$state/syncer.pid" ]; then
    pid=$(cat "$state/syncer.pid")
    if [ -d "/proc/$pid" ] && grep -q zonecast-syncer "/proc/$pid/cmdline" 2>/dev/null; then
      kill -TERM "$pid"; for _ in $(seq 50); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
    fi
    rm -f "$state/syncer.pid"
  fi
  [ -f "$state/pdns/pdns.pid" ] && scripts/pdns.sh stop "$state/pdns" || true
}

if [ "${1:-}" = stop ]; then stop_all; exit 0; fi

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

say "installing PowerDNS and dig if missing"
scripts/deps.sh pdns

say "building zonecast-syncer"
go build -o bin/zonecast-syncer ./cmd/syncer

stop_all
rm -rf "$state"; mkdir -p "$state"
[ "${DEMO_KEEP:-0}" = 1 ] || trap stop_all EXIT

say "starting PowerDNS (gsqlite3) on 127.0.0.1:$dns_port, API on :$api_port"
scripts/pdns.sh start "$state/pdns" --dns-port "$dns_port" --api-port "$api_port"

say "starting zonecast-syncer for zone $zone (embedded NATS JetStream on 127.0.0.1:$nats_port)"
ZONECAST_ZONE=$zone \
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

pub() { bin/zonecast-syncer publish --nats-url "nats://127.0.0.1:$nats_port" \
  --nats-password-file "$state/syncer/nats-password" "$@"; }

say "publishing sample records (as two origins: node-a and node-b)"
show pub --origin node-a --name web.$zone --type AAAA --ttl 60 2001:db8:100::10
show pub --origin node-a --name web.$zone --type A --ttl 60 192.0.2.10
show pub --origin node-b --name web.$zone --type AAAA --ttl 60 2001:db8:200::10
show pub --origin node-a --name _acme-challenge.web.$zone --type NS web.$zone
show pub --origin node-a --name www.$zone --type CNAME web.$zone
show pub --origin node-a --name $zone --type TXT '"v=spf1 -all"'
sleep 0.2

say "dig against the local PowerDNS"
d() { show dig @127.0.0.1 -p "$dns_port" +noall +answer +authority "$@"; }
d web.$zone AAAA
d web.$zone A
d www.$zone AAAA
d _acme-challenge.web.$zone TXT
d $zone TXT
d $zone SOA

say "node-a withdraws its AAAA (a tombstone): node-b's address remains"
show pub --origin node-a --name web.$zone --type AAAA --delete
sleep 0.2
d web.$zone AAAA

say "the SOA serial is the stream sequence of the zone's last message"
d $zone SOA

say "syncer metrics (excerpt)"
curl -s "http://$http/metrics" | grep -E '^zonecast_syncer_(rrsets_applied_total|zone_serial|messages_total)' || true

if [ "${DEMO_KEEP:-0}" = 1 ]; then
  say "left running (DEMO_KEEP=1); stop with: scripts/demo.sh stop"
else
  say "done; stopping what the demo started (DEMO_KEEP=1 keeps it running)"
fi
