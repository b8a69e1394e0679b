package bus

import (
	"context"
	"time"

	"github.com/zonecast/zonecast/internal/retry"
)

// resend calls attempt, each call bounded by per, until it succeeds, fails
// for good (not Retryable), or ctx ends, pausing RetryDelay between calls.
// A JetStream request sent during a leader election gets no answer; the
// same request after the election does, so it is sent again rather than
// waited for.
func resend(ctx context.Context, per time.Duration, attempt func(context.Context) error) error {
	return retry.Loop{Backoff: publishBackoff, Attempt: per, Retryable: Retryable}.Do(ctx, attempt)
}
