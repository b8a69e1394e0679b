package confirm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/status"
)

// Subscriber subscribes to core NATS subjects (*nats.Conn).
type Subscriber interface {
	Subscribe(subject string, cb nats.MsgHandler) (*nats.Subscription, error)
}

// Watcher watches a key-value bucket (jetstream.KeyValue).
type Watcher interface {
	WatchAll(ctx context.Context, opts ...jetstream.WatchOpt) (jetstream.KeyWatcher, error)
}

// Follow feeds t from the applied reports under prefix and from the
// status bucket until ctx is done. loaded is called once the bucket's
// current values are in (may be nil).
func Follow(ctx context.Context, t *Tracker, nc Subscriber, prefix string, kv Watcher, loaded func(), log zerolog.Logger) error {
	log = log.With().Str("component", "confirm").Logger()
	sub, err := nc.Subscribe(prefix+".>", func(m *nats.Msg) {
		r, err := Decode(m.Data)
		if err != nil {
			log.Debug().Err(err).Str("subject", m.Subject).Msg("ignoring applied report")
			return
		}
		t.Report(r, time.Now())
	})
	if err != nil {
		return fmt.Errorf("subscribing to %s.>: %w", prefix, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watching the status bucket: %w", err)
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
				return errors.New("watching the status bucket: watcher stopped")
			}
			if e == nil {
				if loaded != nil {
					loaded()
					loaded = nil
				}
				continue
			}
			if e.Operation() != jetstream.KeyValuePut {
				t.Remove(e.Key())
				continue
			}
			n, err := status.Decode(e.Value())
			if err != nil {
				log.Debug().Err(err).Str("node", e.Key()).Msg("ignoring node status")
				continue
			}
			t.Status(n, e.Created())
		}
	}
}
