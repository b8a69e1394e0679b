package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/pdnsapi"
	"github.com/zonecast/zonecast/internal/testenv"
	"github.com/zonecast/zonecast/internal/testpdns"
)

// BenchmarkConverge100k measures, side by side in each round, each on a
// fresh pdns_server (gsqlite3) with an empty database, as a new node has:
//
//   - bulk: 100,000 RRsets PATCHed straight through the API, 1,000 per PATCH;
//   - syncer: a new syncer with an empty zone joining a fleet, against a
//     stream holding the same 100,000 record events and the zone's snapshot
//     that a peer stored (the default), timed from process start until
//     /readyz (the first full reconciliation is done: everything written,
//     SOA included), with its resident memory;
//   - replay: the same without snapshots (--snapshot-bucket ""): the new
//     syncer replays the whole stream;
//   - AXFR: a PowerDNS secondary retrieving the syncer-built 100k zone from
//     that PowerDNS, until its SOA serial matches.
//
// Each load gets a server of its own because a second 100,000 RRsets go
// into one SQLite database slower than the first (measured 2.06 vs
// 2.21 s); the loads take turns going first.
func BenchmarkConverge100k(b *testing.B) {
	const n = 100000
	rounds := 6
	if os.Getenv("ZONECAST_BENCH_TRACE") != "" {
		rounds = 1
	}
	const zone = "conv.bench.test."
	ctx := context.Background()
	cv := newConvergence(b, zone, n)
	c, lastSeq := cv.dns, cv.lastSeq
	var bulk, conv, replay, axfr, rss, replayRSS []float64
	var bulkCPU, convCPU, syncerCPU, replayCPU []float64 // CPU seconds of PowerDNS in each load, of the syncer
	for i := 0; i < b.N; i++ {
		for r := 0; r < rounds; r++ {
			bulkLoad := func() {
				secs, cpu := cv.bulk()
				bulk, bulkCPU = append(bulk, secs), append(bulkCPU, cpu)
			}

			// A new syncer converging the 100k zone from the stream into
			// a fresh pdns_server, then a secondary taking it by AXFR.
			syncerLoad := func() {
				level := "info"
				if os.Getenv("ZONECAST_BENCH_TRACE") != "" {
					level = "debug"
				}
				node := cv.converge("--log-level", level)
				defer node.stop()
				conv = append(conv, node.secs)
				convCPU = append(convCPU, node.pdnsCPU)
				syncerCPU = append(syncerCPU, cpuTime(node.s.PID()).Seconds())
				if tr := os.Getenv("ZONECAST_BENCH_TRACE"); tr != "" && r == 0 {
					data, _ := os.ReadFile(node.s.LogPath)
					_ = os.WriteFile(tr, data, 0o600)
				}
				rss = append(rss, float64(testenv.ProcStatus(node.s.PID(), "VmRSS"))/1024)
				node.s.Stop(b)

				sec := testpdns.StartWith(b, "gsqlite3", "secondary=yes")
				defer sec.Stop(b)
				if err := createSecondary(ctx, sec, zone, node.p.DNSAddr); err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				if err := retrieve(ctx, sec, zone); err != nil {
					b.Fatal(err)
				}
				if !waitSOA(c, sec.DNSAddr, zone, uint32(lastSeq), start, 2*time.Minute, 5*time.Millisecond) {
					b.Fatalf("AXFR not done after 2 minutes:\n%s", sec.LogTail(20))
				}
				axfr = append(axfr, time.Since(start).Seconds())
			}
			// A new syncer replaying the whole stream, without snapshots.
			replayLoad := func() {
				node := cv.converge("--snapshot-bucket", "")
				defer node.stop()
				replay = append(replay, node.secs)
				replayCPU = append(replayCPU, cpuTime(node.s.PID()).Seconds())
				replayRSS = append(replayRSS, float64(testenv.ProcStatus(node.s.PID(), "VmRSS"))/1024)
			}
			loads := []func(){bulkLoad, syncerLoad, replayLoad}
			for k := range loads {
				loads[(k+r)%len(loads)]()
			}
		}
	}
	mb, mc, mr, ma := median(bulk), median(conv), median(replay), median(axfr)
	b.ReportMetric(mc, "converge-s")
	b.ReportMetric(mc/mb, "converge/bulk")
	b.ReportMetric(mr/mb, "replay/bulk")
	b.ReportMetric(mc/ma, "converge/axfr")
	b.ReportMetric(median(rss), "rss-MB")
	b.Logf("100,000 RRsets, medians of %d rounds:", len(bulk))
	b.Logf("  bulk PATCH x1000          %.2fs (%s)", mb, fmtSecs(bulk))
	b.Logf("  new syncer, snapshot      %.2fs (%s)  = %.2f x bulk", mc, fmtSecs(conv), mc/mb)
	b.Logf("  new syncer, whole replay  %.2fs (%s)  = %.2f x bulk", mr, fmtSecs(replay), mr/mb)
	b.Logf("  AXFR to a secondary       %.2fs (%s)  syncer/AXFR = %.2f", ma, fmtSecs(axfr), mc/ma)
	b.Logf("  syncer resident memory    %.0f MB (%s); whole replay %.0f MB", median(rss), fmtSecs(rss), median(replayRSS))
	b.Logf("  CPU: PowerDNS in bulk %.2fs, in converge %.2fs; syncer %.2fs, replaying %.2fs",
		median(bulkCPU), median(convCPU), median(syncerCPU), median(replayCPU))
}

