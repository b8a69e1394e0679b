package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/pdnsapi"
	"github.com/zonecast/zonecast/internal/rrset"
	"github.com/zonecast/zonecast/internal/testenv"
	"github.com/zonecast/zonecast/internal/testpdns"
)

// BenchmarkFleetLoad is sustained load on a fleet, against native
// replication (issue 20, items 3 and 5). Each case takes one zone of
// fleetRRsets AAAA RRsets h<j>, and then a steady stream of changes: change
// c gives h<c mod fleetHot> a new address that encodes c, at the times
// start + c/rate fixed in advance (an open loop: a slow change does not
// delay the schedule of the next ones, it only makes them late; the
// intended and the actual send time of every change are kept).
//
//   - zonecast: three nodes on this machine (testenv.StartFleet: three
//     pdns_server, three syncers whose embedded nats-servers form one
//     JetStream cluster, stream replicas 3); the changes are published
//     asynchronously to node 1; one sub-benchmark per rate.
//   - native: one PowerDNS primary (kind Master, SOA-EDIT-API INCREASE,
//     API-RECTIFY 0) taking one PATCH per change through its API, one writer,
//     and two PowerDNS secondaries fed by NOTIFY and AXFR (4.7 has no IXFR
//     to serve); the primary looks for changed serials every second
//     (xfr-cycle-interval=1, default 60) and then notifies
//     (also-notify). At 10^5 RRsets and at fleetSmall RRsets.
//
// On every node a goroutine sweeps, oldest first, over the changes it has
// not yet seen answered, one UDP query each, every millisecond (pollNode),
// until the node answers the new address (or a later one of the same name): publish -> visible, per node, from the
// actual send time (and from the intended one, which adds the sender's
// lateness). While the load runs, dnsperf measures each node's query rate
// for fleetPerfSecs, one node after the other; before it, the same with
// the nodes idle. Changes sent while dnsperf ran are also reported apart.
//
// The default load lasts 20 s; BENCH_SCALE=full makes it 60 s.
// ZONECAST_BENCH_FLEET_RATES overrides zonecast's rates (default
// "200,500"), ZONECAST_BENCH_FLEET_CASES="zonecast" or "native" runs one
// side only; ZONECAST_BENCH_FLEET_SYNCER_FLAGS adds flags to every syncer
// (e.g. "--batch-delay 50ms"). With ZONECAST_BENCH_FLEET_DIR set, each case's latency
// quantiles per node go to that directory (lat-<case>-<node>.tsv: quantile,
// ms) and one summary line per case to fleet.tsv, for
// scripts/fleet-load.gp.
func BenchmarkFleetLoad(b *testing.B) {
	dur := 20 * time.Second
	if os.Getenv("BENCH_SCALE") == "full" {
		dur = 60 * time.Second
	}
	rates := []int{200, 500}
	if s := os.Getenv("ZONECAST_BENCH_FLEET_RATES"); s != "" {
		rates = nil
		for _, f := range strings.Split(s, ",") {
			r, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || r <= 0 {
				b.Fatalf("ZONECAST_BENCH_FLEET_RATES: %q", s)
			}
			rates = append(rates, r)
		}
	}
	cases := os.Getenv("ZONECAST_BENCH_FLEET_CASES")
	if cases == "" || cases == "zonecast" {
		b.Run(fmt.Sprintf("zonecast/rrsets=%d", fleetRRsets), func(b *testing.B) { benchFleetZonecast(b, rates, dur) })
	}
	if cases == "" || cases == "native" {
		for _, n := range []int{fleetRRsets, fleetSmall} {
			b.Run(fmt.Sprintf("native/rrsets=%d/rate=200", n), func(b *testing.B) { benchFleetNative(b, n, 200, dur) })
		}
	}
}

const (
	fleetRRsets   = 100000 // RRsets in the zone
	fleetSmall    = 2000   // the small zone of the native case
	fleetHot      = 1000   // names that change
	fleetPerfSecs = 5      // seconds of dnsperf per node
	fleetLoadZone = "load.bench.test."
)

// fleetAddr is the address of change c: 2001:db8:ff:<c>>16>::<c&0xffff>.
func fleetAddr(c int) string { return fmt.Sprintf("2001:db8:ff:%x::%x", c>>16, c&0xffff) }

