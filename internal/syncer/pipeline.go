package syncer

import (
	"context"
	"fmt"
	"time"

	"github.com/zonecast/zonecast/internal/pdnsapi"
	"github.com/zonecast/zonecast/internal/rrset"
)

// The write pipeline: one batch's PATCHes are in flight at a time, and
// while PowerDNS works the batch's source plans the next one, so that
// PowerDNS, the slow side, never waits for the syncer's planning. The
// incremental flush (flush.go) and the full pass of a reconciliation
// (reconcile.go) are the two sources.

// source feeds the pipeline with batches.
type source interface {
	// next returns the next batch to write; nil when nothing is left.
	next(ctx context.Context) (*batch, error)
	// ahead plans while b is written: it is called as b leaves, then
	// every stageEvery until b's PATCHes return.
	ahead(ctx context.Context, b *batch)
	// abandon gives back what the source holds when the pipeline stops
	// on an error (and the source itself, when it stops early).
	abandon()
}

// stageEvery is how often a source plans ahead while a batch is in flight.
const stageEvery = 5 * time.Millisecond

// applied is the outcome of a batch's PATCHes.
type applied struct {
	rejected []pdnsapi.Rejection
	err      error
}

// disjoint is a source whose batches never share a key and are planned
// without the previous one's landing: the pipeline sends each before it
// lands the one before, so that PowerDNS does not wait for the
// bookkeeping (the full pass).
type disjoint interface{ disjoint() }

// write runs the pipeline over src until src has nothing left, and returns
// the RRsets written. A batch that fails goes back to the intake's marks,
// with what src still holds.
func (s *Syncer) write(ctx context.Context, src source) (int, error) {
	_, overlap := src.(disjoint)
	written := 0
	var landing *batch // written, to be landed once the next one has left
	var landingR applied
	settle := func() {
		if landing != nil {
			n, _ := s.land(ctx, landing, landingR) // a written batch lands without error
			written += n
			landing = nil
		}
	}
	for {
		b, err := src.next(ctx)
		if err != nil {
			settle()
			src.abandon()
			return written, err
		}
		if b == nil {
			settle()
			return written, nil
		}
		if err := s.claimBatch(ctx, b); err != nil {
			settle()
			s.gate.Uncount(b.zone, b.counted)
			s.requeueBatch(b)
			src.abandon()
			return written, err
		}
		done := s.send(ctx, b)
		settle()
		r := s.await(ctx, b, done, src)
		if r.err == nil && overlap {
			landing, landingR = b, r
			continue
		}
		n, err := s.land(ctx, b, r)
		written += n
		if err != nil {
			s.requeueBatch(b)
			src.abandon()
			return written, err
		}
	}
}

// send starts b's PATCHes; their outcome arrives on the channel.
func (s *Syncer) send(ctx context.Context, b *batch) <-chan applied {
	b.start = time.Now()
	done := make(chan applied, 1)
	go func() {
		actx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
		defer cancel()
		rejected, err := s.pdns.Apply(actx, b.zone, b.changes, b.always)
		done <- applied{rejected: rejected, err: err}
	}()
	return done
}

// await waits for b's PATCHes, letting src plan ahead meanwhile.
func (s *Syncer) await(ctx context.Context, b *batch, done <-chan applied, src source) applied {
	src.ahead(ctx, b)
	tick := time.NewTicker(stageEvery)
	defer tick.Stop()
	for {
		select {
		case r := <-done:
			return r
		case <-tick.C:
			src.ahead(ctx, b)
		}
	}
}

// land takes the outcome of a batch's PATCHes into the cached state: what
// PowerDNS now serves, the zone's position, the ownership it no longer
// needs, and a rectify when the zone's structure changed.
func (s *Syncer) land(ctx context.Context, b *batch, r applied) (int, error) {
	if r.err != nil {
		s.gate.Uncount(b.zone, b.counted)
		return 0, fmt.Errorf("applying %d rrsets to %s: %w", len(b.changes), b.zone, r.err)
	}
	s.m.ApplySeconds.Observe(time.Since(b.start).Seconds())
	s.m.BatchSize.Observe(float64(len(b.changes)))
	s.prog.setReachable(true)
	bad := s.reportRejected(b.zone, r.rejected)
	// PowerDNS refuses to rectify a presigned zone: its denial records
	// are the signer's.
	if b.zs.takeIn(b.zone, b.ch, bad) && !s.signed[b.zone] {
		s.rect.schedule(b.zone)
	}
	for _, c := range b.always {
		b.zs.actual.put(c.Set)
	}
	serial, wroteSOA := writtenSerial(b.always)
	s.prog.landed(b.zone, b.seq, b.seqKnown, serial, wroteSOA)
	written := len(b.changes) - len(r.rejected)
	s.m.Applied.WithLabelValues(b.zone).Add(float64(written))
	s.settleOwnership(ctx, b, bad)
	s.log.Debug().Str("zone", b.zone).Int("rrsets", len(b.changes)).Int("rejected", len(r.rejected)).
		Uint64("seq", b.seq).Dur("took", time.Since(b.start)).Int("claims", len(b.ch.Claims)).Dur("claim_took", b.claimTook).
		Msg("applied changes")
	return written, nil
}

// reportRejected counts and logs the RRsets PowerDNS refused, and returns
// their keys.
func (s *Syncer) reportRejected(zone string, rejected []pdnsapi.Rejection) map[rrset.Key]bool {
	bad := make(map[rrset.Key]bool, len(rejected))
	for _, r := range rejected {
		bad[r.Change.Set.Key] = true
		s.m.Rejected.WithLabelValues(zone).Inc()
		s.log.Error().Str("zone", zone).Str("name", r.Change.Set.Name).Str("type", r.Change.Set.Type).
			Str("reason", r.Reason).Strs("records", r.Change.Set.Records).Msg("powerdns rejected rrset")
	}
	return bad
}

// requeueBatch marks a batch's keys dirty again after it failed.
func (s *Syncer) requeueBatch(b *batch) {
	s.in.requeue(map[string][]rrset.Key{b.zone: b.keys})
}