// convergence is the setting of the convergence benchmarks: a NATS apart
// whose stream holds n record events (AAAA h<j>.<zone>) for one zone, and
// that zone's snapshot, stored by a peer of the fleet that converged it
// (its own pdns_server), as a new node finds them when it joins.
type convergence struct {
	b       *testing.B
	zone    string
	n       int
	nats    *testenv.NATS
	js      jetstream.JetStream
	pub     *bus.Publisher
	lastSeq uint64
	dns     *dns.Client
	env     []string // the new nodes' added environment
}

// convAddr is the address of the j-th RRset of a convergence.
func convAddr(j int) string { return fmt.Sprintf("2001:db8:1:%x::%x", j/60000, j%60000+1) }

func newConvergence(b *testing.B, zone string, n int) *convergence {
	b.Helper()
	ctx := context.Background()
	cv := &convergence{b: b, zone: zone, n: n, dns: &dns.Client{Timeout: 2 * time.Second}}
	cv.nats, cv.js, cv.pub = benchStream(b)
	for j := 0; j < n; j++ {
		if err := cv.pub.PublishAsync(ctx, events.Message{Version: 1, Name: fmt.Sprintf("h%d.%s", j, zone), Type: "AAAA",
			Origin: "bench", TTL: 60, Records: []string{convAddr(j)}}, 0); err != nil {
			b.Fatal(err)
		}
	}
	fctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if _, err := cv.pub.Flush(fctx); err != nil {
		b.Fatal(err)
	}
	cv.lastSeq = cv.streamLastSeq()

	testenv.Binary(b, "syncer") // build before timing
	// A peer of the fleet: converges, stores the zone's snapshot, stops.
	p := testpdns.Start(b, "gsqlite3")
	defer p.Stop(b)
	s := testenv.StartSyncer(b, testenv.SyncerOptions{Zones: []string{zone}, PDNS: p, NATS: cv.nats,
		ReadyTimeout: 30*time.Second + time.Duration(n)*200*time.Microsecond})
	defer s.Stop(b)
	snaps, err := bus.SnapshotBucket(ctx, cv.js, "", 1, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		if info, err := snaps.Info(ctx, zone); err == nil && info.Seq == cv.lastSeq {
			b.Logf("peer stored the zone's snapshot: %d bytes", info.Size)
			break
		}
		if time.Since(start) > 5*time.Minute {
			b.Fatalf("no snapshot after 5 minutes:\n%s", s.LogTail(20))
		}
	}
	return cv
}

