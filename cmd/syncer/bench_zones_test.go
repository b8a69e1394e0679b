package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/pdnsapi"
	"github.com/zonecast/zonecast/internal/rrset"
	"github.com/zonecast/zonecast/internal/testenv"
	"github.com/zonecast/zonecast/internal/testpdns"
	"github.com/zonecast/zonecast/internal/zonelist"
	"github.com/zonecast/zonecast/internal/zonestore"
)

// BenchmarkManyZones is issue 20's many-zones shape: 200 zones x 100 RRsets
// by default, 1,000 x 100 with BENCH_SCALE=full, the zones listed in the
// fleet's zone list (docs/zones.md). Sub-benchmarks per backend (gsqlite3,
// lmdb) measure, side by side in one run:
//
//   - bulk: on a fresh pdns_server, the zones created through the API
//     (timed apart), then one PATCH of 100 RRsets per zone, with 1, 2 and 4
//     parallel writers, the writer counts taking turns going first; on the
//     same server, a change of one RRset in every zone (one PATCH each) and
//     of all RRsets (one PATCH of 100 each), one writer;
//   - new node: a new syncer (zones from the list, none by flag) on a fresh
//     pdns_server, from process start to /readyz, with the fleet's
//     snapshots (stored by a peer before the rounds) and with a whole
//     replay (--snapshot-bucket "");
//   - bursts on that node, queued (published while the syncer is stopped,
//     timed from SIGCONT until every zone's SOA serial shows its last
//     message): one change in every zone, and a change of every RRset;
//   - no-drift reconciliations (SIGHUP) against PowerDNS's full-zone GET of
//     every zone, one after the other.
//
// BenchmarkManyZones/list measures adding the zones to the list of a running
// syncer, at once and paced, until every one is served.
func BenchmarkManyZones(b *testing.B) {
	nz, per := manyZonesShape()
	mz := newManyZones(b, nz, per)
	for _, backend := range []string{"gsqlite3", "lmdb"} {
		b.Run("backend="+backend, func(b *testing.B) { mz.bench(b, backend) })
	}
	b.Run("list", func(b *testing.B) { mz.benchList(b) })
}

// manyZonesShape is the zones and RRsets per zone: 200 x 100, and 1,000 x
// 100 with BENCH_SCALE=full.
func manyZonesShape() (zones, per int) {
	if os.Getenv("BENCH_SCALE") == "full" {
		return 1000, 100
	}
	return 200, 100
}

// manyZones is the setting: NATS apart, the zones in its zone list, a
// stream with per record events for each zone and their snapshots, stored
// by a peer syncer that converged them.
type manyZones struct {
	zones []string
	per   int
	nats  *testenv.NATS
	js    jetstream.JetStream
	pub   *bus.Publisher
	list  *zonestore.Store
	last  map[string]uint64 // the stream sequence of each zone's last message
	dns   *dns.Client
	round int // bursts published so far (their addresses differ)
}

func manyZone(i int) string { return fmt.Sprintf("z%d.many.bench.test.", i) }

// manyAddr is the address of RRset j of zone i after round bursts.
func manyAddr(i, j, round int) string { return fmt.Sprintf("2001:db8:%x:%x::%x", i+1, round, j+1) }

