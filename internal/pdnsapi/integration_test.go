package pdnsapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zonecast/zonecast/internal/rrset"
	"github.com/zonecast/zonecast/internal/testpdns"
)

// countingTransport counts the PATCH requests a client sends.
type countingTransport struct {
	next    http.RoundTripper
	patches atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPatch {
		c.patches.Add(1)
	}
	return c.next.RoundTrip(r)
}

// realClient returns a client for s whose PATCHes are counted.
func realClient(s *testpdns.Server) (*Client, *countingTransport) {
	c := New(s.APIURL, s.APIKey, "localhost", 30*time.Second)
	ct := &countingTransport{next: c.hc.Transport}
	c.hc.Transport = ct
	return c, ct
}

func soaSet(zone string, serial uint32) rrset.Set {
	return rrset.Set{Key: rrset.Key{Name: zone, Type: "SOA"}, TTL: 3600,
		Records: []string{fmt.Sprintf("ns1.%s hostmaster.%s %d 10800 3600 604800 3600", zone, zone, serial)}}
}

func createZone(t testing.TB, ctx context.Context, c *Client, zone string) {
	t.Helper()
	spec := ZoneSpec{Name: zone, SOA: soaSet(zone, 1), NS: []string{"ns1." + zone, "ns2." + zone}, Account: "zonecast"}
	if err := c.CreateZone(ctx, spec); err != nil {
		t.Fatalf("CreateZone(%s): %v", zone, err)
	}
}

func aSets(zone, prefix string, n int) []Change {
	out := make([]Change, n)
	for i := range out {
		out[i] = Change{Set: rrset.Set{Key: rrset.Key{Name: fmt.Sprintf("%s%05d.%s", prefix, i, zone), Type: "A"}, TTL: 60,
			Records: []string{fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)}}}
	}
	return out
}

