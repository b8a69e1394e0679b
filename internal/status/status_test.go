package status

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	opts := Options{StaleAfter: 20 * time.Second, MaxBehind: 30 * time.Second}
	zone := func(seq uint64, serial uint32) Zone {
		return Zone{Zone: "z.", AppliedSeq: seq, Serial: serial, SerialKnown: true}
	}
	node := func(age time.Duration, z Zone) Node {
		return Node{Node: "n1", Time: now.Add(-age), Ready: true, PDNSReachable: true, Zones: []Zone{z}}
	}
	tests := map[string]struct {
		n        Node
		b        Backlog
		want     State
		behindBy uint64
		failing  bool
	}{
		"caught up":            {n: node(time.Second, zone(10, 10)), b: Backlog{LastSeq: 10}, want: CaughtUp},
		"ahead of lookup":      {n: node(time.Second, zone(12, 12)), b: Backlog{LastSeq: 10}, want: CaughtUp},
		"behind briefly":       {n: node(time.Second, zone(8, 8)), b: Backlog{LastSeq: 10, Pending: 2, Oldest: now.Add(-2 * time.Second)}, want: Behind, behindBy: 2},
		"behind too long":      {n: node(time.Second, zone(8, 8)), b: Backlog{LastSeq: 10, Pending: 2, Oldest: now.Add(-time.Minute)}, want: Behind, behindBy: 2, failing: true},
		"stale, recent":        {n: node(25*time.Second, zone(10, 10)), b: Backlog{LastSeq: 10}, want: Stale},
		"stale, long":          {n: node(time.Minute, zone(10, 10)), b: Backlog{LastSeq: 10}, want: Stale, failing: true},
		"pdns unreachable":     {n: func() Node { n := node(time.Second, zone(10, 10)); n.PDNSReachable = false; return n }(), b: Backlog{LastSeq: 10}, want: Unreachable},
		"unreachable + behind": {n: func() Node { n := node(time.Second, zone(8, 8)); n.PDNSReachable = false; return n }(), b: Backlog{LastSeq: 10, Pending: 1, Oldest: now.Add(-time.Hour)}, want: Unreachable, behindBy: 1, failing: true},
		"starting":             {n: func() Node { n := node(time.Second, zone(0, 0)); n.Ready = false; return n }(), b: Backlog{LastSeq: 10, Pending: 10, Oldest: now.Add(-time.Second)}, want: NotReady, behindBy: 10},
		"serial lost":          {n: node(time.Second, zone(10, 3)), b: Backlog{LastSeq: 10}, want: Mismatch},
		"zone missing":         {n: node(time.Second, Zone{Zone: "z.", AppliedSeq: 10, Missing: true}), b: Backlog{LastSeq: 10}, want: Mismatch},
		"signed, the signer's serial": {n: node(time.Second, Zone{Zone: "z.", AppliedSeq: 10, Serial: 7, SerialKnown: true, Signed: true}),
			b: Backlog{LastSeq: 10}, want: CaughtUp},
		"signed, behind the signer": {n: node(time.Second, Zone{Zone: "z.", AppliedSeq: 8, Serial: 7, SerialKnown: true, Signed: true}),
			b: Backlog{LastSeq: 10, Pending: 2, Oldest: now.Add(-time.Second)}, want: Behind, behindBy: 2},
		"removed from the list":   {n: node(time.Second, Zone{Zone: "z.", Removing: true, Owned: 3}), want: Removing},
		"removed, deletions held": {n: node(time.Second, Zone{Zone: "z.", Removing: true, Owned: 300, Held: 300}), want: Held, failing: true},
		"removed, node stale":     {n: node(time.Minute, Zone{Zone: "z.", Removing: true, Owned: 3}), want: Stale, failing: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rows := Classify(tc.n, map[string]Backlog{"z.": tc.b}, now, opts)
			if len(rows) != 1 {
				t.Fatalf("%d rows", len(rows))
			}
			r := rows[0]
			if r.State != tc.want || r.BehindBy != tc.behindBy || r.Failing != tc.failing {
				t.Fatalf("got state %s behind %d failing %v, want %s %d %v", r.State, r.BehindBy, r.Failing, tc.want, tc.behindBy, tc.failing)
			}
			if Failing(rows) != tc.failing {
				t.Fatal("Failing disagrees")
			}
		})
	}
}

func TestRenderAndCodec(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	n := Node{Node: "ns1", Time: now, Ready: true, PDNSReachable: true,
		Zones: []Zone{{Zone: "b.", AppliedSeq: 5, Serial: 5, SerialKnown: true}, {Zone: "a.", AppliedSeq: 3}}}
	b, err := Encode(n)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(b)
	if err != nil || back.Node != "ns1" || len(back.Zones) != 2 {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	if _, err := Decode([]byte(`{"v":2}`)); err == nil {
		t.Fatal("version 2 accepted")
	}
	rows := Classify(back, map[string]Backlog{"a.": {LastSeq: 4, Pending: 1, Oldest: now.Add(-time.Minute)}, "b.": {LastSeq: 5}},
		now, Options{StaleAfter: time.Minute, MaxBehind: 30 * time.Second})
	SortRows(rows)
	var out bytes.Buffer
	if err := Render(&out, rows); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NODE") {
		t.Fatalf("table:\n%s", out.String())
	}
	if !strings.Contains(lines[1], "a.") || !strings.Contains(lines[1], "behind by 1 !") || !strings.Contains(lines[1], "1m0s") {
		t.Errorf("row a.: %q", lines[1])
	}
	if !strings.Contains(lines[2], "caught-up") {
		t.Errorf("row b.: %q", lines[2])
	}
}

func TestRecent(t *testing.T) {
	t.Parallel()
	r := NewRecent(2)
	for _, m := range []string{"a", "b", "c"} {
		r.Add(Error{Message: m})
	}
	got := r.List()
	if len(got) != 2 || got[0].Message != "b" || got[1].Message != "c" {
		t.Fatalf("List = %+v", got)
	}
}

func TestAbsentZones(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	opts := Options{StaleAfter: 20 * time.Second, MaxBehind: 30 * time.Second}
	listed := map[string]time.Time{"a.": now.Add(-time.Hour), "b.": now.Add(-5 * time.Second), "c.": now.Add(-time.Hour), "d.": {}}
	n := Node{Node: "n1", Time: now, Ready: true, PDNSReachable: true, ZoneList: "zonecast_zones",
		Zones: []Zone{{Zone: "a."}, {Zone: "c.", Removing: true}}}
	rows := AbsentZones(n, listed, now, opts)
	SortRows(rows)
	got := map[string]bool{}
	for _, r := range rows {
		if r.State != Absent || r.Node != "n1" {
			t.Fatalf("row %+v", r)
		}
		got[r.Zone] = r.Failing
	}
	// b. was listed a moment ago: not failing yet; c. is being removed
	// by the node and listed again: absent; d. without a time: failing.
	want := map[string]bool{"b.": false, "c.": true, "d.": true}
	if len(got) != len(want) {
		t.Fatalf("absent rows %v, want %v", got, want)
	}
	for z, f := range want {
		if g, ok := got[z]; !ok || g != f {
			t.Fatalf("absent rows %v, want %v", got, want)
		}
	}
	n.ZoneList = ""
	if rows := AbsentZones(n, listed, now, opts); len(rows) != 0 {
		t.Fatalf("a node that follows no list: %v", rows)
	}
}