// fleetChangeOf decodes the change number of an address made by fleetAddr,
// or -1 for any other address (the zone's initial ones).
func fleetChangeOf(ip net.IP) int {
	ip = ip.To16()
	if ip == nil || ip[4] != 0 || ip[5] != 0xff {
		return -1
	}
	return int(ip[6])<<24 | int(ip[7])<<16 | int(ip[14])<<8 | int(ip[15])
}

func fleetName(c int) string { return fmt.Sprintf("h%d.%s", c%fleetHot, fleetLoadZone) }

// loadNode is one nameserver that the load is measured on.
type loadNode struct {
	id  string
	dns string // 127.0.0.1:PORT
	pid int    // pdns_server
	// syncer is the node's zonecast-syncer (0: none); log its
	// pdns_server's log, where a secondary's transfers are counted.
	syncer int
	log    string
}

// change is one change of the stream.
type change struct {
	c                int
	name             string
	intended, actual time.Time
}

// loadResult is what one run of the stream gave.
type loadResult struct {
	sent       int
	lat        [][]float64 // per node: ms from the actual send until visible
	latInt     [][]float64 // per node: ms from the intended send time
	latQuiet   [][]float64 // per node: lat of the changes sent while no dnsperf ran
	missing    []int       // per node: changes not seen within the deadline
	late       []float64   // ms the sender was behind the schedule, per change
	qps        []float64   // per node: dnsperf during the load (0: not run)
	pdnsCPU    []float64   // per node: PowerDNS CPU seconds during the load
	syncerCPU  []float64   // per node: the syncer's CPU seconds during the load
	axfrs      []int       // per node: zone transfers taken during the load
	sendErrors int         // failed sends, retried
	sendFailed int         // changes not sent after the retries
}

// runLoad sends rate changes per second for dur through send, starting at
// change number first, and measures them on nodes (see BenchmarkFleetLoad).
func runLoad(b *testing.B, nodes []loadNode, first, rate int, dur time.Duration, perf *dnsperfRun,
	send func(c int, name, addr string) error, flush func() error) *loadResult {
	b.Helper()
	total := int(float64(rate) * dur.Seconds())
	res := &loadResult{sent: total, lat: make([][]float64, len(nodes)), latInt: make([][]float64, len(nodes)),
		latQuiet: make([][]float64, len(nodes)), missing: make([]int, len(nodes)), qps: make([]float64, len(nodes)),
		pdnsCPU: make([]float64, len(nodes)), syncerCPU: make([]float64, len(nodes)), axfrs: make([]int, len(nodes))}
	ins := make([]chan *change, len(nodes))
	var wg sync.WaitGroup
	type window struct{ from, to time.Time }
	var windows []window
	var wmu sync.Mutex
	quietAt := func(t time.Time) bool {
		wmu.Lock()
		defer wmu.Unlock()
		for _, w := range windows {
			if !t.Before(w.from) && (w.to.IsZero() || t.Before(w.to)) {
				return false
			}
		}
		return true
	}
	results := make([][]polled, len(nodes))
	for i, n := range nodes {
		ins[i] = make(chan *change, total+1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = pollNode(n.dns, ins[i])
		}()
	}
	cpu0, scpu0, axfr0 := make([]time.Duration, len(nodes)), make([]time.Duration, len(nodes)), make([]int, len(nodes))
	for i, n := range nodes {
		cpu0[i], scpu0[i], axfr0[i] = cpuTime(n.pid), cpuTime(n.syncer), transfers(n.log)
	}
	start := time.Now().Add(50 * time.Millisecond)
	// dnsperf on each node in turn, in the middle of the load.
	perfDone := make(chan struct{})
	go func() {
		defer close(perfDone)
		if perf == nil {
			return
		}
		time.Sleep(time.Until(start.Add(2 * time.Second)))
		for i, n := range nodes {
			if time.Until(start.Add(dur)) < time.Duration(perf.secs)*time.Second {
				return
			}
			wmu.Lock()
			windows = append(windows, window{from: time.Now()})
			wmu.Unlock()
			q, err := perf.run(n.dns)
			wmu.Lock()
			windows[len(windows)-1].to = time.Now()
			wmu.Unlock()
			if err != nil {
				b.Logf("dnsperf on %s: %v", n.id, err)
				continue
			}
			res.qps[i] = q
		}
	}()
	period := time.Second / time.Duration(rate)
	for k := 0; k < total; k++ {
		intended := start.Add(time.Duration(k) * period)
		if d := time.Until(intended); d > 0 {
			time.Sleep(d)
		}
		c := first + k
		ch := &change{c: c, name: fleetName(c), intended: intended, actual: time.Now()}
		res.late = append(res.late, float64(ch.actual.Sub(intended))/1e6)
		// A failed send is retried as a client would (the primary's
		// gsqlite3 answers 500 "database is locked" while it serves an
		// AXFR); one that still fails is not waited for.
		var err error
		for try := 0; try < 5; try++ {
			if err = send(c, ch.name, fleetAddr(c)); err == nil {
				break
			}
			res.sendErrors++
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			res.sendFailed++
			b.Logf("sending change %d: %v", c, err)
			continue
		}
		for _, in := range ins {
			in <- ch
		}
	}
	if flush != nil {
		if err := flush(); err != nil {
			b.Errorf("flushing: %v", err)
		}
	}
	for _, in := range ins {
		close(in)
	}
	wg.Wait()
	<-perfDone
	for i, n := range nodes {
		res.pdnsCPU[i] = (cpuTime(n.pid) - cpu0[i]).Seconds()
		if n.syncer != 0 {
			res.syncerCPU[i] = (cpuTime(n.syncer) - scpu0[i]).Seconds()
		}
		res.axfrs[i] = transfers(n.log) - axfr0[i]
		for _, s := range results[i] {
			if !s.ok {
				res.missing[i]++
				continue
			}
			ms := float64(s.at.Sub(s.ch.actual)) / 1e6
			res.lat[i] = append(res.lat[i], ms)
			res.latInt[i] = append(res.latInt[i], float64(s.at.Sub(s.ch.intended))/1e6)
			if quietAt(s.ch.actual) && quietAt(s.at) {
				res.latQuiet[i] = append(res.latQuiet[i], ms)
			}
		}
	}
	return res
}

