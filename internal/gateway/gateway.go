// Package gateway is zonecast-gateway's shell: it keeps the desired state of
// its zones from the record stream, answers RFC 2136 UPDATEs signed with
// TSIG and dyndns2 requests, and publishes the resulting RRsets. Evaluation
// is in internal/dnsupdate; keys and hosts in internal/gwstore.
package gateway

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/time/rate"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/dnsupdate"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/gwstore"
	"github.com/zonecast/zonecast/internal/rrset"
)

// Publisher stores record messages durably (bus.Publisher).
type Publisher interface {
	Publish(ctx context.Context, m events.Message, ttl time.Duration) (uint64, error)
}

// Directory looks up keys and hosts (gwstore.Cache).
type Directory interface {
	Key(name string) (gwstore.Key, bool)
	Host(name string) (gwstore.Host, bool)
}

// Config configures a Gateway.
type Config struct {
	Zones          []string // canonical
	Prefix         string   // subject prefix, default events.DefaultSubjectPrefix
	Publisher      Publisher
	Directory      Directory
	Metrics        *Metrics
	Log            zerolog.Logger
	PublishTimeout time.Duration // default 5s
	// DyndnsRate and DyndnsBurst limit dyndns updates per host name.
	DyndnsRate  rate.Limit // default one per 10 s
	DyndnsBurst int        // default 3
	Now         func() time.Time
}

// Gateway is the state and handlers of one zonecast-gateway.
type Gateway struct {
	cfg Config
	log zerolog.Logger
	m   *Metrics

	// mu serialises every change: an update is evaluated, published and
	// folded into idx before the next one is evaluated, so prerequisites
	// see the changes acknowledged before them.
	mu  sync.Mutex
	idx *dnsupdate.Index

	limMu    sync.Mutex
	limiters map[string]*rate.Limiter
}

// New returns a gateway with an empty state.
func New(cfg Config) *Gateway {
	if cfg.Prefix == "" {
		cfg.Prefix = events.DefaultSubjectPrefix
	}
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = 5 * time.Second
	}
	if cfg.DyndnsRate == 0 {
		cfg.DyndnsRate = rate.Every(10 * time.Second)
	}
	if cfg.DyndnsBurst <= 0 {
		cfg.DyndnsBurst = 3
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	return &Gateway{cfg: cfg, log: cfg.Log.With().Str("component", "gateway").Logger(), m: cfg.Metrics,
		idx: dnsupdate.NewIndex(), limiters: map[string]*rate.Limiter{}}
}

// Filters returns the stream filters of the gateway's zones.
func (g *Gateway) Filters() []string { return events.ZoneFilters(g.cfg.Prefix, g.cfg.Zones) }

// Observe folds one delivery of the record stream into the state
// (bus.FollowConfig.Handle).
func (g *Gateway) Observe(d bus.Delivery) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.observeLocked(d)
	g.m.rrsets.Set(float64(g.idx.Len()))
	g.m.streamSeq.Set(float64(d.Seq))
}

func (g *Gateway) observeLocked(d bus.Delivery) {
	key, origin, err := events.ParseSubject(g.cfg.Prefix, d.Subject)
	if err != nil {
		return // not a record subject: nothing it could name is desired
	}
	if d.Removed || (!d.Expires.IsZero() && !d.Expires.After(g.cfg.Now())) {
		g.idx.Withdraw(key, origin)
		return
	}
	m, err := events.DecodeWithSubject(g.cfg.Prefix, d.Subject, d.Data)
	if err != nil {
		// An invalid message replaced the previous one: as syncers do,
		// treat it as a tombstone.
		g.idx.Withdraw(key, origin)
		return
	}
	g.idx.Apply(m)
}

// commit publishes msgs (already evaluated under g.mu, which the caller
// holds) and folds them into the state. Messages are published one by one;
// JetStream has no transaction over several subjects, so if one fails
// after others were stored, those stay stored and are folded in: the error
// says how many.
func (g *Gateway) commitLocked(ctx context.Context, msgs []events.Message, lease time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, g.cfg.PublishTimeout)
	defer cancel()
	for i, m := range msgs {
		if _, err := g.cfg.Publisher.Publish(ctx, m, lease); err != nil {
			g.m.publishErrors.Inc()
			return fmt.Errorf("publishing %s %s (%d of %d stored before): %w", m.Name, m.Type, i, len(msgs), err)
		}
		g.idx.Apply(m)
		g.m.published.Inc()
	}
	return nil
}

// own returns the origin's contribution to key.
func (g *Gateway) ownLocked(key rrset.Key, origin string) rrset.Contribution {
	return g.idx.Contributions(key)[origin]
}

func (g *Gateway) limiter(host string) *rate.Limiter {
	g.limMu.Lock()
	defer g.limMu.Unlock()
	l, ok := g.limiters[host]
	if !ok {
		l = rate.NewLimiter(g.cfg.DyndnsRate, g.cfg.DyndnsBurst)
		g.limiters[host] = l
	}
	return l
}

// zoneOf returns the gateway zone of a canonical name.
func (g *Gateway) zoneOf(name string) (string, bool) { return rrset.ZoneOf(name, g.cfg.Zones) }

// Zones returns the zones served.
func (g *Gateway) Zones() []string { return slices.Clone(g.cfg.Zones) }
