package syncer

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/pdnsapi"
)

// PowerDNS (4.7) purges a zone's caches when a write to it commits (a
// PATCH: ws-auth.cc patchZone -> purgeAuthCaches(zone + "$")): first its
// packet cache, then its query cache. A query that comes in between misses
// the packet cache, finds the old answer still in the query cache, and
// puts it back in the packet cache, where it is served for cache-ttl
// (20 s). A query whose backend lookup began before the commit can put the
// old answer in the query cache after the purge the same way (rarer).
// Neither cache checks, when it inserts, whether a purge came meanwhile.
// So the zone's caches are flushed once more, lateFlushDelay after the
// zone's last write, from a goroutine of its own: no write waits for it.
// (PUT cache/flush?domain=ZONE purges the zone and every name below it:
// 4.7 appends the "$" itself, and refuses one in the query.) That flush
// purges in the same order, but finds the query cache clean, unless a
// lookup from before the write got into it.
//
// A write purges the whole zone, so in a burst each write also ends what
// the race of the one before left: only the burst's last write needs the
// late flush, and a burst costs one.
//
// A burst across many zones would still cost a flush per zone, each a
// request PowerDNS serves while it takes the burst's next PATCHes, which
// it then takes markedly slower (docs/benchmarks.md). So the
// flushes go in rounds, at least flushGap apart: a round of up to
// flushEach zones flushes them one by one, a larger one flushes all of
// PowerDNS's caches with one request. A zone's flush then comes between
// lateFlushDelay and lateFlushDelay+flushGap after its last write.

// lateFlushDelay is how long after a zone's last write its caches are
// flushed again. The answers put back are those of queries answered across
// the write's purge; such a query is done within a millisecond, or some
// tens of milliseconds when PowerDNS's threads wait for a busy CPU. The
// flush has to come after them, and an answer put back is served until it
// comes.
const lateFlushDelay = 100 * time.Millisecond

// flushGap is the least time between two rounds of flushes, and flushEach
// the most zones a round flushes one by one (see above). Emptying all of
// PowerDNS's caches costs the zones not written a backend lookup per name
// asked next, so a few zones are flushed apart.
const (
	flushGap  = lateFlushDelay / 2
	flushEach = 4
)

// flushTimes keeps when each zone's late flush is due: lateFlushDelay (or
// delay) after its last write. A zone with a write in flight is not
// flushed: that write's commit purges the zone again, and its end makes
// the flush due anew (a write to a large zone outlasts the delay).
type flushTimes struct {
	delay   time.Duration
	due     map[string]time.Time
	writing map[string]int // writes in flight
}

func newFlushTimes(delay time.Duration) *flushTimes {
	return &flushTimes{delay: delay, due: map[string]time.Time{}, writing: map[string]int{}}
}

// begin notes a write to zone in flight; end or wrote ends it.
func (f *flushTimes) begin(zone string) { f.writing[zone]++ }

// end ends a write to zone that changed nothing (it failed).
func (f *flushTimes) end(zone string) {
	if f.writing[zone]--; f.writing[zone] <= 0 {
		delete(f.writing, zone)
	}
}

// wrote ends a write to zone that ended at, and makes the zone's flush
// due a delay after it.
func (f *flushTimes) wrote(zone string, at time.Time) {
	f.end(zone)
	f.due[zone] = at.Add(f.delay)
}

// next returns when the first flush is due.
func (f *flushTimes) next() (time.Time, bool) {
	var first time.Time
	for z, due := range f.due {
		if f.writing[z] == 0 && (first.IsZero() || due.Before(first)) {
			first = due
		}
	}
	return first, !first.IsZero()
}

// take returns the zones whose flush is due at now, sorted, and forgets
// them.
func (f *flushTimes) take(now time.Time) []string {
	var out []string
	for z, due := range f.due {
		if !due.After(now) && f.writing[z] == 0 {
			delete(f.due, z)
			out = append(out, z)
		}
	}
	slices.Sort(out)
	return out
}

// LateFlushConfig configures a LateFlush.
type LateFlushConfig struct {
	Delay   time.Duration // after a zone's last write; default lateFlushDelay
	Gap     time.Duration // least time between two rounds of flushes; default flushGap
	Timeout time.Duration // bound of one flush; default 10 s
	Now     func() time.Time
	Log     zerolog.Logger
}

// LateFlush is a PDNS that flushes PowerDNS's caches of a zone a while
// after the last write to it (see above); everything else passes through.
// Run does the flushes.
type LateFlush struct {
	PDNS
	cfg     LateFlushConfig
	log     zerolog.Logger
	flushes *prometheus.CounterVec
	off     atomic.Bool // PowerDNS's caches are off

	mu    sync.Mutex
	times *flushTimes
	wake  chan struct{}
}

