#!/usr/bin/env bash
# `make bench`: the performance targets, measured side by side in one run
# against a real PowerDNS (see docs/benchmarks.md for method and figures).
# BENCH_PKGS narrows the packages; BENCH_COUNT repeats each benchmark.
# BENCH_SCALE=full adds 10^6 RRsets to the scale curve (BenchmarkScale in
# ./cmd/syncer; by default 10^4 and 10^5), which is then drawn with gnuplot
# (into .state/bench/scale-curve.svg, with full into docs/img/scale-curve.svg).
# It also takes BenchmarkManyZones (./cmd/syncer) from 200 to 1,000 zones of
# 100 RRsets (docs/benchmarks.md, "Many zones"), and makes BenchmarkFleetLoad's
# streams of changes last 60 s instead of 20 s; their latency distributions
# are drawn into .state/bench/fleet-load.svg (with full, docs/img/fleet-load.svg).
# BenchmarkGatewayGrowth (./cmd/gateway; zones of 10^5 and 3 x 10^5 names,
# loaded by dnsperf) then takes a zone of 10^6 names too.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin:/usr/sbin:/sbin
# The signer's benchmarks (./cmd/signer) also need unbound and BIND's
# dnssec-verify (group dnssec). zonecast-register's (./cmd/register) run
# the client in a network namespace (root, iproute2).
# The scale curve's plot needs gnuplot (group plot); the fleet under load
# (BenchmarkFleetLoad) measures query rates with dnsperf (group load).
scripts/deps.sh pdns dnssec plot load
# The watcher's benchmarks need a real LXD (they hold its test lock
# exclusively and delete what they create).
scripts/lxd.sh up
eval "$(scripts/lxd.sh env)" # a private LXD when the machine runs another
out=.state/bench
mkdir -p "$out"
pkgs=${BENCH_PKGS:-./cmd/syncer ./cmd/watcher ./cmd/gateway ./cmd/signer ./cmd/register}
# BenchmarkScale appends one line per zone size here (columns: its header).
export BENCH_SCALE=${BENCH_SCALE:-}
export ZONECAST_BENCH_SCALE_FILE=$PWD/$out/scale.tsv
rm -f "$ZONECAST_BENCH_SCALE_FILE"
# BenchmarkFleetLoad writes its latency quantiles per case and node here
# (lat-<case>-<node>.tsv) and one summary line per case and node (fleet.tsv).
export ZONECAST_BENCH_FLEET_DIR=$PWD/$out/fleet
rm -rf "$ZONECAST_BENCH_FLEET_DIR"
mkdir -p "$ZONECAST_BENCH_FLEET_DIR"
# -benchtime 1x: each benchmark runs its own rounds and reports medians.
# -p 1: one package at a time, so the packages' benchmarks do not load each other.
go test -p 1 -run '^$' -bench . -benchtime 1x -count "${BENCH_COUNT:-1}" -timeout 60m -v $pkgs 2>&1 \
  | grep -vE '^\{"level"' | tee "$out/bench.txt"
echo "results: $out/bench.txt"
# The committed plot (docs/img) is redrawn only by a full run, so that a
# default run does not replace a curve to 10^6 with one to 10^5.
if [ -s "$ZONECAST_BENCH_SCALE_FILE" ]; then
  plot=$out/scale-curve.svg
  [ "$BENCH_SCALE" = full ] && plot=docs/img/scale-curve.svg
  gnuplot -e "data='$ZONECAST_BENCH_SCALE_FILE'; out='$plot'" scripts/scale-curve.gp
  echo "scale curve: $ZONECAST_BENCH_SCALE_FILE, $plot"
fi
# The same for the fleet's latency distributions under sustained load
# (BENCH_SCALE=full: 60 s of load per case instead of 20 s).
if compgen -G "$ZONECAST_BENCH_FLEET_DIR/lat-*.tsv" >/dev/null; then
  plot=$out/fleet-load.svg
  [ "$BENCH_SCALE" = full ] && plot=docs/img/fleet-load.svg
  gnuplot -e "dir='$ZONECAST_BENCH_FLEET_DIR'; out='$plot'" scripts/fleet-load.gp
  echo "fleet under load: $ZONECAST_BENCH_FLEET_DIR/fleet.tsv, $plot"
fi
