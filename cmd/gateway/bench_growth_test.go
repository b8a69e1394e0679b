package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecast/zonecast/internal/dnsupdate"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/testenv"
	"github.com/zonecast/zonecast/internal/testpdns"
)

// Shape of BenchmarkGatewayGrowth.
const (
	growthRounds = 5 // rounds per size, the sizes alternating
	// growthSecs is long enough for several garbage collections per round
	// at the largest size too: a collection's cost grows with the heap and
	// comes in lumps, which a short round takes all or none of.
	growthSecs        = 15 // seconds of dnsperf per round and size
	growthOutstanding = 64 // dnsperf -q: updates in flight
	growthWarmSecs    = 3  // seconds of dnsperf per size before the first round
	// growthMaxRate sizes dnsperf's input: updates per second the file
	// holds for one round. dnsperf goes through it once (-n 1), so a
	// faster gateway ends the round early rather than repeat updates
	// that change nothing (and publish nothing).
	growthMaxRate = 15000
)

// growthGateway is one gateway of BenchmarkGatewayGrowth with its zone of n names.
type growthGateway struct {
	n                    int
	label                string // 100k, 300k, 1M
	zone                 string
	gw                   *testenv.Gateway
	keyName, alg, secret string
	origin               string
}

// BenchmarkGatewayGrowth measures one gateway as its zone grows (issue 20):
// one real zonecast-gateway per size, each with a TSIG zone of its own
// pre-populated to n names (10^5 and 3 x 10^5; 10^6 too with
// BENCH_SCALE=full), all on the same NATS (embedded in a syncer that
// serves none of those zones, so nothing but the gateways follows them).
// Debian's dnsperf loads each gateway in turn (-u, 64 updates outstanding,
// TSIG hmac-sha256) with updates that replace the A record of an existing
// name, picked at random over the zone, with a new address: the zone keeps
// its size and every update publishes one message. The sizes alternate in
// each round (the order flips every round). Reported per size: medians
// over the rounds of updates/s and the gateway's CPU per update (utime +
// stime, its follower catching up with its own messages included), its
// RSS, and, side by side, the median of the per-round ratios of the
// largest size to the smallest.
//
// ZONECAST_BENCH_PROFILE=DIR keeps, per size, a CPU profile of the gateway
// during the last round and a heap profile after it in DIR.
//
//	go test -run '^$' -bench GatewayGrowth -benchtime 1x ./cmd/gateway
func BenchmarkGatewayGrowth(b *testing.B) {
	sizes := []int{100000, 300000}
	if os.Getenv("BENCH_SCALE") == "full" {
		sizes = append(sizes, 1000000)
	}
	perf, err := exec.LookPath("dnsperf")
	if err != nil {
		b.Skip("dnsperf not installed (scripts/deps.sh load)")
	}
	profDir := os.Getenv("ZONECAST_BENCH_PROFILE")
	extra := []string{"--log-level", "warn"}
	if profDir != "" {
		extra = append(extra, "--pprof")
	}
	p := testpdns.Start(b, "gsqlite3")
	s := testenv.StartSyncer(b, testenv.SyncerOptions{Zones: []string{"idle.growth.test."}, PDNS: p})
	pub := s.Publisher(b)
	ctx := context.Background()

	gws := make([]*growthGateway, len(sizes))
	for i, n := range sizes {
		g := &growthGateway{n: n, label: sizeLabel(n), zone: fmt.Sprintf("n%s.growth.test.", sizeLabel(n))}
		g.gw = testenv.StartGateway(b, testenv.GatewayOptions{Syncer: s, Zones: []string{g.zone}, Extra: extra})
		// Every gateway reads the keys of the one bucket: a key per zone.
		out := strings.TrimSpace(g.gw.Admin(b, "key", "add", "growth-"+g.label, "--zone", g.zone))
		parts := strings.SplitN(out, ":", 3)
		g.alg, g.keyName, g.secret = parts[0], dns.Fqdn(parts[1]), parts[2]
		g.origin = dnsupdate.Origin("tsig", g.keyName)
		// Straight to the stream, under the key's origin: the updates then
		// replace the names' records rather than add a second origin.
		t0 := time.Now()
		for j := 0; j < n; j++ {
			if err := pub.PublishAsync(ctx, events.Message{Version: events.Version, Name: fmt.Sprintf("h%d.%s", j, g.zone),
				Type: "A", Origin: g.origin, TTL: 60, Records: []string{growthAddr(11, j)}}, 0); err != nil {
				b.Fatal(err)
			}
		}
		fctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		if _, err := pub.Flush(fctx); err != nil {
			b.Fatal(err)
		}
		cancel()
		testenv.Eventually(b, 5*time.Minute, "gateway holds the zone", func() bool {
			v, err := g.gw.TryMetric("zonecast_gateway_rrsets")
			return err == nil && v >= float64(n)
		})
		b.Logf("%s: %d names published and followed in %.1f s", g.label, n, time.Since(t0).Seconds())
		gws[i] = g
	}
	dir := b.TempDir()
	run := func(g *growthGateway, round, secs int, profile string) growthResult {
		b.Helper()
		data := filepath.Join(dir, fmt.Sprintf("%s-%d", g.label, round))
		writeGrowthInput(b, data, g, round, secs*growthMaxRate)
		pid := g.gw.PID()
		cpu0, natsCPU0 := cpuTime(pid), cpuTime(s.PID())
		gc0, _ := g.gw.TryMetric("go_gc_duration_seconds_count")
		if profile != "" {
			go fetchGatewayProfile(b, g.gw.HTTPAddr, "profile?seconds="+strconv.Itoa(secs-1), profile+".cpu.pprof")
		}
		r := runDnsperf(b, perf, g, data, secs)
		caughtUp(b, s, g.gw) // its CPU includes following its own messages
		r.cpu = float64((cpuTime(pid) - cpu0).Microseconds()) / float64(r.ok)
		r.natsCPU = float64((cpuTime(s.PID()) - natsCPU0).Microseconds()) / float64(r.ok)
		gc1, _ := g.gw.TryMetric("go_gc_duration_seconds_count")
		r.gcs = gc1 - gc0
		r.rssMB = float64(testenv.ProcStatus(pid, "VmRSS")) / 1024
		r.heapMB, _ = g.gw.TryMetric("go_memstats_heap_inuse_bytes")
		r.heapMB /= 1 << 20
		if profile != "" {
			time.Sleep(1500 * time.Millisecond) // the CPU profile's end
			fetchGatewayProfile(b, g.gw.HTTPAddr, "heap", profile+".heap.pprof")
		}
		return r
	}
	for _, g := range gws {
		if r := run(g, 100, growthWarmSecs, ""); r.ok == 0 {
			b.Fatalf("%s: no warm-up update answered NOERROR", g.label)
		}
	}

	b.ResetTimer()
	results := map[string][]growthResult{}
	var rateRatios, cpuRatios []float64
	first, last := gws[0], gws[len(gws)-1]
	for round := 0; round < growthRounds; round++ {
		order := gws
		if round%2 == 1 {
			order = reversed(gws)
		}
		got := map[string]growthResult{}
		for _, g := range order {
			profile := ""
			if profDir != "" && round == growthRounds-1 {
				profile = filepath.Join(profDir, "gateway-"+g.label)
			}
			r := run(g, round, growthSecs, profile)
			if r.ok == 0 {
				b.Fatalf("round %d %s: no update answered NOERROR", round, g.label)
			}
			got[g.label] = r
			results[g.label] = append(results[g.label], r)
			b.Logf("round %d %-4s %6.0f updates/s  gateway %5.1f µs/update  nats+syncer %5.1f µs/update  %4.0f GCs  rss %4.0f MB  heap %4.0f MB  not NOERROR %d",
				round, g.label, r.rate, r.cpu, r.natsCPU, r.gcs, r.rssMB, r.heapMB, r.failed)
		}
		rateRatios = append(rateRatios, got[last.label].rate/got[first.label].rate)
		cpuRatios = append(cpuRatios, got[last.label].cpu/got[first.label].cpu)
	}
	b.StopTimer()
	failed := 0
	for _, g := range gws {
		rs := results[g.label]
		pick := func(f func(growthResult) float64) []float64 {
			out := make([]float64, len(rs))
			for i, r := range rs {
				out[i] = f(r)
			}
			return out
		}
		rates, cpus := pick(func(r growthResult) float64 { return r.rate }), pick(func(r growthResult) float64 { return r.cpu })
		rss, heap := pick(func(r growthResult) float64 { return r.rssMB }), pick(func(r growthResult) float64 { return r.heapMB })
		for _, r := range rs {
			failed += r.failed
		}
		// Over all rounds: the collections' lumps averaged out.
		var cpuSum, okSum, gcSum float64
		for _, r := range rs {
			cpuSum, okSum, gcSum = cpuSum+r.cpu*float64(r.ok), okSum+float64(r.ok), gcSum+r.gcs
		}
		b.Logf("%-4s median %6.0f updates/s (%s), gateway %.1f µs/update (%s; all rounds %.1f), %.0f GCs, rss %.0f MB, heap in use %.0f MB",
			g.label, medianOf(rates), fmtRates(rates), medianOf(cpus), fmtRates(cpus), cpuSum/okSum, gcSum, medianOf(rss), medianOf(heap))
		b.ReportMetric(medianOf(rates), "updates/s-"+g.label)
		b.ReportMetric(medianOf(cpus), "gateway-µs/update-"+g.label)
		b.ReportMetric(medianOf(rss), "gateway-rss-MB-"+g.label)
	}
	b.Logf("%s / %s: rate %.3f (%s), gateway cpu per update %.3f (%s)", last.label, first.label,
		medianOf(rateRatios), fmtRates(rateRatios), medianOf(cpuRatios), fmtRates(cpuRatios))
	b.ReportMetric(medianOf(rateRatios), "rate-largest/smallest")
	b.ReportMetric(medianOf(cpuRatios), "cpu-largest/smallest")
	b.ReportMetric(float64(failed), "failed")
}

