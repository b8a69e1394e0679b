package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/snapshot"
	"github.com/zonecast/zonecast/internal/syncer"
)

// snapshots loads the zones' snapshots at start, so that the follower
// replays only what came after them, and stores this node's own snapshots
// while it runs (docs/fleet.md, "Snapshots").
type snapshots struct {
	store   *bus.SnapshotStore
	stream  string
	created time.Time // the stream's creation: a snapshot of an older stream of that name is refused
	zones   []string
	every   time.Duration // how old the stored snapshot must be before this node replaces it; 0: never store
	s       *syncer.Syncer
	m       *syncer.Metrics
	log     zerolog.Logger
}

// load folds every zone's stored snapshot into the desired state and
// returns the stream sequence to follow after; 0 (replay the whole
// stream) if a zone has no usable snapshot. lastSeq is the stream's last
// sequence now.
func (sn *snapshots) load(ctx context.Context, lastSeq uint64) uint64 {
	start := time.Now()
	after := uint64(math.MaxUint64)
	loaded := 0
	actx, stop := context.WithCancel(ctx)
	defer stop()
	ahead := sn.readAhead(actx)
	for i, zone := range sn.zones {
		h, n, err := sn.loadZone(ctx, zone, <-ahead[i], lastSeq)
		if err != nil {
			sn.s.ResetDesired()
			result := "failed"
			switch {
			case errors.Is(err, bus.ErrNoSnapshot):
				result = "missing"
				sn.log.Info().Str("zone", zone).Msg("no snapshot of the zone; replaying the whole stream")
			case errors.Is(err, snapshot.ErrFormat), errors.Is(err, errRefused):
				result = "refused"
				sn.log.Warn().Err(err).Str("zone", zone).Msg("refused the zone's snapshot; replaying the whole stream")
			default:
				sn.log.Warn().Err(err).Str("zone", zone).Msg("could not load the zone's snapshot; replaying the whole stream")
			}
			sn.m.Snapshots.WithLabelValues("load", result).Inc()
			return 0
		}
		sn.m.Snapshots.WithLabelValues("load", "ok").Inc()
		sn.log.Debug().Str("zone", zone).Uint64("seq", h.Seq).Int("entries", n).Time("taken", h.Taken).
			Msg("loaded the zone's snapshot")
		after = min(after, h.Seq)
		loaded += n
	}
	sn.s.StartAfter(after)
	sn.log.Info().Int("zones", len(sn.zones)).Int("entries", loaded).Uint64("seq", after).
		Dur("took", time.Since(start)).Msg("loaded snapshots; replaying the stream after them")
	return after
}

// errRefused is wrapped by load errors about a snapshot of another stream.
var errRefused = errors.New("snapshot refused")

// Snapshots are read ahead of their folding into the desired state, a few
// at a time: each is an object-store read from NATS with round trips of
// its own, which a node of many small zones would otherwise wait for one
// after the other. A snapshot larger than readAheadMax is left to be read in turn,
// streamed, so that reading ahead never holds large ones in memory.
const (
	readAheadMax     = 1 << 20
	readAheadReaders = 8
)

// early is a snapshot read ahead: its bytes, or the error of opening it;
// neither (a large snapshot) means it is to be read in turn.
type early struct {
	data []byte
	err  error
}

// readAhead reads the zones' snapshots in the background, readAheadReaders
// at a time, and returns a channel per zone, in sn.zones' order, that
// gives what was read. Cancelling ctx ends it.
func (sn *snapshots) readAhead(ctx context.Context) []chan early {
	out := make([]chan early, len(sn.zones))
	for i := range out {
		out[i] = make(chan early, 1)
	}
	sem := make(chan struct{}, readAheadReaders)
	go func() {
		for i, zone := range sn.zones {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			go func() {
				defer func() { <-sem }()
				out[i] <- sn.readEarly(ctx, zone)
			}()
		}
	}()
	return out
}

