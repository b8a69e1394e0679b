// Package syncer applies the desired state rebuilt from the record stream
// to one PowerDNS server. It is the shell around the pure packages: record
// events go into desired.State, plan.Compute turns desired and actual state
// into changes, and one writer goroutine applies them in batched PATCHes.
package syncer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/desired"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/lease"
	"github.com/zonecast/zonecast/internal/owner"
	"github.com/zonecast/zonecast/internal/pdnsapi"
	"github.com/zonecast/zonecast/internal/plan"
	"github.com/zonecast/zonecast/internal/rrset"
	"github.com/zonecast/zonecast/internal/valve"
)

// PDNS is what the syncer needs of a PowerDNS server.
type PDNS interface {
	Zone(ctx context.Context, zone string) ([]rrset.Set, bool, error)
	RRset(ctx context.Context, zone string, key rrset.Key) (rrset.Set, bool, error)
	CreateZone(ctx context.Context, spec pdnsapi.ZoneSpec) error
	Apply(ctx context.Context, zone string, changes, always []pdnsapi.Change) ([]pdnsapi.Rejection, error)
	AllMetadata(ctx context.Context, zone string) (map[string][]string, error)
	SetMetadata(ctx context.Context, zone, kind string, values []string) error
	Rectify(ctx context.Context, zone string) error
	FlushCache(ctx context.Context, zone string) error
}

// Config configures a Syncer.
type Config struct {
	Zones             []string // canonical zone names
	Prefix            string   // subject prefix of record events
	SOA               SOA
	NS                []string      // apex NS records of zones the syncer creates
	BatchDelay        time.Duration // gathering time after the first change of a round
	ReconcileInterval time.Duration // full reconciliation period; 0 disables
	RectifyDelay      time.Duration // delay before rectifying a zone whose names changed
	MaxBackoff        time.Duration // cap of the retry backoff when PowerDNS fails
	WriteTimeout      time.Duration // bound of one round's PowerDNS calls, also at shutdown
	// Claims, if set, logs ownership claims locally before batches are
	// written; they reach the zone metadata when the syncer is idle.
	Claims ClaimLog
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
	// Now is the clock of lease ends and of the delete limit; default
	// time.Now.
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
	cfg  Config
	pdns PDNS
	log  zerolog.Logger
	m    *Metrics

	mu       sync.Mutex // guards the fields fed by HandleMessage
	desired  *desired.State
	dirty    map[rrset.Key]dirtyEntry // changed RRsets not yet taken by the writer
	seqDirty map[string]bool
	spare    map[rrset.Key]dirtyEntry // the writer's cleared copy, swapped in by take
	tracking bool                     // dirty marks are kept (from the first full pass on)
	position uint64                   // every delivery up to this stream sequence is folded in
	// lastDelete is when a change that desires nothing was last marked.
	lastDelete time.Time

	pending    atomic.Uint64 // from the last delivery: how far behind the stream the syncer is
	wake       chan struct{}
	reconcile  chan struct{}
	replayed   chan struct{}
	replayOnce sync.Once
	ready      chan struct{}

	gate    *valve.Gate // owned by the writer
	calls   chan func() // run by the writer (do)
	holdsMu sync.Mutex
	holds   []Hold // the writer's held counts, for Holds

	// Owned by the writer goroutine (Run).
	settleSince   time.Time // deletions wait since (see deleteSettle)
	settleWake    time.Time // when the writer takes them again
	zones         map[string]*zoneState
	needReconcile bool
	pendingClaims map[string][]rrset.Key // logged, not yet in the zone metadata (may repeat)
	checkpointAt  time.Time              // when to copy them there; zero: nothing due
}

type zoneState struct {
	actual    map[rrset.Key]rrset.Set
	owned     owner.Set
	journal   []string     // ownership journal kinds not yet compacted
	touched   map[int]bool // buckets the journal touches
	nextJrnl  uint64
	conflicts map[rrset.Key]bool
	held      map[rrset.Key]struct{} // deletions the valve holds
	approved  map[rrset.Key]struct{} // held deletions an operator approved, until written
	rectifyAt time.Time
}

// compactAfter is the journal length at which the ownership record is
// folded into its buckets.
const compactAfter = 16