// growthResult is one dnsperf run against one gateway.
type growthResult struct {
	rate          float64 // NOERROR answers per second
	ok, failed    int     // answered NOERROR; anything else or lost
	cpu, natsCPU  float64 // µs per NOERROR update: the gateway; the syncer with the embedded NATS
	gcs           float64 // garbage collections during the run
	rssMB, heapMB float64
}

func sizeLabel(n int) string {
	if n%1000000 == 0 {
		return fmt.Sprintf("%dM", n/1000000)
	}
	return fmt.Sprintf("%dk", n/1000)
}

func reversed[T any](xs []T) []T {
	out := make([]T, len(xs))
	for i, x := range xs {
		out[len(xs)-1-i] = x
	}
	return out
}

// growthAddr is an IPv4 address 'first'.x.y.z made of i (24 bits).
func growthAddr(first byte, i int) string {
	return net.IPv4(first, byte(i>>16), byte(i>>8), byte(i)).String()
}

// writeGrowthInput writes k dnsperf updates for one round into path: each
// replaces the A record of a name of g's zone, picked at random, with an
// address made of the round and the update's index, so that no update
// repeats a name's current record.
func writeGrowthInput(b *testing.B, path string, g *growthGateway, round, k int) {
	b.Helper()
	rng := rand.New(rand.NewPCG(uint64(g.n), uint64(round)))
	var sb strings.Builder
	zone := strings.TrimSuffix(g.zone, ".")
	for i := 0; i < k; i++ {
		j := rng.IntN(g.n)
		fmt.Fprintf(&sb, "%s\ndelete h%d A\nadd h%d 60 A %s\nsend\n", zone, j, j, growthAddr(10, (round%64)<<18|i&(1<<18-1)))
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
}

var (
	dnsperfUpdates = regexp.MustCompile(`Updates completed:\s+(\d+)`)
	dnsperfRate    = regexp.MustCompile(`Updates per second:\s+([0-9.]+)`)
	dnsperfNoError = regexp.MustCompile(`NOERROR (\d+)`)
	dnsperfSent    = regexp.MustCompile(`Updates sent:\s+(\d+)`)
)

// runDnsperf loads g for secs seconds with the updates of data.
func runDnsperf(b *testing.B, bin string, g *growthGateway, data string, secs int) growthResult {
	b.Helper()
	host, port, _ := net.SplitHostPort(g.gw.DNSAddr)
	// The secret on dnsperf's command line is visible to every local
	// user: acceptable only because this key is made for the benchmark
	// and dies with it.
	y := strings.TrimSuffix(g.alg, ".") + ":" + strings.TrimSuffix(g.keyName, ".") + ":" + g.secret
	out, err := exec.Command(bin, "-u", "-s", host, "-p", port, "-d", data, "-n", "1", "-l", strconv.Itoa(secs),
		"-q", strconv.Itoa(growthOutstanding), "-t", "5", "-y", y).CombinedOutput()
	if err != nil {
		b.Fatalf("dnsperf: %v\n%s", err, out)
	}
	num := func(re *regexp.Regexp) float64 {
		m := re.FindSubmatch(out)
		if m == nil {
			b.Fatalf("dnsperf: no %s in its output:\n%s", re, out)
		}
		v, _ := strconv.ParseFloat(string(m[1]), 64)
		return v
	}
	sent, completed, noerr := num(dnsperfSent), num(dnsperfUpdates), num(dnsperfNoError)
	r := growthResult{ok: int(noerr), failed: int(sent - noerr)}
	// dnsperf's rate counts every answer; the NOERROR ones are the
	// stored updates.
	if completed > 0 {
		r.rate = num(dnsperfRate) * noerr / completed
	}
	return r
}

// caughtUp waits until gw has followed the stream's last message, which,
// right after gw's own load, is in gw's zone.
func caughtUp(b *testing.B, s *testenv.Syncer, gw *testenv.Gateway) {
	b.Helper()
	last, err := s.StreamLastSeq(b)
	if err != nil {
		b.Fatal(err)
	}
	testenv.Eventually(b, time.Minute, "gateway caught up", func() bool {
		v, err := gw.TryMetric("zonecast_gateway_stream_sequence")
		return err == nil && v >= float64(last)
	})
}

// fetchGatewayProfile saves the gateway's /debug/pprof/<what> into path.
func fetchGatewayProfile(b *testing.B, addr, what, path string) {
	resp, err := http.Get("http://" + addr + "/debug/pprof/" + what)
	if err != nil {
		b.Logf("profile %s: %v", what, err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		b.Logf("profile %s: %v", what, err)
		return
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		b.Logf("profile %s: %v", what, err)
	}
}
