package desired

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/lease"
	"github.com/zonecast/zonecast/internal/rrset"
)

func msg(name, typ, origin string, ttl uint32, recs ...string) events.Message {
	return events.Message{Version: 1, Name: name, Type: typ, Origin: origin, TTL: ttl, Records: recs}
}

var web = rrset.Key{Name: "web.z.", Type: "AAAA"}

// TestMoveEitherOrder: an instance moving from node a to node b keeps
// resolving whatever order a's removal and b's addition arrive in, and
// ends with only b's address.
func TestMoveEitherOrder(t *testing.T) {
	t.Parallel()
	addA := msg("web.z.", "AAAA", "a", 60, "2001:db8::a")
	addB := msg("web.z.", "AAAA", "b", 60, "2001:db8::b")
	delA := msg("web.z.", "AAAA", "a", 0)
	for name, order := range map[string][]events.Message{
		"removal first":  {addA, delA, addB},
		"addition first": {addA, addB, delA},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := New([]string{"z."})
			for i, m := range order {
				if _, _, err := s.Apply(m, uint64(i+1)); err != nil {
					t.Fatal(err)
				}
				if name == "addition first" && i >= 1 && len(s.Get(web).Records) == 0 {
					t.Fatalf("name stopped resolving after message %d", i+1)
				}
			}
			if got := s.Get(web).Records; !slices.Equal(got, []string{"2001:db8::b"}) {
				t.Fatalf("final records %v", got)
			}
			if s.Seq("z.") != 3 {
				t.Fatalf("seq %d", s.Seq("z."))
			}
		})
	}
}

func TestUnionAndMinTTL(t *testing.T) {
	t.Parallel()
	s := New([]string{"z."})
	s.Apply(msg("web.z.", "AAAA", "a", 300, "2001:db8::a"), 1)
	_, changed, _ := s.Apply(msg("web.z.", "AAAA", "b", 60, "2001:db8::b", "2001:db8::a"), 2)
	if !changed {
		t.Fatal("second origin must change the merged set")
	}
	got := s.Get(web)
	if got.TTL != 60 || !slices.Equal(got.Records, []string{"2001:db8::a", "2001:db8::b"}) {
		t.Fatalf("merged %+v", got)
	}
	if _, changed, _ := s.Apply(msg("web.z.", "AAAA", "b", 60, "2001:db8::b", "2001:db8::a"), 3); changed {
		t.Fatal("a duplicate must not change the merged set")
	}
	if o := s.Origins(web); len(o) != 2 {
		t.Fatalf("origins %v", o)
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	s := New([]string{"z.", "sub.z."})
	tests := map[string]struct {
		m        events.Message
		wantZone string
		wantErr  bool
	}{
		"inside":             {msg("a.z.", "A", "o", 60, "192.0.2.1"), "z.", false},
		"most specific zone": {msg("a.sub.z.", "A", "o", 60, "192.0.2.1"), "sub.z.", false},
		"outside":            {msg("a.other.", "A", "o", 60, "192.0.2.1"), "", true},
		"sibling suffix":     {msg("a.xz.", "A", "o", 60, "192.0.2.1"), "", true},
		"apex NS":            {msg("z.", "NS", "o", 60, "ns.z."), "", true},
		"apex CNAME":         {msg("sub.z.", "CNAME", "o", 60, "x.z."), "", true},
		"apex A":             {msg("z.", "A", "o", 60, "192.0.2.1"), "z.", false},
		"delegation NS":      {msg("_acme-challenge.a.z.", "NS", "o", 60, "a.z."), "z.", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			zone, err := s.Check(tc.m)
			if (err != nil) != tc.wantErr || zone != tc.wantZone {
				t.Fatalf("Check = %q, %v", zone, err)
			}
		})
	}
}

func TestWithdraw(t *testing.T) {
	t.Parallel()
	s := New([]string{"z."})
	s.Apply(msg("web.z.", "AAAA", "a", 60, "2001:db8::a"), 1)
	zone, changed, ok := s.Withdraw(web, "a", 7)
	if !ok || !changed || zone != "z." || s.Len() != 0 || s.Seq("z.") != 7 {
		t.Fatalf("Withdraw = %q %v %v; len %d seq %d", zone, changed, ok, s.Len(), s.Seq("z."))
	}
	if _, _, ok := s.Withdraw(rrset.Key{Name: "x.other.", Type: "A"}, "a", 8); ok {
		t.Fatal("withdraw outside the zones must be refused")
	}
	n := 0
	s.Each(func(string, rrset.Set) { n++ })
	if n != 0 {
		t.Fatal("rrsets left")
	}
}

// TestReserveKeepsState: Reserve sizes an empty state only; a state that
// holds RRsets keeps them.
func TestReserveKeepsState(t *testing.T) {
	s := New([]string{"example.com."})
	s.Reserve(1000)
	m := events.Message{Version: events.Version, Name: "a.example.com.", Type: "A", Origin: "o", TTL: 60, Records: []string{"192.0.2.1"}}
	if _, _, err := s.Apply(m, 1); err != nil {
		t.Fatal(err)
	}
	s.Reserve(5000)
	if s.Len() != 1 || len(s.Get(m.Key()).Records) != 1 {
		t.Fatalf("after Reserve on a filled state: %d rrsets, %v", s.Len(), s.Get(m.Key()))
	}
}

