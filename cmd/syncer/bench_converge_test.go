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

	nats := testenv.StartNATS(b)
	nc, err := bus.Connect(ctx, bus.ClientConfig{URL: nats.URL, User: "zonecast", PasswordFile: nats.PasswordFile}, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := bus.EnsureStream(ctx, js, bus.StreamConfig{}); err != nil {
		b.Fatal(err)
	}
	pub := bus.NewPublisher(js, "ZONECAST", events.DefaultSubjectPrefix)
	for j := 0; j < n; j++ {
		if err := pub.PublishAsync(ctx, events.Message{Version: 1, Name: fmt.Sprintf("h%d.%s", j, zone), Type: "AAAA",
			Origin: "bench", TTL: 60, Records: []string{fmt.Sprintf("2001:db8:1:%x::%x", j/60000, j%60000+1)}}, 0); err != nil {
			b.Fatal(err)
		}
	}
	fctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	if _, err := pub.Flush(fctx); err != nil {
		b.Fatal(err)
	}
	cancel()
	st, err := js.Stream(ctx, "ZONECAST")
	if err != nil {
		b.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		b.Fatal(err)
	}
	lastSeq := info.State.LastSeq

	c := &dns.Client{Timeout: 2 * time.Second}
	testenv.Binary(b, "syncer") // build before timing
	// A peer of the fleet: converges, stores the zone's snapshot, stops.
	func() {
		p := testpdns.Start(b, "gsqlite3")
		defer p.Stop(b)
		s := testenv.StartSyncer(b, testenv.SyncerOptions{Zones: []string{zone}, PDNS: p, NATS: nats})
		defer s.Stop(b)
		snaps, err := bus.SnapshotBucket(ctx, js, "", 1, zerolog.Nop())
		if err != nil {
			b.Fatal(err)
		}
		for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
			if info, err := snaps.Info(ctx, zone); err == nil && info.Seq == lastSeq {
				b.Logf("peer stored the zone's snapshot: %d bytes", info.Size)
				break
			}
			if time.Since(start) > time.Minute {
				b.Fatalf("no snapshot after a minute:\n%s", s.LogTail(20))
			}
		}
	}()
	var bulk, conv, replay, axfr, rss, replayRSS []float64
	var bulkCPU, convCPU, syncerCPU, replayCPU []float64 // CPU seconds of PowerDNS in each load, of the syncer
	for i := 0; i < b.N; i++ {
		for r := 0; r < rounds; r++ {
			// Bulk load: a fresh pdns_server, a zone of its own, PATCHes.
			bulkLoad := func() {
				p := testpdns.Start(b, "gsqlite3")
				defer p.Stop(b)
				api := pdnsapi.New(p.APIURL, p.APIKey, "localhost", 5*time.Minute)
				bz := newBulkZone(b, api, "bulk.bench.test.", n,
					func(j int) string { return fmt.Sprintf("2001:db8:1:%x::%x", j/60000, j%60000+1) })
				quiesce()
				c0 := cpuTime(p.PID())
				bulk = append(bulk, bz.load(b))
				bulkCPU = append(bulkCPU, (cpuTime(p.PID()) - c0).Seconds())
			}

			// A new syncer converging the 100k zone from the stream into
			// a fresh pdns_server, then a secondary taking it by AXFR.
			syncerLoad := func() {
				p := testpdns.Start(b, "gsqlite3")
				defer p.Stop(b)
				level := "info"
				if os.Getenv("ZONECAST_BENCH_TRACE") != "" {
					level = "debug"
				}
				quiesce()
				c0 := cpuTime(p.PID())
				start := time.Now()
				s := testenv.StartSyncer(b, testenv.SyncerOptions{Zones: []string{zone}, PDNS: p, NATS: nats,
					Extra: []string{"--log-level", level}})
				conv = append(conv, time.Since(start).Seconds())
				convCPU = append(convCPU, (cpuTime(p.PID()) - c0).Seconds())
				syncerCPU = append(syncerCPU, cpuTime(s.PID()).Seconds())
				if tr := os.Getenv("ZONECAST_BENCH_TRACE"); tr != "" && r == 0 {
					data, _ := os.ReadFile(s.LogPath)
					_ = os.WriteFile(tr, data, 0o600)
				}
				if serial, ok := soaSerial(c, p.DNSAddr, zone); !ok || serial != uint32(lastSeq) {
					b.Fatalf("ready but SOA serial %d, want %d", serial, lastSeq)
				}
				rss = append(rss, float64(testenv.ProcStatus(s.PID(), "VmRSS"))/1024)
				s.Stop(b)

				sec := testpdns.StartWith(b, "gsqlite3", "secondary=yes")
				defer sec.Stop(b)
				if err := createSecondary(ctx, sec, zone, p.DNSAddr); err != nil {
					b.Fatal(err)
				}
				start = time.Now()
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
				p := testpdns.Start(b, "gsqlite3")
				defer p.Stop(b)
				quiesce()
				start := time.Now()
				s := testenv.StartSyncer(b, testenv.SyncerOptions{Zones: []string{zone}, PDNS: p, NATS: nats,
					Extra: []string{"--snapshot-bucket", ""}})
				replay = append(replay, time.Since(start).Seconds())
				replayCPU = append(replayCPU, cpuTime(s.PID()).Seconds())
				if serial, ok := soaSerial(c, p.DNSAddr, zone); !ok || serial != uint32(lastSeq) {
					b.Fatalf("ready but SOA serial %d, want %d", serial, lastSeq)
				}
				replayRSS = append(replayRSS, float64(testenv.ProcStatus(s.PID(), "VmRSS"))/1024)
				s.Stop(b)
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
