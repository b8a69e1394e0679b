# The scale curve of one zone (BenchmarkScale, docs/benchmarks.md "Scale
# curve"), drawn by scripts/bench.sh:
#   gnuplot -e "data='scale.tsv'; out='docs/img/scale-curve.svg'" scripts/scale-curve.gp
# Columns: see scaleHeader in cmd/syncer/bench_scale_test.go. Repeated runs
# of one size are drawn as points; the line goes through their means.
if (!exists("data")) data = '.state/bench/scale.tsv'
if (!exists("out")) out = 'docs/img/scale-curve.svg'
set terminal svg size 1000,760 dynamic font 'sans,11' background rgb 'white'
set output out
set datafile separator "\t"
set datafile commentschars "#"
set logscale x 10
set format x "10^{%L}"
set xrange [5000:2000000]
set key top left box opaque
set grid
set multiplot layout 2,2 title "zonecast-syncer: one zone of 10^4 to 10^6 RRsets (PowerDNS 4.7 gsqlite3, 2 cores)"

set title "time (s)"
set logscale y 10
set ylabel "seconds"
plot data using 1:2 smooth unique with linespoints lw 2 pt 7 title "bulk load, PATCHes of 1,000", \
     data using 1:3 smooth unique with linespoints lw 2 pt 5 title "new node converges", \
     data using 1:12 smooth unique with linespoints lw 2 pt 9 title "PowerDNS full-zone GET", \
     data using 1:10 smooth unique with linespoints lw 2 pt 11 title "no-drift reconciliation", \
     data using 1:11 smooth unique with linespoints lw 1 dt 2 pt 13 title "its syncer CPU"

set title "ratios (targets at 10^6 dashed)"
unset logscale y
set ylabel "ratio"
set yrange [0:3]
set key bottom right
plot data using 1:4:5:6 with yerrorbars pt 7 lc 1 notitle, \
     data using 1:4 smooth unique with lines lw 2 lc 1 title "converge / bulk (bars: rounds)", \
     data using 1:13 smooth unique with linespoints lw 2 pt 5 lc 2 title "reconciliation / GET", \
     1.25 with lines dt 2 lc 1 title "1.25", 2 with lines dt 2 lc 2 title "2"
set yrange [*:*]
set key top left

set title "syncer resident memory (VmHWM)"
set key bottom right
set logscale y 10
set ylabel "MB"
set y2label "bytes per RRset"
set y2tics
set logscale y2 10
plot data using 1:7 smooth unique with linespoints lw 2 pt 7 title "VmHWM after reconciliations, MB", \
     data using 1:17 smooth unique with linespoints lw 2 pt 9 title "VmHWM converged, MB", \
     1024 with lines dt 2 lc 1 title "1 GB target", \
     data using 1:9 axes x1y2 smooth unique with linespoints lw 2 pt 5 lc 3 title "bytes / RRset (right)"
unset y2label
unset y2tics
unset logscale y2
set key top left

set title "publish -> dig, no load"
set ylabel "ms"
plot data using 1:15 smooth unique with linespoints lw 2 pt 7 title "p50", \
     data using 1:16 smooth unique with linespoints lw 2 pt 5 title "p99"
unset multiplot
