package signerd

import (
	"cmp"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/cli"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/health"
	"github.com/zonecast/zonecast/internal/retry"
	"github.com/zonecast/zonecast/internal/rrset"
	"github.com/zonecast/zonecast/internal/signer"
	"github.com/zonecast/zonecast/internal/status"
)

// Publisher stores one atomic batch of the signer's messages.
type Publisher interface {
	PublishAtomic(ctx context.Context, msgs []events.Message) (uint64, error)
}

// Config is what Run signs and where it reads and publishes.
type Config struct {
	Signers      []*signer.Signer // one per zone
	Origin       string           // the signer's origin id: its subjects
	Stream       string
	Prefix       string // record events (the sources')
	SignedPrefix string // the signer's subjects
	// RefreshEvery is how often the signatures are checked for ones due
	// to be made again (signer.Config.Refresh says which).
	RefreshEvery time.Duration
	// Keys holds the zones' keys, read again at each refresh check, at
	// the next step of their timing, and on Reload; ZSKLifetime (0:
	// never) schedules ZSK rollovers with Rollover's timing.
	Keys        KeyStore
	ZSKLifetime time.Duration
	Rollover    signer.Rollover
	Reload      <-chan struct{}
	// Status, when set, publishes the signer's status (as Origin's key
	// of the status bucket) every StatusEvery (default
	// DefaultStatusEvery); Version goes in it.
	Status      func(ctx context.Context, n status.Node) error
	StatusEvery time.Duration
	Version     string
	Metrics     *Metrics
	Ready       *health.Ready
	Log         zerolog.Logger
	Now         func() time.Time // nil: time.Now
}

// DefaultSOAEvery paces the SOA of a zone under a stream of changes (see
// signer.Config.SOAEvery): a second behind the last change at most.
const DefaultSOAEvery = time.Second

// DefaultRefreshEvery checks the signatures each minute: cheap next to
// the refresh horizon (days), and spreads re-signing in small rounds.
const DefaultRefreshEvery = time.Minute

// publishRetry spaces the attempts at a batch the stream did not take
// (NATS down, stream unavailable): a batch is never dropped, and what
// was signed after it waits behind it, in order.
var publishRetry = retry.Backoff{Min: 200 * time.Millisecond, Max: 30 * time.Second, Jitter: 0.2}

// Run replays what the signer published before (its signatures that stay
// valid are kept), follows the record stream of the zones, and publishes
// their signed changes until ctx ends (then it returns nil) or the stream
// is gone.
func Run(ctx context.Context, js jetstream.JetStream, pub Publisher, cfg Config) error {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Log.With().Str("component", "signer").Logger()
	st := newState(cfg.Prefix, cfg.Signers)

	cfg.Ready.NotReady("replaying what this signer published")
	published, n, err := replayPublished(ctx, js, cfg, st.order)
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return nil
	}
	st.adopt(published, cfg.Now())
	log.Info().Int("rrsets", n).Msg("replayed the signed zones published before")

	cfg.Ready.NotReady("replaying the record stream")
	in := &inbox{wake: make(chan struct{}, 1)}
	g, gctx := cli.NewGroup(ctx)
	defer g.Stop()
	g.Go(func() error {
		err := bus.Follow(gctx, js, bus.FollowConfig{Stream: cfg.Stream, Filters: events.ZoneFilters(cfg.Prefix, st.order),
			Handle: in.put, Ready: in.replayed, Log: log})
		if err != nil {
			return fmt.Errorf("following the record stream: %w", err)
		}
		return nil
	})
	loop(gctx, st, in, pub, cfg, log)
	return g.Err(nil)
}

