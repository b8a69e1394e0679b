package bus

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// openOrCreate opens a bucket with open and, when it is missing, makes it
// with create. Several processes starting at once may all find it missing:
// those that lose the creation open what the winner made.
func openOrCreate[B any](ctx context.Context, open, create func(context.Context) (B, error)) (B, error) {
	b, err := open(ctx)
	if !bucketMissing(err) {
		return b, err
	}
	b, err = create(ctx)
	if bucketExists(err) {
		return open(ctx)
	}
	return b, err
}

// bucketMissing reports an error of opening a bucket that does not exist:
// a key-value bucket answers ErrBucketNotFound, an object store also
// ErrStreamNotFound.
func bucketMissing(err error) bool {
	return errors.Is(err, jetstream.ErrBucketNotFound) || errors.Is(err, jetstream.ErrStreamNotFound)
}

// bucketExists reports an error of creating a bucket that another process
// created meanwhile (or with other settings: opening it then says what it
// is).
func bucketExists(err error) bool {
	return errors.Is(err, jetstream.ErrBucketExists) || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse)
}

// KeyValueBucket opens the key-value bucket cfg.Bucket, creating it with
// cfg if it is missing.
func KeyValueBucket(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := openOrCreate(ctx,
		func(ctx context.Context) (jetstream.KeyValue, error) { return js.KeyValue(ctx, cfg.Bucket) },
		func(ctx context.Context) (jetstream.KeyValue, error) { return js.CreateKeyValue(ctx, cfg) })
	if err != nil {
		return nil, fmt.Errorf("opening key-value bucket %s: %w", cfg.Bucket, err)
	}
	return kv, nil
}
