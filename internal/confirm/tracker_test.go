package confirm

import (
	"context"
	"errors"
	"github.com/zonecast/zonecast/internal/events"
	"slices"
	"testing"
	"time"

	"github.com/zonecast/zonecast/internal/status"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func rep(node string, ready bool, at time.Duration, applied map[string]uint64) events.AppliedReport {
	return events.AppliedReport{V: events.AppliedVersion, Node: node, Time: t0.Add(at), Started: t0, Ready: ready, Applied: applied}
}

func TestConfirmCheck(t *testing.T) {
	t.Parallel()
	const z = "dyn.example."
	target := []Target{{Name: "h1.dyn.example.", Seq: 10}}
	type news struct {
		r    events.AppliedReport
		seen time.Duration
	}
	tests := map[string]struct {
		news          []news
		mode          Mode
		now           time.Duration
		targets       []Target
		want          bool
		live, applied int
		waiting       []string
	}{
		"none needs nobody":      {mode: None, want: true},
		"all without nodes":      {mode: All, want: false},
		"any without nodes":      {mode: Any, want: false},
		"all, both applied":      {mode: All, news: []news{{rep("a", true, 0, map[string]uint64{z: 10}), 0}, {rep("b", true, 0, map[string]uint64{z: 12}), 0}}, want: true, live: 2, applied: 2},
		"all, one behind":        {mode: All, news: []news{{rep("a", true, 0, map[string]uint64{z: 10}), 0}, {rep("b", true, 0, map[string]uint64{z: 9}), 0}}, want: false, live: 2, applied: 1, waiting: []string{"b"}},
		"any, one behind":        {mode: Any, news: []news{{rep("a", true, 0, map[string]uint64{z: 10}), 0}, {rep("b", true, 0, map[string]uint64{z: 9}), 0}}, want: true, live: 2, applied: 1, waiting: []string{"b"}},
		"any, all behind":        {mode: Any, news: []news{{rep("a", true, 0, map[string]uint64{z: 3}), 0}}, want: false, live: 1, waiting: []string{"a"}},
		"stale node not counted": {mode: All, now: 4 * time.Second, news: []news{{rep("a", true, 0, map[string]uint64{z: 10}), 4 * time.Second}, {rep("b", true, 0, map[string]uint64{z: 1}), 0}}, want: true, live: 1, applied: 1},
		"not ready not counted":  {mode: All, news: []news{{rep("a", true, 0, map[string]uint64{z: 10}), 0}, {rep("b", false, 0, map[string]uint64{z: 1}), 0}}, want: true, live: 1, applied: 1},
		"stopping node leaves": {mode: All, news: []news{{rep("a", true, 0, map[string]uint64{z: 10}), 0},
			{rep("b", true, 0, map[string]uint64{z: 1}), 0}, {rep("b", false, time.Second, map[string]uint64{z: 1}), time.Second}}, want: true, live: 1, applied: 1},
		"older news keeps ready false": {mode: All, news: []news{{rep("b", false, time.Second, map[string]uint64{z: 1}), time.Second}, {rep("b", true, 0, map[string]uint64{z: 1}), time.Second}}, want: false},
		"other zone not concerned":     {mode: All, news: []news{{rep("a", true, 0, map[string]uint64{z: 10}), 0}, {rep("b", true, 0, map[string]uint64{"other.example.": 1}), 0}}, want: true, live: 1, applied: 1},
		"only other zones":             {mode: Any, news: []news{{rep("b", true, 0, map[string]uint64{"other.example.": 99}), 0}}, want: false},
		"parent zone of the node":      {mode: All, news: []news{{rep("a", true, 0, map[string]uint64{"example.": 10}), 0}}, want: true, live: 1, applied: 1},
		"longest zone decides":         {mode: All, news: []news{{rep("a", true, 0, map[string]uint64{"example.": 50, z: 5}), 0}}, want: false, live: 1, waiting: []string{"a"}},
		"targets in two zones": {mode: All, targets: []Target{{Name: "h1." + z, Seq: 10}, {Name: "x.other.example.", Seq: 11}},
			news: []news{{rep("a", true, 0, map[string]uint64{z: 10, "other.example.": 11}), 0}}, want: true, live: 1, applied: 1},
		"applied never goes back": {mode: All, news: []news{{rep("a", true, 0, map[string]uint64{z: 10}), 0}, {rep("a", true, time.Second, map[string]uint64{z: 4}), 0}}, want: true, live: 1, applied: 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tr := NewTracker(3 * time.Second)
			for _, n := range tc.news {
				tr.Report(n.r, t0.Add(n.seen))
			}
			targets := tc.targets
			if targets == nil {
				targets = target
			}
			r := tr.Check(tc.mode, targets, t0.Add(tc.now))
			if r.Confirmed != tc.want || r.Live != tc.live || r.Applied != tc.applied || !slices.Equal(r.Waiting, tc.waiting) {
				t.Fatalf("Check = %+v, want confirmed %v, live %d, applied %d, waiting %v", r, tc.want, tc.live, tc.applied, tc.waiting)
			}
		})
	}
}

