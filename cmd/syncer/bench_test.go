package main

// Benchmarks of the targets, side by side in one run against one
// real PowerDNS (gsqlite3). Run with `make bench`; results and method are
// in docs/benchmarks.md.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/pdnsapi"
	"github.com/zonecast/zonecast/internal/rrset"
	"github.com/zonecast/zonecast/internal/testenv"
	"github.com/zonecast/zonecast/internal/testpdns"
)

// soaSerial asks PowerDNS for zone's SOA serial over UDP.
func soaSerial(c *dns.Client, addr, zone string) (uint32, bool) {
	m := new(dns.Msg)
	m.SetQuestion(zone, dns.TypeSOA)
	r, _, err := c.Exchange(m, addr)
	if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
		return 0, false
	}
	soa, ok := r.Answer[0].(*dns.SOA)
	if !ok {
		return 0, false
	}
	return soa.Serial, true
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func percentile(xs []float64, p float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p)
	return s[i]
}

// BenchmarkBurst20k compares, in alternating rounds on one PowerDNS, a bulk
// load of 20,000 RRsets straight through the API in PATCHes of 1,000 with
// the syncer applying a burst of the same 20,000 RRset changes:
//
//   - "queued": the burst is published while the syncer process is stopped
//     (SIGSTOP; NATS runs apart from it), then the syncer is continued and
//     timed until the zone's SOA serial shows the last message applied. This
//     is the syncer's own throughput, the target.
//   - "live": the burst is published while the syncer runs, timed from the
//     first publish; this includes the publisher's JetStream round trips.
//
// Every load leaves the database bigger, which slows the next one a little,
// so the bulk load and the queued burst take turns going first.
func BenchmarkBurst20k(b *testing.B) {
	const n, rounds = 20000, 6
	p := testpdns.Start(b, "gsqlite3")
	api := pdnsapi.New(p.APIURL, p.APIKey, "localhost", time.Minute)
	var zones []string
	for r := 0; r < 2*rounds; r++ {
		zones = append(zones, fmt.Sprintf("burst%d.bench.test.", r))
	}
	level := "info"
	if os.Getenv("ZONECAST_BENCH_TRACE") != "" {
		level = "debug"
	}
	s := testenv.StartSyncer(b, testenv.SyncerOptions{Zones: zones, PDNS: p, NATS: testenv.StartNATS(b),
		Extra: []string{"--log-level", level, "--pprof"}})
	if tr := os.Getenv("ZONECAST_BENCH_TRACE"); tr != "" {
		defer func() {
			time.Sleep(100 * time.Millisecond) // let the last lines reach the log
			data, _ := os.ReadFile(s.LogPath)
			_ = os.WriteFile(tr, data, 0o600)
		}()
	}
	pub := s.Publisher(b)
	ctx := context.Background()
	c := &dns.Client{Timeout: time.Second}
	publish := func(z string, r int) {
		for j := 0; j < n; j++ {
			if err := pub.PublishAsync(ctx, events.Message{Version: 1, Name: fmt.Sprintf("h%d.%s", j, z), Type: "AAAA",
				Origin: "bench", TTL: 60, Records: []string{fmt.Sprintf("2001:db8:%x::%x", r+1, j+1)}}, 0); err != nil {
				b.Fatal(err)
			}
		}
		fctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		if _, err := pub.Flush(fctx); err != nil {
			b.Fatal(err)
		}
	}
	waitSerial := func(z string, start time.Time) {
		last, err := s.StreamLastSeq(b)
		if err != nil {
			b.Fatal(err)
		}
		if !waitSOA(c, p.DNSAddr, z, uint32(last), start, 5*time.Minute, 2*time.Millisecond) {
			b.Fatalf("burst not applied after 5 minutes:\n%s", s.LogTail(20))
		}
	}
	var bulk, queued, live, cpu, natsCPU []float64
	for i := 0; i < b.N; i++ {
		for r := 0; r < rounds; r++ {
			// The syncer rectifies a zone RectifyDelay (1 s) after its
			// last structural change: let that finish before timing
			// PowerDNS alone, or the bulk would share it.
			settle := func() { time.Sleep(2 * time.Second) }
			// Bulk: the same shape of RRsets into a fresh zone of its own.
			bz := newBulkZone(b, api, fmt.Sprintf("bulk%d-%d.bench.test.", i, r), n,
				func(j int) string { return fmt.Sprintf("2001:db8:%x::%x", r+1, j+1) })
			loadBulk := func() { bulk = append(bulk, bz.load(b)) }
			// Each load makes the database bigger and the next one a little
			// slower: the bulk load and the queued burst take turns going first.
			bulkFirst := r%2 == 0
			settle()
			if bulkFirst {
				loadBulk()
			}

			// Queued burst: published while the syncer is stopped.
			s.Signal(b, syscall.SIGSTOP)
			publish(zones[2*r], r)
			if prof := os.Getenv("ZONECAST_BENCH_PROFILE"); prof != "" && r == 1 {
				go fetchProfile(s.HTTPAddr, prof)
				time.Sleep(100 * time.Millisecond)
			}
			cpu0, self0 := cpuTime(s.PID()), cpuTime(os.Getpid())
			start := time.Now()
			s.Signal(b, syscall.SIGCONT)
			waitSerial(zones[2*r], start)
			queued = append(queued, time.Since(start).Seconds())
			cpu = append(cpu, (cpuTime(s.PID()) - cpu0).Seconds())
			natsCPU = append(natsCPU, (cpuTime(os.Getpid()) - self0).Seconds())
			if os.Getenv("ZONECAST_BENCH_TRACE") != "" {
				b.Logf("round %d: queued burst from %s", r, start.UTC().Format("15:04:05.000"))
			}
			if !bulkFirst {
				settle()
				loadBulk()
			}

			// Live burst: published while the syncer runs.
			start = time.Now()
			publish(zones[2*r+1], r)
			waitSerial(zones[2*r+1], start)
			live = append(live, time.Since(start).Seconds())
		}
	}
	mb, mq, ml := median(bulk), median(queued), median(live)
	b.ReportMetric(n/mb, "bulk-rrsets/s")
	b.ReportMetric(n/mq, "syncer-rrsets/s")
	b.ReportMetric(mb/mq, "ratio")
	b.ReportMetric(n/ml, "live-rrsets/s")
	b.Logf("burst of %d RRsets, medians of %d rounds:", n, len(bulk))
	b.Logf("  bulk PATCH x1000      %.3fs (%s)", mb, fmtSecs(bulk))
	b.Logf("  syncer, queued burst  %.3fs (%s)  throughput ratio syncer/bulk %.2f", mq, fmtSecs(queued), mb/mq)
	b.Logf("  syncer, live burst    %.3fs (%s)  including publishing", ml, fmtSecs(live))
	b.Logf("  syncer CPU during the queued burst %.3fs (%s)", median(cpu), fmtSecs(cpu))
	b.Logf("  NATS (in this process, with the SOA polling) CPU then %.3fs (%s)", median(natsCPU), fmtSecs(natsCPU))
	b.ReportMetric(median(cpu)*1e6/n, "syncer-cpu-us/rrset")
}