// New returns a syncer. Call HandleMessage for every stream delivery,
// Replayed once the initial replay is complete, and Run to write.
func New(cfg Config, pdns PDNS, m *Metrics, log zerolog.Logger) *Syncer {
	if cfg.BatchDelay <= 0 {
		cfg.BatchDelay = 2 * time.Millisecond
	}
	if cfg.RectifyDelay <= 0 {
		cfg.RectifyDelay = time.Second
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
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.DeleteLimit == (valve.Policy{}) {
		cfg.DeleteLimit = valve.Default
	}
	return &Syncer{
		gate: valve.New(cfg.DeleteLimit), calls: make(chan func()),
		cfg: cfg, pdns: pdns, m: m, log: log.With().Str("component", "syncer").Logger(),
		desired:   desired.New(cfg.Zones),
		dirty:     map[rrset.Key]dirtyEntry{},
		spare:     map[rrset.Key]dirtyEntry{},
		seqDirty:  map[string]bool{},
		wake:      make(chan struct{}, 1),
		reconcile: make(chan struct{}, 1),
		replayed:  make(chan struct{}),
		ready:     make(chan struct{}),
		zones:     map[string]*zoneState{},

		pendingClaims: map[string][]rrset.Key{},
	}
}

// Delivery is one message from the stream.
type Delivery struct {
	Subject string
	Data    []byte
	Seq     uint64
	Removed bool      // a server delete marker: the subject's message expired or was purged
	Expires time.Time // when the message's lease runs out; zero: never
	Pending uint64    // messages the server still holds for this follower after this one
}

// HandleMessage folds one stream delivery, received at now, into the
// desired state. A delete marker, or a message whose lease has already run
// out (a replay right after a server restart can still hand it out),
// withdraws the subject's contribution. Invalid input is counted and
// logged, never applied, and never blocks what follows. It is safe to call
// from another goroutine than Run.
func (s *Syncer) HandleMessage(d Delivery, now time.Time) {
	subject, data, seq := d.Subject, d.Data, d.Seq
	if prev := s.pending.Swap(d.Pending); prev > 0 && d.Pending == 0 {
		s.log.Debug().Uint64("seq", seq).Msg("follower caught up with the stream")
	}
	log := func() *zerolog.Logger { // built only when something is logged
		l := s.log.With().Str("subject", subject).Uint64("seq", seq).Logger()
		return &l
	}
	if d.Removed || (!d.Expires.IsZero() && !d.Expires.After(now)) {
		s.m.Messages.WithLabelValues("expired").Inc()
		key, origin, err := events.ParseSubject(s.cfg.Prefix, subject)
		if err != nil {
			s.m.Invalid.WithLabelValues("subject").Inc()
			log().Warn().Err(err).Msg("ignoring delete marker with an invalid subject")
			return
		}
		s.withdraw(key, origin, seq)
		return
	}
	msg, err := events.DecodeWithSubject(s.cfg.Prefix, subject, data)
	if err != nil {
		s.m.Invalid.WithLabelValues("message").Inc()
		log().Warn().Err(err).Msg("rejected invalid record event")
		// The invalid body replaced the subject's previous message in the
		// stream; withdraw that contribution so that a node which follows
		// and a node which replays end with the same state.
		if key, origin, perr := events.ParseSubject(s.cfg.Prefix, subject); perr == nil {
			s.withdraw(key, origin, seq)
		}
		return
	}
	if msg.Tombstone() {
		s.m.Messages.WithLabelValues("tombstone").Inc()
	} else {
		s.m.Messages.WithLabelValues("set").Inc()
	}
	s.mu.Lock()
	if !s.tracking && d.Pending >= reserveMin && s.desired.Len() == 0 {
		s.desired.Reserve(int(min(d.Pending, reserveMax)) + 1)
	}
	zone, changed, err := s.desired.ApplyLease(msg, seq, d.Expires)
	if err == nil {
		s.markLocked(msg.Key(), zone, changed)
		s.position = max(s.position, seq)
	}
	s.mu.Unlock()
	if err != nil {
		s.m.Invalid.WithLabelValues("zone").Inc()
		log().Warn().Err(err).Str("name", msg.Name).Str("type", msg.Type).Str("origin", msg.Origin).
			Msg("rejected record event the syncer's zones do not allow")
		// Inside a zone (e.g. NS at the apex) the event still replaced the
		// subject's previous message: withdraw it, and let the zone's
		// sequence advance, as for any other invalid event.
		s.withdraw(msg.Key(), msg.Origin, seq)
		return
	}
	s.poke()
}

// The first message of a replay says how many follow: the desired state
// makes room for them at once (bounded, as the count is the stream's word).
const (
	reserveMin = 1024
	reserveMax = 1 << 22
)

func (s *Syncer) withdraw(key rrset.Key, origin string, seq uint64) {
	s.mu.Lock()
	zone, changed, ok := s.desired.Withdraw(key, origin, seq)
	if ok {
		s.markLocked(key, zone, changed)
	}
	s.position = max(s.position, seq)
	s.mu.Unlock()
	if ok {
		s.poke()
	}
}

func (s *Syncer) markLocked(key rrset.Key, zone string, changed bool) {
	if !s.tracking {
		// Before the first full pass, which plans from the whole
		// desired state: marks would only cost memory.
		s.m.DesiredRRsets.Set(float64(s.desired.Len()))
		return
	}
	if changed {
		set := s.desired.Get(key)
		s.dirty[key] = dirtyEntry{zone: zone, set: set}
		if len(set.Records) == 0 {
			s.noteDeletionLocked(s.cfg.Now())
		}
	}
	s.seqDirty[zone] = true
	s.m.DesiredRRsets.Set(float64(s.desired.Len()))
}

func (s *Syncer) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Syncer) nextLeaseEnd() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.desired.NextExpiry()
}

