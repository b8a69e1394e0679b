package syncer

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zonecast/zonecast/internal/desired"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/snapshot"
)

// A zone snapshot is the zone's desired state at a stream position, kept
// in NATS by the syncers of a fleet: a new node loads it and follows the
// stream after that position instead of replaying all of it.

// SnapshotView is what a snapshot of one zone is written from.
type SnapshotView struct {
	Zone          string
	Seq           uint64 // every delivery up to this stream sequence is folded in
	ZoneSeq       uint64 // the zone's sequence (its SOA serial)
	Contributions []desired.Contributed
}

// Snapshot returns a consistent view of zone's desired state.
func (s *Syncer) Snapshot(zone string) SnapshotView {
	s.in.mu.Lock()
	defer s.in.mu.Unlock()
	return SnapshotView{Zone: zone, Seq: s.in.position, ZoneSeq: s.in.desired.Seq(zone),
		Contributions: s.in.desired.Contributions(zone)}
}

// Position returns the stream sequence up to which every delivery is
// folded into the desired state.
func (s *Syncer) Position() uint64 {
	s.in.mu.Lock()
	defer s.in.mu.Unlock()
	return s.in.position
}

// LoadSnapshot folds a zone snapshot into the desired state, before the
// stream is followed. Every entry is decoded and validated like a stream
// delivery, and must contribute records inside the snapshot's zone, which
// must be one of the syncer's; entries whose lease has run out by now are
// skipped. It returns how many entries it folded in. On error the state
// may hold part of the snapshot: call ResetDesired and replay the stream.
//
// Entries are decoded by loadWorkers goroutines, in batches; the fold
// takes the lock once per batch. (A snapshot's subjects are distinct, so
// the order of the fold does not matter.)
func (s *Syncer) LoadSnapshot(r *snapshot.Reader, now time.Time) (int, error) {
	h := r.Header()
	if !slices.Contains(s.cfg.Zones, h.Zone) {
		return 0, fmt.Errorf("loading snapshot: zone %s is not managed here", h.Zone)
	}
	s.in.mu.Lock()
	if s.in.desired.Len() == 0 && h.Count >= reserveMin {
		s.in.desired.Reserve(min(h.Count, reserveMax))
	}
	s.in.mu.Unlock()

	free := make(chan *loadBatch, 2*loadWorkers)
	for range cap(free) {
		free <- &loadBatch{}
	}
	work := make(chan *loadBatch)
	var (
		wg      sync.WaitGroup
		failed  atomic.Bool
		errOnce sync.Once
		loadErr error
		loaded  atomic.Int64
	)
	fail := func(err error) {
		errOnce.Do(func() { loadErr = err })
		failed.Store(true)
	}
	for range loadWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var msgs []events.Message
			for b := range work {
				if !failed.Load() {
					var err error
					if msgs, err = s.decodeBatch(h.Zone, b, msgs[:0]); err != nil {
						fail(err)
					} else if err := s.foldBatch(h, b, msgs); err != nil {
						fail(err)
					} else {
						loaded.Add(int64(len(msgs)))
					}
				}
				free <- b
			}
		}()
	}
	var readErr error
	b := <-free
	b.reset()
	for !failed.Load() {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			readErr = fmt.Errorf("loading snapshot of %s: %w", h.Zone, err)
			break
		}
		if !e.Expires.IsZero() && !e.Expires.After(now) {
			continue
		}
		b.add(e)
		if len(b.ends) == loadBatchSize {
			work <- b
			b = <-free
			b.reset()
		}
	}
	if readErr == nil && len(b.ends) > 0 {
		work <- b
	}
	close(work)
	wg.Wait()
	if readErr != nil {
		return int(loaded.Load()), readErr
	}
	if loadErr != nil {
		return int(loaded.Load()), loadErr
	}
	s.in.mu.Lock()
	s.in.desired.Advance(h.Zone, h.ZoneSeq)
	s.in.mu.Unlock()
	return int(loaded.Load()), nil
}

