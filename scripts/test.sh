#!/usr/bin/env bash
# `make test`: installs what the tests need and runs them all, on a fresh
# Debian 12 machine as root. Real peers only: pdns_server, the embedded
# nats-server, LXD, dig; nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin:/usr/sbin:/sbin

step() { printf '\n==> %s\n' "$*"; }

step "installing test dependencies"
scripts/deps.sh all

step "gofmt and go vet"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt would change:"; echo "$unformatted"; exit 1; fi
go vet ./...

# Under make test nothing may skip: tests that would skip by hand (e.g. the
# LXD restart, against an LXD this script did not start) fail instead.
export ZONECAST_TEST_STRICT=1

# The LXD packages run last, with LXD up; the others run before it starts.
# The kea test runs on both sides: LXD's dnsmasq holds UDP port 67 on the
# host, and the suite must pass on a host that runs LXD as well as on one
# without it (kea-dhcp4 runs in a network namespace of its own).
lxd_pkgs="./cmd/watcher ./internal/lxdwatch"
other_pkgs=$(go list ./... | grep -v -e '/cmd/watcher$' -e '/internal/lxdwatch$')

step "go test -race (unit, fuzz seed corpora, integration against pdns_server, NATS, kea, ddclient)"
# -p 1: integration tests of several packages start daemons; one package at a time.
go test -race -count=1 -p 1 -timeout 45m $other_pkgs

step "starting LXD for the watcher tests"
# Stop at the end only an LXD this run started: not one a previous
# `scripts/lxd.sh up` left running, never someone else's (beside which
# lxd.sh starts a private one, in a network namespace of its own).
# (status is read whole first: with pipefail, grep -q leaving early
# would fail the pipe with SIGPIPE while status is still printing.)
lxd_was_ours=0
case $(scripts/lxd.sh status 2>/dev/null || true) in *'lxd: running, pid '*) lxd_was_ours=1 ;; esac
beside_state=/run/zonecast-lxd-beside
stop_lxd() {
  ZC_LXD_STATE=$beside_state scripts/lxd.sh down >/dev/null 2>&1 || true
  if [ "$lxd_was_ours" = 0 ]; then scripts/lxd.sh down || true; fi
}
trap stop_lxd EXIT
scripts/lxd.sh up
eval "$(scripts/lxd.sh env)"
scripts/lxd.sh status | grep -v '^instance:'

step "go test -race (the watcher against a real LXD)"
# -p 1: the LXD tests of both packages share one daemon, and two of them
# restart it; packages must not run at the same time.
go test -race -count=1 -p 1 -timeout 30m $lxd_pkgs

step "go test -race (the watcher against a private LXD beside another)"
# What a machine that already runs LXD gets: lxd.sh leaves that LXD alone
# and starts its own in a network namespace. Here the one above plays the
# other; the restarts, HTTPS and a container's life run against the private one.
(
  export ZC_LXD_STATE=$beside_state
  unset LXD_DIR
  scripts/lxd.sh up
  eval "$(scripts/lxd.sh env)"
  st=$(scripts/lxd.sh status)
  grep -v '^instance:' <<<"$st"
  grep -q '^network namespace: ' <<<"$st" || { echo "lxd.sh did not start a private LXD beside the running one"; exit 1; }
  go test -race -count=1 -p 1 -timeout 15m -run '^(TestLXDDaemonRestart|TestStartStopDelete|TestDaemonRestart|TestRemoteHTTPS|TestLaunchStopStartDelete)$' $lxd_pkgs
  scripts/lxd.sh down
)

step "go test -race (kea again, beside the running LXD and its dnsmasq)"
go test -race -count=1 -timeout 10m -run '^TestKeaDHCPToGateway$' ./cmd/gateway

if [ -x scripts/test-deb.sh ]; then
  step "Debian packages and systemd units"
  scripts/test-deb.sh
fi
