package signerd

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/dnssec"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/rrset"
	"github.com/zonecast/zonecast/internal/signer"
)

const zone = "signed.example."

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func newSigner(t *testing.T) *signer.Signer {
	t.Helper()
	ksk, err := dnssec.Generate(zone, dnssec.ECDSAP256SHA256, true, 3600)
	if err != nil {
		t.Fatal(err)
	}
	zsk, err := dnssec.Generate(zone, dnssec.ECDSAP256SHA256, false, 3600)
	if err != nil {
		t.Fatal(err)
	}
	return signer.New(signer.Config{Zone: zone, KSK: ksk, ZSK: zsk, NS: []string{"ns1." + zone}, NSTTL: 3600, KeyTTL: 3600,
		SOA:      signer.SOA{Refresh: 10800, Retry: 3600, Expire: 604800, Minimum: 60, TTL: 3600},
		Validity: 14 * 24 * time.Hour, Refresh: 3 * 24 * time.Hour, Jitter: 24 * time.Hour})
}

// delivery is a record event of origin ops at seq, as the follower hands
// it over.
func delivery(t *testing.T, seq uint64, name, typ string, records ...string) events.Delivery {
	t.Helper()
	m := events.Message{Version: events.Version, Name: name, Type: typ, Origin: "ops", TTL: 60, Records: records}
	data, err := events.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return events.Delivery{Subject: events.Subject(events.DefaultSubjectPrefix, m), Data: data, Seq: seq, Stored: t0}
}

func keys(ch []zoneChange) []rrset.Key {
	var out []rrset.Key
	for _, c := range ch {
		for _, u := range c.Upserts {
			out = append(out, u.Key)
		}
		out = append(out, c.Deletes...)
	}
	return out
}

func TestStateSignsWhatChanged(t *testing.T) {
	st := newState(events.DefaultSubjectPrefix, []*signer.Signer{newSigner(t)})
	for i, d := range []events.Delivery{
		delivery(t, 1, "www."+zone, "AAAA", "2001:db8::1"),
		delivery(t, 2, "ns1."+zone, "AAAA", "2001:db8::53"),
	} {
		if out, err := st.fold(d, t0); out != folded || err != nil {
			t.Fatalf("delivery %d: %v, %v", i, out, err)
		}
	}
	first, errs := st.sign(t0)
	if len(errs) > 0 || len(first) != 1 || first[0].serial != 2 {
		t.Fatalf("first signing: %+v, %v; want one change of the zone at serial 2", first, errs)
	}
	for _, k := range []rrset.Key{{Name: zone, Type: "SOA"}, {Name: zone, Type: "DNSKEY"}, {Name: "www." + zone, Type: "AAAA"},
		{Name: "www." + zone, Type: "RRSIG"}, {Name: "www." + zone, Type: "NSEC"}} {
		if !slices.Contains(keys(first), k) {
			t.Errorf("first signing lacks %s", k)
		}
	}
	if again, _ := st.sign(t0); len(again) != 0 {
		t.Errorf("nothing changed, but signing published %v", keys(again))
	}

	// A name gone: its data, signatures and NSEC go, its neighbour's NSEC
	// and signature change, and the SOA.
	if _, err := st.fold(delivery(t, 3, "www."+zone, "AAAA"), t0); err != nil {
		t.Fatal(err)
	}
	ch, _ := st.sign(t0)
	if len(ch) != 1 || ch[0].serial != 3 {
		t.Fatalf("after a deletion: %+v", ch)
	}
	if !slices.Contains(ch[0].Deletes, rrset.Key{Name: "www." + zone, Type: "AAAA"}) ||
		!slices.Contains(ch[0].Deletes, rrset.Key{Name: "www." + zone, Type: "NSEC"}) {
		t.Errorf("deletion withdrew %v, want www's AAAA and NSEC", ch[0].Deletes)
	}

	// Bad input is refused, reported, and changes nothing.
	bad := delivery(t, 4, "x."+zone, "AAAA", "2001:db8::7")
	bad.Data = bytes.Replace(bad.Data, []byte("2001:db8::7"), []byte("not an address"), 1)
	if out, err := st.fold(bad, t0); out != invalid || err == nil {
		t.Errorf("an invalid record: %v, %v; want invalid with an error", out, err)
	}
	outside := delivery(t, 5, "www.other.example.", "AAAA", "2001:db8::9")
	if out, _ := st.fold(outside, t0); out != invalid {
		t.Errorf("a record outside the zone: %v, want invalid", out)
	}
	if ch, _ := st.sign(t0); len(ch) != 0 {
		t.Errorf("invalid input published %v", keys(ch))
	}
}