// bulkZone is a zone of its own on a PowerDNS with the RRsets of a bulk
// load, as the issues define it: PATCHes of 1,000 straight through the API.
type bulkZone struct {
	api     *pdnsapi.Client
	zone    string
	changes []pdnsapi.Change
}

// newBulkZone creates zone and prepares n AAAA RRsets h<j>.<zone> with the
// address addr(j).
func newBulkZone(b *testing.B, api *pdnsapi.Client, zone string, n int, addr func(j int) string) *bulkZone {
	b.Helper()
	if err := api.CreateZone(context.Background(), pdnsapi.ZoneSpec{Name: zone,
		SOA: rrset.Set{Key: rrset.Key{Name: zone, Type: "SOA"}, TTL: 3600,
			Records: []string{"ns1." + zone + " hostmaster." + zone + " 1 10800 3600 604800 60"}},
		NS: []string{"ns1." + zone}}); err != nil {
		b.Fatal(err)
	}
	z := &bulkZone{api: api, zone: zone, changes: make([]pdnsapi.Change, 0, n)}
	for j := 0; j < n; j++ {
		z.changes = append(z.changes, pdnsapi.Change{Set: rrset.Set{Key: rrset.Key{Name: fmt.Sprintf("h%d.%s", j, zone), Type: "AAAA"},
			TTL: 60, Records: []string{addr(j)}}})
	}
	return z
}

// load writes the RRsets, 1,000 per PATCH, and returns the seconds it took.
func (z *bulkZone) load(b *testing.B) float64 {
	b.Helper()
	return z.loadIn(b, 1000)
}