func newManyZones(b *testing.B, nz, per int) *manyZones {
	b.Helper()
	ctx := context.Background()
	mz := &manyZones{per: per, last: map[string]uint64{}, dns: &dns.Client{Timeout: 2 * time.Second}}
	mz.nats, mz.js, mz.pub = benchStream(b)
	var err error
	if mz.list, err = zonestore.Ensure(ctx, mz.js, zonestore.DefaultBucket, 1); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < nz; i++ {
		z := manyZone(i)
		mz.zones = append(mz.zones, z)
		if _, err := mz.list.Add(ctx, zonelist.Zone{Name: z, SOA: zonelist.DefaultSOA}); err != nil {
			b.Fatal(err)
		}
	}
	mz.publish(b, per)
	testenv.Binary(b, "syncer") // build before timing
	// A peer of the fleet: converges, stores the zones' snapshots, stops.
	p := testpdns.Start(b, "gsqlite3")
	defer p.Stop(b)
	s := testenv.StartSyncer(b, testenv.SyncerOptions{PDNS: p, NATS: mz.nats, ReadyTimeout: mz.readyTimeout()})
	defer s.Stop(b)
	snaps, err := bus.SnapshotBucket(ctx, mz.js, "", 1, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	first := mz.zones[0]
	lastSeq := mz.last[mz.zones[len(mz.zones)-1]]
	for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
		stored := 0
		for _, z := range mz.zones {
			if info, err := snaps.Info(ctx, z); err == nil && info.Seq >= mz.last[z] {
				stored++
			}
		}
		if stored == len(mz.zones) {
			b.Logf("peer stored the snapshots of %d zones in %.1fs (last seq %d)", stored, time.Since(start).Seconds(), lastSeq)
			break
		}
		if time.Since(start) > 3*time.Minute {
			b.Logf("after 3 minutes, the peer stored snapshots of %d of %d zones (first: %s)", stored, len(mz.zones), first)
			break
		}
	}
	return mz
}

