package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/retry"
)

// WaitStream waits until the stream exists, for record sources, which never
// create it (the syncer does). It retries with backoff (0.5 s doubling to
// 30 s, with jitter), logging why, until ctx is done.
func WaitStream(ctx context.Context, js jetstream.JetStream, name string, log zerolog.Logger) error {
	err := retry.Loop{
		Backoff: streamBackoff,
		Attempt: 10 * time.Second,
		Notify: func(_ int, err error, d time.Duration) {
			ev := log.Warn().Err(err).Str("stream", name).Dur("retry_in", d)
			switch {
			case errors.Is(err, jetstream.ErrStreamNotFound):
				ev.Msg("record stream does not exist yet; waiting for a zonecast-syncer to create it")
			case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, nats.ErrNoResponders):
				ev.Msg("jetstream is not available on this nats server; waiting")
			default:
				ev.Msg("looking up the record stream failed; retrying")
			}
		},
	}.Do(ctx, func(ctx context.Context) error {
		_, err := js.Stream(ctx, name)
		return err
	})
	if err != nil {
		return fmt.Errorf("waiting for stream %s: %w", name, err)
	}
	log.Info().Str("stream", name).Msg("record stream found")
	return nil
}

// streamBackoff paces the record sources waiting for a syncer to create
// the stream: that waits on another daemon's start, not on an election, so
// the pauses grow longer than a publish's.
var streamBackoff = retry.Backoff{Min: 500 * time.Millisecond, Max: 30 * time.Second, Jitter: 0.2}