// replayPublished reads back the signer's own subjects of the zones: the
// signed RRsets an earlier run published, by zone.
func replayPublished(ctx context.Context, js jetstream.JetStream, cfg Config, zones []string) (map[string][]rrset.Set, int, error) {
	last := map[rrset.Key]rrset.Set{}
	rctx, done := context.WithCancel(ctx)
	defer done()
	var filters []string
	for _, z := range zones {
		filters = append(filters, events.OriginFilter(cfg.SignedPrefix, cfg.Origin, z))
	}
	err := bus.Follow(rctx, js, bus.FollowConfig{Stream: cfg.Stream, Filters: filters, Log: cfg.Log,
		Handle: func(d events.Delivery) {
			msg, err := events.DecodeSignedWithSubject(cfg.SignedPrefix, d.Subject, d.Data)
			if err != nil || d.Removed {
				// Signed again from scratch: the syncers refuse it too.
				if key, _, perr := events.ParseSignedSubject(cfg.SignedPrefix, d.Subject); perr == nil {
					delete(last, key)
				}
				return
			}
			if msg.Tombstone() {
				delete(last, msg.Key())
				return
			}
			last[msg.Key()] = rrset.Set{Key: msg.Key(), TTL: msg.TTL, Records: msg.Records}
		},
		Ready: done})
	if err != nil {
		return nil, 0, fmt.Errorf("replaying the signed zones: %w", err)
	}
	out := map[string][]rrset.Set{}
	for k, set := range last {
		if zone, ok := rrset.ZoneOf(k.Name, zones); ok {
			out[zone] = append(out[zone], set)
		}
	}
	return out, len(last), nil
}

// inbox hands deliveries from the follower's goroutine to the loop's
// without ever blocking the follower.
type inbox struct {
	mu    sync.Mutex
	ds    []events.Delivery
	ready bool // the record stream's replay is complete
	wake  chan struct{}
}

func (in *inbox) put(d events.Delivery) {
	in.mu.Lock()
	in.ds = append(in.ds, d)
	in.mu.Unlock()
	in.poke()
}

func (in *inbox) replayed() {
	in.mu.Lock()
	in.ready = true
	in.mu.Unlock()
	in.poke()
}

func (in *inbox) poke() {
	select {
	case in.wake <- struct{}{}:
	default:
	}
}

// take returns what arrived since the last take, and whether the replay
// is complete.
func (in *inbox) take(buf []events.Delivery) ([]events.Delivery, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	buf = append(buf[:0], in.ds...)
	clear(in.ds)
	in.ds = in.ds[:0]
	return buf, in.ready
}

// loop folds deliveries, and signs and publishes what they changed once
// the replay is complete; between deliveries it refreshes signatures and
// ends leases. Deliveries that arrive while it publishes are signed
// together next: the busier the stream, the larger the rounds.
func loop(ctx context.Context, st *state, in *inbox, pub Publisher, cfg Config, log zerolog.Logger) {
	every := cfg.RefreshEvery
	if every <= 0 {
		every = DefaultRefreshEvery
	}
	refresh := time.NewTicker(every)
	defer refresh.Stop()
	lease := time.NewTimer(time.Hour)
	defer lease.Stop()
	keyTimer := time.NewTimer(time.Hour)
	defer keyTimer.Stop()
	soaTimer := time.NewTimer(time.Hour)
	defer soaTimer.Stop()
	kw := &keyWatch{store: cfg.Keys, lifetime: cfg.ZSKLifetime, rollover: cfg.Rollover,
		current: map[string]signer.KeySet{}, states: map[string][]status.Key{}, next: map[string]time.Time{},
		metrics: cfg.Metrics, log: log}
	statusEvery := cmp.Or(cfg.StatusEvery, DefaultStatusEvery)
	statusTick := time.NewTicker(statusEvery)
	defer statusTick.Stop()
	started, statusFailing := cfg.Now(), false
	// checkKeys reads the keys again and publishes what their timing
	// changes; false once ctx ended.
	checkKeys := func() bool {
		changes, next, errs := kw.check(st, cfg.Now())
		for _, err := range errs {
			cfg.Metrics.SignErrors.Inc()
			log.Error().Err(err).Msg("checking the zone keys failed; signing on with the keys in use")
		}
		if !next.IsZero() {
			keyTimer.Reset(max(next.Sub(cfg.Now()), 0))
		}
		return publish(ctx, pub, changes, cfg, log) == nil
	}
	if !checkKeys() {
		return
	}
	var buf []events.Delivery
	ready := false
	for {
		ds, nowReady := in.take(buf)
		buf = ds
		now := cfg.Now()
		for _, d := range ds {
			out, err := st.fold(d, now)
			cfg.Metrics.folded(out)
			if err != nil {
				log.Warn().Err(err).Str("subject", d.Subject).Uint64("seq", d.Seq).Msg("rejected record event")
			}
		}
		st.expire(now)
		if nowReady && !ready {
			ready = true
			log.Info().Int("rrsets", st.desired.Len()).Msg("record stream replayed; signing the zones")
		}
		if ready {
			changes, errs := st.sign(now)
			for _, err := range errs {
				cfg.Metrics.SignErrors.Inc()
				log.Error().Err(err).Msg("signing failed; the zone's changes are signed again with the next")
			}
			if publish(ctx, pub, changes, cfg, log) != nil {
				return // ctx ended
			}
			cfg.Metrics.observe(st)
			cfg.Ready.Set()
		}
		if at, ok := st.nextExpiry(); ok {
			lease.Reset(max(time.Until(at), 0))
		}
		if at, ok := st.soaDue(); ok {
			soaTimer.Reset(max(at.Sub(cfg.Now()), 0))
		}
		select {
		case <-ctx.Done():
			return
		case <-in.wake:
		case <-lease.C:
		case <-soaTimer.C:
			changes, errs := st.flushSOA(cfg.Now())
			for _, err := range errs {
				cfg.Metrics.SignErrors.Inc()
				log.Error().Err(err).Msg("signing the SOA failed; tried again with the next change")
			}
			if publish(ctx, pub, changes, cfg, log) != nil {
				return
			}
		case <-statusTick.C:
			putStatus(ctx, cfg, statusOf(st, kw, cfg, started, cfg.Now(), ready), &statusFailing)
		case <-keyTimer.C:
			if !checkKeys() {
				return
			}
		case <-cfg.Reload:
			log.Info().Msg("reading the zone keys again")
			if !checkKeys() {
				return
			}
		case <-refresh.C:
			if !ready {
				continue
			}
			if !checkKeys() {
				return
			}
			changes, errs := st.refresh(cfg.Now())
			for _, err := range errs {
				cfg.Metrics.SignErrors.Inc()
				log.Error().Err(err).Msg("refreshing signatures failed; tried again at the next check")
			}
			if publish(ctx, pub, changes, cfg, log) != nil {
				return
			}
			cfg.Metrics.observe(st)
		}
	}
}