func TestConfirmRestartResetsNode(t *testing.T) {
	t.Parallel()
	tr := NewTracker(time.Minute)
	tr.Report(events.AppliedReport{Node: "a", Started: t0, Time: t0, Ready: true, Applied: map[string]uint64{"z.": 50}}, t0)
	// A new process of node a: its applied sequences start over.
	tr.Report(events.AppliedReport{Node: "a", Started: t0.Add(time.Hour), Time: t0.Add(time.Hour), Ready: true, Applied: map[string]uint64{"z.": 20}}, t0)
	if r := tr.Check(All, []Target{{Name: "x.z.", Seq: 30}}, t0); r.Confirmed {
		t.Fatalf("restarted node still counts its old sequence: %+v", r)
	}
	// News of the old process is ignored.
	tr.Report(events.AppliedReport{Node: "a", Started: t0, Time: t0.Add(2 * time.Hour), Ready: true, Applied: map[string]uint64{"z.": 60}}, t0)
	if r := tr.Check(All, []Target{{Name: "x.z.", Seq: 30}}, t0); r.Confirmed {
		t.Fatalf("old process's news counted: %+v", r)
	}
}

func TestConfirmStatusAndRemove(t *testing.T) {
	t.Parallel()
	tr := NewTracker(time.Minute)
	tr.Status(status.Node{Node: "a", Time: t0, Started: t0, Ready: true, Zones: []status.Zone{{Zone: "z.", AppliedSeq: 7}}}, t0)
	if r := tr.Check(All, []Target{{Name: "z.", Seq: 7}}, t0); !r.Confirmed {
		t.Fatalf("status not counted: %+v", r)
	}
	tr.Remove("a")
	if r := tr.Check(Any, []Target{{Name: "z.", Seq: 7}}, t0); r.Confirmed || r.Live != 0 {
		t.Fatalf("removed node counted: %+v", r)
	}
}

func TestConfirmWait(t *testing.T) {
	t.Parallel()
	const z = "z."
	tg := []Target{{Name: "h.z.", Seq: 5}}
	t.Run("confirmed by a later report", func(t *testing.T) {
		t.Parallel()
		tr := NewTracker(time.Minute)
		now := time.Now()
		tr.Report(events.AppliedReport{Node: "a", Started: t0, Time: now, Ready: true, Applied: map[string]uint64{z: 4}}, now)
		done := make(chan error, 1)
		go func() {
			_, err := tr.Wait(context.Background(), All, tg)
			done <- err
		}()
		time.Sleep(20 * time.Millisecond)
		select {
		case err := <-done:
			t.Fatalf("confirmed before the report: %v", err)
		default:
		}
		tr.Report(events.AppliedReport{Node: "a", Started: t0, Time: now.Add(time.Millisecond), Ready: true, Applied: map[string]uint64{z: 5}}, time.Now())
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("not confirmed after the report")
		}
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		tr := NewTracker(time.Minute)
		tr.Report(events.AppliedReport{Node: "a", Started: t0, Time: time.Now(), Ready: true, Applied: map[string]uint64{z: 4}}, time.Now())
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		r, err := tr.Wait(ctx, All, tg)
		if !errors.Is(err, ErrTimeout) || !slices.Equal(r.Waiting, []string{"a"}) {
			t.Fatalf("Wait = %+v, %v; want ErrTimeout waiting for a", r, err)
		}
	})
	t.Run("a node going stale stops being waited for", func(t *testing.T) {
		t.Parallel()
		tr := NewTracker(100 * time.Millisecond)
		now := time.Now()
		tr.Report(events.AppliedReport{Node: "a", Started: t0, Time: now, Ready: true, Applied: map[string]uint64{z: 5}}, now.Add(time.Hour))
		tr.Report(events.AppliedReport{Node: "b", Started: t0, Time: now, Ready: true, Applied: map[string]uint64{z: 1}}, now)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		start := time.Now()
		if _, err := tr.Wait(ctx, All, tg); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took < 50*time.Millisecond {
			t.Fatalf("confirmed after %v, before b went stale", took)
		}
	})
}
