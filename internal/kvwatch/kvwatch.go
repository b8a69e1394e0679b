// Package kvwatch follows a JetStream key-value bucket: its current values
// first, then every change, until the context ends.
package kvwatch

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Bucket is what Follow needs of a bucket (jetstream.KeyValue).
type Bucket interface {
	WatchAll(ctx context.Context, opts ...jetstream.WatchOpt) (jetstream.KeyWatcher, error)
}

// Follow calls entry with every value of kv (deletes and purges too, see
// Operation), then loaded once the current values are in (loaded may be
// nil), then entry with every change until ctx is done. what names the
// bucket in errors.
func Follow(ctx context.Context, kv Bucket, what string, entry func(jetstream.KeyValueEntry), loaded func()) error {
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watching %s: %w", what, err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("watching %s: %w", what, errStopped)
			}
			if e == nil { // the end of the current values
				if loaded != nil {
					loaded()
					loaded = nil
				}
				continue
			}
			entry(e)
		}
	}
}

var errStopped = errors.New("watcher stopped")