// visibleLimit is how long a change may take to be answered before it
// counts as missing.
const visibleLimit = 60 * time.Second

// polled is a change as one node answered it: at when first seen, ok
// false if never.
type polled struct {
	ch *change
	at time.Time
	ok bool
}

// pollNode asks addr for every change it receives on in, oldest first, one
// UDP query each, until each is answered with its address or a later one
// of the same name (a later change superseded it), or visibleLimit passed.
// A node makes changes visible in the order they were sent (the syncer
// applies the stream in order, a secondary a whole zone per transfer), so
// a sweep stops at the first change not yet answered and starts again
// pollEvery later: the probes stay at about 1,000 queries per second per
// node, however many changes are outstanding, and do not load the node
// they measure. It returns when in is closed and nothing is outstanding.
func pollNode(addr string, in <-chan *change) []polled {
	var out []polled
	c := &dns.Client{Timeout: 500 * time.Millisecond}
	var conn *dns.Conn
	var pending []*change
	open := true
	for open || len(pending) > 0 {
		if len(pending) == 0 {
			ch, ok := <-in
			if !ok {
				break
			}
			pending = append(pending, ch)
		}
	drain:
		for open {
			select {
			case ch, ok := <-in:
				if !ok {
					open = false
					break drain
				}
				pending = append(pending, ch)
			default:
				break drain
			}
		}
		done := 0
		for _, ch := range pending {
			if conn == nil {
				var err error
				if conn, err = c.Dial(addr); err != nil {
					conn = nil
					break
				}
			}
			m := new(dns.Msg)
			m.SetQuestion(ch.name, dns.TypeAAAA)
			r, _, err := c.ExchangeWithConn(m, conn)
			now := time.Now()
			if err != nil {
				conn.Close()
				conn = nil
				break
			}
			if len(r.Answer) == 1 {
				if a, ok := r.Answer[0].(*dns.AAAA); ok && fleetChangeOf(a.AAAA) >= ch.c {
					out = append(out, polled{ch: ch, at: now, ok: true})
					done++
					continue
				}
			}
			if now.Sub(ch.actual) > visibleLimit {
				out = append(out, polled{ch: ch})
				done++
				continue
			}
			break
		}
		pending = pending[done:]
		if len(pending) > 0 {
			time.Sleep(pollEvery)
		}
	}
	if conn != nil {
		conn.Close()
	}
	return out
}