// NewLateFlush returns p with late flushes; its metric
// zonecast_syncer_cache_flushes_total is registered on reg.
func NewLateFlush(p PDNS, cfg LateFlushConfig, reg prometheus.Registerer) *LateFlush {
	if cfg.Delay <= 0 {
		cfg.Delay = lateFlushDelay
	}
	if cfg.Gap <= 0 {
		cfg.Gap = flushGap
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zonecast_syncer_cache_flushes_total",
		Help: "Flushes of PowerDNS's caches of a zone a while after the last write to it, which end old answers a query answered during the write put back: done (ok) or failed."},
		[]string{"result"})
	reg.MustRegister(m)
	m.WithLabelValues("ok")
	m.WithLabelValues("failed")
	return &LateFlush{PDNS: p, cfg: cfg, log: cfg.Log.With().Str("component", "cacheflush").Logger(), flushes: m,
		times: newFlushTimes(cfg.Delay), wake: make(chan struct{}, 1)}
}

// CachesOn tells whether PowerDNS's caches are on (the default). With all
// of them off (query-cache-ttl, negquery-cache-ttl and cache-ttl 0) no
// write is followed by a flush.
func (l *LateFlush) CachesOn(on bool) { l.off.Store(!on) }

// Apply writes, then schedules the zone's late flush.
func (l *LateFlush) Apply(ctx context.Context, zone string, changes, always []pdnsapi.Change) ([]pdnsapi.Rejection, error) {
	l.begin(zone)
	rejected, err := l.PDNS.Apply(ctx, zone, changes, always)
	l.wrote(zone, err)
	return rejected, err
}

// Rectify rectifies (the caller flushes at once), then schedules the
// zone's late flush: a rectify writes empty non-terminals.
func (l *LateFlush) Rectify(ctx context.Context, zone string) error {
	l.begin(zone)
	err := l.PDNS.Rectify(ctx, zone)
	l.wrote(zone, err)
	return err
}

// CreateZone creates the zone, then schedules its late flush: until then
// its names were answered REFUSED, and the packet cache keeps that too.
func (l *LateFlush) CreateZone(ctx context.Context, spec pdnsapi.ZoneSpec) error {
	l.begin(spec.Name)
	err := l.PDNS.CreateZone(ctx, spec)
	l.wrote(spec.Name, err)
	return err
}

// DeleteZone deletes the zone, then schedules its late flush.
func (l *LateFlush) DeleteZone(ctx context.Context, zone string) error {
	l.begin(zone)
	err := l.PDNS.DeleteZone(ctx, zone)
	l.wrote(zone, err)
	return err
}

// begin notes a write to zone in flight.
func (l *LateFlush) begin(zone string) {
	l.mu.Lock()
	l.times.begin(zone)
	l.mu.Unlock()
}

// wrote ends a write to zone and schedules the zone's late flush if it
// succeeded. A failed write is written again, and flushed after that.
func (l *LateFlush) wrote(zone string, err error) {
	l.mu.Lock()
	if err != nil || l.off.Load() {
		l.times.end(zone)
	} else {
		l.times.wrote(zone, l.cfg.Now())
	}
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Run flushes the zones whose late flush is due, in rounds at least Gap
// apart, until ctx is done.
func (l *LateFlush) Run(ctx context.Context) {
	var last time.Time // of the last round
	for {
		l.mu.Lock()
		now := l.cfg.Now()
		var zones []string
		if now.Sub(last) >= l.cfg.Gap {
			zones = l.times.take(now)
		}
		next, ok := l.times.next()
		l.mu.Unlock()
		if len(zones) > 0 {
			l.round(ctx, zones)
			last = now
		}
		var timer *time.Timer
		var fire <-chan time.Time
		if ok {
			timer = time.NewTimer(max(next.Sub(now), last.Add(l.cfg.Gap).Sub(now)))
			fire = timer.C
		}
		select {
		case <-ctx.Done():
		case <-l.wake:
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// round flushes the caches of zones, due together: one by one, or all of
// PowerDNS's caches at once when there are more than flushEach.
func (l *LateFlush) round(ctx context.Context, zones []string) {
	if len(zones) > flushEach {
		l.flush(ctx, pdnsapi.AllZones, len(zones))
		return
	}
	for _, z := range zones {
		l.flush(ctx, z, 1)
	}
}

// flush flushes zone's caches (all of them: pdnsapi.AllZones, for n
// zones); a failure is logged and counted, and the old answers it would
// have ended expire with PowerDNS's cache TTLs.
func (l *LateFlush) flush(ctx context.Context, zone string, n int) {
	fctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	err := l.PDNS.FlushCache(fctx, zone)
	cancel()
	switch {
	case err == nil && zone == pdnsapi.AllZones:
		l.flushes.WithLabelValues("ok").Inc()
		l.log.Debug().Int("zones", n).Msg("flushed all of powerdns's caches after writes to many zones")
	case err == nil:
		l.flushes.WithLabelValues("ok").Inc()
		l.log.Debug().Str("zone", zone).Msg("flushed the zone's caches after writes")
	case ctx.Err() != nil: // stopping
	default:
		l.flushes.WithLabelValues("failed").Inc()
		l.log.Warn().Err(err).Str("zone", zone).Int("zones", n).
			Msg("late cache flush failed: answers from before the last write may be served until powerdns's caches expire")
	}
}