// endLeases withdraws the contributions whose lease has run out by now,
// as the stream drops their messages then. The zones' SOA serials stay:
// they follow stream sequences, and the tombstone that records the end
// (Config.LeasesEnded) brings the next one.
func (s *Syncer) endLeases(now time.Time) {
	s.mu.Lock()
	ended := s.desired.ExpireDue(now)
	for _, e := range ended {
		if e.Changed && s.tracking {
			s.dirty[e.Key] = dirtyEntry{zone: e.Zone, set: s.desired.Get(e.Key)}
		}
	}
	if len(ended) > 0 {
		s.m.DesiredRRsets.Set(float64(s.desired.Len()))
	}
	s.mu.Unlock()
	if len(ended) == 0 {
		return
	}
	refs := make([]lease.Ref, len(ended))
	for i, e := range ended {
		refs[i] = e.Ref
		s.m.LeasesEnded.WithLabelValues(e.Zone).Inc()
	}
	s.log.Debug().Int("contributions", len(ended)).Msg("leases ended")
	s.poke()
	if s.cfg.LeasesEnded != nil {
		s.cfg.LeasesEnded(refs)
	}
}

// Replayed tells the syncer that the initial replay of the stream is done.
func (s *Syncer) Replayed() {
	s.replayOnce.Do(func() {
		s.m.ReplayCompleted.Set(1)
		close(s.replayed)
	})
}

// RequestReconcile asks for a full reconciliation (SIGHUP).
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
	if err := s.loadClaimLog(); err != nil {
		return err
	}
	defer s.checkpointAtExit(ctx)
	// Read the zones while the stream replays, then converge in one pass
	// once the desired state is complete. (Writing while replaying was
	// measured slower: PowerDNS and the replay then compete for the two
	// cores, and a partial union must not shrink a served RRset anyway.)
	for backoff := 100 * time.Millisecond; ; backoff = min(backoff*2, s.cfg.MaxBackoff) {
		err := s.loadAll(ctx)
		if err == nil {
			break
		}
		s.m.PDNSErrors.WithLabelValues("transient").Inc()
		s.m.PDNSReachable.Set(0)
		s.log.Warn().Err(err).Dur("retry_in", backoff).Msg("reading zones failed; retrying")
		if !sleepCtx(ctx, backoff) {
			return nil
		}
	}
	s.needReconcile = false
	select {
	case <-ctx.Done():
		return nil
	case <-s.replayed:
	}
	s.log.Info().Int("rrsets", s.desiredLen()).Msg("stream replayed; converging zones")
	converge := s.syncAll
	if s.needReconcile {
		converge = s.reconcileAll
	}
	if err := s.untilDone(ctx, "initial reconciliation", converge); err != nil || ctx.Err() != nil {
		return err
	}
	s.approveAtStart()
	close(s.ready)
	s.log.Info().Msg("zones converged; following the stream")

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
		var rectify <-chan time.Time
		if due, ok := s.nextRectify(); ok {
			rectify = time.After(time.Until(due))
		}
		var checkpoint <-chan time.Time
		if !s.checkpointAt.IsZero() {
			checkpoint = time.After(time.Until(s.checkpointAt))
		}
		var leaseEnd <-chan time.Time
		if at, ok := s.nextLeaseEnd(); ok {
			leaseEnd = time.After(at.Sub(s.cfg.Now()))
		}
		var settled <-chan time.Time
		if !s.settleWake.IsZero() {
			settled = time.After(s.settleWake.Sub(s.cfg.Now()))
		}
		// Reconciliations before changes: under a steady stream wake is
		// always ready, and select would pick among ready cases at random.
		select {
		case <-tick:
			if err := s.retry(ctx, "periodic reconciliation", s.reconcileAll); err != nil {
				return err
			}
			continue
		case <-s.reconcile:
			if err := s.requestedReconcile(ctx); err != nil {
				return err
			}
			continue
		default:
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
			if !s.gather(ctx) {
				// Shutting down: write what has arrived, then stop.
				s.flushOnce(context.WithoutCancel(ctx))
				return nil
			}
			if err := s.retry(ctx, "applying changes", s.flush); err != nil {
				return err
			}
			idleTimer.Reset(idleAfter)
		case <-idle:
			s.cfg.Idle()
		case <-leaseEnd:
			s.endLeases(s.cfg.Now())
		case <-settled:
			s.settleWake = time.Time{}
			s.poke()
		case fn := <-s.calls:
			fn()
		case <-tick:
			if err := s.retry(ctx, "periodic reconciliation", s.reconcileAll); err != nil {
				return err
			}
		case <-s.reconcile:
			if err := s.requestedReconcile(ctx); err != nil {
				return err
			}
		case <-rectify:
			if s.busy() {
				// Changes first: a rectify costs a pass over the whole
				// zone and would hold them up.
				s.postponeRectify(time.Now().Add(s.cfg.RectifyDelay))
				continue
			}
			s.rectifyDue(ctx)
		case <-checkpoint:
			if s.busy() {
				s.checkpointAt = time.Now().Add(s.cfg.RectifyDelay)
				continue
			}
			if err := s.checkpoint(ctx); err != nil {
				s.log.Warn().Err(err).Msg("could not copy logged claims into the zone metadata; will retry")
			}
		}
	}
}

