package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// WaitStream waits until the stream exists, for record sources, which never
// create it (the syncer does). It retries with backoff (0.5 s doubling to
// 30 s), logging why, until ctx is done.
func WaitStream(ctx context.Context, js jetstream.JetStream, name string, log zerolog.Logger) error {
	d := 500 * time.Millisecond
	for {
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := js.Stream(lctx, name)
		cancel()
		if err == nil {
			log.Info().Str("stream", name).Msg("record stream found")
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("waiting for stream %s: %w (last error: %w)", name, ctx.Err(), err)
		}
		ev := log.Warn().Err(err).Str("stream", name).Dur("retry_in", d)
		switch {
		case errors.Is(err, jetstream.ErrStreamNotFound):
			ev.Msg("record stream does not exist yet; waiting for a zonecast-syncer to create it")
		case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, nats.ErrNoResponders):
			ev.Msg("jetstream is not available on this nats server; waiting")
		default:
			ev.Msg("looking up the record stream failed; retrying")
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("waiting for stream %s: %w (last error: %w)", name, ctx.Err(), err)
		case <-t.C:
		}
		d = min(2*d, 30*time.Second)
	}
}
