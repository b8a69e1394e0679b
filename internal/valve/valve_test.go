package valve

import (
	"testing"
	"time"
)

func TestAdmit(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_700_000_000, 0)
	type step struct {
		at   time.Duration // after t0
		plan Plan
		want bool
	}
	z := "z."
	for name, steps := range map[string][]step{
		"small zone, few deletions": {{0, Plan{Zone: z, N: 10, Owned: 12}, true}},
		"at the minimum":            {{0, Plan{Zone: z, N: 50, Owned: 60}, true}},
		"under the share":           {{0, Plan{Zone: z, N: 290, Owned: 1000}, true}},
		"emptied stream":            {{0, Plan{Zone: z, N: 1000, Owned: 1000}, false}},
		"over both, by backlog":     {{0, Plan{Zone: z, N: 20, Backlog: 400, Owned: 1000}, false}},
		"trickle within the window": {
			{0, Plan{Zone: z, N: 200, Owned: 1000}, true},
			{time.Minute, Plan{Zone: z, N: 200, Owned: 800}, false}, // 400 of 1000 in 10 minutes
		},
		"trickle across windows": {
			{0, Plan{Zone: z, N: 200, Owned: 1000}, true},
			{11 * time.Minute, Plan{Zone: z, N: 200, Owned: 800}, true},
		},
		"a hold takes every later deletion": {
			{0, Plan{Zone: z, N: 1, Owned: 1000, Holding: true}, false},
		},
		"zones count apart": {
			{0, Plan{Zone: "a.", N: 200, Owned: 1000}, true},
			{0, Plan{Zone: "b.", N: 200, Owned: 1000}, true},
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g := New(Default)
			for i, s := range steps {
				if got := g.Admit(t0.Add(s.at), s.plan); got != s.want {
					t.Fatalf("step %d: admitted %v, want %v", i+1, got, s.want)
				}
			}
		})
	}
}

// TestApproveAndUncount: an approval clears the window; deletions taken
// back (not written) do not count.
func TestApproveAndUncount(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_700_000_000, 0)
	g := New(Default)
	if !g.Admit(t0, Plan{Zone: "z.", N: 200, Owned: 1000}) {
		t.Fatal("200 of 1000 held")
	}
	if g.Admit(t0, Plan{Zone: "z.", N: 200, Owned: 800}) {
		t.Fatal("400 of 1000 in the window admitted")
	}
	g.Uncount("z.", 200) // the first 200 were not written after all
	if !g.Admit(t0, Plan{Zone: "z.", N: 200, Owned: 1000}) {
		t.Fatal("200 held after the first 200 were taken back")
	}
	g.Approve("z.")
	if !g.Admit(t0, Plan{Zone: "z.", N: 230, Owned: 800}) {
		t.Fatal("the window was not cleared by the approval")
	}
}

func TestPolicyOff(t *testing.T) {
	t.Parallel()
	g := New(Policy{Share: 1, Min: 50, Window: time.Minute})
	if !g.Admit(time.Now(), Plan{Zone: "z.", N: 1000, Owned: 1000}) {
		t.Fatal("share 1 held deletions")
	}
	for _, p := range []Policy{{Share: 0}, {Share: 0.3, Min: -1}, {Share: 0.3, Window: -time.Second}} {
		if p.Check() == nil {
			t.Errorf("%+v accepted", p)
		}
	}
	if Default.Check() != nil {
		t.Error("default policy refused")
	}
}

func TestStreamAlarm(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_700_000_000, 0)
	base := StreamState{Name: "ZONECAST", Created: t0, First: 1, Last: 10_000, Msgs: 10_000, At: t0.Add(time.Hour)}
	with := func(f func(*StreamState)) StreamState {
		s := base
		s.At = s.At.Add(5 * time.Second)
		f(&s)
		return s
	}
	for name, tc := range map[string]struct {
		prev, cur StreamState
		alarm     bool
	}{
		"first sample":  {StreamState{}, base, false},
		"growing":       {base, with(func(s *StreamState) { s.Last, s.Msgs = 10_100, 10_100 }), false},
		"leases ending": {base, with(func(s *StreamState) { s.Msgs = 9_000 }), false},
		"purged": {base, with(func(s *StreamState) {
			s.First, s.Msgs = 10_001, 0
		}), true},
		"most subjects gone": {base, with(func(s *StreamState) { s.First, s.Msgs = 9_000, 1_000 }), true},
		"made anew":          {base, with(func(s *StreamState) { s.Created, s.First, s.Last, s.Msgs = t0.Add(2*time.Hour), 0, 0, 0 }), true},
		"small stream emptied": {StreamState{Name: "ZONECAST", Created: t0, First: 1, Last: 20, Msgs: 20, At: t0},
			StreamState{Name: "ZONECAST", Created: t0, First: 21, Last: 20, Msgs: 0, At: t0.Add(time.Second)}, false},
	} {
		if got := Default.StreamAlarm(tc.prev, tc.cur); (got != "") != tc.alarm {
			t.Errorf("%s: alarm %q, want alarm %v", name, got, tc.alarm)
		}
	}
}
