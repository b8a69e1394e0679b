package confirm

import (
	"context"
	"errors"
	"fmt"
	"github.com/zonecast/zonecast/internal/events"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/zonecast/zonecast/internal/rrset"
	"github.com/zonecast/zonecast/internal/status"
)

// Mode is when the gateway answers NOERROR.
type Mode string

// Modes of --confirm.
const (
	None Mode = "none" // once JetStream stored the change
	All  Mode = "all"  // once every live syncer of the zone applied it
	Any  Mode = "any"  // once one live syncer of the zone applied it
)

// ParseMode checks a --confirm value.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case None, All, Any:
		return m, nil
	}
	return "", fmt.Errorf("--confirm %q: want none, all or any", s)
}

// ErrTimeout is returned by Wait when the mode was not satisfied in time.
var ErrTimeout = errors.New("not confirmed by the syncers in time")

// Target is one published message: its owner name and stream sequence.
type Target struct {
	Name string // canonical
	Seq  uint64
}

// DefaultStaleAfter is how long a node counts as live after its last
// report or status, unless configured.
const DefaultStaleAfter = 3 * time.Second

// Tracker knows, per syncer node, whether it is live and which stream
// sequence it applied per zone. A node is live when its latest news says
// it is ready and that news is at most staleAfter old. Safe for
// concurrent use.
type Tracker struct {
	staleAfter time.Duration

	mu      sync.Mutex
	nodes   map[string]*node
	changed chan struct{} // closed and replaced on every change
}

type node struct {
	started time.Time         // process start: a later one resets the node
	seen    time.Time         // when its latest news arrived (local or server clock)
	at      time.Time         // syncer's time of the news ready was taken from
	ready   bool              // ready and not stopping
	applied map[string]uint64 // zone -> applied sequence
}

// NewTracker returns an empty tracker (staleAfter <= 0: DefaultStaleAfter).
func NewTracker(staleAfter time.Duration) *Tracker {
	if staleAfter <= 0 {
		staleAfter = DefaultStaleAfter
	}
	return &Tracker{staleAfter: staleAfter, nodes: map[string]*node{}, changed: make(chan struct{})}
}

// Report folds in a node's applied report, received at seen.
func (t *Tracker) Report(r events.AppliedReport, seen time.Time) {
	t.update(r.Node, r.Started, r.Time, r.Ready, seen, func(n *node) {
		for z, seq := range r.Applied {
			n.apply(z, seq)
		}
	})
}

// Status folds in a node's status from the status bucket, stored at seen.
func (t *Tracker) Status(s status.Node, seen time.Time) {
	t.update(s.Node, s.Started, s.Time, s.Ready, seen, func(n *node) {
		for _, z := range s.Zones {
			n.apply(z.Zone, z.AppliedSeq)
		}
	})
}

// Remove forgets a node (its status was deleted).
func (t *Tracker) Remove(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.nodes[name]; ok {
		delete(t.nodes, name)
		t.notifyLocked()
	}
}

func (n *node) apply(zone string, seq uint64) {
	if cur, ok := n.applied[zone]; !ok || seq > cur {
		n.applied[zone] = seq
	}
}

func (t *Tracker) update(name string, started, at time.Time, ready bool, seen time.Time, apply func(*node)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, ok := t.nodes[name]
	switch {
	case !ok || started.After(n.started):
		n = &node{started: started, applied: map[string]uint64{}}
		t.nodes[name] = n
	case started.Before(n.started):
		return // news of a previous process of that node
	}
	if !at.Before(n.at) {
		n.ready, n.at = ready, at
	}
	if seen.After(n.seen) {
		n.seen = seen
	}
	apply(n)
	t.notifyLocked()
}

func (t *Tracker) notifyLocked() {
	close(t.changed)
	t.changed = make(chan struct{})
}

// Result is what Check found.
type Result struct {
	Confirmed bool
	Live      int      // live nodes holding a zone of the targets
	Applied   int      // of which have applied every target of their zones
	Waiting   []string // live nodes that have not, sorted
	// NextStale is when the next live node would stop being live (zero:
	// none); the result may change then without any news.
	NextStale time.Time
}

func (r Result) String() string {
	s := fmt.Sprintf("%d of %d live syncers applied", r.Applied, r.Live)
	if len(r.Waiting) > 0 {
		s += " (waiting for " + strings.Join(r.Waiting, ", ") + ")"
	}
	return s
}

// Check evaluates mode for targets at now. all: at least one live node
// holds a zone of the targets, and every such node applied them. any:
// one such node applied them. none: always confirmed.
func (t *Tracker) Check(mode Mode, targets []Target, now time.Time) Result {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.checkLocked(mode, targets, now)
}

func (t *Tracker) checkLocked(mode Mode, targets []Target, now time.Time) Result {
	var r Result
	if mode == None || mode == "" {
		r.Confirmed = true
		return r
	}
	for name, n := range t.nodes {
		if !n.ready || now.Sub(n.seen) > t.staleAfter {
			continue
		}
		zones := make([]string, 0, len(n.applied))
		for z := range n.applied {
			zones = append(zones, z)
		}
		concerned, done := false, true
		for _, tg := range targets {
			z, ok := rrset.ZoneOf(tg.Name, zones)
			if !ok {
				continue
			}
			concerned = true
			if n.applied[z] < tg.Seq {
				done = false
			}
		}
		if !concerned {
			continue
		}
		r.Live++
		if done {
			r.Applied++
		} else {
			r.Waiting = append(r.Waiting, name)
		}
		if stale := n.seen.Add(t.staleAfter); r.NextStale.IsZero() || stale.Before(r.NextStale) {
			r.NextStale = stale
		}
	}
	slices.Sort(r.Waiting)
	switch mode {
	case All:
		r.Confirmed = r.Live > 0 && r.Applied == r.Live
	case Any:
		r.Confirmed = r.Applied > 0
	}
	return r
}

// Live returns the number of live nodes at now.
func (t *Tracker) Live(now time.Time) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	live := 0
	for _, n := range t.nodes {
		if n.ready && now.Sub(n.seen) <= t.staleAfter {
			live++
		}
	}
	return live
}

// Wait blocks until mode is satisfied for targets, re-checking on every
// report and whenever a node goes stale. When ctx ends first it returns
// the last result and an error wrapping ErrTimeout.
func (t *Tracker) Wait(ctx context.Context, mode Mode, targets []Target) (Result, error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		t.mu.Lock()
		now := time.Now()
		r := t.checkLocked(mode, targets, now)
		changed := t.changed
		t.mu.Unlock()
		if r.Confirmed {
			return r, nil
		}
		var staleC <-chan time.Time
		if !r.NextStale.IsZero() {
			d := r.NextStale.Sub(now) + time.Millisecond
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			staleC = timer.C
		}
		select {
		case <-ctx.Done():
			return r, fmt.Errorf("%w: %s", ErrTimeout, r)
		case <-changed:
		case <-staleC:
		}
	}
}