// Batches of a snapshot load.
const (
	loadWorkers   = 2
	loadBatchSize = 512
)

// loadBatch holds the bodies of a few snapshot entries, back to back.
type loadBatch struct {
	buf     []byte
	ends    []int
	expires []time.Time
}

func (b *loadBatch) reset() {
	b.buf, b.ends, b.expires = b.buf[:0], b.ends[:0], b.expires[:0]
}

func (b *loadBatch) add(e snapshot.Entry) {
	b.buf = append(b.buf, e.Data...)
	b.ends = append(b.ends, len(b.buf))
	b.expires = append(b.expires, e.Expires)
}

// decodeBatch decodes and checks a batch's entries, appending them to msgs.
func (s *Syncer) decodeBatch(zone string, b *loadBatch, msgs []events.Message) ([]events.Message, error) {
	decode := events.Decode
	if s.signed[zone] {
		decode = events.DecodeSigned
	}
	from := 0
	for _, to := range b.ends {
		m, err := decode(b.buf[from:to])
		from = to
		if err != nil {
			return msgs, fmt.Errorf("loading snapshot of %s: %w", zone, err)
		}
		if m.Tombstone() {
			return msgs, fmt.Errorf("loading snapshot of %s: %s %s of %s is a tombstone", zone, m.Name, m.Type, m.Origin)
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

// foldBatch folds decoded entries of the snapshot with header h.
func (s *Syncer) foldBatch(h snapshot.Header, b *loadBatch, msgs []events.Message) error {
	s.in.mu.Lock()
	defer s.in.mu.Unlock()
	for i, m := range msgs {
		var zone string
		var err error
		if s.signed[h.Zone] {
			zone, _, err = s.in.desired.ApplySigned(m, h.ZoneSeq)
		} else if zone, err = s.in.desired.Check(m); err == nil && zone == h.Zone {
			_, _, err = s.in.desired.ApplyLease(m, h.ZoneSeq, b.expires[i])
		}
		if err == nil && zone != h.Zone {
			err = fmt.Errorf("%s is in zone %s", m.Name, zone)
		}
		if err != nil {
			return fmt.Errorf("loading snapshot of %s: %s %s of %s: %w", h.Zone, m.Name, m.Type, m.Origin, err)
		}
		s.in.markLocked(m.Key(), zone, true)
	}
	return nil
}

// StartAfter records that the stream is followed after seq: the smallest
// position of the snapshots loaded.
func (s *Syncer) StartAfter(seq uint64) {
	s.in.mu.Lock()
	s.in.position = seq
	s.in.mu.Unlock()
}

// ResetDesired empties the desired state (a snapshot failed to load),
// before the stream is replayed from its start.
func (s *Syncer) ResetDesired() {
	s.in.mu.Lock()
	s.in.desired = desired.New(s.cfg.Zones)
	s.in.desired.MarkSigned(s.cfg.Signed)
	clear(s.in.dirty)
	clear(s.in.seqDirty)
	s.in.position = 0
	s.in.mu.Unlock()
}

// Write encodes the view as a snapshot of stream (created at created),
// taken at taken.
func (v SnapshotView) Write(w io.Writer, stream string, created, taken time.Time) error {
	sw, err := snapshot.NewWriter(w, snapshot.Header{Zone: v.Zone, Stream: stream, Created: created,
		Seq: v.Seq, ZoneSeq: v.ZoneSeq, Taken: taken, Count: len(v.Contributions)})
	if err != nil {
		return err
	}
	for _, c := range v.Contributions {
		m := events.Message{Version: events.Version, Name: c.Key.Name, Type: c.Key.Type, Origin: c.Origin,
			TTL: c.TTL, Records: c.Records}
		data, err := events.Encode(m)
		if err != nil {
			return fmt.Errorf("encoding %s for the snapshot of %s: %w", c.Key, v.Zone, err)
		}
		if err := sw.Add(snapshot.Entry{Data: data, Expires: c.Expires}); err != nil {
			return err
		}
	}
	return sw.Close()
}
