// Package zonegate is a record source's view of the fleet's zone list:
// which of its own zones (its --zone flags, which its NATS role allows)
// zonecast-gateway or zonecast-watcher may write into now, followed live
// from the bucket (internal/zonestore). The decision is
// zonelist.Writable; this is the shell that follows, logs and counts.
//
// Until the list is first read (or when the bucket does not exist, or
// holds nothing), every own zone is writable, as without a list. Once
// read, a failure to follow it keeps the last list read: it never opens a
// zone the list closed.
package zonegate

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/retry"
	"github.com/zonecast/zonecast/internal/zonelist"
	"github.com/zonecast/zonecast/internal/zonestore"
)

// Follower follows the list (zonestore.Store): update gets the whole list
// once read, then after every change, until ctx is done (nil) or the
// watch fails.
type Follower interface {
	Follow(ctx context.Context, update func(*zonelist.List)) error
}

// Opener opens the bucket; an error wrapping zonestore.ErrNoBucket means
// there is none (yet): no list.
type Opener func(ctx context.Context) (Follower, error)

// Config configures a Gate.
type Config struct {
	Own    []string // canonical zones of the flags
	Daemon string   // metric names' part: "gateway", "watcher"
	Reg    prometheus.Registerer
	Log    zerolog.Logger
	// Backoff paces the attempts to open and follow the bucket, and the
	// looks for a bucket that does not exist yet; zero: DefaultBackoff.
	Backoff retry.Backoff
}

// DefaultBackoff: soon at first (the syncers make the bucket at their
// start, maybe beside this daemon), then every half minute.
var DefaultBackoff = retry.Backoff{Min: 500 * time.Millisecond, Max: 30 * time.Second, Jitter: 0.1}

// Gate says which own zones are writable now. Safe for concurrent use.
type Gate struct {
	own     []string
	log     zerolog.Logger
	backoff retry.Backoff

	writable atomic.Pointer[map[string]bool]

	zones    *prometheus.GaugeVec
	read     prometheus.Gauge
	refusals *prometheus.CounterVec

	mu       sync.Mutex
	unlisted []string          // as last decided
	bad      map[string]string // own zones' keys that did not read, as last logged
	known    bool              // decided once on a list read (or on no bucket)
	fromList bool              // a list was read from the bucket once (empty or not)
	settled  chan struct{}     // closed at the first outcome: read, no bucket or a failure
	isSet    bool
	changes  chan struct{} // a value after each change of the writable zones
}

// New returns a gate with every own zone writable, until Run reads the
// list.
func New(cfg Config) *Gate {
	if cfg.Backoff == (retry.Backoff{}) {
		cfg.Backoff = DefaultBackoff
	}
	d := cfg.Daemon
	g := &Gate{own: slices.Clone(cfg.Own), backoff: cfg.Backoff,
		log: cfg.Log.With().Str("component", "zonelist").Logger(),
		zones: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "zonecast_" + d + "_zone_list_zones",
			Help: "The " + d + "'s own zones (--zone) by state: writable, or unlisted (the fleet's zone list does not hold them: refused)."},
			[]string{"state"}),
		read: prometheus.NewGauge(prometheus.GaugeOpts{Name: "zonecast_" + d + "_zone_list_read",
			Help: "1 once the fleet's zone list was read (or found missing or empty), 0 before: until then every --zone is writable."}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zonecast_" + d + "_zone_list_refusals_total",
			Help: "Writes refused because their zone is one of the " + d + "'s but not in the fleet's zone list, by path (dns, dyndns, web, lxd)."},
			[]string{"via"}),
		bad: map[string]string{}, settled: make(chan struct{}), changes: make(chan struct{}, 1)}
	all := map[string]bool{}
	for _, z := range g.own {
		all[z] = true
	}
	g.writable.Store(&all)
	g.zones.WithLabelValues("writable").Set(float64(len(all)))
	g.zones.WithLabelValues("unlisted").Set(0)
	if cfg.Reg != nil {
		cfg.Reg.MustRegister(g.zones, g.read, g.refusals)
	}
	return g
}

// Writable reports whether zone (canonical, one of the own zones) may be
// written into now.
func (g *Gate) Writable(zone string) bool { return (*g.writable.Load())[zone] }

// Refused counts one write refused because its zone is unlisted, by the
// path it came by.
func (g *Gate) Refused(via string) { g.refusals.WithLabelValues(via).Inc() }