// idleAfter is how long the writer waits after its last write before
// calling Config.Idle.
const idleAfter = 100 * time.Millisecond

// requestedReconcile runs a reconciliation asked for (SIGHUP, the healer).
func (s *Syncer) requestedReconcile(ctx context.Context) error {
	s.log.Info().Msg("reconciliation requested")
	return s.retry(ctx, "requested reconciliation", s.reconcileAll)
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
	if !sleepCtx(ctx, s.cfg.BatchDelay) {
		return false
	}
	deadline := time.Now().Add(gatherMax)
	last := -1
	for s.pending.Load() > 0 && time.Now().Before(deadline) {
		s.mu.Lock()
		n := len(s.dirty)
		s.mu.Unlock()
		if n >= gatherTarget || n == last {
			break // enough for full PATCHes, or nothing more is arriving
		}
		last = n
		if !sleepCtx(ctx, time.Millisecond) {
			return false
		}
	}
	return true
}

// untilDone runs step (through retry) until it leaves nothing to
// reconcile, backing off between attempts that failed for good.
func (s *Syncer) untilDone(ctx context.Context, what string, step func(context.Context) error) error {
	for wait := time.Second; ; wait = min(wait*2, s.cfg.MaxBackoff) {
		if err := s.retry(ctx, what, step); err != nil {
			return err
		}
		if ctx.Err() != nil || !s.needReconcile {
			return nil
		}
		if !sleepCtx(ctx, wait) {
			return nil
		}
		step = s.recoverStep()
	}
}

// recoverStep is what follows a failure: a full reconciliation, since
// PowerDNS may have come back with other data.
func (s *Syncer) recoverStep() func(context.Context) error { return s.reconcileAll }

func (s *Syncer) desiredLen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.desired.Len()
}

