package syncer

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/desired"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/lease"
	"github.com/zonecast/zonecast/internal/rrset"
)

// The intake folds stream deliveries into the desired state and marks what
// changed for the writer. It runs on the follower's goroutine; the writer
// takes the marks (take) and never waits for more than the lock.

// dirtyEntry is a changed RRset as the intake left it for the writer.
type dirtyEntry struct {
	zone string
	set  rrset.Set // the merged desired RRset when it was marked
}

// intake is the desired state and the marks of what changed in it.
type intake struct {
	prefix       string
	signedPrefix string // the signer's subjects (signed zones)
	now          func() time.Time
	m            *Metrics
	prog         *progress
	log          zerolog.Logger

	mu       sync.Mutex // guards the fields below, but spare (the writer's)
	desired  *desired.State
	dirty    map[rrset.Key]dirtyEntry // changed RRsets not yet taken by the writer
	seqDirty map[string]bool          // zones whose sequence moved since the last take
	spare    map[rrset.Key]dirtyEntry // the writer's cleared copy, swapped in by take
	tracking bool                     // marks are kept (from the first full pass on)
	position uint64                   // every delivery up to this stream sequence is folded in
	// lastDelete is when a change that desires nothing was last marked.
	lastDelete time.Time

	// batch holds the signer's messages of one atomic batch until its
	// last arrives: a change of a signed zone (an RRset, its signatures,
	// the denial records around it) is taken by the writer whole.
	batch   []signedMsg
	batchID string

	pending atomic.Uint64 // from the last delivery: how far behind the stream the follower is
	wake    chan struct{} // the writer has changes to take
}

func newIntake(zones, signed []string, prefix, signedPrefix string, now func() time.Time, m *Metrics, prog *progress, log zerolog.Logger) *intake {
	in := &intake{prefix: prefix, signedPrefix: signedPrefix, now: now, m: m, prog: prog, log: log,
		desired: desired.New(zones), dirty: map[rrset.Key]dirtyEntry{}, seqDirty: map[string]bool{},
		spare: map[rrset.Key]dirtyEntry{}, wake: make(chan struct{}, 1)}
	in.desired.MarkSigned(signed)
	return in
}

// signedMsg is a decoded message of the signer, with its stream sequence.
type signedMsg struct {
	msg events.Message
	seq uint64
}

// HandleMessage folds one stream delivery, received at now, into the
// desired state. A delete marker, or a message whose lease has already run
// out (a replay right after a server restart can still hand it out),
// withdraws the subject's contribution. Invalid input is counted and
// logged, never applied, and never blocks what follows. It is safe to call
// from another goroutine than Run.
func (s *Syncer) HandleMessage(d events.Delivery, now time.Time) { s.in.handle(d, now) }

