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

# The LXD packages run last, with LXD up; the others run before it starts
# (the kea test needs UDP port 67, which LXD's dnsmasq takes).
lxd_pkgs="./cmd/watcher ./internal/lxdwatch"
other_pkgs=$(go list ./... | grep -v -e '/cmd/watcher$' -e '/internal/lxdwatch$')

step "go test -race (unit, fuzz seed corpora, integration against pdns_server, NATS, kea, ddclient)"
# -p 1: integration tests of several packages start daemons; one package at a time.
go test -race -count=1 -p 1 -timeout 45m $other_pkgs

step "starting LXD for the watcher tests"
scripts/lxd.sh up
trap 'scripts/lxd.sh down || true' EXIT

step "go test -race (the watcher against a real LXD)"
# -p 1: the LXD tests of both packages share one daemon, and two of them
# restart it; packages must not run at the same time.
go test -race -count=1 -p 1 -timeout 30m $lxd_pkgs

if [ -x scripts/test-deb.sh ]; then
  step "Debian packages and systemd units"
  scripts/test-deb.sh
fi
