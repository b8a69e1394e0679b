package gateway

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/dnsupdate"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/retry"
	"github.com/zonecast/zonecast/internal/rrset"
)

// How updates are stored
//
// An update is evaluated under g.mu against the desired state as the
// gateway knows it, including the changes still in flight; its messages
// are sent (jetstream async publish) and folded into the state at once, so
// the next update sees them, and the lock is released. The client is
// answered when JetStream has acknowledged its own messages. Many updates
// are thus stored at once instead of one per round trip.
//
// Order: messages are sent under g.mu, in evaluation order, on one
// connection, without client-side resends, so JetStream stores those it
// stores in that order: two updates of the same RRset are stored in the
// order they were evaluated.
//
// Prerequisites: an update with prerequisites that read an RRset (or a
// name) with messages in flight waits until they are acknowledged or
// failed, then is evaluated again. So an update is never stored on a
// prerequisite that a failed publish made true or false. An update without
// prerequisites may be evaluated on top of one in flight: if that one
// fails, the later one is still stored with what it said (a full
// contribution that includes the earlier change), which is what the
// stream then holds.
//
// Failures: a failed or unacknowledged publish answers SERVFAIL. Once no
// message of that subject is in flight, the subject's state goes back to
// the last value known to be stored (acknowledged or followed from the
// stream, whichever is newer); a message that was stored although its
// acknowledgement was lost comes back through the stream follower.
//
// Following: deliveries of a subject with messages in flight only update
// its last known stored value (ours are stored after them); deliveries
// older than an acknowledgement are not folded in, so the follower, which
// lags behind the acknowledgements, never takes a change back.
//
// Other gateways: every message is sent with compare-and-set on its
// subject's last stream sequence as this gateway knows it, so an update
// never overwrites what another gateway stored meanwhile (two DHCP servers
// with one key, two dyndns clients of one host). An update that would
// write a subject with a message of its own still in flight waits for it,
// since the sequence to expect is not known before. When JetStream refuses
// because another gateway came first, and nothing of the update was
// stored, the gateway reads what the stream holds on those subjects and
// evaluates the update again (casAttempts times at most).

// subject names one origin's contribution to one RRset: one stream subject.
type subject struct {
	key    rrset.Key
	origin string
}

// track is the bookkeeping of a subject written by this gateway until the
// follower has caught up with it.
type track struct {
	pending int                // messages in flight
	failed  bool               // one of them failed: restore val when pending is 0
	seq     uint64             // newest stream sequence known for the subject
	val     rrset.Contribution // the subject's value at seq (stored)
	end     time.Time          // val's lease end; zero: none
}

// inflight is one message sent and not yet resolved.
type inflight struct {
	sub subject
	c   rrset.Contribution
	end time.Time // its lease end, as the gateway reckons it
	f   jetstream.PubAckFuture
	t   *track
}

// sendLocked sends msgs in order and folds each into the state once sent.
// On error the messages before the failing one are in flight and returned
// with it; await must still be called for them.
func (g *Gateway) sendLocked(msgs []events.Message, lease time.Duration) ([]inflight, error) {
	sent := make([]inflight, 0, len(msgs))
	var end time.Time // the stream reckons from when it stores the message: a moment later
	if lease > 0 && len(msgs) > 0 {
		end = g.cfg.Now().Add(lease)
	}
	for i, m := range msgs {
		sub := subject{key: m.Key(), origin: m.Origin}
		t := g.tracks[sub]
		if t == nil {
			// The view holds what was stored up to the follower's position.
			t = &track{seq: g.idx.Seq(sub.key, sub.origin), val: g.idx.Own(sub.key, sub.origin),
				end: g.idx.LeaseEnd(sub.key, sub.origin)}
		}
		f, err := g.cfg.Publisher.PublishFutureIf(m, lease, t.seq)
		if err != nil {
			g.m.publishErrors.Inc()
			return sent, fmt.Errorf("publishing %s %s (%d of %d sent before): %w", m.Name, m.Type, i, len(msgs), err)
		}
		g.tracks[sub] = t
		t.pending++
		g.pendingKeys[sub.key]++
		g.pendingNames[sub.key.Name]++
		g.idx.ApplyLease(m, end)
		sent = append(sent, inflight{sub: sub, c: rrset.Contribution{TTL: m.TTL, Records: m.Records}, end: end, f: f, t: t})
	}
	return sent, nil
}

// errNotAcknowledged is the error of a publish whose acknowledgement did not
// arrive within Config.PublishTimeout: it may or may not be stored.
var errNotAcknowledged = errors.New("no acknowledgement from jetstream")