func (in *intake) handle(d events.Delivery, now time.Time) {
	subject, data, seq := d.Subject, d.Data, d.Seq
	if prev := in.pending.Swap(d.Pending); prev > 0 && d.Pending == 0 {
		in.log.Debug().Uint64("seq", seq).Msg("follower caught up with the stream")
	}
	log := func() *zerolog.Logger { // built only when something is logged
		l := in.log.With().Str("subject", subject).Uint64("seq", seq).Logger()
		return &l
	}
	if in.signedPrefix != "" && strings.HasPrefix(subject, in.signedPrefix+".") {
		in.handleSigned(d, log)
		return
	}
	in.foldBatch() // a batch always ends before the next message
	if d.Removed || (!d.Expires.IsZero() && !d.Expires.After(now)) {
		in.m.Messages.WithLabelValues("expired").Inc()
		key, origin, err := events.ParseSubject(in.prefix, subject)
		if err != nil {
			in.m.Invalid.WithLabelValues("subject").Inc()
			log().Warn().Err(err).Msg("ignoring delete marker with an invalid subject")
			return
		}
		in.withdraw(key, origin, seq)
		return
	}
	msg, err := events.DecodeWithSubject(in.prefix, subject, data)
	if err != nil {
		in.m.Invalid.WithLabelValues("message").Inc()
		log().Warn().Err(err).Msg("rejected invalid record event")
		// The invalid body replaced the subject's previous message in the
		// stream; withdraw that contribution so that a node which follows
		// and a node which replays end with the same state.
		if key, origin, perr := events.ParseSubject(in.prefix, subject); perr == nil {
			in.withdraw(key, origin, seq)
		}
		return
	}
	if msg.Tombstone() {
		in.m.Messages.WithLabelValues("tombstone").Inc()
	} else {
		in.m.Messages.WithLabelValues("set").Inc()
	}
	in.mu.Lock()
	if !in.tracking && d.Pending >= reserveMin && in.desired.Len() == 0 {
		in.desired.Reserve(int(min(d.Pending, reserveMax)) + 1)
	}
	zone, changed, err := in.desired.ApplyLease(msg, seq, d.Expires)
	if err == nil {
		in.markLocked(msg.Key(), zone, changed)
		in.position = max(in.position, seq)
	}
	in.mu.Unlock()
	if err != nil {
		in.m.Invalid.WithLabelValues("zone").Inc()
		log().Warn().Err(err).Str("name", msg.Name).Str("type", msg.Type).Str("origin", msg.Origin).
			Msg("rejected record event the syncer's zones do not allow")
		// Inside a zone (e.g. NS at the apex) the event still replaced the
		// subject's previous message: withdraw it, and let the zone's
		// sequence advance, as for any other invalid event.
		in.withdraw(msg.Key(), msg.Origin, seq)
		return
	}
	in.poke()
}

// handleSigned takes one message of the signer. The messages of one batch
// are held and folded in together, once its last has arrived (or, on a
// replay, when a later message shows that its last was replaced since).
func (in *intake) handleSigned(d events.Delivery, log func() *zerolog.Logger) {
	if d.Batch == "" || d.Batch != in.batchID {
		in.foldBatch()
	}
	msg, err := events.DecodeSignedWithSubject(in.signedPrefix, d.Subject, d.Data)
	if err != nil {
		in.m.Invalid.WithLabelValues("message").Inc()
		log().Warn().Err(err).Msg("rejected invalid signed record event")
		if key, origin, perr := events.ParseSignedSubject(in.signedPrefix, d.Subject); perr == nil {
			in.batch = append(in.batch, signedMsg{msg: events.Message{Name: key.Name, Type: key.Type, Origin: origin}, seq: d.Seq})
		}
	} else {
		if msg.Tombstone() {
			in.m.Messages.WithLabelValues("tombstone").Inc()
		} else {
			in.m.Messages.WithLabelValues("set").Inc()
		}
		in.batch = append(in.batch, signedMsg{msg: msg, seq: d.Seq})
	}
	in.batchID = d.Batch
	// With nothing left to deliver, a batch whose last message is missing
	// will not see it come (the stream stores a batch whole or not at all).
	if d.Batch == "" || d.BatchEnd || d.Pending == 0 {
		in.foldBatch()
	}
}

// foldBatch folds the held messages of the signer into the desired state
// at once, under one lock, so that the writer takes them together.
func (in *intake) foldBatch() {
	if len(in.batch) == 0 {
		in.batchID = ""
		return
	}
	type refused struct {
		msg events.Message
		err error
	}
	var bad []refused
	in.mu.Lock()
	for _, b := range in.batch {
		zone, changed, err := in.desired.ApplySigned(b.msg, b.seq)
		if err != nil {
			bad = append(bad, refused{b.msg, err})
			if z, changed, ok := in.desired.Withdraw(b.msg.Key(), b.msg.Origin, b.seq); ok {
				in.markLocked(b.msg.Key(), z, changed)
			}
		} else {
			in.markLocked(b.msg.Key(), zone, changed)
		}
		in.position = max(in.position, b.seq)
	}
	in.mu.Unlock()
	for _, r := range bad {
		in.m.Invalid.WithLabelValues("zone").Inc()
		in.log.Warn().Err(r.err).Str("name", r.msg.Name).Str("type", r.msg.Type).Str("origin", r.msg.Origin).
			Msg("rejected signed record event the syncer's zones do not allow")
	}
	in.batch, in.batchID = in.batch[:0], ""
	in.poke()
}

