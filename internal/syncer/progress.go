package syncer

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Progress is what the writer has done so far: the zones' applied
// positions and bookkeeping, for the node's status, the healer and the
// applied reports. It is a copy, safe to keep.
type Progress struct {
	Zones map[string]ZoneProgress
	// Desired counts the RRsets of the desired state.
	Desired int
	// LastReconcile is when the last full reconciliation completed (zero:
	// none yet).
	LastReconcile time.Time
	// Reachable is false while PowerDNS fails the calls made of it.
	Reachable bool
}

// ZoneProgress is one zone's part of Progress.
type ZoneProgress struct {
	// Seq: every change of the zone up to this stream sequence is written,
	// or needed no write (SeqSet false: none yet).
	Seq    uint64
	SeqSet bool
	// Serial is the SOA serial of the last PATCH PowerDNS took from this
	// process (SerialSet false: none yet).
	Serial    uint32
	SerialSet bool
	Owned     int // RRsets zonecast owns in the zone
	Drift     int // RRsets the last full reconciliation had to write
	Conflicts int // desired RRsets a foreign RRset blocks
	Held      int // deletions the safety valve holds
}

// progress keeps Progress and the metrics that mirror it in step; a
// position change wakes the waiters of Changed (the applied reports).
type progress struct {
	m *Metrics

	mu        sync.Mutex
	zones     map[string]*ZoneProgress
	reconcile time.Time
	changed   chan struct{} // closed at the next position change

	desired   atomic.Int64
	reachable atomic.Bool
}

func newProgress(m *Metrics) *progress {
	// Not reachable until a call of PowerDNS succeeds, as the gauge says.
	return &progress{m: m, zones: map[string]*ZoneProgress{}, changed: make(chan struct{})}
}

// zone returns z's entry; the caller holds p.mu.
func (p *progress) zone(z string) *ZoneProgress {
	zp, ok := p.zones[z]
	if !ok {
		zp = &ZoneProgress{}
		p.zones[z] = zp
	}
	return zp
}

// moved wakes the waiters of Changed; the caller holds p.mu.
func (p *progress) moved() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// landed records a written batch of zone: its SOA serial, if it carried
// one, and the stream sequence it brought the zone to, if it did. Both
// move in one step, so that no reader sees the serial of one and the
// sequence of the other.
func (p *progress) landed(zone string, seq uint64, seqKnown bool, serial uint32, wroteSOA bool) {
	if !seqKnown && !wroteSOA {
		return
	}
	if wroteSOA {
		p.m.ZoneSerial.WithLabelValues(zone).Set(float64(serial))
	}
	if seqKnown {
		p.m.ZoneSeq.WithLabelValues(zone).Set(float64(seq))
	}
	p.mu.Lock()
	zp := p.zone(zone)
	if wroteSOA {
		// The batch's sequence, as the serial of an unsigned zone: what
		// the applied sequence is derived from (a signed zone's serial
		// is the signer's, the metric's).
		zp.Serial, zp.SerialSet = Serial(seq), true
	}
	if seqKnown {
		zp.Seq, zp.SeqSet = seq, true
	}
	p.moved()
	p.mu.Unlock()
}

// setSeq records that zone's changes up to stream sequence seq are
// applied (or need no write).
func (p *progress) setSeq(zone string, seq uint64) {
	p.m.ZoneSeq.WithLabelValues(zone).Set(float64(seq))
	p.mu.Lock()
	zp := p.zone(zone)
	zp.Seq, zp.SeqSet = seq, true
	p.moved()
	p.mu.Unlock()
}

// count sets one of a zone's counts, and the gauge that mirrors it.
func (p *progress) count(g *prometheus.GaugeVec, zone string, n int, field func(*ZoneProgress) *int) {
	g.WithLabelValues(zone).Set(float64(n))
	p.mu.Lock()
	*field(p.zone(zone)) = n
	p.mu.Unlock()
}

func (p *progress) setOwned(zone string, n int) {
	p.count(p.m.OwnedRRsets, zone, n, func(z *ZoneProgress) *int { return &z.Owned })
}

func (p *progress) setDrift(zone string, n int) {
	p.count(p.m.ReconcileDrift, zone, n, func(z *ZoneProgress) *int { return &z.Drift })
}

func (p *progress) setConflicts(zone string, n int) {
	p.count(p.m.Conflicts, zone, n, func(z *ZoneProgress) *int { return &z.Conflicts })
}

func (p *progress) setHeld(zone string, n int) {
	p.count(p.m.HeldDeletions, zone, n, func(z *ZoneProgress) *int { return &z.Held })
}

// forget drops zone's entry and the gauges of its counts and positions:
// a zone the syncer no longer has.
func (p *progress) forget(zone string) {
	for _, g := range []*prometheus.GaugeVec{p.m.OwnedRRsets, p.m.ReconcileDrift, p.m.Conflicts, p.m.HeldDeletions,
		p.m.ZoneSeq, p.m.ZoneSerial} {
		g.DeleteLabelValues(zone)
	}
	p.mu.Lock()
	delete(p.zones, zone)
	p.moved()
	p.mu.Unlock()
}

func (p *progress) setDesired(n int) {
	p.m.DesiredRRsets.Set(float64(n))
	p.desired.Store(int64(n))
}

func (p *progress) setReachable(ok bool) {
	reach := 0.0
	if ok {
		reach = 1
	}
	p.m.PDNSReachable.Set(reach)
	p.reachable.Store(ok)
}

func (p *progress) reconciled(now time.Time) {
	p.m.LastReconcile.Set(float64(now.UnixNano()) / 1e9)
	p.mu.Lock()
	p.reconcile = now
	p.mu.Unlock()
}

func (p *progress) snapshot() Progress {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := Progress{Zones: make(map[string]ZoneProgress, len(p.zones)), Desired: int(p.desired.Load()),
		LastReconcile: p.reconcile, Reachable: p.reachable.Load()}
	for z, zp := range p.zones {
		out.Zones[z] = *zp
	}
	return out
}

// positions returns the applied sequences and written serials by zone.
func (p *progress) positions() (map[string]uint64, map[string]uint32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	seq, serial := make(map[string]uint64, len(p.zones)), make(map[string]uint32, len(p.zones))
	for z, zp := range p.zones {
		if zp.SeqSet {
			seq[z] = zp.Seq
		}
		if zp.SerialSet {
			serial[z] = zp.Serial
		}
	}
	return seq, serial
}

func (p *progress) changedChan() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed
}

// Progress returns a copy of what the writer has done so far. Safe from
// any goroutine.
func (s *Syncer) Progress() Progress { return s.prog.snapshot() }

// Positions returns, by zone, the stream sequence up to which changes are
// applied and the SOA serial PowerDNS last took from this process; a zone
// is missing from a map until it has one. Safe from any goroutine.
func (s *Syncer) Positions() (seq map[string]uint64, serial map[string]uint32) {
	return s.prog.positions()
}

// Changed returns a channel that is closed at the next change of
// Positions.
func (s *Syncer) Changed() <-chan struct{} { return s.prog.changedChan() }

// ObserveReadFailed counts a failed read of PowerDNS made by another
// reader (the healer's SOA reads) with the writer's failed calls.
func (s *Syncer) ObserveReadFailed() { s.m.PDNSErrors.WithLabelValues("transient").Inc() }

// ObserveReachable records what another reader of PowerDNS (the healer's
// SOA reads) found: an idle writer makes no call that would notice
// PowerDNS gone.
func (s *Syncer) ObserveReachable(ok bool) { s.prog.setReachable(ok) }