// Settled is closed once the list was first read, found missing, or
// failed to read: a daemon waits for it before it writes, so that its
// first writes already obey the list.
func (g *Gate) Settled() <-chan struct{} { return g.settled }

// Changes receives a value after each change of the writable zones (one
// waiting at most): the watcher publishes again what it held back.
func (g *Gate) Changes() <-chan struct{} { return g.changes }

// Run opens the bucket with open and follows it until ctx is done,
// opening and following it again after a failure, or looking again for a
// bucket that does not exist.
func (g *Gate) Run(ctx context.Context, open Opener) {
	for attempt := 0; ; attempt++ {
		f, err := open(ctx)
		if err == nil {
			err = f.Follow(ctx, g.update)
			if err == nil {
				return // ctx is done
			}
			attempt = 0 // it was followed: start the backoff again
		}
		if ctx.Err() != nil {
			return
		}
		wait := g.backoff.Delay(attempt)
		if errors.Is(err, zonestore.ErrNoBucket) {
			g.noBucket(wait)
		} else {
			g.failed(err, wait)
		}
		if !retry.Sleep(ctx, wait) {
			return
		}
	}
}

// noBucket takes in a bucket that does not exist: no list, every own
// zone writable, unless a list was read before (a bucket deleted by
// hand): that list stays.
func (g *Gate) noBucket(wait time.Duration) {
	g.mu.Lock()
	fromList := g.fromList
	g.mu.Unlock()
	if fromList {
		g.log.Warn().Dur("retry_in", wait).Msg("zone list bucket gone; keeping the zone list last read")
		g.settle()
		return
	}
	g.log.Debug().Dur("retry_in", wait).Msg("no zone list bucket yet: every --zone is writable")
	g.update(nil)
}

func (g *Gate) failed(err error, wait time.Duration) {
	g.mu.Lock()
	fromList := g.fromList
	g.mu.Unlock()
	ev := g.log.Warn().Err(err).Dur("retry_in", wait)
	if fromList {
		ev.Msg("zone list unavailable; keeping the zone list last read")
	} else {
		ev.Strs("zones", g.own).Msg("zone list unavailable and never read; every --zone is writable until it is read")
	}
	g.settle()
}

func (g *Gate) settle() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.isSet {
		g.isSet = true
		close(g.settled)
	}
}

// update takes in the list as read now (nil: no bucket).
func (g *Gate) update(l *zonelist.List) {
	writable, unlisted := zonelist.Writable(g.own, l)
	set := map[string]bool{}
	for _, z := range writable {
		set[z] = true
	}
	g.mu.Lock()
	first := !g.known
	before := g.unlisted
	g.known, g.unlisted = true, unlisted
	g.fromList = g.fromList || l != nil
	g.logBadLocked(l)
	g.mu.Unlock()

	old := *g.writable.Load()
	g.writable.Store(&set)
	g.zones.WithLabelValues("writable").Set(float64(len(writable)))
	g.zones.WithLabelValues("unlisted").Set(float64(len(unlisted)))
	g.read.Set(1)
	switch {
	case first && !l.InUse():
		g.log.Info().Strs("writable", writable).Msg("no zone list in use (no bucket, or an empty one): every --zone is writable")
	case first:
		ev := g.log.Info().Strs("writable", writable)
		if len(unlisted) > 0 {
			ev = g.log.Warn().Strs("writable", writable).Strs("unlisted", unlisted)
		}
		ev.Msg("zone list read: records are written only into the zones of the flags that it lists")
	default:
		for _, z := range writable {
			if !old[z] {
				g.log.Info().Str("zone", z).Msg("zone listed: records there are written")
			}
		}
		for _, z := range unlisted {
			if !slices.Contains(before, z) {
				g.log.Warn().Str("zone", z).Msg("zone not in the fleet's zone list: records there are refused")
			}
		}
	}
	if !sameSet(old, set) {
		select {
		case g.changes <- struct{}{}:
		default:
		}
	}
	g.settle()
}

// logBadLocked logs, once per change, the own zones whose entry does not
// read: they are refused until it is fixed.
func (g *Gate) logBadLocked(l *zonelist.List) {
	bad := map[string]string{}
	if l != nil {
		for key, why := range l.Bad {
			z, err := zonelist.ZoneOfKey(key)
			if err != nil || !slices.Contains(g.own, z) {
				continue
			}
			bad[z] = why
			if g.bad[z] != why {
				g.log.Error().Str("zone", z).Str("error", why).Msg("zone list entry does not read: records in its zone are refused")
			}
		}
	}
	g.bad = bad
}

func sameSet(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}
