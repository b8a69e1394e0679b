// Package zonestore keeps the fleet's zone list (internal/zonelist) in a
// JetStream key-value bucket, one key per zone (zonelist.Key): admins
// add and remove zones, every syncer follows it. A removed zone's key
// keeps its delete marker, which tells the syncers, also those started
// later, to withdraw from the zone.
package zonestore

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/zonelist"
)

// DefaultBucket is the bucket of the zone list.
const DefaultBucket = bus.DefaultZoneBucket

// Errors of Add and Remove.
var (
	ErrExists   = errors.New("zone already listed")
	ErrNotFound = errors.New("zone not listed")
)

// Store reads and writes the zone list.
type Store struct {
	kv     jetstream.KeyValue
	bucket string
}

// Ensure opens the bucket, creating it with replicas copies if it is
// missing: the syncers do, as they do the status bucket.
func Ensure(ctx context.Context, js jetstream.JetStream, bucket string, replicas int) (*Store, error) {
	if bucket == "" {
		bucket = DefaultBucket
	}
	kv, err := bus.KeyValueBucket(ctx, js, config(bucket, replicas))
	if err != nil {
		return nil, err
	}
	return &Store{kv: kv, bucket: bucket}, nil
}

func config(bucket string, replicas int) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      bucket,
		Description: "zonecast: the fleet's zone list, one key per zone",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
	}
}

// ErrNoBucket is returned by Open when the bucket does not exist.
var ErrNoBucket = errors.New("no zone list bucket (the syncers make it at their start)")

// Open opens the existing bucket: the operators' commands and dry runs,
// which create nothing.
func Open(ctx context.Context, js jetstream.JetStream, bucket string) (*Store, error) {
	if bucket == "" {
		bucket = DefaultBucket
	}
	kv, err := js.KeyValue(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("opening zone list %s: %w", bucket, ErrNoBucket)
	}
	if err != nil {
		return nil, fmt.Errorf("opening zone list %s: %w", bucket, err)
	}
	return &Store{kv: kv, bucket: bucket}, nil
}

// Bucket returns the bucket's name.
func (s *Store) Bucket() string { return s.bucket }

// Add validates z and lists it, and returns it as stored. A zone listed
// already gives ErrExists, and the list stays as it was; a zone removed
// before is listed again.
func (s *Store) Add(ctx context.Context, z zonelist.Zone) (zonelist.Zone, error) {
	z, err := z.Validate()
	if err != nil {
		return zonelist.Zone{}, err
	}
	key, err := zonelist.Key(z.Name)
	if err != nil {
		return zonelist.Zone{}, err
	}
	b, err := zonelist.Encode(z)
	if err != nil {
		return zonelist.Zone{}, err
	}
	if _, err := s.kv.Create(ctx, key, b); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return zonelist.Zone{}, fmt.Errorf("adding %s: %w", z.Name, ErrExists)
		}
		return zonelist.Zone{}, fmt.Errorf("adding %s to zone list %s: %w", z.Name, s.bucket, err)
	}
	return z, nil
}

// Get returns the entry of zone; ErrNotFound if it is not listed.
func (s *Store) Get(ctx context.Context, zone string) (zonelist.Zone, error) {
	z, _, err := s.get(ctx, zone)
	return z, err
}

func (s *Store) get(ctx context.Context, zone string) (zonelist.Zone, uint64, error) {
	key, err := zonelist.Key(zone)
	if err != nil {
		return zonelist.Zone{}, 0, err
	}
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return zonelist.Zone{}, 0, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	if err != nil {
		return zonelist.Zone{}, 0, fmt.Errorf("reading %s from zone list %s: %w", key, s.bucket, err)
	}
	z, err := zonelist.Decode(key, e.Value())
	return z, e.Revision(), err
}

// Remove takes zone off the list and returns its last entry; ErrNotFound
// if it is not listed. Only the revision read is deleted: an entry
// changed meanwhile gives an error, and stays.
func (s *Store) Remove(ctx context.Context, zone string) (zonelist.Zone, error) {
	z, rev, err := s.get(ctx, zone)
	if err != nil && rev == 0 {
		return zonelist.Zone{}, err
	}
	// An entry that does not decode may be removed too: z then names the
	// zone only.
	key, _ := zonelist.Key(zone)
	if err != nil {
		z = zonelist.Zone{Name: key + "."}
	}
	if err := s.kv.Delete(ctx, key, jetstream.LastRevision(rev)); err != nil {
		return zonelist.Zone{}, fmt.Errorf("removing %s from zone list %s: %w", key, s.bucket, err)
	}
	return z, nil
}

// Load reads the whole list at once.
func (s *Store) Load(ctx context.Context) (*zonelist.List, error) {
	l := zonelist.NewList()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	loaded := false
	err := bus.FollowKV(ctx, s.kv, "zone list "+s.bucket, func(e jetstream.KeyValueEntry) { take(l, e) },
		func() { loaded = true; cancel() })
	if err != nil {
		return nil, err
	}
	if !loaded {
		return nil, fmt.Errorf("reading zone list %s: %w", s.bucket, context.Cause(ctx))
	}
	return l, nil
}

// Follow reads the list, calls update with it once loaded, then again
// with the whole list after every change, until ctx is done (nil) or the
// watch fails. update gets a copy of its own; it runs on Follow's
// goroutine.
func (s *Store) Follow(ctx context.Context, update func(*zonelist.List)) error {
	l := zonelist.NewList()
	loaded := false
	return bus.FollowKV(ctx, s.kv, "zone list "+s.bucket, func(e jetstream.KeyValueEntry) {
		take(l, e)
		if loaded {
			update(l.Clone())
		}
	}, func() {
		loaded = true
		update(l.Clone())
	})
}

// take folds one entry into l; a bad value is recorded in l.Bad.
func take(l *zonelist.List, e jetstream.KeyValueEntry) {
	if e.Operation() == jetstream.KeyValuePut {
		_ = l.Put(e.Key(), e.Value())
		return
	}
	l.Delete(e.Key())
}