// benchStream starts NATS apart with the record stream and returns a
// publisher into it (the setting of the convergence benchmarks).
func benchStream(b *testing.B) (*testenv.NATS, jetstream.JetStream, *bus.Publisher) {
	b.Helper()
	ctx := context.Background()
	n := testenv.StartNATS(b)
	nc, err := bus.Connect(ctx, bus.ClientConfig{URL: n.URL, User: "zonecast", PasswordFile: n.PasswordFile}, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := bus.EnsureStream(ctx, js, bus.StreamConfig{}); err != nil {
		b.Fatal(err)
	}
	return n, js, bus.NewPublisher(js, "ZONECAST", events.DefaultSubjectPrefix)
}

// readyTimeout bounds a syncer's convergence of every zone: generous, as
// the machine may be shared (a load average of 15 doubled it).
func (mz *manyZones) readyTimeout() time.Duration {
	return time.Minute + time.Duration(len(mz.zones)*mz.per)*2*time.Millisecond
}

// publish sends, for every zone, changes of its first k RRsets (in zone
// order: zone 0's, then zone 1's...), waits for every acknowledgement and
// records each zone's last sequence.
func (mz *manyZones) publish(b *testing.B, k int) {
	b.Helper()
	r := mz.round
	mz.round++
	type fut struct {
		zone string
		f    jetstream.PubAckFuture
	}
	futs := make([]fut, 0, len(mz.zones)*k)
	for i, z := range mz.zones {
		for j := 0; j < k; j++ {
			f, err := mz.pub.PublishFuture(events.Message{Version: 1, Name: fmt.Sprintf("h%d.%s", j, z), Type: "AAAA",
				Origin: "bench", TTL: 60, Records: []string{manyAddr(i, j, r)}}, 0)
			if err != nil {
				b.Fatal(err)
			}
			futs = append(futs, fut{z, f})
		}
	}
	for _, f := range futs {
		select {
		case ack := <-f.f.Ok():
			mz.last[f.zone] = max(mz.last[f.zone], ack.Sequence)
		case err := <-f.f.Err():
			b.Fatal(err)
		case <-time.After(2 * time.Minute):
			b.Fatal("no acknowledgement after 2 minutes")
		}
	}
}

// waitServed asks addr for every zone's SOA until its serial reaches the
// zone's last sequence, and returns whether all did within limit of start.
// The syncer writes zones in name order, so each sweep goes in that order
// and stops at the first zone still behind: a few queries per sweep, not
// one per zone, beside the PowerDNS being timed.
func (mz *manyZones) waitServed(addr string, start time.Time, limit time.Duration) bool {
	pending := slices.Sorted(slices.Values(mz.zones))
	for {
		for len(pending) > 0 {
			z := pending[0]
			if serial, ok := soaSerial(mz.dns, addr, z); !ok || serial < uint32(mz.last[z]) {
				break
			}
			pending = pending[1:]
		}
		if len(pending) == 0 {
			return true
		}
		if time.Since(start) > limit {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// manyBulk is a fresh pdns_server with the zones created through the API.
type manyBulk struct {
	p      *testpdns.Server
	api    *pdnsapi.Client
	create float64 // seconds to create the zones, one POST each
}

func (mz *manyZones) newBulk(b *testing.B, backend string) *manyBulk {
	b.Helper()
	p := testpdns.Start(b, backend)
	mb := &manyBulk{p: p, api: pdnsapi.New(p.APIURL, p.APIKey, "localhost", 5*time.Minute)}
	quiesce()
	start := time.Now()
	for _, z := range mz.zones {
		if err := mb.api.CreateZone(context.Background(), pdnsapi.ZoneSpec{Name: z,
			SOA: rrset.Set{Key: rrset.Key{Name: z, Type: "SOA"}, TTL: 3600,
				Records: []string{"ns1." + z + " hostmaster." + z + " 1 10800 3600 604800 60"}},
			NS: []string{"ns1." + z}}); err != nil {
			b.Fatal(err)
		}
	}
	mb.create = time.Since(start).Seconds()
	return mb
}

// load PATCHes the first k RRsets of every zone (one PATCH per zone, the
// addresses of round r) with writers parallel writers, and returns the
// seconds it took.
func (mz *manyZones) load(b *testing.B, mb *manyBulk, k, r, writers int) float64 {
	b.Helper()
	patches := make([][]pdnsapi.Change, len(mz.zones))
	for i, z := range mz.zones {
		for j := 0; j < k; j++ {
			patches[i] = append(patches[i], pdnsapi.Change{Set: rrset.Set{Key: rrset.Key{Name: fmt.Sprintf("h%d.%s", j, z), Type: "AAAA"},
				TTL: 60, Records: []string{manyAddr(i, j, r)}}})
		}
	}
	quiesce()
	next := make(chan int, len(mz.zones))
	for i := range mz.zones {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	start := time.Now()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := mb.api.Patch(context.Background(), mz.zones[i], patches[i]); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	if len(errs) > 0 {
		b.Fatalf("%d of %d PATCHes failed with %d writers, the first: %v", len(errs), len(mz.zones), writers, errs[0])
	}
	return secs
}

// node starts a new syncer on a fresh pdns_server and times it from
// process start to /readyz; the caller stops both.
func (mz *manyZones) node(b *testing.B, backend string, extra ...string) (*testpdns.Server, *testenv.Syncer, float64) {
	b.Helper()
	p := testpdns.Start(b, backend)
	quiesce()
	start := time.Now()
	s := testenv.StartSyncer(b, testenv.SyncerOptions{PDNS: p, NATS: mz.nats, Extra: append([]string{"--log-level", "info"}, extra...),
		ReadyTimeout: mz.readyTimeout()})
	secs := time.Since(start).Seconds()
	if !mz.waitServed(p.DNSAddr, time.Now(), 10*time.Second) {
		b.Fatalf("ready but not every zone's SOA serial is the stream's:\n%s", s.LogTail(20))
	}
	return p, s, secs
}

// burst publishes k changes into every zone while s is stopped, continues
// it and returns the seconds from SIGCONT until every zone serves its last.
func (mz *manyZones) burst(b *testing.B, p *testpdns.Server, s *testenv.Syncer, k int) float64 {
	b.Helper()
	time.Sleep(2 * time.Second) // the debounced rectify and claims of the previous writes
	s.Signal(b, syscall.SIGSTOP)
	mz.publish(b, k)
	quiesce()
	start := time.Now()
	s.Signal(b, syscall.SIGCONT)
	if !mz.waitServed(p.DNSAddr, start, 5*time.Minute) {
		b.Fatalf("burst not served after 5 minutes:\n%s", s.LogTail(20))
	}
	return time.Since(start).Seconds()
}

func (mz *manyZones) bench(b *testing.B, backend string) {
	nz, per := len(mz.zones), mz.per
	writers := []int{1, 2, 4}
	const rounds = 2
	bulk := map[int][]float64{}
	var create, bulkOne, bulkAll, conv, replay, burstOne, burstAll, recon, reconCPU, get, patches []float64
	for i := 0; i < b.N; i++ {
		for r := 0; r < rounds; r++ {
			for k := range writers {
				w := writers[(k+r)%len(writers)]
				mb := mz.newBulk(b, backend)
				create = append(create, mb.create)
				bulk[w] = append(bulk[w], mz.load(b, mb, per, 0, w))
				// Each figure is logged as it is taken, so that a run that
				// fails later keeps it.
				b.Logf("round %d: create %.3fs, bulk with %d writer(s) %.3fs", r, mb.create, w, bulk[w][len(bulk[w])-1])
				if w == 1 {
					// The bursts' shapes, straight to the API, one writer.
					bulkOne = append(bulkOne, mz.load(b, mb, 1, 1, 1))
					bulkAll = append(bulkAll, mz.load(b, mb, per, 2, 1))
					b.Logf("round %d: bulk 1 change per zone %.3fs, all changed %.3fs", r, bulkOne[len(bulkOne)-1], bulkAll[len(bulkAll)-1])
				}
				mb.p.Stop(b)
			}
			if r == 0 {
				// The new node with the fleet's snapshots, then its bursts
				// and reconciliations.
				p, s, secs := mz.node(b, backend)
				conv = append(conv, secs)
				b.Logf("round %d: new node with snapshots %.3fs", r, secs)
				burstOne = append(burstOne, mz.burst(b, p, s, 1))
				b.Logf("round %d: queued burst of 1 per zone %.3fs", r, burstOne[len(burstOne)-1])
				burstAll = append(burstAll, mz.burst(b, p, s, per))
				b.Logf("round %d: queued burst of %d per zone %.3fs", r, per, burstAll[len(burstAll)-1])
				time.Sleep(2 * time.Second)
				for k := 0; k < 3; k++ {
					secs, cpu, np := noDriftReconcile(b, s, mz.zones[0])
					recon, reconCPU, patches = append(recon, secs), append(reconCPU, cpu), append(patches, np)
					start := time.Now()
					for _, z := range mz.zones {
						zoneGET(b, p, z)
					}
					get = append(get, time.Since(start).Seconds())
				}
				s.Stop(b)
				p.Stop(b)
			} else {
				p, s, secs := mz.node(b, backend, "--snapshot-bucket", "")
				replay = append(replay, secs)
				s.Stop(b)
				p.Stop(b)
			}
		}
	}
	m1 := median(bulk[1])
	mc := median(create)
	b.ReportMetric(median(burstOne)/median(bulkOne), "burst1/bulk")
	b.ReportMetric(median(burstAll)/median(bulkAll), "burstall/bulk")
	b.ReportMetric(median(conv)/(mc+m1), "converge/bulk")
	b.ReportMetric(median(replay)/(mc+m1), "replay/bulk")
	b.ReportMetric(median(recon)/median(get), "reconcile/get")
	b.ReportMetric(m1/median(bulk[2]), "speedup-2w")
	b.ReportMetric(m1/median(bulk[4]), "speedup-4w")
	b.Logf("%s, %d zones x %d RRsets, medians (runs):", backend, nz, per)
	b.Logf("  create the zones, one POST each     %.3fs (%s)", mc, fmtSecs(create))
	for _, w := range writers {
		b.Logf("  bulk, one PATCH of %d per zone, %d writer(s)  %.3fs (%s)  speedup %.2f", per, w, median(bulk[w]), fmtSecs(bulk[w]), m1/median(bulk[w]))
	}
	b.Logf("  bulk, 1 change per zone             %.3fs (%s)", median(bulkOne), fmtSecs(bulkOne))
	b.Logf("  syncer, queued burst of 1 per zone  %.3fs (%s)  = %.2f x bulk", median(burstOne), fmtSecs(burstOne), median(burstOne)/median(bulkOne))
	b.Logf("  bulk, %d changes per zone          %.3fs (%s)", per, median(bulkAll), fmtSecs(bulkAll))
	b.Logf("  syncer, queued burst of %d per zone %.3fs (%s)  = %.2f x bulk", per, median(burstAll), fmtSecs(burstAll), median(burstAll)/median(bulkAll))
	b.Logf("  new node, snapshots                 %.3fs (%s)  = %.2f x create+bulk, %.2f x bulk", median(conv), fmtSecs(conv), median(conv)/(mc+m1), median(conv)/m1)
	b.Logf("  new node, whole replay              %.3fs (%s)  = %.2f x create+bulk", median(replay), fmtSecs(replay), median(replay)/(mc+m1))
	b.Logf("  no-drift reconciliation             %.3fs (%s), CPU %.2fs (%s), PATCHes %s", median(recon), fmtSecs(recon),
		median(reconCPU), fmtSecs(reconCPU), fmtSecs(patches))
	b.Logf("  full-zone GET of every zone         %.3fs (%s); reconcile/GET %.2f", median(get), fmtSecs(get), median(recon)/median(get))
}

// benchList measures a running syncer (one zone by flag, its own empty
// list) taking in new zones added to its list: all at once, then as many
// again paced at 20 zones/s (a script calling `zone add` per zone), timed
// from the first add until every added zone answers its SOA, with the
// core restarts counted.
func (mz *manyZones) benchList(b *testing.B) {
	ctx := context.Background()
	const bucket, rate = "zonecast_zones_bench", 20
	nz := len(mz.zones)
	paced := min(nz, 200)
	list, err := zonestore.Ensure(ctx, mz.js, bucket, 1)
	if err != nil {
		b.Fatal(err)
	}
	p := testpdns.Start(b, "gsqlite3")
	s := testenv.StartSyncer(b, testenv.SyncerOptions{Zones: []string{"anchor.many.bench.test."}, PDNS: p, NATS: mz.nats,
		Extra: []string{"--log-level", "info", "--zone-bucket", bucket}, ReadyTimeout: mz.readyTimeout()})
	const restarts = "zonecast_syncer_core_restarts_total"
	add := func(names []string, every time.Duration) (secs, added float64) {
		r0 := s.Metric(b, restarts)
		start := time.Now()
		for k, z := range names {
			if every > 0 {
				time.Sleep(time.Until(start.Add(time.Duration(k) * every)))
			}
			if _, err := list.Add(ctx, zonelist.Zone{Name: z, SOA: zonelist.DefaultSOA}); err != nil {
				b.Fatal(err)
			}
		}
		added = time.Since(start).Seconds()
		pending := slices.Sorted(slices.Values(names)) // swept as waitServed does
		for len(pending) > 0 {
			for len(pending) > 0 {
				if _, ok := soaSerial(mz.dns, p.DNSAddr, pending[0]); !ok {
					break
				}
				pending = pending[1:]
			}
			if len(pending) == 0 {
				break
			}
			if time.Since(start) > 10*time.Minute {
				b.Fatalf("%d zones not served after 10 minutes:\n%s", len(pending), s.LogTail(20))
			}
			time.Sleep(5 * time.Millisecond)
		}
		secs = time.Since(start).Seconds()
		b.Logf("  %d zones added in %.2fs, all served %.2fs after the first add, %v core restarts",
			len(names), added, secs, s.Metric(b, restarts)-r0)
		return secs, added
	}
	var fast, slow []string
	for i := 0; i < nz; i++ {
		fast = append(fast, fmt.Sprintf("a%d.list.bench.test.", i))
	}
	for i := 0; i < paced; i++ {
		slow = append(slow, fmt.Sprintf("p%d.list.bench.test.", i))
	}
	for i := 0; i < b.N; i++ {
		b.Logf("zone list, %d zones at once, then %d paced at %d/s:", nz, paced, rate)
		secs, _ := add(fast, 0)
		b.ReportMetric(secs, "add-all-s")
		secs, _ = add(slow, time.Second/rate)
		b.ReportMetric(secs, "add-paced-s")
	}
	s.Stop(b)
	p.Stop(b)
}
