// Package syncer applies the desired state rebuilt from the record stream
// to one PowerDNS server. It is the shell around the pure packages, in
// parts:
//
//   - intake.go: stream deliveries into desired.State, marking what changed;
//   - pipeline.go: the write pipeline, one batch in flight while the next
//     is planned, and landing a written batch;
//   - flush.go and reconcile.go: the pipeline's two sources, the marked
//     changes and the full pass of a reconciliation;
//   - ownership.go: claims and releases through owner.Ledger;
//   - hold.go: the safety valve; rectify.go: rectify scheduling;
//   - retire.go: withdrawing from zones removed from the zone list;
//   - progress.go: applied positions for status, healing and applied
//     reports (internal/monitor);
//   - this file: the writer loop that ties them together.
package syncer

import (
	"context"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/lease"
	"github.com/zonecast/zonecast/internal/owner"
	"github.com/zonecast/zonecast/internal/pdnsapi"
	"github.com/zonecast/zonecast/internal/retry"
	"github.com/zonecast/zonecast/internal/rrset"
	"github.com/zonecast/zonecast/internal/valve"
)

// PDNS is what the syncer needs of a PowerDNS server.
type PDNS interface {
	// ZoneNames lists the zones PowerDNS has, canonical.
	ZoneNames(ctx context.Context) ([]string, error)
	Zone(ctx context.Context, zone string) ([]rrset.Set, bool, error)
	// EachRRset reads a zone as Zone does, passing on one RRset at a time,
	// in no particular order; what fn saw counts only without an error.
	EachRRset(ctx context.Context, zone string, fn func(rrset.Set)) (bool, error)
	RRset(ctx context.Context, zone string, key rrset.Key) (rrset.Set, bool, error)
	CreateZone(ctx context.Context, spec pdnsapi.ZoneSpec) error
	DeleteZone(ctx context.Context, zone string) error
	Apply(ctx context.Context, zone string, changes, always []pdnsapi.Change) ([]pdnsapi.Rejection, error)
	owner.Metadata
	Rectify(ctx context.Context, zone string) error
	FlushCache(ctx context.Context, zone string) error
}

// Config configures a Syncer.
type Config struct {
	Zones  []string // canonical zone names
	Prefix string   // subject prefix of record events
	// Signed lists zones (among Zones) served as presigned: their data,
	// signatures, denial records, SOA and apex NS come from the signer's
	// subjects (SignedPrefix, default events.DefaultSignedPrefix) only.
	Signed       []string
	SignedPrefix string
	SOA          SOA
	NS           []string // apex NS records of zones the syncer creates
	// PerZone gives zones of Zones their own SOA template and apex NS
	// (those of the fleet's zone list); the others take SOA and NS.
	PerZone map[string]ZoneConfig
	// Retiring lists zones (not in Zones) removed from the zone list that
	// the syncer withdraws from: it deletes the RRsets it owns there,
	// through the delete limit like any deletion, then the zone itself
	// once nothing but its SOA and apex NS is left (see retire.go). A
	// zone PowerDNS does not have is done with at once.
	Retiring          []string
	BatchDelay        time.Duration // gathering time after the first change of a round
	ReconcileInterval time.Duration // full reconciliation period; 0 disables
	RectifyDelay      time.Duration // delay before rectifying a zone whose names changed
	MaxBackoff        time.Duration // cap of the retry backoff when PowerDNS fails
	WriteTimeout      time.Duration // bound of one round's PowerDNS calls, also at shutdown
	// Claims, if set, logs ownership claims locally before batches are
	// written (owner.WAL); they reach the zone metadata at a checkpoint,
	// CheckpointDelay (default RectifyDelay) after the first, once the
	// writer is idle.
	Claims          owner.WAL
	CheckpointDelay time.Duration
	// Idle, if set, is called from the writer once it has had nothing to
	// write for idleAfter since it last wrote. It must not block. The
	// daemon collects garbage there, so that a burst does not find the
	// collector due and share the CPU with it and PowerDNS.
	Idle func()
	// LeasesEnded, if set, is called from the writer with the
	// contributions whose lease it has just ended. It must not block. The
	// daemon publishes their tombstones there (internal/reap), so that the
	// stream, and every zone's SOA serial, record the end too.
	LeasesEnded func([]lease.Ref)
	// Now is the clock of lease ends, of the delete limit, of rectifies and
	// of checkpoints; default time.Now.
	Now func() time.Time
	// DeleteLimit is the safety valve's policy (internal/valve); the zero
	// value means valve.Default.
	DeleteLimit valve.Policy
	// ApproveAtStart lists zones whose deletions held by the initial
	// convergence are approved at once (--approve-deletions).
	ApproveAtStart []string
}