func (cv *convergence) streamLastSeq() uint64 {
	ctx := context.Background()
	st, err := cv.js.Stream(ctx, "ZONECAST")
	if err != nil {
		cv.b.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		cv.b.Fatal(err)
	}
	return info.State.LastSeq
}

// bulk loads the same n RRsets straight through the API into a zone of
// their own on a fresh pdns_server, 1,000 per PATCH, and returns the
// seconds it took and PowerDNS's CPU seconds.
func (cv *convergence) bulk() (secs, pdnsCPU float64) {
	p := testpdns.Start(cv.b, "gsqlite3")
	defer p.Stop(cv.b)
	api := pdnsapi.New(p.APIURL, p.APIKey, "localhost", 10*time.Minute)
	bz := newBulkZone(cv.b, api, "bulk.bench.test.", cv.n, convAddr)
	quiesce()
	c0 := cpuTime(p.PID())
	secs = bz.load(cv.b)
	return secs, (cpuTime(p.PID()) - c0).Seconds()
}

// newNode is a new syncer that converged the zone into a fresh pdns_server.
type newNode struct {
	p       *testpdns.Server
	s       *testenv.Syncer
	secs    float64 // from process start to /readyz
	pdnsCPU float64 // PowerDNS's CPU seconds meanwhile
	stop    func()
}

// converge starts a new syncer with an empty zone on a fresh pdns_server,
// times it from process start until /readyz (the first full reconciliation
// is done: everything written, SOA included) and checks the SOA serial.
// The caller calls stop.
func (cv *convergence) converge(extra ...string) *newNode {
	b := cv.b
	p := testpdns.Start(b, "gsqlite3")
	quiesce()
	c0 := cpuTime(p.PID())
	start := time.Now()
	s := testenv.StartSyncer(b, testenv.SyncerOptions{Zones: []string{cv.zone}, PDNS: p, NATS: cv.nats, Extra: extra, Env: cv.env,
		ReadyTimeout: 30*time.Second + time.Duration(cv.n)*200*time.Microsecond})
	node := &newNode{p: p, s: s, secs: time.Since(start).Seconds(), pdnsCPU: (cpuTime(p.PID()) - c0).Seconds(),
		stop: func() { s.Stop(b); p.Stop(b) }}
	if serial, ok := soaSerial(cv.dns, p.DNSAddr, cv.zone); !ok || serial != uint32(cv.lastSeq) {
		node.stop()
		b.Fatalf("ready but SOA serial %d, want %d", serial, cv.lastSeq)
	}
	return node
}

// quiesce writes the dirty pages of earlier rounds out before a timed load:
// PowerDNS's SQLite syncs every commit, and a kernel writeback of a previous
// round's 100,000-RRset databases running beside a load slowed it by a
// quarter (bulk loads after the syncer's were 1.5-1.7 s, right after the
// previous round 2.1-2.5 s).
func quiesce() {
	syscall.Sync()
	time.Sleep(500 * time.Millisecond)
}

// createSecondary creates zone as a secondary of primary on sec.
func createSecondary(ctx context.Context, sec *testpdns.Server, zone, primary string) error {
	body := fmt.Sprintf(`{"name":%q,"kind":"Slave","masters":[%q],"nameservers":[]}`, zone, primary)
	return apiCall(ctx, sec, http.MethodPost, "/zones", body)
}

// retrieve asks sec to AXFR zone from its primary now.
func retrieve(ctx context.Context, sec *testpdns.Server, zone string) error {
	return apiCall(ctx, sec, http.MethodPut, "/zones/"+zone+"/axfr-retrieve", "")
}

func apiCall(ctx context.Context, s *testpdns.Server, method, path, body string) error {
	req, err := http.NewRequestWithContext(ctx, method, s.APIURL+"/api/v1/servers/localhost"+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("X-API-Key", s.APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	return nil
}