// get returns the merged desired RRset of key.
func (in *intake) get(key rrset.Key) rrset.Set {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.desired.Get(key)
}

// The first message of a replay says how many follow: the desired state
// makes room for them at once (bounded, as the count is the stream's word).
const (
	reserveMin = 1024
	reserveMax = 1 << 22
)

func (in *intake) withdraw(key rrset.Key, origin string, seq uint64) {
	in.mu.Lock()
	zone, changed, ok := in.desired.Withdraw(key, origin, seq)
	if ok {
		in.markLocked(key, zone, changed)
	}
	in.position = max(in.position, seq)
	in.mu.Unlock()
	if ok {
		in.poke()
	}
}

// markLocked marks key of zone for the writer; the caller holds in.mu.
func (in *intake) markLocked(key rrset.Key, zone string, changed bool) {
	if !in.tracking {
		// Before the first full pass, which plans from the whole
		// desired state: marks would only cost memory.
		in.prog.setDesired(in.desired.Len())
		return
	}
	if changed {
		set := in.desired.Get(key)
		in.dirty[key] = dirtyEntry{zone: zone, set: set}
		if len(set.Records) == 0 {
			in.lastDelete = in.now()
		}
	}
	in.seqDirty[zone] = true
	in.prog.setDesired(in.desired.Len())
}

// poke tells the writer that there are changes to take.
func (in *intake) poke() {
	select {
	case in.wake <- struct{}{}:
	default:
	}
}

func (in *intake) nextLeaseEnd() (time.Time, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.desired.NextExpiry()
}

// endLeases withdraws the contributions whose lease has run out by now, as
// the stream drops their messages then, and returns them. The zones' SOA
// serials stay: they follow stream sequences, and the tombstone that
// records the end (Config.LeasesEnded) brings the next one.
func (in *intake) endLeases(now time.Time) []lease.Ref {
	in.mu.Lock()
	ended := in.desired.ExpireDue(now)
	for _, e := range ended {
		if e.Changed && in.tracking {
			in.dirty[e.Key] = dirtyEntry{zone: e.Zone, set: in.desired.Get(e.Key)}
		}
	}
	if len(ended) > 0 {
		in.prog.setDesired(in.desired.Len())
	}
	in.mu.Unlock()
	if len(ended) == 0 {
		return nil
	}
	refs := make([]lease.Ref, len(ended))
	for i, e := range ended {
		refs[i] = e.Ref
		in.m.LeasesEnded.WithLabelValues(e.Zone).Inc()
	}
	in.log.Debug().Int("contributions", len(ended)).Msg("leases ended")
	in.poke()
	return refs
}

// swap hands the writer the marks made since the last swap, and the
// sequences of the zones that moved.
func (in *intake) swap() (map[rrset.Key]dirtyEntry, map[string]uint64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	taken := in.dirty
	if in.spare == nil {
		// While a burst arrives, make room for as many marks as came
		// since the last take: growing a map entry by entry costs
		// several times more.
		in.spare = make(map[rrset.Key]dirtyEntry, min(in.pending.Load(), uint64(len(taken)), dirtyHintMax))
	}
	in.dirty, in.spare = in.spare, nil
	var seqs map[string]uint64
	if len(in.seqDirty) > 0 {
		seqs = make(map[string]uint64, len(in.seqDirty))
		for z := range in.seqDirty {
			seqs[z] = in.desired.Seq(z)
		}
		clear(in.seqDirty)
	}
	return taken, seqs
}

