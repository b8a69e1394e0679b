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

step "starting LXD for the watcher tests"
scripts/lxd.sh up
trap 'scripts/lxd.sh down || true' EXIT

# Under make test nothing may skip: tests that would skip by hand (e.g. the
# LXD restart, against an LXD this script did not start) fail instead.
export ZONECAST_TEST_STRICT=1

step "go test -race (unit, fuzz seed corpora, integration against pdns_server, NATS and LXD)"
# -p 1: the LXD tests of several packages share one daemon, and two of them
# restart it; packages must not run at the same time.
go test -race -count=1 -p 1 -timeout 60m ./...

if [ -x scripts/test-deb.sh ]; then
  step "Debian packages and systemd units"
  scripts/test-deb.sh
fi
