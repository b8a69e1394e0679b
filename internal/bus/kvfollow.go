package bus

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Watchable is what FollowKV needs of a key-value bucket
// (jetstream.KeyValue).
type Watchable interface {
	WatchAll(ctx context.Context, opts ...jetstream.WatchOpt) (jetstream.KeyWatcher, error)
}

// FollowKV calls entry with every value of kv (deletes and purges too, see
// Operation), then loaded once the current values are in (loaded may be
// nil), then entry with every change until ctx is done. what names the
// bucket in errors.
func FollowKV(ctx context.Context, kv Watchable, what string, entry func(jetstream.KeyValueEntry), loaded func()) error {
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
				return fmt.Errorf("watching %s: %w", what, errWatchStopped)
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

var errWatchStopped = errors.New("watcher stopped")
