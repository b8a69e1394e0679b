# Latency distributions of the fleet under sustained load (BenchmarkFleetLoad,
# docs/benchmarks.md "Sustained load on a fleet"), drawn by scripts/bench.sh:
#   gnuplot -e "dir='.state/bench/fleet'; out='docs/img/fleet-load.svg'" scripts/fleet-load.gp
# Each file lat-<case>-<node>.tsv holds quantiles of publish -> visible on one
# node: quantile, milliseconds. Cases: zonecast-<rate> (three syncers, the
# embedded cluster), native<rrsets>-<rate> (a primary, two NOTIFY/AXFR
# secondaries). One colour per case (three nodes each, files in name order),
# one dash pattern per node.
if (!exists("dir")) dir = '.state/bench/fleet'
if (!exists("out")) out = 'docs/img/fleet-load.svg'
set terminal svg size 1000,760 dynamic font 'sans,11' background rgb 'white'
set output out
set datafile separator "\t"
zc = system("ls ".dir."/lat-zonecast-*.tsv 2>/dev/null")
nat = system("ls ".dir."/lat-native*.tsv 2>/dev/null")
all = zc." ".nat
label(f) = f[strstrt(f, "/lat-")+5:strlen(f)-4]
kase(i) = (i-1)/3+1
node(i) = (i-1)%3+1
set logscale x 10
set grid
set key outside right top box opaque font ',9'
set xlabel "publish -> visible in DNS (ms, log)"
set multiplot layout 2,1 title "Sustained load: 3 nodes on one 2-core machine (PowerDNS 4.7 gsqlite3)"

set title "distribution per node (CDF)"
set ylabel "fraction of changes"
set yrange [0:1]
plot for [i=1:words(all)] word(all, i) using 2:1 with lines lw 2 lc kase(i) dt node(i) title label(word(all, i))

set title "tail: fraction of changes slower than x"
set logscale y 10
set yrange [0.0005:1]
set ylabel "1 - quantile"
set arrow from 100, graph 0 to 100, graph 1 nohead dt 2 lc rgb 'black'
set label "100 ms target" at 110, graph 0.9 font ',9'
plot for [i=1:words(all)] word(all, i) using 2:(1-$1) with lines lw 2 lc kase(i) dt node(i) title label(word(all, i))
unset multiplot