func (sn *snapshots) readEarly(ctx context.Context, zone string) early {
	rc, info, err := sn.store.Open(ctx, zone)
	if err != nil {
		return early{err: err}
	}
	defer rc.Close()
	if info.Size > readAheadMax {
		return early{}
	}
	data, err := io.ReadAll(io.LimitReader(rc, readAheadMax+1))
	if err != nil {
		return early{err: fmt.Errorf("reading the snapshot of %s: %w", zone, err)}
	}
	if len(data) > readAheadMax {
		return early{} // grew since its info was read
	}
	return early{data: data}
}

// loadZone folds zone's snapshot, as read ahead (e), into the desired
// state.
func (sn *snapshots) loadZone(ctx context.Context, zone string, e early, lastSeq uint64) (snapshot.Header, int, error) {
	if e.err != nil {
		return snapshot.Header{}, 0, e.err
	}
	var src io.Reader = bytes.NewReader(e.data)
	if e.data == nil {
		rc, _, err := sn.store.Open(ctx, zone)
		if err != nil {
			return snapshot.Header{}, 0, err
		}
		defer rc.Close()
		src = rc
	}
	r, err := snapshot.NewReader(src)
	if err != nil {
		return snapshot.Header{}, 0, err
	}
	h := r.Header()
	switch {
	case h.Zone != zone:
		err = fmt.Errorf("%w: it holds zone %s", errRefused, h.Zone)
	case h.Stream != sn.stream:
		err = fmt.Errorf("%w: it was taken of stream %s", errRefused, h.Stream)
	case !h.Created.Equal(sn.created):
		err = fmt.Errorf("%w: it was taken of a stream created %s, not of this one (%s)", errRefused, h.Created, sn.created)
	case h.Seq > lastSeq:
		err = fmt.Errorf("%w: its sequence %d is beyond the stream's last (%d)", errRefused, h.Seq, lastSeq)
	}
	if err != nil {
		return h, 0, err
	}
	n, err := sn.s.LoadSnapshot(r, time.Now())
	return h, n, err
}

// run stores snapshots once the syncer is ready, then every sn.every.
func (sn *snapshots) run(ctx context.Context, ready <-chan struct{}) {
	if sn.every <= 0 {
		return
	}
	select {
	case <-ctx.Done():
		return
	case <-ready:
	}
	t := time.NewTicker(sn.every)
	defer t.Stop()
	for {
		sn.storeDue(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// storeDue stores the snapshot of every zone whose stored snapshot is
// missing, of another stream, or behind this node and older than sn.every
// (in a fleet, one node's snapshot serves them all).
func (sn *snapshots) storeDue(ctx context.Context) {
	for _, zone := range sn.zones {
		info, err := sn.store.Info(ctx, zone)
		switch {
		case errors.Is(err, bus.ErrNoSnapshot):
		case err != nil:
			sn.m.Snapshots.WithLabelValues("store", "failed").Inc()
			sn.log.Warn().Err(err).Str("zone", zone).Msg("could not look up the zone's snapshot")
			continue
		case !info.Created.Equal(sn.created):
		case info.Seq >= sn.s.Position() || time.Since(info.Modified) < sn.every:
			continue
		}
		if err := sn.storeZone(ctx, zone); err != nil {
			if ctx.Err() != nil {
				return
			}
			sn.m.Snapshots.WithLabelValues("store", "failed").Inc()
			sn.log.Warn().Err(err).Str("zone", zone).Msg("could not store the zone's snapshot")
		}
	}
}

func (sn *snapshots) storeZone(ctx context.Context, zone string) error {
	start := time.Now()
	v := sn.s.Snapshot(zone)
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(v.Write(pw, sn.stream, sn.created, start)) }()
	info, err := sn.store.Put(ctx, zone, v.Seq, sn.created, pr)
	pr.CloseWithError(errors.New("snapshot not stored")) // ends the writer if Put stopped early
	if err != nil {
		return err
	}
	sn.m.Snapshots.WithLabelValues("store", "ok").Inc()
	sn.log.Info().Str("zone", zone).Uint64("seq", v.Seq).Int("entries", len(v.Contributions)).
		Uint64("bytes", info.Size).Dur("took", time.Since(start)).Msg("stored the zone's snapshot")
	return nil
}