func TestIntegration(t *testing.T) {
	t.Parallel()
	for _, backend := range testpdns.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			s := testpdns.Start(t, backend)
			ctx := context.Background()
			c, ct := realClient(s)
			if err := c.Ping(ctx); err != nil {
				t.Fatalf("Ping: %v", err)
			}
			const zone = "z.test."
			createZone(t, ctx, c, zone)

			t.Run("create zone", func(t *testing.T) {
				z, err := c.pdns.Zones.Get(ctx, zone)
				if err != nil {
					t.Fatal(err)
				}
				if string(*z.Kind) != "Native" || *z.SOAEditAPI != "" || *z.Account != "zonecast" {
					t.Fatalf("kind %q soa_edit_api %q account %q", *z.Kind, *z.SOAEditAPI, *z.Account)
				}
				md, err := c.Metadata(ctx, zone, "API-RECTIFY")
				if err != nil || !slices.Equal(md, []string{"0"}) {
					t.Fatalf("API-RECTIFY = %q, %v; want [0]", md, err)
				}
				// What the syncer caches for a zone it just created, without
				// reading it back.
				spec := ZoneSpec{Name: "Spec.Test", SOA: soaSet("spec.test.", 7), NS: []string{"NS2.spec.test", "ns1.spec.test."}, NSTTL: 300}
				if err := c.CreateZone(ctx, spec); err != nil {
					t.Fatal(err)
				}
				if sets, _, err := c.Zone(ctx, "spec.test."); err != nil || !slices.EqualFunc(sets, spec.Sets(), rrset.Set.Equal) ||
					!slices.EqualFunc(sets, spec.Sets(), func(a, b rrset.Set) bool { return a.Key == b.Key }) {
					t.Fatalf("zone created from %+v reads %+v, %v; Sets() = %+v", spec, sets, err, spec.Sets())
				}
				if err := c.DeleteZone(ctx, "spec.test."); err != nil {
					t.Fatal(err)
				}
				if got := s.Dig(t, zone, "SOA"); len(got) != 1 || !strings.HasPrefix(got[0], "ns1.z.test. hostmaster.z.test. 1 ") {
					t.Fatalf("dig SOA = %q", got)
				}
				if got := s.Dig(t, zone, "NS"); !slices.Equal(got, []string{"ns1.z.test.", "ns2.z.test."}) {
					t.Fatalf("dig NS = %q", got)
				}
				names, err := c.ZoneNames(ctx)
				if err != nil || !slices.Equal(names, []string{zone}) {
					t.Fatalf("ZoneNames = %q, %v", names, err)
				}
				err = c.CreateZone(ctx, ZoneSpec{Name: zone, SOA: soaSet(zone, 1), NS: []string{"ns1." + zone}})
				if !errors.Is(err, ErrConflict) {
					t.Fatalf("creating an existing zone: %v, want ErrConflict", err)
				}
				if _, found, err := c.Zone(ctx, "missing.test."); found || err != nil {
					t.Fatalf("Zone(missing) found=%v err=%v", found, err)
				}
			})

			t.Run("patch and dig", func(t *testing.T) {
				www := rrset.Set{Key: rrset.Key{Name: "www." + zone, Type: "A"}, TTL: 60, Records: []string{"192.0.2.1", "192.0.2.2"}}
				if err := c.Patch(ctx, "z.test", []Change{{Set: www}}); err != nil {
					t.Fatal(err)
				}
				if got := s.Dig(t, www.Name, "A"); !slices.Equal(got, www.Records) {
					t.Fatalf("dig = %q", got)
				}
				if err := c.Patch(ctx, zone, []Change{{Set: www, Delete: true}}); err != nil {
					t.Fatal(err)
				}
				if st := s.DigStatus(t, www.Name, "A"); st != "NXDOMAIN" {
					t.Fatalf("after delete: %s", st)
				}
				// Deleting a missing RRset is fine (idempotent retries).
				if err := c.Patch(ctx, zone, []Change{{Set: www, Delete: true}}); err != nil {
					t.Fatal(err)
				}
			})

			t.Run("2*MaxBatch+500 changes in 3 patches", func(t *testing.T) {
				changes := aSets(zone, "bulk", 2*MaxBatch+500)
				before := ct.patches.Load()
				rej, err := c.Apply(ctx, zone, changes, []Change{{Set: soaSet(zone, 2)}})
				if err != nil || len(rej) != 0 {
					t.Fatalf("Apply: %v, rejected %v", err, rej)
				}
				if n := ct.patches.Load() - before; n != 3 {
					t.Fatalf("%d PATCHes, want 3", n)
				}
				sets, _, err := c.Zone(ctx, zone)
				if err != nil {
					t.Fatal(err)
				}
				if len(sets) != 2*MaxBatch+502 {
					t.Fatalf("zone has %d RRsets, want %d", len(sets), 2*MaxBatch+502)
				}
				if got := s.Dig(t, "bulk02499."+zone, "A"); !slices.Equal(got, []string{"10.0.9.195"}) {
					t.Fatalf("dig bulk02499 = %q", got)
				}
				if got := s.Dig(t, zone, "SOA"); len(got) != 1 || !strings.Contains(got[0], " 2 10800 ") {
					t.Fatalf("SOA serial not written: %q", got)
				}
			})

			t.Run("3 bad among 500 good", func(t *testing.T) {
				taken := rrset.Set{Key: rrset.Key{Name: "taken." + zone, Type: "A"}, TTL: 60, Records: []string{"192.0.2.7"}}
				if err := c.Patch(ctx, zone, []Change{{Set: taken}}); err != nil {
					t.Fatal(err)
				}
				good := aSets(zone, "good", 500)
				bad := []Change{
					{Set: rrset.Set{Key: rrset.Key{Name: "taken." + zone, Type: "CNAME"}, TTL: 60, Records: []string{"www." + zone}}},
					{Set: rrset.Set{Key: rrset.Key{Name: "outside.other.test.", Type: "A"}, TTL: 60, Records: []string{"192.0.2.8"}}},
					{Set: rrset.Set{Key: rrset.Key{Name: "dup." + zone, Type: "A"}, TTL: 60, Records: []string{"192.0.2.9", "192.0.2.9"}}},
				}
				changes := slices.Concat(good[:100], bad[:1], good[100:300], bad[1:2], good[300:499], bad[2:], good[499:])
				before := ct.patches.Load()
				rej, err := c.Apply(ctx, zone, changes, []Change{{Set: soaSet(zone, 3)}})
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%s: 3 bad among 500 took %d PATCHes", backend, ct.patches.Load()-before)
				if len(rej) != 3 {
					t.Fatalf("%d rejected, want 3: %+v", len(rej), rej)
				}
				for i, r := range rej {
					if r.Change.Set.Key != bad[i].Set.Key || r.Reason == "" {
						t.Fatalf("rejection %d = %+v, want %v with a reason", i, r, bad[i].Set.Key)
					}
					t.Logf("%s: rejected %s: %s", backend, r.Change.Set.Key, r.Reason)
				}
				sets, _, err := c.Zone(ctx, zone)
				if err != nil {
					t.Fatal(err)
				}
				have := map[rrset.Key]rrset.Set{}
				for _, s := range sets {
					have[s.Key] = s
				}
				for _, g := range good {
					if !have[g.Set.Key].Equal(g.Set) {
						t.Fatalf("good %v missing or different: %+v", g.Set.Key, have[g.Set.Key])
					}
				}
				for _, b := range bad {
					if _, ok := have[b.Set.Key]; ok {
						t.Fatalf("bad %v landed", b.Set.Key)
					}
				}
				if !have[taken.Key].Equal(taken) {
					t.Fatalf("pre-existing A at taken changed: %+v", have[taken.Key])
				}
				if got := s.Dig(t, zone, "SOA"); len(got) != 1 || !strings.Contains(got[0], " 3 10800 ") {
					t.Fatalf("SOA serial not written: %q", got)
				}
			})

			t.Run("large metadata round trip", func(t *testing.T) {
				var b strings.Builder
				for i := 0; b.Len() < 200_000; i++ {
					fmt.Fprintf(&b, "host-%06d.sub.z.test./AAAA ", i)
				}
				val := strings.TrimSpace(b.String())
				const kind = "X-ZONECAST-OWNED-00"
				start := time.Now()
				if err := c.SetMetadata(ctx, zone, kind, []string{val}); err != nil {
					t.Fatalf("SetMetadata of %d bytes: %v", len(val), err)
				}
				got, err := c.Metadata(ctx, zone, kind)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != 1 || got[0] != val {
					t.Fatalf("metadata round trip of %d bytes: got %d values, first %d bytes", len(val), len(got), len(strings.Join(got, "")))
				}
				all, err := c.AllMetadata(ctx, zone)
				if err != nil || len(all[kind]) != 1 || all[kind][0] != val || !slices.Equal(all["API-RECTIFY"], []string{"0"}) {
					t.Fatalf("AllMetadata: %v (kinds %d)", err, len(all))
				}
				t.Logf("%s: metadata value of %d bytes round trip OK in %s", backend, len(val), time.Since(start))
				if err := c.SetMetadata(ctx, zone, kind, nil); err != nil {
					t.Fatalf("clearing metadata: %v", err)
				}
				if got, err := c.Metadata(ctx, zone, kind); err != nil || len(got) != 0 {
					t.Fatalf("after clear: %q, %v", got, err)
				}
			})

			t.Run("zone normalisation", func(t *testing.T) {
				in := []Change{
					{Set: rrset.Set{Key: rrset.Key{Name: "v6." + zone, Type: "AAAA"}, TTL: 60, Records: []string{"2001:DB8:0:0::0001", "2001:0db8:0000:0000:0000:0000:0000:0002"}}},
					{Set: rrset.Set{Key: rrset.Key{Name: "mail." + zone, Type: "MX"}, TTL: 60, Records: []string{"10 MX1.Z.TEST."}}},
					{Set: rrset.Set{Key: rrset.Key{Name: "txt." + zone, Type: "TXT"}, TTL: 60, Records: []string{`"hello world" "two"`}}},
					{Set: rrset.Set{Key: rrset.Key{Name: "dhcid." + zone, Type: "DHCID"}, TTL: 60, Records: []string{"AAIBY2/AuCccgoJbsaxcQc9TUapptP69lOjxfNuVAA2kjEA="}}},
				}
				if rej, err := c.Apply(ctx, zone, in, nil); err != nil || len(rej) > 0 {
					t.Fatalf("Apply: rejected %+v, %v", rej, err)
				}
				sets, _, err := c.Zone(ctx, zone)
				if err != nil {
					t.Fatal(err)
				}
				for _, ch := range in {
					want := ch.Set
					want.Records = nil
					for _, r := range ch.Set.Records {
						cc, err := rrset.CanonicalContent(want.Type, r)
						if err != nil {
							t.Fatal(err)
						}
						want.Records = append(want.Records, cc)
					}
					want = rrset.Normalize(want)
					i := slices.IndexFunc(sets, func(s rrset.Set) bool { return s.Key == want.Key })
					if i < 0 || !sets[i].Equal(want) {
						t.Fatalf("Zone() has %+v, want %+v", sets[min(max(i, 0), len(sets)-1)], want)
					}
				}
				if err := c.Rectify(ctx, zone); err != nil {
					t.Fatalf("Rectify: %v", err)
				}
				if err := c.FlushCache(ctx, zone); err != nil {
					t.Fatalf("FlushCache: %v", err)
				}
			})

			t.Run("flush one zone, then all", func(t *testing.T) {
				const other = "flush.test."
				if err := c.CreateZone(ctx, ZoneSpec{Name: other, SOA: soaSet(other, 1), NS: []string{"ns1." + other}}); err != nil {
					t.Fatal(err)
				}
				defer func() {
					if err := c.DeleteZone(ctx, other); err != nil {
						t.Fatal(err)
					}
				}()
				// count is what PowerDNS purged: entries of its packet and
				// query caches.
				flush := func(zone string) uint32 {
					t.Helper()
					res, err := c.pdns.Servers.CacheFlush(ctx, "localhost", zone)
					if err != nil || res.Count == nil {
						t.Fatalf("flushing %s: %+v, %v", zone, res, err)
					}
					return *res.Count
				}
				if err := c.FlushCache(ctx, AllZones); err != nil {
					t.Fatalf("FlushCache(AllZones): %v", err)
				}
				s.Dig(t, zone, "SOA")
				s.Dig(t, other, "SOA")
				if n := flush(zone); n == 0 {
					t.Fatalf("flushing %s purged nothing after a query", zone)
				}
				// Only the other zone's entries are left, and "." reaches them.
				if n := flush(AllZones); n == 0 {
					t.Fatalf("flushing %q purged nothing: %s's entries were left", AllZones, other)
				}
				if n := flush(AllZones); n != 0 {
					t.Fatalf("flushing %q again purged %d: the first left them", AllZones, n)
				}
			})

			t.Run("NS TTL and delete zone", func(t *testing.T) {
				const other = "del.test."
				spec := ZoneSpec{Name: other, SOA: soaSet(other, 1), NS: []string{"ns1." + other}, NSTTL: 120}
				if err := c.CreateZone(ctx, spec); err != nil {
					t.Fatal(err)
				}
				sets, found, err := c.Zone(ctx, other)
				if err != nil || !found {
					t.Fatalf("Zone(%s): found=%v err=%v", other, found, err)
				}
				i := slices.IndexFunc(sets, func(s rrset.Set) bool { return s.Type == "NS" })
				j := slices.IndexFunc(sets, func(s rrset.Set) bool { return s.Type == "SOA" })
				if i < 0 || sets[i].TTL != 120 || j < 0 || sets[j].TTL != 3600 {
					t.Fatalf("NS and SOA TTLs: %v", sets)
				}
				if err := c.DeleteZone(ctx, other); err != nil {
					t.Fatal(err)
				}
				if _, found, err := c.Zone(ctx, other); found || err != nil {
					t.Fatalf("Zone(%s) after delete: found=%v err=%v", other, found, err)
				}
				if st := s.DigStatus(t, other, "SOA"); st != "REFUSED" {
					t.Fatalf("dig SOA of the deleted zone: %s", st)
				}
				if err := c.DeleteZone(ctx, other); !errors.Is(err, ErrNotFound) {
					t.Fatalf("deleting a missing zone: %v, want ErrNotFound", err)
				}
			})

			t.Run("transient when stopped", func(t *testing.T) {
				s.Stop(t)
				err := c.Ping(ctx)
				if !IsTransient(err) {
					t.Fatalf("Ping with server stopped: %v, want transient", err)
				}
				_, err = c.Apply(ctx, zone, aSets(zone, "late", 3), []Change{{Set: soaSet(zone, 4)}})
				if !IsTransient(err) || IsRejected(err) {
					t.Fatalf("Apply with server stopped: %v, want transient", err)
				}
				if _, _, err := c.Zone(ctx, zone); !IsTransient(err) {
					t.Fatalf("Zone with server stopped: %v, want transient", err)
				}
				s.Start(t)
				if _, err := c.Apply(ctx, zone, aSets(zone, "late", 3), []Change{{Set: soaSet(zone, 4)}}); err != nil {
					t.Fatalf("Apply after restart: %v", err)
				}
				if got := s.Dig(t, "late00002."+zone, "A"); len(got) != 1 {
					t.Fatalf("dig after restart = %q", got)
				}
			})
		})
	}
}

