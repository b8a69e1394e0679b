package main

import (
	"context"
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/zonelist"
	"github.com/zonecast/zonecast/internal/zonestore"
)

func listOf(t *testing.T, zones []string, removed ...string) *zonelist.List {
	t.Helper()
	l := zonelist.NewList()
	for _, z := range zones {
		key, _ := zonelist.Key(z)
		b, err := zonelist.Encode(zonelist.Zone{Name: z, SOA: zonelist.DefaultSOA})
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Put(key, b); err != nil {
			t.Fatal(err)
		}
	}
	for _, z := range removed {
		key, _ := zonelist.Key(z)
		l.Delete(key)
	}
	return l
}

func TestSettleAt(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for name, c := range map[string]struct {
		first, last time.Time
		want        time.Time
	}{
		"one change":        {t0, t0, t0.Add(settleQuiet)},
		"a second one":      {t0, t0.Add(time.Second), t0.Add(time.Second + settleQuiet)},
		"changes go on":     {t0, t0.Add(settleMax), t0.Add(settleMax)},
		"just before limit": {t0, t0.Add(settleMax - settleQuiet), t0.Add(settleMax)},
	} {
		if got := settleAt(c.first, c.last); !got.Equal(c.want) {
			t.Errorf("%s: %v, want %v", name, got.Sub(t0), c.want.Sub(t0))
		}
	}
}

// TestWaitChange: a change of the list is acted on once it has been quiet
// for settleQuiet, a burst of changes once, a change undone not at all,
// and a steady stream of changes after settleMax. (Fake time.)
func TestWaitChange(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newZoneFollower([]string{"a.example."}, prometheus.NewRegistry(), zerolog.Nop())
		f.update(listOf(t, []string{"b.example."}))
		cur, loaded, _ := f.assignment()
		if !loaded || !slices.Equal(cur.Zones, []string{"a.example.", "b.example."}) {
			t.Fatalf("assignment %v, loaded %v", cur.Zones, loaded)
		}
		type result struct {
			a     zonelist.Assignment
			ok    bool
			after time.Duration
		}
		wait := func(cur zonelist.Assignment, stop <-chan struct{}) <-chan result {
			out := make(chan result, 1)
			start := time.Now()
			go func() {
				a, ok := f.waitChange(context.Background(), cur, stop)
				out <- result{a, ok, time.Since(start)}
			}()
			return out
		}

		// Two changes 300 ms apart: one restart, 500 ms after the second.
		got := wait(cur, nil)
		time.Sleep(100 * time.Millisecond)
		f.update(listOf(t, []string{"b.example.", "c.example."}))
		time.Sleep(300 * time.Millisecond)
		f.update(listOf(t, []string{"b.example.", "c.example.", "d.example."}, "e.example."))
		r := <-got
		if !r.ok || r.after != 900*time.Millisecond || !slices.Equal(r.a.Zones, []string{"a.example.", "b.example.", "c.example.", "d.example."}) ||
			!slices.Equal(r.a.Retiring, []string{"e.example."}) {
			t.Fatalf("got %v retiring %v after %v (ok %v)", r.a.Zones, r.a.Retiring, r.after, r.ok)
		}
		cur = r.a

		// A change undone before it settled: nothing to do.
		stop := make(chan struct{})
		got = wait(cur, stop)
		f.update(listOf(t, []string{"b.example."}))
		time.Sleep(100 * time.Millisecond)
		f.update(listOf(t, []string{"b.example.", "c.example.", "d.example."}, "e.example."))
		time.Sleep(time.Minute)
		select {
		case r := <-got:
			t.Fatalf("acted on a change undone: %v", r.a.Zones)
		default:
		}
		close(stop)
		if r := <-got; r.ok {
			t.Fatal("stopped, yet a change")
		}

		// Changes every 400 ms: acted on settleMax after the first.
		got = wait(cur, nil)
		for i := 0; ; i++ {
			zones := []string{"b.example.", "c.example.", "d.example."}
			for j := range i + 1 {
				zones = append(zones, "n"+string(rune('a'+j))+".example.")
			}
			f.update(listOf(t, zones, "e.example."))
			select {
			case r := <-got:
				if !r.ok || r.after != settleMax {
					t.Fatalf("acted after %v, want %v", r.after, settleMax)
				}
				return
			case <-time.After(400 * time.Millisecond):
			}
		}
	})
}

// TestWaitLoaded: with zones in its flags the syncer waits for the zone
// list at most until a first failure to read it (or zoneListWait); with
// none it waits for the list.
func TestWaitLoaded(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newZoneFollower([]string{"a.example."}, prometheus.NewRegistry(), zerolog.Nop())
		start := time.Now()
		a := f.waitLoaded(context.Background(), zoneListWait)
		if time.Since(start) != zoneListWait || !slices.Equal(a.Zones, []string{"a.example."}) {
			t.Fatalf("waited %v for %v", time.Since(start), a.Zones)
		}
		// The list cannot be read (a user without the permission): the
		// flags' zones start at once, and the list's follow once it reads.
		failing := newZoneFollower([]string{"a.example."}, prometheus.NewRegistry(), zerolog.Nop())
		ctx, cancel := context.WithCancel(context.Background())
		go failing.run(ctx, func(context.Context) (*zonestore.Store, error) { return nil, errors.New("permissions violation") })
		start = time.Now()
		if a := failing.waitLoaded(context.Background(), zoneListWait); time.Since(start) != 0 || len(a.Zones) != 1 {
			t.Fatalf("waited %v for %v", time.Since(start), a.Zones)
		}
		cancel()
		none := newZoneFollower(nil, prometheus.NewRegistry(), zerolog.Nop())
		done := make(chan zonelist.Assignment, 1)
		go func() { done <- none.waitLoaded(context.Background(), 0) }()
		time.Sleep(time.Hour)
		synctest.Wait()
		select {
		case a := <-done:
			t.Fatalf("without zones, went on without the list: %v", a.Zones)
		default:
		}
		none.update(listOf(t, []string{"b.example."}))
		if a := <-done; !slices.Equal(a.Zones, []string{"b.example."}) {
			t.Fatalf("assignment %v", a.Zones)
		}
	})
}
