package monitor

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/status"
	"github.com/zonecast/zonecast/internal/syncer"
)

// ProgressSource gives the syncer's bookkeeping (a *syncer.Syncer).
type ProgressSource interface {
	Progress() syncer.Progress
}

// StatusSink stores a node's status (a KV bucket: jetstream.KeyValue).
type StatusSink interface {
	Put(ctx context.Context, key string, value []byte) (uint64, error)
}

// StatusConfig configures a Publisher.
type StatusConfig struct {
	Node, Version string
	Stream        string   // the record stream, for status.Node.Stream
	Zones         []string // canonical
	Prefix        string   // subject prefix
	// Signed are the zones served presigned, and SignedPrefix the
	// signer's subject prefix: their filter.
	Signed       []string
	SignedPrefix string
	// Retiring are the zones removed from the zone list the syncer
	// withdraws from: shown as removing while the syncer still has them.
	Retiring []string
	// ZoneList is the bucket of the zone list the node follows (empty:
	// none), for status.Node.ZoneList.
	ZoneList string
	// Interval is the period of status publication (default 5s); a status
	// is also published, at most once per Poll (default 1s), when a zone's
	// applied sequence moves or the syncer becomes ready.
	Interval, Poll time.Duration
	Progress       ProgressSource
	Applied        *Applied
	// Served, when set, returns what the healer last read of PowerDNS.
	// The status asks PowerDNS nothing itself: an API read beside every
	// applied round would compete with the writer for the database.
	Served  func() Served
	Recent  *status.Recent // recent warnings and errors (may be nil)
	Sink    StatusSink     // may be nil: no publication
	Started time.Time
	// StreamAlarm, if set, says whether the record stream looked emptied
	// lately (status.Node.StreamAlarm).
	StreamAlarm func() string
	// StreamHealth, if set, returns the last reading of the record
	// stream's leader and replicas (status.Node.StreamHealth; nil before
	// the first). It must not block (StreamHealth.Last).
	StreamHealth func() *status.Stream
	Log          zerolog.Logger
}

// Publisher takes the node's status and puts it into the status bucket,
// and serves the last one taken on /status.
type Publisher struct {
	cfg StatusConfig
	log zerolog.Logger

	mu   sync.Mutex
	last status.Node // guarded by mu
}

// NewPublisher returns a status publisher.
func NewPublisher(cfg StatusConfig) *Publisher {
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.Prefix == "" {
		cfg.Prefix = events.DefaultSubjectPrefix
	}
	return &Publisher{cfg: cfg, log: cfg.Log.With().Str("component", "status").Logger()}
}

// Last returns the last status taken.
func (p *Publisher) Last() status.Node {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

// ServeHTTP serves the last status as JSON (/status), with the latest
// reading of the stream's health (which carries its own time).
func (p *Publisher) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	n := p.Last()
	if p.cfg.StreamHealth != nil {
		if s := p.cfg.StreamHealth(); s != nil {
			n.StreamHealth = s
		}
	}
	b, err := status.Encode(n)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(b, '\n'))
}

