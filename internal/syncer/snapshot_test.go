package syncer

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/desired"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/snapshot"
)

func newTestSyncer(zones ...string) *Syncer {
	return New(Config{Zones: zones}, nil, NewMetrics(prometheus.NewRegistry()), zerolog.Nop())
}

func delivery(t *testing.T, seq uint64, m events.Message, expires time.Time) events.Delivery {
	t.Helper()
	data, err := events.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return events.Delivery{Subject: events.Subject(events.DefaultSubjectPrefix, m), Data: data, Seq: seq, Expires: expires}
}

func sortedView(v SnapshotView) []string {
	var out []string
	for _, c := range v.Contributions {
		out = append(out, fmt.Sprintf("%s %s %s %d %v %d", c.Key.Name, c.Key.Type, c.Origin, c.TTL, c.Records, c.Expires.Unix()))
	}
	slices.Sort(out)
	return out
}

// TestSnapshotRoundTrip: a syncer loading another's snapshot of a zone
// ends with the same desired state and zone sequence, without the zone's
// expired leases.
func TestSnapshotRoundTrip(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		now := time.Unix(1800000000, 0)
		a := newTestSyncer("z.", "y.")
		msgs := []events.Message{
			{Version: 1, Name: "web.z.", Type: "AAAA", Origin: "n1", TTL: 60, Records: []string{"2001:db8::1"}},
			{Version: 1, Name: "web.z.", Type: "AAAA", Origin: "n2", TTL: 30, Records: []string{"2001:db8::2"}},
			{Version: 1, Name: "mail.z.", Type: "A", Origin: "n1", TTL: 60, Records: []string{"192.0.2.1"}},
			{Version: 1, Name: "mail.z.", Type: "A", Origin: "n1", TTL: 60}, // tombstone
			{Version: 1, Name: "web.y.", Type: "AAAA", Origin: "n1", TTL: 60, Records: []string{"2001:db8::3"}},
			{Version: 1, Name: "lease.z.", Type: "TXT", Origin: "n3", TTL: 60, Records: []string{`"x"`}},
			{Version: 1, Name: "old.z.", Type: "TXT", Origin: "n3", TTL: 60, Records: []string{`"y"`}},
		}
		for i, m := range msgs {
			var exp time.Time
			switch m.Name {
			case "lease.z.":
				exp = now.Add(time.Hour)
			case "old.z.":
				exp = now.Add(time.Minute)
			}
			a.HandleMessage(delivery(t, uint64(i+1), m, exp), now)
		}
		view := a.Snapshot("z.")
		if view.Seq != 7 || view.ZoneSeq != 7 || len(view.Contributions) != 4 {
			t.Fatalf("view at %d (zone %d) with %d contributions, want 7, 7, 4", view.Seq, view.ZoneSeq, len(view.Contributions))
		}
		var buf bytes.Buffer
		created := time.Unix(1700000000, 0)
		if err := view.Write(&buf, "ZONECAST", created, now); err != nil {
			t.Fatal(err)
		}

		b := newTestSyncer("z.")
		r, err := snapshot.NewReader(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		if h := r.Header(); h.Zone != "z." || h.Seq != 7 || !h.Created.Equal(created) {
			t.Fatalf("header %+v", h)
		}
		later := now.Add(2 * time.Minute) // old.z.'s lease has run out
		n, err := b.LoadSnapshot(r, later)
		if err != nil || n != 3 {
			t.Fatalf("loaded %d entries, %v; want 3", n, err)
		}
		b.StartAfter(7)
		got := b.Snapshot("z.")
		want := view
		want.Contributions = slices.DeleteFunc(slices.Clone(want.Contributions),
			func(c desired.Contributed) bool { return c.Key.Name == "old.z." })
		if !slices.Equal(sortedView(got), sortedView(want)) || got.ZoneSeq != 7 || got.Seq != 7 {
			t.Fatalf("loaded state\n%v (seq %d, zone %d)\nwant\n%v", sortedView(got), got.Seq, got.ZoneSeq, sortedView(want))
		}
		if merged := b.in.desired.Get(msgs[0].Key()); merged.TTL != 30 || len(merged.Records) != 2 {
			t.Errorf("merged web.z. %+v", merged)
		}
	})
}

// TestSnapshotRefused: a snapshot with an entry outside its zone, a
// tombstone, an invalid body or a zone the syncer does not manage is
// refused.
func TestSnapshotRefused(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		good := events.Message{Version: 1, Name: "web.z.", Type: "AAAA", Origin: "n1", TTL: 60, Records: []string{"2001:db8::1"}}
		entry := func(m events.Message) snapshot.Entry {
			data, err := events.Encode(m)
			if err != nil {
				t.Fatal(err)
			}
			return snapshot.Entry{Data: data}
		}
		other := good
		other.Name = "web.y."
		tomb := good
		tomb.Records = nil
		bad := entry(good)
		bad.Data = []byte(`{"v":1,"name":"web.z.","type":"AAAA","origin":"n1","ttl":60,"records":["not an address"]}`)
		for name, tc := range map[string]struct {
			zone  string
			entry snapshot.Entry
		}{
			"outside the zone": {"z.", entry(other)},
			"tombstone":        {"z.", entry(tomb)},
			"invalid body":     {"z.", bad},
			"not JSON":         {"z.", snapshot.Entry{Data: []byte("web.z. AAAA 2001:db8::1")}},
			"zone not managed": {"x.", entry(good)},
		} {
			var buf bytes.Buffer
			w, err := snapshot.NewWriter(&buf, snapshot.Header{Zone: tc.zone, Seq: 5, ZoneSeq: 5, Count: 2})
			if err != nil {
				t.Fatal(err)
			}
			_ = w.Add(entry(good))
			_ = w.Add(tc.entry)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			r, err := snapshot.NewReader(&buf)
			if err != nil {
				t.Fatal(err)
			}
			s := newTestSyncer("z.", "y.")
			if _, err := s.LoadSnapshot(r, time.Now()); err == nil {
				t.Errorf("%s: snapshot loaded", name)
			}
			s.ResetDesired()
			if s.in.desired.Len() != 0 || s.Position() != 0 {
				t.Errorf("%s: state not reset", name)
			}
		}
	})
}
