package monitor

import (
	"context"
	"github.com/zonecast/zonecast/internal/events"
	"maps"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// PositionSource gives the syncer's applied positions (a *syncer.Syncer).
type PositionSource interface {
	Positions() (seq map[string]uint64, serial map[string]uint32)
}

// ChangeSource tells when the positions move (a *syncer.Syncer).
type ChangeSource interface {
	// Changed returns a channel that is closed at the next change of
	// Positions.
	Changed() <-chan struct{}
}

// AppliedSink publishes applied reports on core NATS (a *nats.Conn).
type AppliedSink interface {
	Publish(subject string, data []byte) error
}

// Applied derives, zone by zone, the stream sequence that is in PowerDNS
// from the syncer's positions (see appliedSeqs). The status, the healer
// and the applied reports share one: the derivation remembers what it
// has seen, and two of them could disagree, or one go back on another.
type Applied struct {
	src   PositionSource
	zones []string
	ready <-chan struct{}

	mu   sync.Mutex
	seqs appliedSeqs // guarded by mu
}

// NewApplied returns the derivation for zones (canonical). ready is
// closed once the syncer is ready; nil means ready from the start.
func NewApplied(src PositionSource, zones []string, ready <-chan struct{}) *Applied {
	if ready == nil {
		c := make(chan struct{})
		close(c)
		ready = c
	}
	return &Applied{src: src, zones: zones, ready: ready, seqs: appliedSeqs{seq: map[string]uint64{}}}
}

// Look is one look at the syncer's positions.
type Look struct {
	// Seq is the applied sequence of every zone (0: none yet).
	Seq map[string]uint64
	// Serial is, by zone, the SOA serial of the last PATCH PowerDNS took
	// from this process; a zone without one is missing.
	Serial map[string]uint32
	Ready  bool
}

// Look reads the positions and returns the applied sequences.
func (a *Applied) Look() Look {
	seq, serial := a.src.Positions()
	ready := isClosed(a.ready)
	a.mu.Lock()
	defer a.mu.Unlock()
	return Look{Seq: a.seqs.update(a.zones, seq, serial, ready), Serial: serial, Ready: ready}
}

// Ready returns the channel closed once the syncer is ready.
func (a *Applied) Ready() <-chan struct{} { return a.ready }

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// appliedSeqs derives the applied sequences from the syncer's positions.
// A zone's sequence is set once a batch carrying it is written (or found
// to need no write), its serial (the low 32 bits of a batch's sequence)
// once PowerDNS took the PATCH with that SOA. The applied sequence is the
// last one at or below the zone's sequence whose low 32 bits are its
// serial; a zone whose serial this process never wrote (PowerDNS already
// had it at start) counts from the moment the syncer is ready, and moves
// only with its serial after that. It never goes back.
type appliedSeqs struct{ seq map[string]uint64 }

func (a *appliedSeqs) update(zones []string, seq map[string]uint64, serial map[string]uint32, ready bool) map[string]uint64 {
	out := make(map[string]uint64, len(zones))
	for _, z := range zones {
		s, hasSeq := seq[z]
		ser, hasSerial := serial[z]
		cur, known := a.seq[z]
		switch {
		case !hasSeq:
		case hasSerial:
			if back := uint64(uint32(s) - ser); back <= s && (!known || s-back > cur) {
				a.seq[z] = s - back
			}
		case !known && ready:
			a.seq[z] = s
		}
		out[z] = a.seq[z]
	}
	return out
}

// ReporterConfig configures a Reporter.
type ReporterConfig struct {
	Node    string
	Started time.Time
	Applied *Applied
	Changes ChangeSource
	Sink    AppliedSink
	Subject string
	// Heartbeat is the period of the reports while nothing moves
	// (default 1s): a gateway takes a node it stops hearing from as gone.
	Heartbeat time.Duration
	Log       zerolog.Logger
}

// Reporter publishes applied reports (events.AppliedReport) for the gateways
// running with --confirm: one as soon as a zone's applied sequence
// advances or readiness changes, one every Heartbeat otherwise, and a
// last one with Ready false when it stops.
type Reporter struct {
	cfg ReporterConfig
	log zerolog.Logger
}

// NewReporter returns a reporter.
func NewReporter(cfg ReporterConfig) *Reporter {
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = time.Second
	}
	return &Reporter{cfg: cfg, log: cfg.Log.With().Str("component", "applied").Logger()}
}

// flushTimeout bounds the wait for the last report to leave the
// connection at stop: the process is about to close it.
const flushTimeout = time.Second

// Run publishes reports until ctx is done, then the last one.
func (r *Reporter) Run(ctx context.Context) {
	heartbeat := time.NewTimer(r.cfg.Heartbeat)
	defer heartbeat.Stop()
	ready := r.cfg.Applied.Ready()
	var last map[string]uint64
	var lastReady, sent, beat bool
	for {
		// The channel is taken before the look: a change after the look
		// closes it, and none is missed.
		changed := r.cfg.Changes.Changed()
		l := r.cfg.Applied.Look()
		if !sent || beat || l.Ready != lastReady || !maps.Equal(l.Seq, last) {
			r.send(time.Now(), l.Seq, l.Ready)
			last, lastReady, sent, beat = l.Seq, l.Ready, true, false
			heartbeat.Reset(r.cfg.Heartbeat)
		}
		if lastReady {
			ready = nil // readiness comes once
		}
		select {
		case <-ctx.Done():
			r.send(time.Now(), last, false)
			if f, ok := r.cfg.Sink.(interface{ FlushTimeout(time.Duration) error }); ok {
				if err := f.FlushTimeout(flushTimeout); err != nil {
					r.log.Debug().Err(err).Msg("flushing the last applied report failed")
				}
			}
			return
		case <-changed:
		case <-ready:
		case <-heartbeat.C:
			beat = true
		}
	}
}

func (r *Reporter) send(now time.Time, seqs map[string]uint64, ready bool) {
	b, err := events.EncodeApplied(events.AppliedReport{Node: r.cfg.Node, Time: now.UTC(), Started: r.cfg.Started.UTC(),
		Ready: ready, Applied: seqs})
	if err != nil {
		r.log.Error().Err(err).Msg("encoding applied report")
		return
	}
	if err := r.cfg.Sink.Publish(r.cfg.Subject, b); err != nil {
		r.log.Debug().Err(err).Msg("publishing applied report failed")
	}
}