// await waits (without g.mu) for the acknowledgement of every message in
// sent, resolves them and returns how many were stored and the first error.
func (g *Gateway) await(ctx context.Context, sent []inflight) (int, error) {
	if len(sent) == 0 {
		return 0, nil
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, g.cfg.PublishTimeout)
	defer cancel()
	seqs := make([]uint64, len(sent))
	errs := make([]error, len(sent))
	for i, s := range sent {
		select {
		case ack := <-s.f.Ok():
			if err := g.cfg.Publisher.Check(ack); err != nil {
				errs[i] = err
				continue
			}
			seqs[i] = ack.Sequence
		case err := <-s.f.Err():
			errs[i] = err
		case <-ctx.Done():
			errs[i] = fmt.Errorf("%w: %w", errNotAcknowledged, ctx.Err())
		}
	}
	stored, first := g.resolveAll(sent, seqs, errs)
	if first == nil {
		first = g.confirmStored(parent, sent, seqs) // --confirm all|any (confirm.go)
	}
	return stored, first
}

// resolveAll resolves every message of sent and returns how many were
// stored and the first error.
func (g *Gateway) resolveAll(sent []inflight, seqs []uint64, errs []error) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	stored := 0
	var first error
	for i, s := range sent {
		g.resolveLocked(s, seqs[i], errs[i])
		if errs[i] == nil {
			stored++
		} else if first == nil {
			first = fmt.Errorf("publishing %s %s (%d of %d stored): %w", s.sub.key.Name, s.sub.key.Type, stored, len(sent), errs[i])
		}
	}
	return stored, first
}

// resolveLocked ends one message in flight: stored at seq, or failed.
func (g *Gateway) resolveLocked(s inflight, seq uint64, err error) {
	t := s.t
	t.pending--
	if g.pendingKeys[s.sub.key]--; g.pendingKeys[s.sub.key] <= 0 {
		delete(g.pendingKeys, s.sub.key)
	}
	if g.pendingNames[s.sub.key.Name]--; g.pendingNames[s.sub.key.Name] <= 0 {
		delete(g.pendingNames, s.sub.key.Name)
	}
	if err != nil {
		t.failed = true
		g.m.publishErrors.Inc()
	} else {
		g.m.published.Inc()
		if seq > t.seq {
			t.seq, t.val, t.end = seq, s.c, s.end
		}
		if t.pending == 0 && !t.failed {
			g.setLocked(s.sub, t.val, t.seq, t.end) // the view learns the sequence to expect next
		}
	}
	if t.pending == 0 {
		if t.failed {
			g.setLocked(s.sub, t.val, t.seq, t.end)
			t.failed = false
		}
		if t.seq <= g.delivered {
			delete(g.tracks, s.sub)
		}
	}
	g.settled.Broadcast()
}

// setLocked sets a subject's contribution, stored at seq with its lease
// end, in the view.
func (g *Gateway) setLocked(sub subject, c rrset.Contribution, seq uint64, end time.Time) {
	g.idx.ApplyAt(events.Message{Version: events.Version, Name: sub.key.Name, Type: sub.key.Type,
		Origin: sub.origin, TTL: c.TTL, Records: c.Records}, seq, end)
}

// writesPendingLocked reports whether msgs write a subject that has a
// message of this gateway in flight.
func (g *Gateway) writesPendingLocked(msgs []events.Message) bool {
	for _, m := range msgs {
		if t := g.tracks[subject{key: m.Key(), origin: m.Origin}]; t != nil && t.pending > 0 {
			return true
		}
	}
	return false
}

// casAttempts bounds how often one update is evaluated again after another
// gateway wrote one of its subjects first.
const casAttempts = 8

// commit sends what evaluate (called under g.mu, again after a lost race)
// returns, and waits for its acknowledgement; see "Other gateways" above.
// evaluate returns the messages and whether to send them at all.
func (g *Gateway) commit(ctx context.Context, lease time.Duration, evaluate func() ([]events.Message, bool)) (int, error) {
	// While the stream cannot take messages (a leader election), an
	// update of which nothing was stored is evaluated and sent again for
	// up to PublishTimeout, then answered SERVFAIL.
	unavailableUntil := time.Now().Add(g.cfg.PublishTimeout)
	for attempt, unavailable := 1, 0; ; attempt++ {
		g.mu.Lock()
		g.idx.ExpireDue(g.cfg.Now())
		msgs, ok := evaluate()
		for ok && g.writesPendingLocked(msgs) {
			g.settled.Wait()
			g.idx.ExpireDue(g.cfg.Now())
			msgs, ok = evaluate()
		}
		if !ok || len(msgs) == 0 {
			g.mu.Unlock()
			return 0, nil
		}
		sent, serr := g.sendLocked(msgs, lease)
		g.mu.Unlock()
		stored, err := g.await(ctx, sent)
		if serr != nil && err == nil {
			err = serr
		}
		if stored == 0 && bus.Retryable(err) && time.Now().Before(unavailableUntil) && ctx.Err() == nil {
			// Nothing of it stored, and the view is back to what is: the
			// next evaluation is the update's, not a repeat of a half.
			g.m.unavailable.Inc()
			d := bus.RetryDelay(unavailable)
			unavailable++
			if !retry.Sleep(ctx, d) {
				return 0, err
			}
			attempt-- // not a lost compare-and-set
			continue
		}
		if serr != nil {
			return stored, serr
		}
		if err == nil || stored > 0 || !bus.IsWrongLastSequence(err) || g.cfg.Last == nil || attempt == casAttempts {
			if err != nil && bus.IsWrongLastSequence(err) {
				g.m.casConflicts.WithLabelValues("failed").Inc()
			}
			return stored, err
		}
		g.m.casConflicts.WithLabelValues("retried").Inc()
		if rerr := g.refresh(ctx, sent); rerr != nil {
			return 0, fmt.Errorf("%w (and reading what another gateway stored: %w)", err, rerr)
		}
		// Gateways racing for one subject take turns rather than collide
		// again at once.
		if !retry.Sleep(ctx, rand.N(time.Duration(attempt)*time.Millisecond)) {
			return 0, err
		}
	}
}

