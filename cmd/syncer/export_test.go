package main

import (
	"testing"
	"time"

	"github.com/zonecast/zonecast/internal/events"
)

func TestExportLines(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	msg := func(name string, records ...string) (string, []byte) {
		m := events.Message{Version: 1, Name: name + ".z.", Type: "A", Origin: "o", TTL: 60, Records: records}
		b, err := events.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		return events.Subject(events.DefaultSubjectPrefix, m), b
	}
	last := map[string]events.Delivery{}
	add := func(name string, d events.Delivery, records ...string) {
		s, b := msg(name, records...)
		d.Subject, d.Data = s, b
		last[s] = d
	}
	add("keep", events.Delivery{}, "192.0.2.1")
	add("lease", events.Delivery{Expires: now.Add(time.Hour)}, "192.0.2.2")
	add("ended", events.Delivery{Expires: now.Add(-time.Second)}, "192.0.2.3")
	add("gone", events.Delivery{})
	add("marker", events.Delivery{Removed: true}, "192.0.2.4")
	s, _ := msg("bad", "192.0.2.5")
	last[s] = events.Delivery{Subject: s, Data: []byte(`{"v":2}`)}
	lines, sk := exportLines(events.DefaultSubjectPrefix, last, now)
	if len(lines) != 2 || lines[0].Name != "keep.z." || !lines[0].Expires.IsZero() ||
		lines[1].Name != "lease.z." || !lines[1].Expires.Equal(now.Add(time.Hour)) {
		t.Fatalf("lines %+v", lines)
	}
	if sk != (exportSkips{tombstones: 2, expired: 1, invalid: 1}) {
		t.Fatalf("skipped %+v", sk)
	}
}

func TestShrank(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		old, n int
		want   bool
	}{{0, 0, false}, {100, 100, false}, {100, 0, true}, {40, 0, false}, {1000, 750, false}, {1000, 600, true}, {100, 200, false}} {
		if got := shrank(tc.old, tc.n); got != tc.want {
			t.Errorf("shrank(%d, %d) = %v", tc.old, tc.n, got)
		}
	}
}
