#!/usr/bin/env bash
# Installs, idempotently, the Debian packages that tests, the demo and the
# benchmarks need. Usage: scripts/deps.sh [all|pdns|lxd|deb|gateway|alerts|dnssec|browser|plot|load]...
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

declare -A groups=(
  [pdns]="pdns-server pdns-backend-sqlite3 pdns-backend-lmdb sqlite3 dnsutils"
  [lxd]="lxd dnsmasq-base nftables busybox-static iproute2"
  [deb]="lintian systemd dpkg-dev"
  # Real clients of zonecast-gateway (cmd/gateway/clients_test.go): kea's
  # DHCPv4 server and its DHCP-DDNS daemon (D2), ddclient, busybox's udhcpc
  # as the DHCP client, ip netns for the private link.
  [gateway]="kea-dhcp4-server kea-dhcp-ddns-server ddclient busybox-static iproute2"
  # The shipped alerting rules (internal/alerts): promtool checks and
  # unit-tests them, a real prometheus evaluates them against a syncer. Its
  # init script would start a server on :9090; the policy below forbids it,
  # and without systemd as PID 1 its unit is only enabled, never started.
  [alerts]="prometheus"
  # DNSSEC checked by tools no one here wrote (internal/dnssec):
  # dnssec-verify and dnssec-keygen; unbound as a validating resolver and
  # delv (bind9-dnsutils) in front of PowerDNS (internal/testunbound). Its
  # service is never started: the policy below forbids it.
  [dnssec]="bind9-utils bind9-dnsutils unbound"
  # The web page tested in a real browser (internal/testbrowser,
  # cmd/gateway/web_test.go): Debian's chromium, driven headless by
  # chromedp. No browser download: none can be reached.
  # Its fonts come from Recommends, which deps.sh does not install:
  # without one, text in the screenshots would be empty boxes.
  [browser]="chromium fonts-dejavu-core"
  # The scale curve's plot (scripts/bench.sh, scripts/scale-curve.gp).
  [plot]="gnuplot-nox"
  # Query load on PowerDNS while the fleet takes a stream of changes
  # (BenchmarkFleetLoad, cmd/syncer/bench_fleet_test.go).
  [load]="dnsperf"
)

want=()
for g in "${@:-all}"; do
  if [ "$g" = all ]; then
    for k in "${!groups[@]}"; do want+=(${groups[$k]}); done
  elif [ -n "${groups[$g]:-}" ]; then
    want+=(${groups[$g]})
  else
    echo "deps.sh: unknown group $g (known: all ${!groups[*]})" >&2; exit 2
  fi
done

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps.sh: installing ${missing[*]}"
# Never let a package start services (pdns on :53 would block LXD's dnsmasq).
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; created_policy=1; fi
trap '[ $created_policy = 1 ] && rm -f "$policy"' EXIT
# ddclient's debconf defaults write a daemon configuration (no-ip.com with a
# web IP lookup) and enable its service. Preseed "interface lo, run on PPP
# connect" instead: /etc/ddclient.conf then names no host and no web service,
# and no daemon is enabled. The tests use config files of their own.
if [[ " ${missing[*]} " == *" ddclient "* ]]; then
  printf '%s\n' \
    'ddclient ddclient/method select Network interface' \
    'ddclient ddclient/interface string lo' \
    'ddclient ddclient/run_mode select On PPP connect' \
    'ddclient ddclient/fetchhosts select Manually' | debconf-set-selections
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
