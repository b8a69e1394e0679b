package confirm

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/status"
)

// Subscriber subscribes to core NATS subjects (*nats.Conn).
type Subscriber interface {
	Subscribe(subject string, cb nats.MsgHandler) (*nats.Subscription, error)
}

// Follow feeds t from the applied reports of stream's fleet under prefix
// and from the status bucket until ctx is done; statuses of another
// stream's nodes (fleets sharing one bucket) are ignored. loaded is called
// once the bucket's current values are in (may be nil).
func Follow(ctx context.Context, t *Tracker, nc Subscriber, prefix, stream string, kv bus.Watchable, loaded func(), log zerolog.Logger) error {
	log = log.With().Str("component", "confirm").Logger()
	filter := events.AppliedFilter(prefix, stream)
	sub, err := nc.Subscribe(filter, func(m *nats.Msg) {
		r, err := events.DecodeApplied(m.Data)
		if err != nil {
			log.Debug().Err(err).Str("subject", m.Subject).Msg("ignoring applied report")
			return
		}
		t.Report(r, time.Now())
	})
	if err != nil {
		return fmt.Errorf("subscribing to %s: %w", filter, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	return bus.FollowKV(ctx, kv, "the status bucket", func(e jetstream.KeyValueEntry) {
		if e.Operation() != jetstream.KeyValuePut {
			t.Remove(e.Key())
			return
		}
		n, err := status.Decode(e.Value())
		if err != nil {
			log.Debug().Err(err).Str("node", e.Key()).Msg("ignoring node status")
			return
		}
		if n.Stream != "" && n.Stream != stream {
			return // another fleet's node
		}
		t.Status(n, e.Created())
	}, loaded)
}
