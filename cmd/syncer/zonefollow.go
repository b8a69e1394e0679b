package main

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/retry"
	"github.com/zonecast/zonecast/internal/zonelist"
	"github.com/zonecast/zonecast/internal/zonestore"
)

// The syncer follows the fleet's zone list (--zone-bucket): its zones are
// those of its flags and the list's, and it withdraws from the zones
// removed from the list (zonelist.Assign). When the assignment changes,
// the daemon restarts its core in-process with the new one (run.go):
// NATS, the HTTP endpoints and the stream watch stay up.

// zoneFollower keeps the last zone list read from the bucket.
type zoneFollower struct {
	flags []string // canonical zones of --zone and --signed-zone
	log   zerolog.Logger
	gauge *prometheus.GaugeVec

	mu      sync.Mutex
	list    *zonelist.List // the last read; nil: none (no list, or not read yet)
	loaded  bool           // read once, or no list to read
	failed  bool           // an attempt to read it failed
	bad     map[string]string
	changed chan struct{} // closed at the next change of list, or failed
}

func newZoneFollower(flags []string, reg prometheus.Registerer, log zerolog.Logger) *zoneFollower {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "zonecast_syncer_zone_list_entries",
		Help: "Entries of the fleet's zone list as the syncer last read it, by state (listed, removed, bad: does not read)."},
		[]string{"state"})
	reg.MustRegister(g)
	return &zoneFollower{flags: flags, log: log.With().Str("component", "zonelist").Logger(), gauge: g,
		bad: map[string]string{}, changed: make(chan struct{})}
}

// followBackoff paces the attempts to open and follow the bucket.
var followBackoff = retry.Backoff{Min: 500 * time.Millisecond, Max: 30 * time.Second, Jitter: 0.1}

// run opens the bucket with open and follows it until ctx is done,
// opening and following it again after a failure. The list it last read
// stays meanwhile: a failure never empties it.
func (f *zoneFollower) run(ctx context.Context, open func(ctx context.Context) (*zonestore.Store, error)) {
	for attempt := 0; ; attempt++ {
		st, err := open(ctx)
		if err == nil {
			err = st.Follow(ctx, f.update)
			if err == nil {
				return // ctx is done
			}
		}
		if ctx.Err() != nil {
			return
		}
		ev := f.log.Warn()
		if errors.Is(err, zonestore.ErrNoBucket) {
			ev = f.log.Debug() // a dry run beside syncers that made none yet
		}
		wait := followBackoff.Delay(attempt)
		ev.Err(err).Dur("retry_in", wait).Msg("zone list unavailable; the syncer keeps the zones it has")
		f.mu.Lock()
		if !f.failed {
			f.failed = true
			close(f.changed)
			f.changed = make(chan struct{})
		}
		f.mu.Unlock()
		if !retry.Sleep(ctx, wait) {
			return
		}
	}
}

// update takes in the list as read now; nil: there is no list.
func (f *zoneFollower) update(l *zonelist.List) {
	if l == nil {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.loaded = true
		close(f.changed)
		f.changed = make(chan struct{})
		return
	}
	for k, why := range l.Bad {
		if f.bad[k] != why {
			f.log.Error().Str("key", k).Str("error", why).Msg("zone list entry does not read: the syncer neither starts nor stops managing its zone")
		}
	}
	f.gauge.WithLabelValues("listed").Set(float64(len(l.Zones)))
	f.gauge.WithLabelValues("removed").Set(float64(len(l.Removed)))
	f.gauge.WithLabelValues("bad").Set(float64(len(l.Bad)))
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bad, f.list, f.loaded = l.Bad, l, true
	close(f.changed)
	f.changed = make(chan struct{})
}

// set takes in a list read once (a plan), or none (nil: no list).
func (f *zoneFollower) set(l *zonelist.List) { f.update(l) }

// assignment returns the zones to manage and withdraw from now, whether
// the list was read (without it: the flags' zones alone), and a channel
// closed at the next change.
func (f *zoneFollower) assignment() (zonelist.Assignment, bool, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return zonelist.Assign(f.flags, f.list), f.loaded, f.changed
}

// waitLoaded waits until the list is read and returns the assignment
// then. With wait > 0 (the flags name zones), it waits at most that long,
// and not beyond a first failure to read the list: the flags' zones then
// start alone.
func (f *zoneFollower) waitLoaded(ctx context.Context, wait time.Duration) zonelist.Assignment {
	var timeout <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timeout = t.C
	}
	for {
		a, loaded, changed := f.assignment()
		if loaded {
			return a
		}
		f.mu.Lock()
		failed := f.failed
		f.mu.Unlock()
		if failed && wait > 0 {
			f.log.Warn().Strs("zones", a.Zones).Msg("zone list not read; starting with the zones of the flags, the list's follow once it is read")
			return a
		}
		select {
		case <-ctx.Done():
			return a
		case <-timeout:
			f.log.Warn().Strs("zones", a.Zones).Msg("zone list not read yet; starting with the zones of the flags, the list's follow once it is read")
			return a
		case <-changed:
		}
	}
}

// Changes of the assignment wait until the list has been quiet for
// settleQuiet, at most settleMax after the first: a script adding many
// zones costs one restart of the core, not one per zone.
const (
	settleQuiet = 500 * time.Millisecond
	settleMax   = 5 * time.Second
)

// settleAt returns when a change first seen at first, last seen at last,
// is acted on.
func settleAt(first, last time.Time) time.Time {
	at := last.Add(settleQuiet)
	if limit := first.Add(settleMax); limit.Before(at) {
		return limit
	}
	return at
}

// waitChange waits until the assignment differs from cur, settled, and
// returns the new one; false when ctx or stop ended first.
func (f *zoneFollower) waitChange(ctx context.Context, cur zonelist.Assignment, stop <-chan struct{}) (zonelist.Assignment, bool) {
	var first, last time.Time
	for {
		a, _, changed := f.assignment()
		var t *time.Timer
		var due <-chan time.Time
		if a.Equal(cur) {
			first = time.Time{} // changed back, or not at all
		} else {
			now := time.Now()
			if first.IsZero() {
				first, last = now, now
			}
			at := settleAt(first, last)
			if !now.Before(at) {
				return a, true
			}
			t = time.NewTimer(at.Sub(now))
			due = t.C
		}
		ok := true
		select {
		case <-ctx.Done():
			ok = false
		case <-stop:
			ok = false
		case <-changed:
			last = time.Now()
		case <-due:
		}
		if t != nil {
			t.Stop()
		}
		if !ok {
			return cur, false
		}
	}
}

// describeChange says what changed between two assignments, for the log.
func describeChange(from, to zonelist.Assignment) (added, dropped, retiring []string) {
	added, dropped = from.Changes(to)
	for _, z := range to.Retiring {
		if !slices.Contains(from.Retiring, z) {
			retiring = append(retiring, z)
		}
	}
	return added, dropped, retiring
}