// retry runs step until it succeeds, ctx ends, or it fails permanently.
// After a transient failure the next attempt is a full reconciliation:
// PowerDNS may have come back with other data (a restore, a wipe).
func (s *Syncer) retry(ctx context.Context, what string, step func(context.Context) error) error {
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		if s.needReconcile {
			step = s.recoverStep()
		}
		err := step(ctx)
		if err == nil {
			if attempt > 1 {
				s.log.Info().Int("attempt", attempt).Msgf("%s succeeded after retries", what)
			}
			return nil
		}
		if ctx.Err() != nil {
			return nil
		}
		if !pdnsapi.IsTransient(err) {
			s.m.PDNSErrors.WithLabelValues("permanent").Inc()
			s.log.Error().Err(err).Msgf("%s failed; will try again at the next change or reconciliation", what)
			s.needReconcile = true
			return nil
		}
		s.m.PDNSErrors.WithLabelValues("transient").Inc()
		s.m.PDNSReachable.Set(0)
		s.needReconcile = true
		s.log.Warn().Err(err).Int("attempt", attempt).Dur("retry_in", backoff).Msgf("%s failed; retrying", what)
		if !sleepCtx(ctx, backoff) {
			return nil
		}
		backoff = min(backoff*2, s.cfg.MaxBackoff)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

var errNotLoaded = errors.New("zone state not loaded")

// reconcileAll reads every zone from PowerDNS (creating missing zones),
// replaces the cached actual state and writes what differs.
func (s *Syncer) reconcileAll(ctx context.Context) error {
	if err := s.loadAll(ctx); err != nil {
		return err
	}
	return s.syncAll(ctx)
}

// loadAll reads every zone and its ownership record into the cache.
func (s *Syncer) loadAll(ctx context.Context) error {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.WriteTimeout)
	defer cancel()
	for _, zone := range s.cfg.Zones {
		if _, err := s.loadZone(wctx, zone); err != nil {
			s.needReconcile = true
			return fmt.Errorf("reading zone %s: %w", zone, err)
		}
	}
	return nil
}

// syncAll compares every desired and owned RRset with the cached actual
// state and writes what differs. It takes the desired RRsets under the
// lock (HandleMessage waits only for that, not for PowerDNS), then plans
// and writes zone by zone, in parts (see syncZoneParts).
func (s *Syncer) syncAll(ctx context.Context) error {
	start := time.Now()
	type zonePlan struct {
		sets      []rrset.Set
		undesired []rrset.Key
		seq       uint64
	}
	plans := make(map[string]*zonePlan, len(s.cfg.Zones))
	s.mu.Lock()
	for _, z := range s.cfg.Zones {
		plans[z] = &zonePlan{seq: s.desired.Seq(z)}
	}
	if len(plans) == 1 {
		plans[s.cfg.Zones[0]].sets = make([]rrset.Set, 0, s.desired.Len())
	}
	s.desired.Each(func(zone string, set rrset.Set) {
		if p, ok := plans[zone]; ok {
			p.sets = append(p.sets, set)
		}
	})
	for zone, p := range plans {
		zs, ok := s.zones[zone]
		if !ok {
			continue
		}
		// Owned keys that are no longer desired must be looked at too.
		for k := range zs.owned {
			if len(s.desired.Get(k).Records) == 0 {
				p.undesired = append(p.undesired, k)
			}
		}
	}
	clear(s.dirty)
	clear(s.seqDirty)
	s.tracking = true
	s.mu.Unlock()
	s.log.Debug().Dur("took", time.Since(start)).Msg("took the desired state for a full pass")

	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.WriteTimeout)
	defer cancel()
	for i, zone := range s.cfg.Zones {
		p := plans[zone]
		zs, ok := s.zones[zone]
		var err error
		if !ok {
			err = errNotLoaded
		} else {
			var writes int
			writes, err = s.syncZoneParts(wctx, zone, zs, p.sets, p.undesired, p.seq)
			s.m.ReconcileDrift.WithLabelValues(zone).Set(float64(writes))
			if writes > 0 {
				s.log.Info().Str("zone", zone).Int("rrsets", writes).Msg("reconciliation wrote drift")
			}
		}
		if err != nil {
			rest := map[string][]rrset.Key{}
			for _, z := range s.cfg.Zones[i:] {
				for _, set := range plans[z].sets {
					rest[z] = append(rest[z], set.Key)
				}
				rest[z] = append(rest[z], plans[z].undesired...)
			}
			s.requeue(rest)
			return fmt.Errorf("reconciling zone %s: %w", zone, err)
		}
	}
	s.needReconcile = false
	s.m.PDNSReachable.Set(1)
	s.m.LastReconcile.SetToCurrentTime()
	s.log.Debug().Dur("took", time.Since(start)).Msg("reconciliation done")
	return nil
}

