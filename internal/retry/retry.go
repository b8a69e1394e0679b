// Package retry is the one way zonecast waits between attempts: capped
// exponential backoff with jitter, and waits that end with their context.
package retry

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// Backoff is a capped exponential schedule: Min before the first retry,
// doubling up to Max, each delay stretched by up to Jitter (a fraction) so
// that a fleet does not retry in lockstep.
type Backoff struct {
	Min, Max time.Duration
	Jitter   float64
}

// Delay returns the pause before retry number n (from 0).
func (b Backoff) Delay(n int) time.Duration {
	d := b.Max
	if n < 32 && b.Min > 0 {
		d = min(b.Min<<max(n, 0), b.Max)
		if d <= 0 { // overflowed
			d = b.Max
		}
	}
	if b.Jitter > 0 && d > 0 {
		d += rand.N(time.Duration(float64(d)*b.Jitter) + 1)
	}
	return d
}

// Sleep waits d or until ctx ends; it reports whether the full wait passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Loop runs an operation until it succeeds, fails for good, or its context
// ends.
type Loop struct {
	Backoff
	// Retryable tells a failure worth another attempt from one that is
	// final; nil retries every failure.
	Retryable func(error) bool
	// Attempt, when set, bounds each attempt with its own timeout.
	Attempt time.Duration
	// Notify is told of each failure that is retried, with the attempt
	// number (from 1) and the pause before the next one.
	Notify func(attempt int, err error, wait time.Duration)
}

// Do calls op until it returns nil or an error Retryable rejects, which Do
// returns as it is. When ctx ends first, Do returns ctx's error joined
// with the last failure.
func (l Loop) Do(ctx context.Context, op func(ctx context.Context) error) error {
	for n := 1; ; n++ {
		err := l.once(ctx, op)
		if err == nil {
			return nil
		}
		if l.Retryable != nil && !l.Retryable(err) {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		}
		d := l.Delay(n - 1)
		if l.Notify != nil {
			l.Notify(n, err, d)
		}
		if !Sleep(ctx, d) {
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		}
	}
}

func (l Loop) once(ctx context.Context, op func(ctx context.Context) error) error {
	if l.Attempt <= 0 {
		return op(ctx)
	}
	actx, cancel := context.WithTimeout(ctx, l.Attempt)
	defer cancel()
	return op(actx)
}
