// Package gateway is zonecast-gateway's shell: it keeps the desired state of
// its zones from the record stream, answers RFC 2136 UPDATEs signed with
// TSIG and dyndns2 requests, and publishes the resulting RRsets. Evaluation
// is in internal/dnsupdate; keys and hosts in internal/gwstore.
package gateway

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/time/rate"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/claim"
	"github.com/zonecast/zonecast/internal/dnsupdate"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/gwstore"
	"github.com/zonecast/zonecast/internal/rrset"
	"github.com/zonecast/zonecast/internal/sig0"
)

// Directory looks up keys and hosts (gwstore.Cache).
type Directory interface {
	Key(name string) (gwstore.Key, bool)
	Host(name string) (gwstore.Host, bool)
	// Dependents returns the hosts whose PrefixFrom is name.
	Dependents(name string) []gwstore.Host
}

// Config configures a Gateway.
type Config struct {
	Zones          []string // canonical
	Prefix         string   // subject prefix, default events.DefaultSubjectPrefix
	Publisher      Publisher
	Directory      Directory
	Metrics        *Metrics
	Log            zerolog.Logger
	PublishTimeout time.Duration // wait for an acknowledgement, default 5s
	// Confirmer, when set, holds the answer until the syncers applied the
	// change (--confirm all|any, confirm.go).
	Confirmer Confirmer
	// DyndnsRate and DyndnsBurst limit dyndns updates per host name.
	DyndnsRate  rate.Limit // default one per 10 s
	DyndnsBurst int        // default 3
	// LogLimits bounds the refusals logged one by one, per source and in
	// all (lograte.go); the metrics count every one.
	LogLimits LogLimits
	Now       func() time.Time // the clock of leases and log limits
	// Claims, when set, makes its zones claim zones: names there are
	// claimed with SIG(0) (claims.go), the claims kept in ClaimStore and
	// cached and counted per subnet by ClaimCount. Its zones must be
	// among Zones.
	Claims     *claim.Policy
	ClaimStore ClaimStore
	ClaimCount ClaimCache
	// Last reads what the record stream holds on a subject (bus.LastOf):
	// after another gateway wrote a subject first, the update is
	// evaluated again on that. Nil: such an update fails (SERVFAIL).
	Last func(ctx context.Context, subject string) (bus.Last, error)
	// History, when set, keeps the last changes of each dyndns host
	// (hosts.go).
	History HistoryStore
	// ZoneList, when set, is the fleet's zone list: records go only into
	// the zones of Zones it lists (listed.go). Nil: every zone of Zones.
	ZoneList ZoneList
}

// Gateway is the state and handlers of one zonecast-gateway.
type Gateway struct {
	cfg   Config
	log   zerolog.Logger
	ddlog zerolog.Logger // the dyndns side's
	m     *Metrics

	dnsRefusals, dyndnsRefusals *refusalLog

	tsig    *tsigProvider
	capture *sig0.Capture // the bytes of SIG(0)-signed messages, for their check

	// mu guards the desired state: updates are evaluated, sent and folded
	// into idx one at a time, then acknowledged outside it (commit.go).
	mu           sync.Mutex
	settled      *sync.Cond // broadcast when a message in flight is resolved
	idx          *dnsupdate.Index
	tracks       map[subject]*track
	pendingKeys  map[rrset.Key]int // messages in flight per RRset
	pendingNames map[string]int    // messages in flight per name
	delivered    uint64            // stream sequence of the last delivery followed
	// seen and changed follow the hosts' records in the stream, for
	// HostState.Changed (hosts.go): the records last delivered per
	// subject, and when each host origin's last changed.
	seen    map[subject]seenRecords
	changed map[string]time.Time

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
	g := &Gateway{cfg: cfg, log: cfg.Log.With().Str("component", "gateway").Logger(), m: cfg.Metrics,
		ddlog:       cfg.Log.With().Str("component", "dyndns").Logger(),
		dnsRefusals: newRefusalLog(cfg.LogLimits), dyndnsRefusals: newRefusalLog(cfg.LogLimits),
		idx: dnsupdate.NewIndex(), tracks: map[subject]*track{}, pendingKeys: map[rrset.Key]int{},
		pendingNames: map[string]int{}, limiters: map[string]*rate.Limiter{},
		seen: map[subject]seenRecords{}, changed: map[string]time.Time{}}
	g.settled = sync.NewCond(&g.mu)
	g.tsig = newTsigProvider(cfg.Directory)
	// The bytes wait for the handler only between the read and the
	// decoding, milliseconds; what the server drops unanswered goes
	// after a minute, and at most 4,096 are kept.
	g.capture = sig0.NewCapture(4096, time.Minute, cfg.Now)
	return g
}

// Filters returns the stream filters of the gateway's zones.
func (g *Gateway) Filters() []string { return events.ZoneFilters(g.cfg.Prefix, g.cfg.Zones) }

// Observe folds one delivery of the record stream into the state
// (bus.FollowConfig.Handle).
func (g *Gateway) Observe(d events.Delivery) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.idx.ExpireDue(g.cfg.Now())
	g.observeLocked(d)
	g.m.rrsets.Set(float64(g.idx.Len()))
	g.m.streamSeq.Set(float64(d.Seq))
}

// own returns the origin's contribution to key.
func (g *Gateway) ownLocked(key rrset.Key, origin string) rrset.Contribution {
	return g.idx.Own(key, origin)
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

// zoneOf returns the gateway zone of a canonical name, false when the name
// is in none or in one the zone list does not hold (listed.go).
func (g *Gateway) zoneOf(name string) (string, bool) {
	z, ok := rrset.ZoneOf(name, g.cfg.Zones)
	return z, ok && g.listed(z)
}

// Zones returns the zones served.
func (g *Gateway) Zones() []string { return slices.Clone(g.cfg.Zones) }