// loadZone reads one zone and its ownership record, creating the zone if
// PowerDNS does not have it.
func (s *Syncer) loadZone(ctx context.Context, zone string) (*zoneState, error) {
	sets, found, err := s.pdns.Zone(ctx, zone)
	if err != nil {
		return nil, fmt.Errorf("reading zone: %w", err)
	}
	if !found {
		spec := pdnsapi.ZoneSpec{Name: zone, SOA: s.soa(zone, 0), NS: s.nsFor(zone), Account: "zonecast"}
		if err := s.pdns.CreateZone(ctx, spec); err != nil {
			return nil, fmt.Errorf("creating zone: %w", err)
		}
		s.log.Info().Str("zone", zone).Msg("created zone")
		if sets, _, err = s.pdns.Zone(ctx, zone); err != nil {
			return nil, fmt.Errorf("reading created zone: %w", err)
		}
	}
	meta, err := s.pdns.AllMetadata(ctx, zone)
	if err != nil {
		return nil, fmt.Errorf("reading ownership metadata: %w", err)
	}
	rec, err := owner.Decode(zone, meta)
	if err != nil {
		return nil, err
	}
	owned := rec.Owned
	for _, k := range s.pendingClaims[zone] {
		owned[k] = struct{}{} // logged, not yet copied into the metadata
	}
	zs := &zoneState{actual: make(map[rrset.Key]rrset.Set, len(sets)), owned: owned, conflicts: map[rrset.Key]bool{},
		held: map[rrset.Key]struct{}{}, approved: map[rrset.Key]struct{}{}, journal: rec.Journal, nextJrnl: rec.NextSeq, touched: map[int]bool{}}
	if len(rec.Journal) > 0 {
		for b := 0; b < owner.Buckets; b++ {
			zs.touched[b] = true // which buckets the journal touches is not kept
		}
	}
	if old, ok := s.zones[zone]; ok {
		zs.conflicts = old.conflicts
		zs.held, zs.approved = old.held, old.approved
		zs.rectifyAt = old.rectifyAt
	}
	for _, set := range sets {
		zs.actual[set.Key] = set
	}
	s.zones[zone] = zs
	s.m.OwnedRRsets.WithLabelValues(zone).Set(float64(len(owned)))
	return zs, nil
}

func (s *Syncer) nsFor(zone string) []string {
	if len(s.cfg.NS) > 0 {
		return s.cfg.NS
	}
	return []string{s.cfg.SOA.mname(zone)}
}

// batch is one zone's planned write: the RRset changes, the SOA that goes
// with them, and the ownership it needs.
type batch struct {
	zone      string
	zs        *zoneState
	keys      []rrset.Key // every key the plan looked at
	ch        plan.Changes
	seq       uint64
	seqKnown  bool // the batch brings the zone to stream sequence seq
	changes   []pdnsapi.Change
	always    []pdnsapi.Change
	claimTook time.Duration
	start     time.Time // when the PATCHes began
	counted   int       // deletions the delete limit counted (taken back if not written)
}

// prepare reports the plan's conflicts and turns it into a batch; nil when
// PowerDNS and the ownership record need nothing.
func (s *Syncer) prepare(zone string, zs *zoneState, keys []rrset.Key, ch plan.Changes, seq uint64, seqKnown bool) *batch {
	s.reportConflicts(zone, zs, keys, ch.Conflicts)
	ch, seqKnown, counted := s.holdDeletes(zone, zs, keys, ch, seqKnown)
	b := &batch{zone: zone, zs: zs, keys: keys, ch: ch, seq: seq, seqKnown: seqKnown, counted: counted}
	soaKey := rrset.Key{Name: zone, Type: "SOA"}
	if seqKnown {
		soa := s.soa(zone, seq)
		if cur, ok := zs.actual[soaKey]; !ok || !cur.Equal(soa) {
			b.always = append(b.always, pdnsapi.Change{Set: soa})
		}
	}
	if !ch.HasChanges() && len(b.always) == 0 {
		if seqKnown {
			s.m.SetZoneSeq(zone, seq) // nothing to write: applied
		}
		return nil
	}
	// Neighbouring names in one PATCH, and deterministic batches.
	slices.SortFunc(ch.Upserts, func(a, b rrset.Set) int { return rrset.CompareKeys(a.Key, b.Key) })
	rrset.SortKeys(ch.Deletes)
	b.changes = make([]pdnsapi.Change, 0, ch.Writes())
	for _, set := range ch.Upserts {
		b.changes = append(b.changes, pdnsapi.Change{Set: set})
	}
	for _, k := range ch.Deletes {
		b.changes = append(b.changes, pdnsapi.Change{Set: rrset.Set{Key: k, TTL: 60}, Delete: true})
	}
	return b
}

// claimBatch records the ownership a batch needs before it is written.
func (s *Syncer) claimBatch(ctx context.Context, b *batch) error {
	start := time.Now()
	if err := s.claim(ctx, b.zone, b.zs, b.ch.Claims); err != nil {
		return err
	}
	b.claimTook = time.Since(start)
	return nil
}