func TestStateEndsLeases(t *testing.T) {
	st := newState(events.DefaultSubjectPrefix, []*signer.Signer{newSigner(t)})
	d := delivery(t, 1, "lease."+zone, "AAAA", "2001:db8::1")
	d.Expires = t0.Add(time.Minute)
	st.fold(d, t0)
	st.sign(t0)
	if at, ok := st.nextExpiry(); !ok || !at.Equal(t0.Add(time.Minute)) {
		t.Fatalf("next expiry %v %v, want %v", at, ok, t0.Add(time.Minute))
	}
	st.expire(t0.Add(2 * time.Minute))
	ch, _ := st.sign(t0.Add(2 * time.Minute))
	if len(ch) != 1 || !slices.Contains(ch[0].Deletes, rrset.Key{Name: "lease." + zone, Type: "AAAA"}) {
		t.Errorf("after the lease ended: %v, want lease AAAA withdrawn", keys(ch))
	}

	// A replayed message whose lease is already over counts as gone.
	late := delivery(t, 2, "late."+zone, "AAAA", "2001:db8::2")
	late.Expires = t0
	if out, _ := st.fold(late, t0.Add(time.Second)); out != expired {
		t.Errorf("a message past its lease: %v, want expired", out)
	}
}

// TestStateRestartSignsNothing: a state that adopts what an earlier run
// published publishes nothing for the same records.
func TestStateRestartSignsNothing(t *testing.T) {
	sg := newSigner(t)
	ds := []events.Delivery{delivery(t, 1, "www."+zone, "AAAA", "2001:db8::1"), delivery(t, 2, "mail."+zone, "A", "192.0.2.25")}
	st := newState(events.DefaultSubjectPrefix, []*signer.Signer{sg})
	for _, d := range ds {
		st.fold(d, t0)
	}
	first, _ := st.sign(t0)
	var published []rrset.Set
	for _, c := range first {
		published = append(published, c.Upserts...)
	}

	// The same keys, a new process.
	again := newState(events.DefaultSubjectPrefix, []*signer.Signer{signer.New(sg.Config())})
	for _, d := range ds {
		again.fold(d, t0)
	}
	again.adopt(map[string][]rrset.Set{zone: published}, t0.Add(time.Hour))
	if ch, _ := again.sign(t0.Add(time.Hour)); len(ch) != 0 {
		t.Errorf("a restart published %v", keys(ch))
	}
}

func TestBatchesKeepOwnersTogether(t *testing.T) {
	ch := signer.Change{
		Upserts: []rrset.Set{
			{Key: rrset.Key{Name: zone, Type: "SOA"}, TTL: 3600, Records: []string{"ns1. h. 7 1 1 1 60"}},
			{Key: rrset.Key{Name: "b." + zone, Type: "A"}, Records: []string{"192.0.2.2"}},
			{Key: rrset.Key{Name: "a." + zone, Type: "A"}, Records: []string{"192.0.2.1"}},
			{Key: rrset.Key{Name: zone, Type: "RRSIG"}, Records: []string{"x"}},
			{Key: rrset.Key{Name: "b." + zone, Type: "RRSIG"}, Records: []string{"x"}},
			{Key: rrset.Key{Name: "a." + zone, Type: "RRSIG"}, Records: []string{"x"}},
			{Key: rrset.Key{Name: "b." + zone, Type: "NSEC"}, Records: []string{"x"}},
		},
		Deletes: []rrset.Key{{Name: "c." + zone, Type: "A"}, {Name: "c." + zone, Type: "RRSIG"}},
	}
	bs := batches(ch, "signer", 3)
	var got [][]string
	for _, b := range bs {
		var names []string
		for _, m := range b {
			if m.Origin != "signer" {
				t.Errorf("%s %s has origin %q", m.Name, m.Type, m.Origin)
			}
			names = append(names, m.Name+" "+m.Type)
		}
		got = append(got, names)
	}
	want := [][]string{
		{"a." + zone + " A", "a." + zone + " RRSIG"},
		{"b." + zone + " A", "b." + zone + " RRSIG", "b." + zone + " NSEC"},
		{"c." + zone + " A", "c." + zone + " RRSIG"},
		{zone + " SOA", zone + " RRSIG"},
	}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("batches:\n got %q\nwant %q", got, want)
	}
	if m := bs[2][0]; !m.Tombstone() {
		t.Errorf("a withdrawal is published as %v, want a tombstone", m)
	}
}

// TestPublishableLeavesOutWhatNoMessageHolds: an RRset that no message
// may hold (more records than events.MaxRecords, merged from many
// sources) is left out and counted, and the rest of its batch goes on.
func TestPublishableLeavesOutWhatNoMessageHolds(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	big := events.Message{Version: events.Version, Name: "svc." + zone, Type: "A", Origin: "signer", TTL: 60}
	for i := range events.MaxRecords + 1 {
		big.Records = append(big.Records, fmt.Sprintf("192.0.2.%d", i+1))
	}
	ok := events.Message{Version: events.Version, Name: "www." + zone, Type: "AAAA", Origin: "signer", TTL: 60, Records: []string{"2001:db8::1"}}
	got := publishable([]events.Message{big, ok}, zone, m, zerolog.Nop())
	if len(got) != 1 || got[0].Name != ok.Name {
		t.Errorf("publishable kept %v, want www only", got)
	}
	if n := testutil.ToFloat64(m.Unpublishable); n != 1 {
		t.Errorf("unpublishable %v, want 1", n)
	}
}