func TestContributions(t *testing.T) {
	t.Parallel()
	s := New([]string{"z.", "y."})
	lease := time.Unix(1800000000, 0).UTC()
	s.Apply(msg("web.z.", "AAAA", "a", 300, "2001:db8::a"), 1)
	s.ApplyLease(msg("web.z.", "AAAA", "b", 60, "2001:db8::b"), 2, lease)
	s.Apply(msg("web.y.", "AAAA", "a", 60, "2001:db8::c"), 3)
	s.Apply(msg("gone.z.", "AAAA", "a", 60, "2001:db8::d"), 4)
	s.Apply(msg("gone.z.", "AAAA", "a", 60), 5)
	got := s.Contributions("z.")
	slices.SortFunc(got, func(a, b Contributed) int { return strings.Compare(a.Origin, b.Origin) })
	want := []Contributed{
		{Key: web, Origin: "a", Contribution: rrset.Contribution{TTL: 300, Records: []string{"2001:db8::a"}}},
		{Key: web, Origin: "b", Contribution: rrset.Contribution{TTL: 60, Records: []string{"2001:db8::b"}}, Expires: lease},
	}
	if len(got) != len(want) {
		t.Fatalf("contributions %+v", got)
	}
	for i := range want {
		if got[i].Key != want[i].Key || got[i].Origin != want[i].Origin || got[i].TTL != want[i].TTL ||
			!slices.Equal(got[i].Records, want[i].Records) || !got[i].Expires.Equal(want[i].Expires) {
			t.Errorf("contribution %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	s.Advance("z.", 3)
	if s.Seq("z.") != 5 {
		t.Errorf("Advance moved the sequence back: %d", s.Seq("z."))
	}
	s.Advance("z.", 9)
	s.Advance("x.", 9)
	if s.Seq("z.") != 9 || s.Seq("x.") != 0 {
		t.Errorf("after Advance: z. at %d, x. at %d", s.Seq("z."), s.Seq("x."))
	}
}

// TestExpireDue: a lease ends the contribution at its time, unless the
// origin published again (a new lease) or withdrew it first; the zone's
// sequence stays where the stream left it.
func TestExpireDue(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_700_000_000, 0)
	s := New([]string{"z."})
	a := msg("web.z.", "AAAA", "a", 60, "2001:db8::a")
	b := msg("web.z.", "AAAA", "b", 60, "2001:db8::b")
	c := msg("mail.z.", "A", "a", 60, "192.0.2.1")
	s.ApplyLease(a, 1, t0.Add(10*time.Second))
	s.ApplyLease(b, 2, time.Time{}) // no lease
	s.ApplyLease(c, 3, t0.Add(10*time.Second))
	s.ApplyLease(c, 4, t0.Add(30*time.Second)) // renewed
	if next, ok := s.NextExpiry(); !ok || !next.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("next expiry %v %v", next, ok)
	}
	if got := s.ExpireDue(t0.Add(9 * time.Second)); len(got) != 0 {
		t.Fatalf("expired early: %v", got)
	}
	got := s.ExpireDue(t0.Add(10 * time.Second))
	want := []Expired{{Ref: lease.Ref{Key: web, Origin: "a"}, Zone: "z.", Changed: true}}
	if !slices.Equal(got, want) {
		t.Fatalf("expired %+v, want %+v", got, want)
	}
	if recs := s.Get(web).Records; !slices.Equal(recs, []string{"2001:db8::b"}) {
		t.Fatalf("web after a's lease: %v", recs)
	}
	mail := rrset.Key{Name: "mail.z.", Type: "A"}
	if len(s.Get(mail).Records) != 1 {
		t.Fatal("renewed lease ended at its old time")
	}
	if s.Seq("z.") != 4 {
		t.Fatalf("seq %d after expiry, want 4", s.Seq("z."))
	}
	s.Apply(msg("mail.z.", "A", "a", 0), 5) // withdrawn before its lease ends
	if got := s.ExpireDue(t0.Add(time.Hour)); len(got) != 0 {
		t.Fatalf("withdrawn contribution expired: %v", got)
	}
	if s.leased != 0 {
		t.Fatalf("%d leases counted, want 0", s.leased)
	}
}

// TestSigned: a signed zone takes the signer's messages, apex SOA and NS
// included, and refuses a source's; an unsigned zone refuses the signer's.
func TestSigned(t *testing.T) {
	t.Parallel()
	s := New([]string{"signed.z.", "plain.z."})
	s.MarkSigned([]string{"signed.z."})
	soa := msg("signed.z.", "SOA", "signer", 3600, "ns1.signed.z. hostmaster.signed.z. 5 10800 3600 604800 60")
	if zone, changed, err := s.ApplySigned(soa, 5); err != nil || zone != "signed.z." || !changed {
		t.Fatalf("the signer's SOA: %s %v %v", zone, changed, err)
	}
	if _, _, err := s.ApplySigned(msg("signed.z.", "NS", "signer", 3600, "ns1.signed.z."), 6); err != nil {
		t.Fatalf("the signer's apex NS: %v", err)
	}
	if got := s.Get(rrset.Key{Name: "signed.z.", Type: "SOA"}); len(got.Records) != 1 || s.Seq("signed.z.") != 6 {
		t.Fatalf("signed zone holds %v at seq %d", got, s.Seq("signed.z."))
	}
	if _, _, err := s.Apply(msg("www.signed.z.", "A", "h1", 60, "192.0.2.1"), 7); err == nil {
		t.Error("a source's record was taken into a signed zone")
	}
	if _, _, err := s.ApplySigned(msg("www.plain.z.", "A", "signer", 60, "192.0.2.1"), 8); err == nil {
		t.Error("a signer's record was taken into an unsigned zone")
	}
	if _, _, err := s.Apply(msg("www.plain.z.", "A", "h1", 60, "192.0.2.1"), 9); err != nil {
		t.Errorf("a source's record in the unsigned zone: %v", err)
	}
	if !s.Signed("signed.z.") || s.Signed("plain.z.") {
		t.Error("Signed reports the wrong zones")
	}
}