// land takes the outcome of a batch's PATCHes into the cached state:
// what PowerDNS now serves, the ownership it no longer needs, metrics.
func (s *Syncer) land(ctx context.Context, b *batch, rejected []pdnsapi.Rejection, err error) (int, error) {
	zone, zs, ch, changes, always, seq := b.zone, b.zs, b.ch, b.changes, b.always, b.seq
	if err != nil {
		s.gate.Uncount(zone, b.counted)
		return 0, fmt.Errorf("applying %d rrsets to %s: %w", len(changes), zone, err)
	}
	s.m.ApplySeconds.Observe(time.Since(b.start).Seconds())
	s.m.BatchSize.Observe(float64(len(changes)))
	s.m.PDNSReachable.Set(1)

	bad := map[rrset.Key]bool{}
	for _, r := range rejected {
		bad[r.Change.Set.Key] = true
		s.m.Rejected.WithLabelValues(zone).Inc()
		s.log.Error().Str("zone", zone).Str("name", r.Change.Set.Name).Str("type", r.Change.Set.Type).
			Str("reason", r.Reason).Strs("records", r.Change.Set.Records).Msg("powerdns rejected rrset")
	}
	structural := false
	for _, set := range ch.Upserts {
		if bad[set.Key] {
			continue
		}
		if _, existed := zs.actual[set.Key]; !existed {
			structural = true
		}
		zs.actual[set.Key] = set
	}
	for _, k := range ch.Deletes {
		if !bad[k] {
			delete(zs.actual, k)
			delete(zs.approved, k)
			structural = true
		}
	}
	for _, c := range always {
		zs.actual[c.Set.Key] = c.Set
		s.m.SetZoneSerial(zone, uint32(seq))
	}
	if b.seqKnown {
		s.m.SetZoneSeq(zone, seq)
	}
	s.m.Applied.WithLabelValues(zone).Add(float64(len(changes) - len(rejected)))

	// Release what is gone, and claims whose creation PowerDNS refused.
	var release []rrset.Key
	for _, k := range ch.Releases {
		if !bad[k] {
			release = append(release, k)
		}
	}
	for _, k := range ch.Claims {
		if bad[k] {
			release = append(release, k)
		}
	}
	if err := s.release(ctx, zone, zs, release); err != nil {
		// Ownership is over-recorded, which is safe; the next
		// reconciliation releases it.
		s.log.Warn().Err(err).Str("zone", zone).Msg("could not record released ownership")
		s.needReconcile = true
	}
	if len(zs.journal) >= compactAfter {
		cstart := time.Now()
		err := s.compact(ctx, zone, zs)
		s.log.Debug().Str("zone", zone).Dur("took", time.Since(cstart)).Msg("compacted the ownership record")
		if err != nil {
			s.log.Warn().Err(err).Str("zone", zone).Msg("could not compact the ownership record; will retry")
		}
	}
	if structural && zs.rectifyAt.IsZero() {
		zs.rectifyAt = time.Now().Add(s.cfg.RectifyDelay)
	}
	s.log.Debug().Str("zone", zone).Int("rrsets", len(changes)).Int("rejected", len(rejected)).
		Uint64("seq", seq).Dur("took", time.Since(b.start)).Int("claims", len(ch.Claims)).Dur("claim_took", b.claimTook).
		Msg("applied changes")
	return len(changes) - len(rejected), nil
}

func (s *Syncer) reportConflicts(zone string, zs *zoneState, keys []rrset.Key, conflicts []plan.Conflict) {
	for _, k := range keys {
		delete(zs.conflicts, k)
	}
	for _, c := range conflicts {
		zs.conflicts[c.Desired.Key] = true
		s.log.Warn().Str("zone", zone).Str("name", c.Desired.Name).Str("type", c.Desired.Type).
			Strs("desired", c.Desired.Records).Strs("actual", c.Actual.Records).
			Msg("conflict: a foreign rrset holds this name and type; left untouched")
	}
	s.m.Conflicts.WithLabelValues(zone).Set(float64(len(zs.conflicts)))
}

// claim records ownership of keys before they are written.
func (s *Syncer) claim(ctx context.Context, zone string, zs *zoneState, keys []rrset.Key) error {
	if len(keys) == 0 {
		return nil
	}
	if s.cfg.Claims != nil {
		if err := s.logClaims(zone, keys); err != nil {
			return fmt.Errorf("claiming %d rrsets: %w", len(keys), err)
		}
		for _, k := range keys {
			zs.owned[k] = struct{}{}
		}
		s.m.OwnedRRsets.WithLabelValues(zone).Set(float64(len(zs.owned)))
		return nil
	}
	for _, k := range keys {
		zs.owned[k] = struct{}{}
	}
	if err := s.writeOwnership(ctx, zone, zs, keys, true); err != nil {
		for _, k := range keys {
			delete(zs.owned, k)
		}
		return fmt.Errorf("claiming %d rrsets: %w", len(keys), err)
	}
	return nil
}