// refresh reads what the stream holds on the subjects of sent (another
// gateway wrote them) into the view.
func (g *Gateway) refresh(ctx context.Context, sent []inflight) error {
	ctx, cancel := context.WithTimeout(ctx, g.cfg.PublishTimeout)
	defer cancel()
	lasts := make([]bus.Last, len(sent))
	for i, s := range sent {
		m := events.Message{Name: s.sub.key.Name, Type: s.sub.key.Type, Origin: s.sub.origin}
		l, err := g.cfg.Last(ctx, events.Subject(g.cfg.Prefix, m))
		if err != nil {
			return err
		}
		lasts[i] = l
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, s := range sent {
		l := lasts[i]
		var c rrset.Contribution
		end := l.LeaseEnd
		if l.Found && (end.IsZero() || end.After(g.cfg.Now())) {
			if m, err := events.DecodeWithSubject(g.cfg.Prefix, events.Subject(g.cfg.Prefix,
				events.Message{Name: s.sub.key.Name, Type: s.sub.key.Type, Origin: s.sub.origin}), l.Data); err == nil {
				c = rrset.Contribution{TTL: m.TTL, Records: m.Records}
			}
		}
		if t := g.tracks[s.sub]; t != nil {
			if t.pending > 0 {
				continue // a message of ours is in flight: it knows better
			}
			if l.Seq <= g.delivered {
				delete(g.tracks, s.sub) // the view, with what follows, holds it
			} else {
				t.seq, t.val, t.end = l.Seq, c, end
			}
		}
		// l.Seq is 0 when the subject holds nothing (the stream dropped
		// an expired message): that is what to expect next.
		g.setLocked(s.sub, c, l.Seq, end)
	}
	return nil
}

// observeLocked folds one delivery of the stream into the view, unless the
// gateway knows a newer value of its subject (see "Following" above).
func (g *Gateway) observeLocked(d events.Delivery) {
	if d.Seq > g.delivered {
		g.delivered = d.Seq
	}
	key, origin, err := events.ParseSubject(g.cfg.Prefix, d.Subject)
	if err != nil {
		return // not a record subject: nothing it could name is desired
	}
	g.noteChangeLocked(d, key, origin) // in stream order, whatever the view knows already
	sub := subject{key: key, origin: origin}
	t := g.tracks[sub]
	if t != nil && d.Seq <= t.seq {
		// Older than what the gateway knows, or its own acknowledged
		// message coming back: nothing to decode.
		if d.Seq == t.seq && t.pending == 0 {
			delete(g.tracks, sub) // caught up: the view holds this value
		}
		return
	}
	var c rrset.Contribution
	if !d.Removed && (d.Expires.IsZero() || d.Expires.After(g.cfg.Now())) {
		// An invalid message replaced the previous one: as syncers do,
		// treat it as a tombstone (c stays empty).
		if m, err := events.DecodeWithSubject(g.cfg.Prefix, d.Subject, d.Data); err == nil {
			c = rrset.Contribution{TTL: m.TTL, Records: m.Records}
		}
	}
	if t != nil {
		t.seq, t.val, t.end = d.Seq, c, d.Expires
		if t.pending > 0 {
			return // ours are stored after it
		}
		delete(g.tracks, sub)
	}
	g.setLocked(sub, c, d.Seq, d.Expires)
}

// pendingView is the view an update with prerequisites is evaluated on: it
// notes whether it read anything with messages in flight.
type pendingView struct {
	g    *Gateway
	read bool
}

func (v *pendingView) Parts(key rrset.Key) dnsupdate.Parts {
	if v.g.pendingKeys[key] > 0 {
		v.read = true
	}
	return v.g.idx.Parts(key)
}

func (v *pendingView) Types(name string) []string {
	if v.g.pendingNames[name] > 0 {
		v.read = true
	}
	return v.g.idx.Types(name)
}