// loadIn writes the RRsets, size per PATCH, and returns the seconds it took.
func (z *bulkZone) loadIn(b *testing.B, size int) float64 {
	b.Helper()
	start := time.Now()
	for k := 0; k < len(z.changes); k += size {
		if err := z.api.Patch(context.Background(), z.zone, z.changes[k:min(k+size, len(z.changes))]); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start).Seconds()
}

// waitSOA asks addr for zone's SOA every interval until its serial is
// want, and reports whether that happened within limit of start.
func waitSOA(c *dns.Client, addr, zone string, want uint32, start time.Time, limit, every time.Duration) bool {
	for {
		if serial, ok := soaSerial(c, addr, zone); ok && serial == want {
			return true
		}
		if time.Since(start) > limit {
			return false
		}
		time.Sleep(every)
	}
}

// cpuTime returns the user+system CPU time a process has used so far, from
// /proc/PID/stat (clock ticks of 10 ms on Linux).
func cpuTime(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) in parentheses.
	rest := string(data[strings.LastIndexByte(string(data), ')')+2:])
	f := strings.Fields(rest)
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

func fmtSecs(xs []float64) string {
	var parts []string
	for _, x := range xs {
		parts = append(parts, strconv.FormatFloat(x, 'f', 3, 64))
	}
	return strings.Join(parts, " ")
}

// BenchmarkPublishToDig measures, at low load, the time from publishing one
// record event until PowerDNS answers the record over DNS (polled every
// millisecond with a UDP query, as dig would ask).
func BenchmarkPublishToDig(b *testing.B) {
	const samples = 60
	p := testpdns.Start(b, "gsqlite3")
	z := "latency.bench.test."
	level := "info"
	if os.Getenv("ZONECAST_BENCH_TRACE") != "" {
		level = "debug"
	}
	s := testenv.StartSyncer(b, testenv.SyncerOptions{Zones: []string{z}, PDNS: p, Extra: []string{"--log-level", level}})
	if tr := os.Getenv("ZONECAST_BENCH_TRACE"); tr != "" {
		defer func() {
			data, _ := os.ReadFile(s.LogPath)
			_ = os.WriteFile(tr, data, 0o600)
		}()
	}
	pub := s.Publisher(b)
	c := &dns.Client{Timeout: time.Second}
	var lat []float64
	for i := 0; i < b.N; i++ {
		for j := 0; j < samples; j++ {
			name := fmt.Sprintf("l%d-%d.%s", i, j, z)
			want := fmt.Sprintf("2001:db8::%x", j+1)
			start := time.Now()
			lat = append(lat, publishAndDig(b, pub, c, p.DNSAddr, name, want))
			if os.Getenv("ZONECAST_BENCH_TRACE") != "" && lat[len(lat)-1] > 50 {
				b.Logf("slow sample %s: %.1f ms from %s", name, lat[len(lat)-1], start.UTC().Format("15:04:05.000"))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	b.ReportMetric(median(lat), "p50-ms")
	b.ReportMetric(percentile(lat, 0.99), "p99-ms")
	b.Logf("publish -> dig over %d samples: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms",
		len(lat), median(lat), percentile(lat, 0.9), percentile(lat, 0.99), percentile(lat, 1))
}

// fetchProfile saves a 1 s CPU profile of the syncer (ZONECAST_BENCH_PROFILE).
func fetchProfile(addr, path string) {
	resp, err := http.Get("http://" + addr + "/debug/pprof/profile?seconds=1")
	if err != nil {
		return
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	_ = os.WriteFile(path, data, 0o600)
}

// publishAndDig publishes name's AAAA RRset, want, and queries dnsAddr
// every millisecond until it answers it (failing b after 10 s); it returns
// the milliseconds from the publish to that answer.
func publishAndDig(b *testing.B, pub *bus.Publisher, c *dns.Client, dnsAddr, name, want string) float64 {
	b.Helper()
	start := time.Now()
	if _, err := pub.Publish(context.Background(), events.Message{Version: 1, Name: name, Type: "AAAA", Origin: "bench",
		TTL: 60, Records: []string{want}}, 0); err != nil {
		b.Fatal(err)
	}
	for {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeAAAA)
		r, _, err := c.Exchange(m, dnsAddr)
		if err == nil && len(r.Answer) == 1 {
			if a, ok := r.Answer[0].(*dns.AAAA); ok && a.AAAA.String() == want {
				break
			}
		}
		if time.Since(start) > 10*time.Second {
			b.Fatalf("%s not answered after 10s", name)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start).Seconds() * 1000
}