// release drops ownership of keys after they are gone.
func (s *Syncer) release(ctx context.Context, zone string, zs *zoneState, keys []rrset.Key) error {
	if len(keys) == 0 {
		return nil
	}
	for _, k := range keys {
		delete(zs.owned, k)
	}
	if s.cfg.Claims != nil {
		if err := s.unlogClaims(zone, keys); err != nil {
			return err
		}
	}
	return s.writeOwnership(ctx, zone, zs, keys, false)
}

// writeOwnership appends claims or releases to the zone's ownership
// journal: one metadata write per MaxJournalBytes of entries.
func (s *Syncer) writeOwnership(ctx context.Context, zone string, zs *zoneState, keys []rrset.Key, claim bool) error {
	for _, values := range owner.EncodeJournal(zone, keys, claim) {
		kind := owner.JournalKind(zs.nextJrnl)
		if err := s.pdns.SetMetadata(ctx, zone, kind, values); err != nil {
			return fmt.Errorf("writing ownership journal %s: %w", kind, err)
		}
		zs.nextJrnl++
		zs.journal = append(zs.journal, kind)
	}
	for _, b := range owner.Touched(keys) {
		zs.touched[b] = true
	}
	s.m.OwnedRRsets.WithLabelValues(zone).Set(float64(len(zs.owned)))
	return nil
}

// compact folds the ownership journal into the buckets it touched, then
// empties the journal kinds. A failure leaves a valid record behind.
func (s *Syncer) compact(ctx context.Context, zone string, zs *zoneState) error {
	buckets := make([]int, 0, len(zs.touched))
	for b := range zs.touched {
		buckets = append(buckets, b)
	}
	slices.Sort(buckets)
	values := owner.EncodeBuckets(zone, zs.owned, buckets)
	for _, b := range buckets {
		if err := s.pdns.SetMetadata(ctx, zone, owner.Kind(b), values[b]); err != nil {
			return fmt.Errorf("compacting ownership bucket %s: %w", owner.Kind(b), err)
		}
	}
	for len(zs.journal) > 0 {
		if err := s.pdns.SetMetadata(ctx, zone, zs.journal[0], []string{}); err != nil {
			return fmt.Errorf("emptying ownership journal %s: %w", zs.journal[0], err)
		}
		zs.journal = zs.journal[1:]
	}
	clear(zs.touched)
	return nil
}

// busy reports whether changes are waiting or still arriving.
func (s *Syncer) busy() bool {
	s.mu.Lock()
	n := len(s.dirty)
	s.mu.Unlock()
	return n > 0 || s.pending.Load() > 0
}

// postponeRectify moves every due rectify to at.
func (s *Syncer) postponeRectify(at time.Time) {
	for _, zs := range s.zones {
		if !zs.rectifyAt.IsZero() && zs.rectifyAt.Before(at) {
			zs.rectifyAt = at
		}
	}
}

func (s *Syncer) nextRectify() (time.Time, bool) {
	var due time.Time
	for _, zs := range s.zones {
		if !zs.rectifyAt.IsZero() && (due.IsZero() || zs.rectifyAt.Before(due)) {
			due = zs.rectifyAt
		}
	}
	return due, !due.IsZero()
}

// rectifyDue rectifies the zones whose names changed: API rectify is off
// (it would cost a whole-zone rectify per PATCH), so empty non-terminals
// and delegation flags are fixed here, once per burst.
func (s *Syncer) rectifyDue(ctx context.Context) {
	now := time.Now()
	for _, zone := range s.cfg.Zones {
		zs, ok := s.zones[zone]
		if !ok || zs.rectifyAt.IsZero() || zs.rectifyAt.After(now) {
			continue
		}
		zs.rectifyAt = time.Time{}
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.WriteTimeout)
		start := time.Now()
		err := s.pdns.Rectify(wctx, zone)
		if err == nil {
			err = s.pdns.FlushCache(wctx, zone)
		}
		cancel()
		s.log.Debug().Str("zone", zone).Dur("took", time.Since(start)).Msg("rectified zone")
		if err != nil {
			zs.rectifyAt = now.Add(s.cfg.RectifyDelay)
			s.log.Warn().Err(err).Str("zone", zone).Msg("rectify failed; will retry")
		}
	}
}
