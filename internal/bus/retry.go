package bus

import (
	"context"
	"fmt"
	"time"
)

// retry calls attempt, each call bounded by per, until it succeeds, fails
// for good (not Retryable), or ctx ends, pausing RetryDelay between calls.
// A JetStream request sent during a leader election gets no answer; the
// same request after the election does, so it is sent again rather than
// waited for.
func retry(ctx context.Context, per time.Duration, attempt func(context.Context) error) error {
	for n := 0; ; n++ {
		actx, cancel := context.WithTimeout(ctx, per)
		err := attempt(actx)
		cancel()
		if err == nil || !Retryable(err) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (gave up: %w)", err, ctx.Err())
		case <-time.After(RetryDelay(n)):
		}
	}
}
