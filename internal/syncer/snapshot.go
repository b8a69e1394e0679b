package syncer

import (
	"errors"
	"fmt"
	"io"
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
	s.mu.Lock()
	defer s.mu.Unlock()
	return SnapshotView{Zone: zone, Seq: s.position, ZoneSeq: s.desired.Seq(zone),
		Contributions: s.desired.Contributions(zone)}
}

// Position returns the stream sequence up to which every delivery is
// folded into the desired state.
func (s *Syncer) Position() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.position
}

// LoadSnapshot folds a zone snapshot into the desired state, before the
// stream is followed. Every entry is decoded and validated like a stream
// delivery, and must contribute records inside the snapshot's zone, which
// must be one of the syncer's; entries whose lease has run out by now are
// skipped. It returns how many entries it folded in. On error the state
// may hold part of the snapshot: call ResetDesired and replay the stream.
func (s *Syncer) LoadSnapshot(r *snapshot.Reader, now time.Time) (int, error) {
	h := r.Header()
	if !s.manages(h.Zone) {
		return 0, fmt.Errorf("loading snapshot: zone %s is not managed here", h.Zone)
	}
	s.mu.Lock()
	if s.desired.Len() == 0 && h.Count >= reserveMin {
		s.desired.Reserve(min(h.Count, reserveMax))
	}
	s.mu.Unlock()
	n := 0
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return n, fmt.Errorf("loading snapshot of %s: %w", h.Zone, err)
		}
		if !e.Expires.IsZero() && !e.Expires.After(now) {
			continue
		}
		m, err := events.Decode(e.Data)
		if err != nil {
			return n, fmt.Errorf("loading snapshot of %s: entry %d: %w", h.Zone, n, err)
		}
		if m.Tombstone() {
			return n, fmt.Errorf("loading snapshot of %s: entry %d (%s %s of %s) is a tombstone", h.Zone, n, m.Name, m.Type, m.Origin)
		}
		s.mu.Lock()
		zone, err := s.desired.Check(m)
		if err == nil && zone != h.Zone {
			err = fmt.Errorf("%s is in zone %s", m.Name, zone)
		}
		if err == nil {
			_, _, err = s.desired.ApplyLease(m, h.ZoneSeq, e.Expires)
		}
		if err == nil {
			s.markLocked(m.Key(), zone, true)
		}
		s.mu.Unlock()
		if err != nil {
			return n, fmt.Errorf("loading snapshot of %s: entry %d (%s %s of %s): %w", h.Zone, n, m.Name, m.Type, m.Origin, err)
		}
		n++
	}
	s.mu.Lock()
	s.desired.Advance(h.Zone, h.ZoneSeq)
	s.mu.Unlock()
	return n, nil
}

// StartAfter records that the stream is followed after seq: the smallest
// position of the snapshots loaded.
func (s *Syncer) StartAfter(seq uint64) {
	s.mu.Lock()
	s.position = seq
	s.mu.Unlock()
}

// ResetDesired empties the desired state (a snapshot failed to load),
// before the stream is replayed from its start.
func (s *Syncer) ResetDesired() {
	s.mu.Lock()
	s.desired = desired.New(s.cfg.Zones)
	clear(s.dirty)
	clear(s.seqDirty)
	s.position = 0
	s.mu.Unlock()
}

func (s *Syncer) manages(zone string) bool {
	for _, z := range s.cfg.Zones {
		if z == zone {
			return true
		}
	}
	return false
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
