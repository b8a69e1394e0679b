package bus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// DefaultSnapshotBucket is the object store bucket of zone snapshots.
const DefaultSnapshotBucket = "zonecast_snapshots"

// snapshotSeqHeader carries a snapshot's stream position in its object's
// headers: a writer tells from the object's info alone whether its own
// state is newer.
const (
	snapshotSeqHeader     = "Zonecast-Seq"
	snapshotCreatedHeader = "Zonecast-Stream-Created" // the stream's creation, RFC 3339
)

// snapshotChunk is the object chunk size: fewer, larger messages for a
// snapshot of several megabytes (well under the 1 MiB default payload).
const snapshotChunk = 512 * 1024

// ErrNoSnapshot is returned when a zone has no snapshot.
var ErrNoSnapshot = errors.New("no snapshot")

// SnapshotStore keeps one snapshot per zone (the object's name) in a
// JetStream object store. Objects are checked against their SHA-256
// digest as they are read.
type SnapshotStore struct {
	obs jetstream.ObjectStore
}

// SnapshotInfo describes a stored snapshot.
type SnapshotInfo struct {
	Seq      uint64    // stream position the snapshot was taken at
	Created  time.Time // when the stream it was taken of was created
	Modified time.Time // when it was stored
	Size     uint64
}

// SnapshotBucket opens the snapshot bucket, creating it (file storage,
// replicas) if it is missing. It retries while JetStream is unavailable.
func SnapshotBucket(ctx context.Context, js jetstream.JetStream, bucket string, replicas int, log zerolog.Logger) (*SnapshotStore, error) {
	if bucket == "" {
		bucket = DefaultSnapshotBucket
	}
	if replicas <= 0 {
		replicas = 1
	}
	var obs jetstream.ObjectStore
	log = log.With().Str("component", "nats").Logger()
	err := retryJS(ctx, "opening snapshot bucket "+bucket, log, func(error) bool { return false },
		func(ctx context.Context) error {
			var err error
			obs, err = openOrCreate(ctx,
				func(ctx context.Context) (jetstream.ObjectStore, error) { return js.ObjectStore(ctx, bucket) },
				func(ctx context.Context) (jetstream.ObjectStore, error) {
					return js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
						Bucket:      bucket,
						Description: "zonecast: the newest snapshot of every zone, for new syncers",
						Storage:     jetstream.FileStorage,
						Replicas:    replicas,
					})
				})
			return err
		})
	if err != nil {
		return nil, err
	}
	return &SnapshotStore{obs: obs}, nil
}

// OpenSnapshots opens the snapshot object store without creating it (a
// dry run writes nothing).
func OpenSnapshots(ctx context.Context, js jetstream.JetStream, bucket string) (*SnapshotStore, error) {
	if bucket == "" {
		bucket = DefaultSnapshotBucket
	}
	obs, err := js.ObjectStore(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("opening snapshot bucket %s: %w", bucket, err)
	}
	return &SnapshotStore{obs: obs}, nil
}

// Info returns what the stored snapshot of zone says about itself;
// ErrNoSnapshot if there is none.
func (st *SnapshotStore) Info(ctx context.Context, zone string) (SnapshotInfo, error) {
	oi, err := st.obs.GetInfo(ctx, zone)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return SnapshotInfo{}, ErrNoSnapshot
	}
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("looking up the snapshot of %s: %w", zone, err)
	}
	return snapshotInfo(oi), nil
}

func snapshotInfo(oi *jetstream.ObjectInfo) SnapshotInfo {
	seq, _ := strconv.ParseUint(oi.Headers.Get(snapshotSeqHeader), 10, 64)
	created, _ := time.Parse(time.RFC3339Nano, oi.Headers.Get(snapshotCreatedHeader))
	return SnapshotInfo{Seq: seq, Created: created, Modified: oi.ModTime, Size: oi.Size}
}

// Open returns a reader of zone's snapshot; ErrNoSnapshot if there is
// none. Reading fails if the object does not match its digest. Close the
// reader when done.
func (st *SnapshotStore) Open(ctx context.Context, zone string) (io.ReadCloser, SnapshotInfo, error) {
	res, err := st.obs.Get(ctx, zone)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, SnapshotInfo{}, ErrNoSnapshot
	}
	if err != nil {
		return nil, SnapshotInfo{}, fmt.Errorf("opening the snapshot of %s: %w", zone, err)
	}
	oi, err := res.Info()
	if err != nil {
		_ = res.Close()
		return nil, SnapshotInfo{}, fmt.Errorf("opening the snapshot of %s: %w", zone, err)
	}
	return res, snapshotInfo(oi), nil
}

// Put stores what r yields as zone's snapshot, taken at stream position
// seq of the stream created at created, replacing the previous one once it
// is complete.
func (st *SnapshotStore) Put(ctx context.Context, zone string, seq uint64, created time.Time, r io.Reader) (SnapshotInfo, error) {
	h := nats.Header{}
	h.Set(snapshotSeqHeader, strconv.FormatUint(seq, 10))
	h.Set(snapshotCreatedHeader, created.UTC().Format(time.RFC3339Nano))
	oi, err := st.obs.Put(ctx, jetstream.ObjectMeta{Name: zone, Headers: h,
		Opts: &jetstream.ObjectMetaOptions{ChunkSize: snapshotChunk}}, r)
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("storing the snapshot of %s: %w", zone, err)
	}
	return snapshotInfo(oi), nil
}