// putBack marks again the keys of taken the writer held back, unless a
// newer mark came since, and the zones whose sequence it held; then it
// keeps taken for reuse if it is small.
func (in *intake) putBack(taken map[rrset.Key]dirtyEntry, keys []rrset.Key, zones map[string]bool) {
	in.mu.Lock()
	for _, k := range keys {
		if _, newer := in.dirty[k]; !newer {
			in.dirty[k] = taken[k]
		}
	}
	for z := range zones {
		in.seqDirty[z] = true
	}
	in.mu.Unlock()
	// Reuse a small map; clearing a big one costs its whole capacity at
	// every take, more than growing a fresh one.
	if len(taken) <= reuseMax {
		clear(taken)
		in.spare = taken
	}
}

// reuseMax is the size up to which take reuses the map of dirty marks;
// dirtyHintMax bounds the room made for the marks of a burst.
const (
	reuseMax     = 1024
	dirtyHintMax = 1 << 16
)

// requeue marks keys dirty again, with their current desired RRsets.
func (in *intake) requeue(keys map[string][]rrset.Key) {
	in.mu.Lock()
	for z, ks := range keys {
		for _, k := range ks {
			in.dirty[k] = dirtyEntry{zone: z, set: in.desired.Get(k)}
		}
		in.seqDirty[z] = true
	}
	in.mu.Unlock()
}

// seqMoved marks zone's sequence for the next take (its SOA may catch up).
func (in *intake) seqMoved(zone string) {
	in.mu.Lock()
	in.seqDirty[zone] = true
	in.mu.Unlock()
}

// pendingDeletes counts the marks of zone that desire nothing: deletions
// waiting to be planned.
func (in *intake) pendingDeletes(zone string) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	count := 0
	for _, e := range in.dirty {
		if e.zone == zone && len(e.set.Records) == 0 {
			count++
		}
	}
	return count
}

// busy reports whether changes are waiting or still arriving.
func (in *intake) busy() bool {
	in.mu.Lock()
	n := len(in.dirty)
	in.mu.Unlock()
	return n > 0 || in.pending.Load() > 0
}

func (in *intake) dirtyLen() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.dirty)
}

func (in *intake) lastDeletion() time.Time {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.lastDelete
}

func (in *intake) desiredLen() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.desired.Len()
}

// zonePass is one zone's share of a full pass.
type zonePass struct {
	sets      []rrset.Set
	undesired []rrset.Key // owned keys no longer desired
	seq       uint64
}

// takeAll takes the whole desired state for a full pass, with the owned
// keys no longer desired (owned returns a zone's owned set, nil if not
// loaded), and starts keeping marks: from now on the writer follows
// changes. HandleMessage waits only for this, not for PowerDNS. The sets
// settled reports true for are left out: the pass would have nothing to
// do with them, and after a reconciliation's read that is nearly the
// whole zone, which a copy would hold beside the desired state.
func (in *intake) takeAll(zones []string, owned func(zone string) map[rrset.Key]struct{}, settled func(zone string, set rrset.Set) bool) map[string]*zonePass {
	passes := make(map[string]*zonePass, len(zones))
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, z := range zones {
		passes[z] = &zonePass{seq: in.desired.Seq(z)}
	}
	if len(passes) == 1 && len(owned(zones[0])) == 0 {
		// Nothing owned, nothing settled (a new node): the pass takes
		// every set, sized once.
		passes[zones[0]].sets = make([]rrset.Set, 0, in.desired.Len())
	}
	in.desired.Each(func(zone string, set rrset.Set) {
		if p, ok := passes[zone]; ok && !settled(zone, set) {
			p.sets = append(p.sets, set)
		}
	})
	for zone, p := range passes {
		for k := range owned(zone) {
			if len(in.desired.Get(k).Records) == 0 {
				p.undesired = append(p.undesired, k)
			}
		}
	}
	clear(in.dirty)
	clear(in.seqDirty)
	in.tracking = true
	return passes
}
