package zonegate

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/retry"
	"github.com/zonecast/zonecast/internal/zonelist"
	"github.com/zonecast/zonecast/internal/zonestore"
)

// step is what the fake bucket does on one open: fail with err, or
// deliver lists one by one (each waits for the test's go-ahead), then
// fail with end (nil: follow until ctx is done).
type step struct {
	err   error
	lists []*zonelist.List
	end   error
}

type fakeBucket struct {
	steps   chan step
	next    chan struct{} // the test lets the next list through
	applied chan struct{} // the gate took it in
}

func (b *fakeBucket) open(ctx context.Context) (Follower, error) {
	select {
	case s := <-b.steps:
		if s.err != nil {
			return nil, s.err
		}
		return followFunc(func(ctx context.Context, update func(*zonelist.List)) error {
			for _, l := range s.lists {
				select {
				case <-b.next:
				case <-ctx.Done():
					return nil
				}
				update(l)
				b.applied <- struct{}{}
			}
			if s.end != nil {
				return s.end
			}
			<-ctx.Done()
			return nil
		}), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type followFunc func(ctx context.Context, update func(*zonelist.List)) error

func (f followFunc) Follow(ctx context.Context, update func(*zonelist.List)) error {
	return f(ctx, update)
}

func list(t *testing.T, listed []string, removed ...string) *zonelist.List {
	t.Helper()
	l := zonelist.NewList()
	for _, z := range listed {
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

func writable(g *Gate, zones ...string) string {
	var out string
	for _, z := range zones {
		out += fmt.Sprintf("%s=%v ", z, g.Writable(z))
	}
	return out
}

// TestGateFollowsTheList: every own zone is writable before the list is
// read; then only the listed ones, changing with the list; a failure
// keeps the list last read; a missing bucket is no list.
func TestGateFollowsTheList(t *testing.T) {
	t.Parallel()
	const a, b = "a.example.", "b.example."
	reg := prometheus.NewRegistry()
	g := New(Config{Own: []string{a, b}, Daemon: "test", Reg: reg, Log: zerolog.Nop(),
		Backoff: retry.Backoff{Min: time.Microsecond, Max: time.Microsecond}})
	if got := writable(g, a, b, "other.example."); got != "a.example.=true b.example.=true other.example.=false " {
		t.Fatalf("before the list: %s", got)
	}
	fb := &fakeBucket{steps: make(chan step, 8), next: make(chan struct{}), applied: make(chan struct{})}
	fb.steps <- step{err: fmt.Errorf("opening: %w", zonestore.ErrNoBucket)}
	fb.steps <- step{lists: []*zonelist.List{list(t, []string{a}), list(t, []string{a, b}), list(t, []string{b}, a)},
		end: errors.New("watch stopped")}
	fb.steps <- step{err: errors.New("permissions violation")}
	fb.steps <- step{lists: []*zonelist.List{list(t, nil, a, b)}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); g.Run(ctx, fb.open) }()
	defer func() { cancel(); <-done }()

	<-g.Settled() // no bucket: no list, settled
	if got := writable(g, a, b); got != "a.example.=true b.example.=true " {
		t.Fatalf("no bucket: %s", got)
	}
	drain(g)
	expect := func(what, want string) {
		t.Helper()
		fb.next <- struct{}{}
		<-fb.applied
		if got := writable(g, a, b); got != want {
			t.Fatalf("%s: %s, want %s", what, got, want)
		}
	}
	expect("a listed alone", "a.example.=true b.example.=false ")
	<-g.Changes()
	if v := testutil.ToFloat64(g.zones.WithLabelValues("unlisted")); v != 1 {
		t.Errorf("unlisted gauge %v", v)
	}
	expect("both listed", "a.example.=true b.example.=true ")
	<-g.Changes()
	expect("a removed", "a.example.=false b.example.=true ")
	<-g.Changes()
	// The watch stops, the bucket then refuses: the last list stays
	// until the next open delivers one.
	if got := writable(g, a, b); got != "a.example.=false b.example.=true " {
		t.Fatalf("after the failures: %s", got)
	}
	expect("both removed", "a.example.=false b.example.=false ")
	if len(fb.steps) != 0 {
		t.Errorf("%d steps left", len(fb.steps))
	}
	g.Refused("dns")
	if v := testutil.ToFloat64(g.refusals.WithLabelValues("dns")); v != 1 {
		t.Errorf("refusals %v", v)
	}
	if v := testutil.ToFloat64(g.read); v != 1 {
		t.Errorf("read gauge %v", v)
	}
}

func drain(g *Gate) {
	select {
	case <-g.Changes():
	default:
	}
}

// TestGateKeepsTheFlagsUntilRead: a list that cannot be read at the start
// settles the gate with every own zone writable.
func TestGateKeepsTheFlagsUntilRead(t *testing.T) {
	t.Parallel()
	g := New(Config{Own: []string{"a.example."}, Daemon: "test", Log: zerolog.Nop(),
		Backoff: retry.Backoff{Min: time.Hour, Max: time.Hour}})
	fb := &fakeBucket{steps: make(chan step, 1), next: make(chan struct{}), applied: make(chan struct{})}
	fb.steps <- step{err: errors.New("nats: timeout")}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); g.Run(ctx, fb.open) }()
	<-g.Settled()
	if !g.Writable("a.example.") {
		t.Error("a.example. refused before the list was read")
	}
	if v := testutil.ToFloat64(g.read); v != 0 {
		t.Errorf("read gauge %v", v)
	}
	cancel()
	<-done
}

// TestGateEmptyBucketIsNoList: an empty bucket leaves every zone writable.
func TestGateEmptyBucketIsNoList(t *testing.T) {
	t.Parallel()
	g := New(Config{Own: []string{"a.example."}, Daemon: "test", Log: zerolog.Nop()})
	g.update(zonelist.NewList())
	if !g.Writable("a.example.") {
		t.Error("refused under an empty list")
	}
	g.update(list(t, []string{"b.example."}))
	if g.Writable("a.example.") {
		t.Error("writable though unlisted")
	}
}

// TestGateKeepsTheListRead: once a list was read, a bucket gone or a
// failure keeps it; before, a missing bucket is no list.
func TestGateKeepsTheListRead(t *testing.T) {
	t.Parallel()
	g := New(Config{Own: []string{"a.example.", "b.example."}, Daemon: "test", Log: zerolog.Nop()})
	g.noBucket(0)
	if got := writable(g, "a.example.", "b.example."); got != "a.example.=true b.example.=true " {
		t.Fatalf("no bucket: %s", got)
	}
	g.update(list(t, []string{"b.example."}))
	g.noBucket(0)
	g.failed(errors.New("nats: timeout"), 0)
	if got := writable(g, "a.example.", "b.example."); got != "a.example.=false b.example.=true " {
		t.Fatalf("after the bucket went: %s", got)
	}
}