// Run takes and publishes the status whenever one is due (see due),
// looking every Poll, until ctx is done.
func (p *Publisher) Run(ctx context.Context) {
	t := time.NewTicker(p.cfg.Poll)
	defer t.Stop()
	var d due
	for {
		now := time.Now()
		l := p.cfg.Applied.Look()
		if d.at(now, l, p.cfg.Interval) {
			n := p.take(now, l)
			d.put(now, l, p.publish(ctx, n))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// due remembers the last status put, to tell when the next one is due.
type due struct {
	any    bool // a status was put
	last   time.Time
	seq    map[string]uint64
	ready  bool
	failed bool // the bucket did not take it
}

// at reports whether a status is due at now: on the period, and as soon
// as an applied sequence moves or the syncer becomes ready ("starting"
// must not outlive /readyz by a period). A status the bucket did not take
// (its leader being elected) is sent again at the next poll, not a period
// later.
func (d *due) at(now time.Time, l Look, interval time.Duration) bool {
	return !d.any || now.Sub(d.last) >= interval || !maps.Equal(l.Seq, d.seq) || l.Ready != d.ready || d.failed
}

// put records a status of l put at now, stored or not.
func (d *due) put(now time.Time, l Look, stored bool) {
	d.any, d.last, d.seq, d.ready, d.failed = true, now, l.Seq, l.Ready, !stored
}

// take builds the node's status at now from the look l, the syncer's
// progress and the healer's last reads, and keeps it for Last.
func (p *Publisher) take(now time.Time, l Look) status.Node {
	pr := p.cfg.Progress.Progress()
	var served Served
	if p.cfg.Served != nil {
		served = p.cfg.Served()
	}
	n := status.Node{V: status.Version, Node: p.cfg.Node, Time: now.UTC(), Version: p.cfg.Version,
		Stream: p.cfg.Stream, Started: p.cfg.Started.UTC(), Ready: l.Ready, PDNSReachable: pr.Reachable,
		DesiredRRsets: pr.Desired, Heals: served.Heals}
	if !pr.LastReconcile.IsZero() {
		n.LastReconcile = pr.LastReconcile.UTC()
	}
	for _, zone := range p.cfg.Zones {
		zp := pr.Zones[zone]
		z := status.Zone{Zone: zone, Filter: events.ZoneFilter(p.cfg.Prefix, zone), AppliedSeq: l.Seq[zone],
			Owned: zp.Owned, Drift: zp.Drift, Conflicts: zp.Conflicts, Held: zp.Held}
		if slices.Contains(p.cfg.Signed, zone) {
			z.Signed, z.Filter = true, events.ZoneFilter(p.cfg.SignedPrefix, zone)
		}
		n.Zones = append(n.Zones, withServed(z, served.Zones, l.Serial))
	}
	for _, zone := range p.cfg.Retiring {
		if zp, ok := pr.Zones[zone]; ok {
			n.Zones = append(n.Zones, status.Zone{Zone: zone, Removing: true, Owned: zp.Owned, Conflicts: zp.Conflicts, Held: zp.Held})
		}
	}
	n.ZoneList = p.cfg.ZoneList
	if p.cfg.Recent != nil {
		n.Errors = p.cfg.Recent.List()
	}
	if p.cfg.StreamAlarm != nil {
		n.StreamAlarm = p.cfg.StreamAlarm()
	}
	if p.cfg.StreamHealth != nil {
		n.StreamHealth = p.cfg.StreamHealth()
	}
	p.mu.Lock()
	p.last = n
	p.mu.Unlock()
	return n
}

// withServed fills in the serial z's zone serves: what the last read
// found, unless the syncer has applied more since and PowerDNS took the
// PATCH with that sequence's serial (written), which it then serves. A
// status between two reads after a burst would otherwise pair the new
// sequence with the serial read before it.
func withServed(z status.Zone, reads map[string]Read, written map[string]uint32) status.Zone {
	prev, read := reads[z.Zone]
	if read {
		z.Serial, z.SerialKnown, z.Missing = prev.Serial, prev.Known, prev.Missing
	}
	// A signed zone's serial is the signer's: only a read says it.
	if ser, ok := written[z.Zone]; ok && !z.Signed && (!read || prev.Applied != z.AppliedSeq) && ser == uint32(z.AppliedSeq) {
		z.Serial, z.SerialKnown, z.Missing = ser, true, false
	}
	return z
}

// putTimeout bounds one put of the status: during the bucket's election
// nothing answers, and a newer status is sent at the next poll.
const putTimeout = 2 * time.Second

// publish puts n into the status bucket and reports whether it was
// stored (or there is no bucket).
func (p *Publisher) publish(ctx context.Context, n status.Node) bool {
	if p.cfg.Sink == nil {
		return true
	}
	b, err := status.Encode(n)
	if err != nil {
		p.log.Error().Err(err).Msg("encoding status")
		return true // sending it again would not help
	}
	pctx, cancel := context.WithTimeout(ctx, putTimeout)
	defer cancel()
	if _, err := p.cfg.Sink.Put(pctx, p.cfg.Node, b); err != nil {
		if ctx.Err() == nil {
			p.log.Debug().Err(err).Msg("publishing status failed; sending it again at the next poll")
		}
		return false
	}
	return true
}
