// Package reap records in the stream that a lease has ended: for every
// contribution whose lease a syncer has just ended, it publishes the
// tombstone that the stream itself does not leave behind.
//
// The record stream drops an expired message without a marker (markers
// would need roll-ups, which any publisher could abuse to purge the whole
// stream; see internal/bus). Readers end the contribution on their own
// clock (internal/lease), and the tombstone makes the end a stream message
// with a sequence: every node then moves the zone's SOA serial to it, and
// readers that follow the stream see the withdrawal like any other.
//
// Every syncer of a fleet reaps, after a random delay, with compare-and-set
// on the subject's last message: only a subject that still holds the
// expired message, or nothing, gets the tombstone, so the first syncer
// wins, the others find it and stop, and a publisher that renewed its
// lease in the meantime is never overwritten.
package reap

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/lease"
)

// Publisher stores a tombstone if the subject's last message is last.
type Publisher interface {
	PublishIf(ctx context.Context, m events.Message, lease time.Duration, last uint64) (uint64, error)
}

// Margin is how long past its end, by the reaper's clock, a lease must be
// before the reaper replaces a message the stream still holds: the bound
// on how far a syncer's clock may run ahead of the stream leader's.
const Margin = 5 * time.Second

// Config configures a Reaper.
type Config struct {
	Prefix string // subject prefix, default events.DefaultSubjectPrefix
	// Last reads what the record stream holds on a subject (bus.LastOf).
	Last      func(ctx context.Context, subject string) (bus.Last, error)
	Publisher Publisher
	// Jitter bounds the random delay before a batch of ended leases is
	// reaped, so that the syncers of a fleet do not all try at once.
	Jitter  time.Duration
	Timeout time.Duration // bound of one reap's requests, default 5s
	Now     func() time.Time
	Log     zerolog.Logger
}

// Reaper publishes the tombstones of ended leases.
type Reaper struct {
	cfg Config
	m   *prometheus.CounterVec
	log zerolog.Logger

	mu    sync.Mutex
	queue []due
	wake  chan struct{}
}

type due struct {
	at   time.Time
	refs []lease.Ref
}

// New returns a reaper; its metric zonecast_syncer_lease_reaps_total is
// registered on reg.
func New(cfg Config, reg prometheus.Registerer) *Reaper {
	if cfg.Prefix == "" {
		cfg.Prefix = events.DefaultSubjectPrefix
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zonecast_syncer_lease_reaps_total",
		Help: "Tombstones for ended leases: stored, superseded (another syncer, or the publisher, came first) or failed."},
		[]string{"result"})
	reg.MustRegister(m)
	return &Reaper{cfg: cfg, m: m, log: cfg.Log.With().Str("component", "reap").Logger(), wake: make(chan struct{}, 1)}
}

// Ended queues refs, whose leases have just ended, to be reaped after the
// jitter. It does not block.
func (r *Reaper) Ended(refs []lease.Ref) {
	var delay time.Duration
	if r.cfg.Jitter > 0 {
		delay = rand.N(r.cfg.Jitter)
	}
	r.mu.Lock()
	r.queue = append(r.queue, due{at: r.cfg.Now().Add(delay), refs: refs})
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run reaps what Ended queues until ctx is done.
func (r *Reaper) Run(ctx context.Context) {
	for {
		batch, wait := r.next()
		if batch != nil {
			r.reapAll(ctx, batch)
			continue
		}
		var timer *time.Timer
		var fire <-chan time.Time
		if wait > 0 {
			timer = time.NewTimer(wait)
			fire = timer.C
		}
		select {
		case <-ctx.Done():
		case <-r.wake:
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

// next returns a batch that is due, or how long until the first one is
// (0: none is queued).
func (r *Reaper) next() ([]lease.Ref, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.cfg.Now()
	first := -1
	for i, d := range r.queue {
		if !d.at.After(now) {
			r.queue = append(r.queue[:i], r.queue[i+1:]...)
			return d.refs, 0
		}
		if first < 0 || d.at.Before(r.queue[first].at) {
			first = i
		}
	}
	if first < 0 {
		return nil, 0
	}
	return nil, r.queue[first].at.Sub(now)
}

// reapAll reaps a batch. After a failure it gives up on the rest of the
// batch: a syncer without the right to publish would otherwise wait out a
// timeout per lease, and another syncer of the fleet, or the zone's next
// change, moves the serial anyway.
func (r *Reaper) reapAll(ctx context.Context, refs []lease.Ref) {
	var later []lease.Ref
	defer func() {
		if len(later) > 0 {
			r.mu.Lock()
			r.queue = append(r.queue, due{at: r.cfg.Now().Add(Margin), refs: later})
			r.mu.Unlock()
		}
	}()
	for i, ref := range refs {
		if ctx.Err() != nil {
			return
		}
		result, err := r.reap(ctx, ref)
		if result == "later" {
			later = append(later, ref)
			continue
		}
		r.m.WithLabelValues(result).Inc()
		if err != nil {
			r.m.WithLabelValues("failed").Add(float64(len(refs) - i - 1))
			r.log.Warn().Err(err).Int("leases", len(refs)-i).
				Msg("could not record ended leases in the stream; their zones' serials move at the next change")
			return
		}
	}
}

// reap publishes the tombstone of ref if the stream still holds its
// expired message, or nothing, on its subject.
func (r *Reaper) reap(ctx context.Context, ref lease.Ref) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	m := events.Message{Version: events.Version, Name: ref.Key.Name, Type: ref.Key.Type, Origin: ref.Origin}
	subject := events.Subject(r.cfg.Prefix, m)
	last, err := r.cfg.Last(ctx, subject)
	if err != nil {
		return "failed", err
	}
	var expect uint64
	if last.Found {
		now := r.cfg.Now()
		if last.LeaseEnd.IsZero() || last.LeaseEnd.After(now) {
			return "superseded", nil // published again, or already reaped
		}
		if now.Sub(last.LeaseEnd) < Margin {
			// Expired by this clock, not dropped by the stream's yet: a
			// clock ahead of the stream's must not end a lease early on
			// every node. Once the stream drops it, any clock will do.
			return "later", nil
		}
		expect = last.Seq // expired long enough, not yet dropped by the stream
	}
	_, err = r.cfg.Publisher.PublishIf(ctx, m, bus.TombstoneTTL, expect)
	switch {
	case errors.Is(err, bus.ErrWrongLastSequence):
		return "superseded", nil
	case err != nil:
		return "failed", err
	}
	r.log.Debug().Str("name", ref.Key.Name).Str("type", ref.Key.Type).Str("origin", ref.Origin).Msg("recorded ended lease")
	return "stored", nil
}
