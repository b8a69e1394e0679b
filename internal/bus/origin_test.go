package bus

import (
	"reflect"
	"testing"

	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/rrset"
)

// TestOriginKeys: a source user lists what its origin has in the stream
// (sets and tombstones alike), and nothing of other origins or zones.
func TestOriginKeys(t *testing.T) {
	t.Parallel()
	ps := startPermServer(t, "origin", func(h string) string {
		return `{"users":[{"user":"w1","password_hash":"` + h + `","role":"source","origin":"h1","zones":["a.example","2.0.192.in-addr.arpa"]}]}`
	})
	ctx := ps.ctx
	admin := ps.js(t, testUser, ps.adminPW)
	if _, err := EnsureStream(ctx, admin, StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	pub := NewPublisher(admin, "", "")
	set := func(name, typ, origin string, recs ...string) events.Message {
		return events.Message{Version: 1, Name: name, Type: typ, Origin: origin, TTL: 60, Records: recs}
	}
	for _, m := range []events.Message{
		set("web.a.example.", "A", "h1", "192.0.2.1"),
		set("web.a.example.", "AAAA", "h1", "2001:db8::1"),
		set("old.a.example.", "A", "h1"), // a tombstone
		set("1.2.0.192.in-addr.arpa.", "PTR", "h1", "web.a.example."),
		set("web.a.example.", "A", "h2", "192.0.2.2"), // another origin
		set("web.b.example.", "A", "h1", "192.0.2.3"), // another zone
	} {
		if _, err := pub.Publish(ctx, m, 0); err != nil {
			t.Fatalf("publishing %s %s as %s: %v", m.Name, m.Type, m.Origin, err)
		}
	}
	got, err := OriginKeys(ctx, ps.js(t, "w1", ps.userPW), DefaultStreamName, events.DefaultSubjectPrefix, "h1",
		[]string{"a.example.", "2.0.192.in-addr.arpa."})
	if err != nil {
		t.Fatalf("source user listing its keys: %v", err)
	}
	want := []rrset.Key{
		{Name: "1.2.0.192.in-addr.arpa.", Type: "PTR"},
		{Name: "old.a.example.", Type: "A"},
		{Name: "web.a.example.", Type: "A"},
		{Name: "web.a.example.", Type: "AAAA"},
	}
	rrset.SortKeys(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("OriginKeys = %v, want %v", got, want)
	}
}