// publish stores each zone's change as atomic batches, in order, trying
// a batch again until the stream takes it; it returns an error only when
// ctx ends.
func publish(ctx context.Context, pub Publisher, changes []zoneChange, cfg Config, log zerolog.Logger) error {
	for _, ch := range changes {
		bs := batches(ch.Change, cfg.Origin, bus.MaxBatch)
		for i, b := range bs {
			b = publishable(b, ch.zone, cfg.Metrics, log)
			for attempt := 0; len(b) > 0; attempt++ {
				_, err := pub.PublishAtomic(ctx, b)
				if err == nil {
					cfg.Metrics.Published.Add(float64(len(b)))
					break
				}
				if ctx.Err() != nil {
					return ctx.Err()
				}
				cfg.Metrics.PublishErrors.Inc()
				d := publishRetry.Delay(attempt)
				log.Error().Err(err).Str("zone", ch.zone).Int("batch", i+1).Int("batches", len(bs)).
					Int("messages", len(b)).Dur("retry_in", d).Msg("publishing signed rrsets failed; trying again")
				if !retry.Sleep(ctx, d) {
					return ctx.Err()
				}
			}
		}
		cfg.Metrics.Serial.WithLabelValues(ch.zone).Set(float64(uint32(ch.serial)))
		log.Debug().Str("zone", ch.zone).Uint64("serial", ch.serial).Int("upserts", len(ch.Upserts)).
			Int("deletes", len(ch.Deletes)).Int("batches", len(bs)).Msg("published signed change")
	}
	return nil
}

// publishable returns the messages of b that the stream can take: one
// that fails validation (an RRset merged from many sources beyond
// events.MaxRecords, say) never will, and would hold up every change
// behind it. It is left out, logged and counted; the nameservers keep
// what they served of it.
func publishable(b []events.Message, zone string, m *Metrics, log zerolog.Logger) []events.Message {
	out := b[:0:0]
	for _, msg := range b {
		if _, err := events.ValidateSigned(msg); err != nil {
			m.Unpublishable.Inc()
			log.Error().Err(err).Str("zone", zone).Str("name", msg.Name).Str("type", msg.Type).
				Msg("a signed rrset the stream cannot take; left out")
			continue
		}
		out = append(out, msg)
	}
	return out
}