// Syncer keeps one PowerDNS in line with the stream.
type Syncer struct {
	cfg    Config
	pdns   PDNS
	log    zerolog.Logger
	m      *Metrics
	prog   *progress
	in     *intake
	ledger *owner.Ledger
	rect   *rectifier
	gate   *valve.Gate // owned by the writer

	reconcile  chan struct{}
	replayed   chan struct{}
	replayOnce sync.Once
	ready      chan struct{}
	calls      chan func() // run by the writer (do)

	// Owned by the writer goroutine (Run).
	settleSince   time.Time // deletions wait since (see deleteSettle)
	settleWake    time.Time // when the writer takes them again
	zones         map[string]*zoneState
	needReconcile bool
	signed        map[string]bool // Config.Signed
	presignAt     time.Time       // next read of missing PRESIGNED marks (presignDue)
	retiring      map[string]bool // Config.Retiring not yet done with
}

// New returns a syncer. Call HandleMessage for every stream delivery,
// Replayed once the initial replay is complete, and Run to write.
func New(cfg Config, pdns PDNS, m *Metrics, log zerolog.Logger) *Syncer {
	if cfg.BatchDelay <= 0 {
		cfg.BatchDelay = 2 * time.Millisecond
	}
	if cfg.RectifyDelay <= 0 {
		cfg.RectifyDelay = time.Second
	}
	if cfg.CheckpointDelay <= 0 {
		cfg.CheckpointDelay = cfg.RectifyDelay
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 2 * time.Minute
	}
	if cfg.Prefix == "" {
		cfg.Prefix = events.DefaultSubjectPrefix
	}
	if cfg.SignedPrefix == "" {
		cfg.SignedPrefix = events.DefaultSignedPrefix
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.DeleteLimit == (valve.Policy{}) {
		cfg.DeleteLimit = valve.Default
	}
	log = log.With().Str("component", "syncer").Logger()
	prog := newProgress(m)
	signed := make(map[string]bool, len(cfg.Signed))
	for _, z := range cfg.Signed {
		signed[z] = true
	}
	retiring := make(map[string]bool, len(cfg.Retiring))
	for _, z := range cfg.Retiring {
		retiring[z] = true
	}
	return &Syncer{
		cfg: cfg, pdns: pdns, m: m, log: log, prog: prog,
		in:     newIntake(cfg.Zones, cfg.Signed, cfg.Prefix, cfg.SignedPrefix, cfg.Now, m, prog, log),
		ledger: owner.NewLedger(owner.LedgerConfig{Meta: pdns, WAL: cfg.Claims, CheckpointDelay: cfg.CheckpointDelay, Now: cfg.Now}),
		rect:   newRectifier(cfg.RectifyDelay, cfg.Now),
		gate:   valve.New(cfg.DeleteLimit), calls: make(chan func()),
		reconcile: make(chan struct{}, 1),
		replayed:  make(chan struct{}),
		ready:     make(chan struct{}),
		zones:     map[string]*zoneState{},
		signed:    signed,
		retiring:  retiring,
	}
}

// Replayed tells the syncer that the initial replay of the stream is done.
func (s *Syncer) Replayed() {
	s.replayOnce.Do(func() {
		s.m.ReplayCompleted.Set(1)
		close(s.replayed)
	})
}

// RequestReconcile asks for a full reconciliation (SIGHUP, the healer).
func (s *Syncer) RequestReconcile() {
	select {
	case s.reconcile <- struct{}{}:
	default:
	}
}

// Ready is closed once the first full reconciliation has completed.
func (s *Syncer) Ready() <-chan struct{} { return s.ready }

// Run waits for the replay, converges every zone, then applies changes as
// they arrive until ctx is done. A round in flight when ctx ends is
// finished first. It returns an error only for a fault no retry can mend.
func (s *Syncer) Run(ctx context.Context) error {
	if err := s.recoverClaims(); err != nil {
		return err
	}
	defer s.checkpointAtExit(ctx)
	// Read the zones while the stream replays, then converge in one pass
	// once the desired state is complete: writing while replaying makes
	// PowerDNS and the replay compete for the CPU, and a partial union
	// must not shrink a served RRset anyway.
	load := retry.Loop{Backoff: retry.Backoff{Min: 100 * time.Millisecond, Max: s.cfg.MaxBackoff, Jitter: 0.1},
		Notify: func(attempt int, err error, wait time.Duration) {
			s.log.Warn().Err(err).Int("attempt", attempt).Dur("retry_in", wait).Msg("reading zones failed; retrying")
		}}
	err := load.Do(ctx, func(ctx context.Context) error {
		err := s.loadAll(ctx)
		if err != nil {
			s.m.PDNSErrors.WithLabelValues("transient").Inc()
			s.prog.setReachable(false)
		}
		return err
	})
	if err != nil {
		return nil // only ctx ends it
	}
	s.needReconcile = false
	select {
	case <-ctx.Done():
		return nil
	case <-s.replayed:
	}
	s.log.Info().Int("rrsets", s.in.desiredLen()).Msg("stream replayed; converging zones")
	converge := s.syncAll
	if s.needReconcile {
		converge = s.reconcileAll
	}
	s.untilDone(ctx, "initial reconciliation", converge)
	if ctx.Err() != nil {
		return nil
	}
	s.approveAtStart()
	close(s.ready)
	s.log.Info().Msg("zones converged; following the stream")
	s.follow(ctx)
	return nil
}

// follow is the writer loop once the zones have converged: changes as they
// come, reconciliations, lease ends, rectifies and checkpoints when due.
func (s *Syncer) follow(ctx context.Context) {
	var tick <-chan time.Time
	if s.cfg.ReconcileInterval > 0 {
		t := time.NewTicker(s.cfg.ReconcileInterval)
		defer t.Stop()
		tick = t.C
	}
	idleTimer := time.NewTimer(idleAfter)
	defer idleTimer.Stop()
	for {
		var idle <-chan time.Time
		if s.cfg.Idle != nil {
			idle = idleTimer.C
		}
		rectify := s.timer(s.rect.next())
		checkpoint := s.timer(s.ledger.CheckpointDue())
		leaseEnd := s.timer(s.in.nextLeaseEnd())
		settled := s.timer(s.settleWake, !s.settleWake.IsZero())
		presign := s.timer(s.presignDue())
		// Reconciliations before changes: under a steady stream wake is
		// always ready, and select would pick among ready cases at random.
		select {
		case <-tick:
			s.retry(ctx, "periodic reconciliation", s.reconcileAll)
			continue
		case <-s.reconcile:
			s.requestedReconcile(ctx)
			continue
		default:
		}
		select {
		case <-ctx.Done():
			return
		case <-s.in.wake:
			if !s.gather(ctx) {
				// Shutting down: write what has arrived, then stop.
				s.flushOnce(context.WithoutCancel(ctx))
				return
			}
			s.retry(ctx, "applying changes", s.flush)
			s.retire(ctx)
			idleTimer.Reset(idleAfter)
		case <-idle:
			s.cfg.Idle()
		case <-leaseEnd:
			if refs := s.in.endLeases(s.cfg.Now()); len(refs) > 0 && s.cfg.LeasesEnded != nil {
				s.cfg.LeasesEnded(refs)
			}
		case <-settled:
			s.settleWake = time.Time{}
			s.in.poke()
		case <-presign:
			s.recheckPresigned(ctx)
		case fn := <-s.calls:
			fn()
		case <-tick:
			s.retry(ctx, "periodic reconciliation", s.reconcileAll)
		case <-s.reconcile:
			s.requestedReconcile(ctx)
		case <-rectify:
			if s.in.busy() {
				s.rect.postpone()
				continue
			}
			s.rectifyDue(ctx)
		case <-checkpoint:
			if s.in.busy() {
				s.ledger.Postpone()
				continue
			}
			s.checkpoint(ctx)
		}
	}
}

// timer returns a channel that fires at at, or nil if !ok.
func (s *Syncer) timer(at time.Time, ok bool) <-chan time.Time {
	if !ok {
		return nil
	}
	return time.After(at.Sub(s.cfg.Now()))
}

// idleAfter is how long the writer waits after its last write before
// calling Config.Idle.
const idleAfter = 100 * time.Millisecond

// requestedReconcile runs a reconciliation asked for (SIGHUP, the healer).
func (s *Syncer) requestedReconcile(ctx context.Context) {
	s.log.Info().Msg("reconciliation requested")
	s.retry(ctx, "requested reconciliation", s.reconcileAll)
}

// Gathering bounds: while the follower is behind the stream (a burst, a
// catch-up), a round waits until half a PATCH of changed RRsets is ready,
// or gatherMax. PowerDNS is not left idle longer than that; while a round
// is being written, the next one gathers by itself, so rounds grow to
// thousands of RRsets when PowerDNS is the slower side.
const (
	gatherTarget = pdnsapi.MaxBatch / 2
	gatherMax    = 250 * time.Millisecond
)

// gather waits BatchDelay, then longer while a burst is still arriving. It
// returns false if ctx ended.
func (s *Syncer) gather(ctx context.Context) bool {
	if !retry.Sleep(ctx, s.cfg.BatchDelay) {
		return false
	}
	deadline := time.Now().Add(gatherMax)
	last := -1
	for s.in.pending.Load() > 0 && time.Now().Before(deadline) {
		n := s.in.dirtyLen()
		if n >= gatherTarget || n == last {
			break // enough for full PATCHes, or nothing more is arriving
		}
		last = n
		if !retry.Sleep(ctx, time.Millisecond) {
			return false
		}
	}
	return true
}

// untilDone runs step (through retry) until it leaves nothing to
// reconcile, backing off between attempts that failed for good.
func (s *Syncer) untilDone(ctx context.Context, what string, step func(context.Context) error) {
	b := retry.Backoff{Min: time.Second, Max: s.cfg.MaxBackoff, Jitter: 0.1}
	for n := 0; ; n++ {
		s.retry(ctx, what, step)
		if ctx.Err() != nil || !s.needReconcile {
			return
		}
		if !retry.Sleep(ctx, b.Delay(n)) {
			return
		}
		step = s.reconcileAll
	}
}

// retry runs step until it succeeds, ctx ends, or it fails permanently.
// After a transient failure the next attempt is a full reconciliation:
// PowerDNS may have come back with other data (a restore, a wipe). A
// permanent failure is logged and left to the next change or
// reconciliation; the writer goes on.
func (s *Syncer) retry(ctx context.Context, what string, step func(context.Context) error) {
	attempts := 0
	loop := retry.Loop{Backoff: retry.Backoff{Min: 100 * time.Millisecond, Max: s.cfg.MaxBackoff, Jitter: 0.1},
		Retryable: pdnsapi.IsTransient,
		Notify: func(attempt int, err error, wait time.Duration) {
			s.m.PDNSErrors.WithLabelValues("transient").Inc()
			s.prog.setReachable(false)
			s.needReconcile = true
			s.log.Warn().Err(err).Int("attempt", attempt).Dur("retry_in", wait).Msgf("%s failed; retrying", what)
		}}
	err := loop.Do(ctx, func(ctx context.Context) error {
		attempts++
		if s.needReconcile {
			step = s.reconcileAll
		}
		return step(ctx)
	})
	switch {
	case err == nil:
		if attempts > 1 {
			s.log.Info().Int("attempt", attempts).Msgf("%s succeeded after retries", what)
		}
	case ctx.Err() != nil:
	default:
		s.m.PDNSErrors.WithLabelValues("permanent").Inc()
		s.log.Error().Err(err).Msgf("%s failed; will try again at the next change or reconciliation", what)
		s.needReconcile = true
	}
}