// BenchmarkApply20000 measures Apply of 20,000 RRsets into an empty zone and
// a full Zone() GET of the result, on each backend:
//
//	go test -run '^$' -bench . -benchtime 3x ./internal/pdnsapi
func BenchmarkApply20000(b *testing.B) {
	const n = 20000
	for _, backend := range testpdns.Backends {
		b.Run(backend, func(b *testing.B) {
			s := testpdns.Start(b, backend)
			ctx := context.Background()
			c, _ := realClient(s)
			var applyTotal, getTotal time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				zone := fmt.Sprintf("bench%d.test.", i)
				createZone(b, ctx, c, zone)
				changes := aSets(zone, "h", n)
				b.StartTimer()
				start := time.Now()
				rej, err := c.Apply(ctx, zone, changes, []Change{{Set: soaSet(zone, 2)}})
				applyTotal += time.Since(start)
				if err != nil || len(rej) != 0 {
					b.Fatalf("Apply: %v, %d rejected", err, len(rej))
				}
				b.StopTimer()
				start = time.Now()
				sets, _, err := c.Zone(ctx, zone)
				getTotal += time.Since(start)
				if err != nil || len(sets) != n+2 {
					b.Fatalf("Zone: %v, %d sets", err, len(sets))
				}
			}
			b.ReportMetric(float64(applyTotal.Milliseconds())/float64(b.N), "apply-ms/op")
			b.ReportMetric(float64(n*b.N)/applyTotal.Seconds(), "rrsets/s")
			b.ReportMetric(float64(getTotal.Milliseconds())/float64(b.N), "zoneget-ms/op")
		})
	}
}
