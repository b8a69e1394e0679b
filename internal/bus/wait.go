package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/retry"
)

// attemptTimeout bounds one JetStream API attempt of the retrying helpers.
const attemptTimeout = 5 * time.Second

// retryJS runs op until it succeeds, fails permanently (permanent(err)),
// or ctx ends. In a cluster the JetStream API answers only once a meta
// leader is elected (and a stream with R replicas needs R servers), so
// "unavailable" errors and timeouts are retried with backoff.
func retryJS(ctx context.Context, what string, log zerolog.Logger, permanent func(error) bool, op func(ctx context.Context) error) error {
	attempts := 0
	final := false
	err := retry.Loop{
		Backoff: reconnectBackoff,
		Attempt: attemptTimeout,
		Retryable: func(err error) bool {
			final = permanent(err)
			return !final
		},
		Notify: func(attempt int, err error, d time.Duration) {
			ev := log.Warn()
			if attempt < 4 {
				ev = log.Info() // the cluster electing its leaders is routine at start
			}
			ev.Err(err).Int("attempt", attempt).Dur("retry_in", d).Msgf("%s: jetstream not available yet", what)
		},
	}.Do(ctx, func(ctx context.Context) error {
		attempts++
		return op(ctx)
	})
	switch {
	case err == nil:
		if attempts > 1 {
			log.Info().Int("attempt", attempts).Msgf("%s succeeded", what)
		}
		return nil
	case final:
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}

// EnsureStreamWait is EnsureStream retried until JetStream can answer:
// in a cluster that is once a meta leader is elected and enough servers
// are up for the replicas. An incompatible stream fails at once.
func EnsureStreamWait(ctx context.Context, js jetstream.JetStream, cfg StreamConfig, log zerolog.Logger) (jetstream.Stream, error) {
	var st jetstream.Stream
	log = log.With().Str("component", "nats").Logger()
	err := retryJS(ctx, "ensuring stream "+cfg.withDefaults().Name, log,
		func(err error) bool { return errors.Is(err, ErrIncompatibleStream) },
		func(ctx context.Context) error {
			var err error
			st, err = EnsureStream(ctx, js, cfg)
			if errors.Is(err, ErrStreamOutdated) && st != nil {
				// Running on the stream as it is beats not running; an
				// admin must update it (any syncer with the admin user).
				log.Error().Err(err).Msg("could not update the record stream's settings: while it allows roll-ups, " +
					"any publisher may purge it; start one syncer with an admin user once to update it")
				return nil
			}
			return err
		})
	return st, err
}
