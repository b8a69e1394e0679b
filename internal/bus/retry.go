package bus

import (
	"context"
	"time"

	// Imported as retrypkg throughout package bus: its func retry takes
	// the package's name.
	retrypkg "github.com/zonecast/zonecast/internal/retry"
)

// retry calls attempt, each call bounded by per, until it succeeds, fails
// for good (not Retryable), or ctx ends, pausing RetryDelay between calls.
// A JetStream request sent during a leader election gets no answer; the
// same request after the election does, so it is sent again rather than
// waited for.
func retry(ctx context.Context, per time.Duration, attempt func(context.Context) error) error {
	return retrypkg.Loop{Backoff: publishBackoff, Attempt: per, Retryable: Retryable}.Do(ctx, attempt)
}