// pollEvery is the pause between two sweeps of a node's outstanding
// changes (as the other publish -> dig benchmarks poll, every millisecond).
const pollEvery = time.Millisecond

// dnsperfRun runs dnsperf against a node for secs seconds with a data file
// of the hot names' AAAA queries.
type dnsperfRun struct {
	bin  string
	data string
	secs int
}

var dnsperfQPS = regexp.MustCompile(`Queries per second:\s+([0-9.]+)`)

// newDnsperf returns nil (and logs why) when dnsperf is not installed.
func newDnsperf(b *testing.B) *dnsperfRun {
	b.Helper()
	bin, err := exec.LookPath("dnsperf")
	if err != nil {
		b.Logf("dnsperf not found (scripts/deps.sh load): no query rates")
		return nil
	}
	var sb strings.Builder
	for j := 0; j < fleetHot; j++ {
		fmt.Fprintf(&sb, "h%d.%s AAAA\n", j, fleetLoadZone)
	}
	data := filepath.Join(b.TempDir(), "queries")
	if err := os.WriteFile(data, []byte(sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	return &dnsperfRun{bin: bin, data: data, secs: fleetPerfSecs}
}

func (d *dnsperfRun) run(addr string) (float64, error) {
	host, port, _ := net.SplitHostPort(addr)
	out, err := exec.Command(d.bin, "-s", host, "-p", port, "-d", d.data, "-l", strconv.Itoa(d.secs)).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%w: %s", err, out)
	}
	m := dnsperfQPS.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no rate in dnsperf's output: %s", out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

// idleQPS measures each node's query rate with nothing else running.
func idleQPS(b *testing.B, perf *dnsperfRun, nodes []loadNode) []float64 {
	b.Helper()
	q := make([]float64, len(nodes))
	if perf == nil {
		return q
	}
	for i, n := range nodes {
		var err error
		if q[i], err = perf.run(n.dns); err != nil {
			b.Logf("dnsperf idle on %s: %v", n.id, err)
		}
	}
	return q
}

// report logs and records one case's result.
func (res *loadResult) report(b *testing.B, name string, nodes []loadNode, rate int, dur time.Duration, idle []float64) {
	b.Helper()
	b.Logf("%s: %d changes at %d/s for %s, %d send errors retried, %d changes not sent; sender behind schedule p50 %.2f ms, p99 %.2f ms, max %.1f ms",
		name, res.sent, rate, dur, res.sendErrors, res.sendFailed, median(res.late), percentile(res.late, 0.99), percentile(res.late, 1))
	var worstP99, worstMax, worstQPS float64
	worstQPS = -1
	dir := os.Getenv("ZONECAST_BENCH_FLEET_DIR")
	for i, n := range nodes {
		l := res.lat[i]
		if len(l) == 0 {
			b.Errorf("%s: no change seen on %s (%d missing)", name, n.id, res.missing[i])
			continue
		}
		p50, p99, mx := median(l), percentile(l, 0.99), percentile(l, 1)
		worstP99, worstMax = max(worstP99, p99), max(worstMax, mx)
		quiet := "n/a"
		if len(res.latQuiet[i]) > 0 {
			quiet = fmt.Sprintf("p50 %.1f p99 %.1f (%d)", median(res.latQuiet[i]), percentile(res.latQuiet[i], 0.99), len(res.latQuiet[i]))
		}
		ratio := 0.0
		if idle[i] > 0 {
			ratio = res.qps[i] / idle[i]
			if worstQPS < 0 || ratio < worstQPS {
				worstQPS = ratio
			}
		}
		b.Logf("  %s: publish -> visible p50 %.1f ms, p90 %.1f, p99 %.1f, max %.1f (%d seen, %d missing); from the intended time p99 %.1f; without dnsperf %s; qps idle %.0f, loaded %.0f (%.2f); CPU PowerDNS %.1fs, syncer %.1fs; %d AXFRs",
			n.id, p50, percentile(l, 0.9), p99, mx, len(l), res.missing[i], percentile(res.latInt[i], 0.99), quiet,
			idle[i], res.qps[i], ratio, res.pdnsCPU[i], res.syncerCPU[i], res.axfrs[i])
		if dir != "" {
			writeQuantiles(b, filepath.Join(dir, fmt.Sprintf("lat-%s-%s.tsv", name, n.id)), l)
		}
		if res.missing[i] > 0 {
			b.Errorf("%s: %d changes never visible on %s", name, res.missing[i], n.id)
		}
	}
	b.ReportMetric(worstP99, "worst-p99-ms")
	b.ReportMetric(worstMax, "worst-max-ms")
	if worstQPS >= 0 {
		b.ReportMetric(worstQPS, "worst-qps-loaded/idle")
	}
	if dir != "" {
		path := filepath.Join(dir, "fleet.tsv")
		_, statErr := os.Stat(path)
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if os.IsNotExist(statErr) {
			fmt.Fprintln(f, "# case\trate\tnode\tp50_ms\tp99_ms\tmax_ms\tseen\tmissing\tqps_idle\tqps_load")
		}
		for i, n := range nodes {
			if len(res.lat[i]) == 0 {
				continue
			}
			fmt.Fprintf(f, "%s\t%d\t%s\t%.2f\t%.2f\t%.2f\t%d\t%d\t%.0f\t%.0f\n", name, rate, n.id, median(res.lat[i]),
				percentile(res.lat[i], 0.99), percentile(res.lat[i], 1), len(res.lat[i]), res.missing[i], idle[i], res.qps[i])
		}
	}
}

// writeQuantiles writes up to 1,000 quantiles of xs (quantile, value).
func writeQuantiles(b *testing.B, path string, xs []float64) {
	b.Helper()
	var sb strings.Builder
	const steps = 1000
	for k := 0; k <= steps; k++ {
		q := float64(k) / steps
		fmt.Fprintf(&sb, "%.4f\t%.3f\n", q, percentile(xs, q))
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
}

func benchFleetZonecast(b *testing.B, rates []int, dur time.Duration) {
	ctx := context.Background()
	extra := []string{"--log-level", "info"}
	if x := os.Getenv("ZONECAST_BENCH_FLEET_SYNCER_FLAGS"); x != "" {
		extra = append(extra, strings.Fields(x)...)
	}
	f := testenv.StartFleet(b, testenv.FleetOptions{Zones: []string{fleetLoadZone}, Extra: extra})
	var nodes []loadNode
	for _, n := range f.Nodes {
		nodes = append(nodes, loadNode{id: n.ID, dns: n.Opts.PDNS.DNSAddr, pid: n.Opts.PDNS.PID(), syncer: n.PID()})
	}
	pub := f.Nodes[0].Publisher(b)
	flush := func() error {
		fctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		_, err := pub.Flush(fctx)
		return err
	}
	start := time.Now()
	for j := 0; j < fleetRRsets; j++ {
		if err := pub.PublishAsync(ctx, events.Message{Version: 1, Name: fmt.Sprintf("h%d.%s", j, fleetLoadZone), Type: "AAAA",
			Origin: "bench", TTL: 60, Records: []string{convAddr(j)}}, 0); err != nil {
			b.Fatal(err)
		}
	}
	if err := flush(); err != nil {
		b.Fatal(err)
	}
	last, err := f.Nodes[0].StreamLastSeq(b)
	if err != nil {
		b.Fatal(err)
	}
	c := &dns.Client{Timeout: time.Second}
	for _, n := range f.Nodes {
		if !waitSOA(c, n.Opts.PDNS.DNSAddr, fleetLoadZone, uint32(last), start, 5*time.Minute, 20*time.Millisecond) {
			b.Fatalf("%s: %d RRsets not applied after 5 minutes:\n%s", n.ID, fleetRRsets, n.LogTail(20))
		}
	}
	b.Logf("fleet of %d nodes holds %d RRsets after %.1fs", len(nodes), fleetRRsets, time.Since(start).Seconds())
	time.Sleep(3 * time.Second) // claims, rectify, idle collection
	perf := newDnsperf(b)
	idle := idleQPS(b, perf, nodes)
	first := 0
	for _, rate := range rates {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) {
			send := func(c int, name, addr string) error {
				return pub.PublishAsync(ctx, events.Message{Version: 1, Name: name, Type: "AAAA", Origin: "bench", TTL: 60,
					Records: []string{addr}}, 0)
			}
			res := runLoad(b, nodes, first, rate, dur, perf, send, flush)
			first += res.sent
			res.report(b, fmt.Sprintf("zonecast-%d", rate), nodes, rate, dur, idle)
			time.Sleep(2 * time.Second)
		})
	}
}

func benchFleetNative(b *testing.B, n, rate int, dur time.Duration) {
	ctx := context.Background()
	secs := []*testpdns.Server{testpdns.StartWith(b, "gsqlite3", "secondary=yes"), testpdns.StartWith(b, "gsqlite3", "secondary=yes")}
	var notify []string
	for _, s := range secs {
		notify = append(notify, s.DNSAddr)
	}
	primary := testpdns.StartWith(b, "gsqlite3", "primary=yes\nxfr-cycle-interval=1\nalso-notify="+strings.Join(notify, ","))
	api := pdnsapi.New(primary.APIURL, primary.APIKey, "localhost", time.Minute)
	bz := newBulkZone(b, api, fleetLoadZone, n, convAddr)
	// Loaded while still Native: a Master zone's serial checks every second
	// (xfr-cycle-interval=1) made a PATCH of 1,000 fail with "database is
	// locked" (HTTP 500) in one run of three.
	bz.load(b)
	if err := apiCall(ctx, primary, "PUT", "/zones/"+fleetLoadZone, `{"kind":"Master","soa_edit_api":"INCREASE"}`); err != nil {
		b.Fatal(err)
	}
	c := &dns.Client{Timeout: time.Second}
	serial, ok := soaSerial(c, primary.DNSAddr, fleetLoadZone)
	if !ok {
		b.Fatal("no SOA on the primary")
	}
	start := time.Now()
	for _, s := range secs {
		if err := createSecondary(ctx, s, fleetLoadZone, primary.DNSAddr); err != nil {
			b.Fatal(err)
		}
		if err := retrieve(ctx, s, fleetLoadZone); err != nil {
			b.Fatal(err)
		}
	}
	for _, s := range secs {
		if !waitSOA(c, s.DNSAddr, fleetLoadZone, serial, start, 2*time.Minute, 10*time.Millisecond) {
			b.Fatalf("secondary has no serial %d after 2 minutes:\n%s", serial, s.LogTail(20))
		}
	}
	b.Logf("primary and 2 secondaries hold %d RRsets (AXFRs %.1fs)", n, time.Since(start).Seconds())
	time.Sleep(2 * time.Second)
	nodes := []loadNode{{id: "primary", dns: primary.DNSAddr, pid: primary.PID()}}
	for i, s := range secs {
		nodes = append(nodes, loadNode{id: fmt.Sprintf("secondary%d", i+1), dns: s.DNSAddr, pid: s.PID(),
			log: filepath.Join(s.Dir, "pdns.log")})
	}
	perf := newDnsperf(b)
	idle := idleQPS(b, perf, nodes)
	send := func(c int, name, addr string) error {
		return api.Patch(ctx, fleetLoadZone, []pdnsapi.Change{{Set: rrset.Set{Key: rrset.Key{Name: name, Type: "AAAA"}, TTL: 60,
			Records: []string{addr}}}})
	}
	res := runLoad(b, nodes, 0, rate, dur, perf, send, nil)
	res.report(b, fmt.Sprintf("native%d-%d", n, rate), nodes, rate, dur, idle)
}

// transfers counts the zone transfers a secondary's log reports as
// committed (PowerDNS 4.7 logs each at level warning), 0 without a log.
func transfers(log string) int {
	if log == "" {
		return 0
	}
	data, err := os.ReadFile(log)
	if err != nil {
		return 0
	}
	return strings.Count(string(data), "zone committed with serial")
}
