package retry

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

func TestDelayDoublesToTheCap(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for n, w := range want {
		if got := b.Delay(n); got != w*time.Millisecond {
			t.Errorf("Delay(%d) = %v, want %v", n, got, w*time.Millisecond)
		}
	}
	if got := b.Delay(1000); got != time.Second {
		t.Errorf("Delay(1000) = %v, want the cap", got)
	}
}

func TestJitterStaysWithinItsFraction(t *testing.T) {
	b := Backoff{Min: time.Second, Max: time.Second, Jitter: 0.2}
	seen := map[time.Duration]bool{}
	for range 200 {
		d := b.Delay(0)
		if d < time.Second || d > 1200*time.Millisecond {
			t.Fatalf("Delay = %v, outside [1s, 1.2s]", d)
		}
		seen[d] = true
	}
	if len(seen) < 2 {
		t.Fatal("jitter never varied the delay")
	}
}

var errTransient = errors.New("transient")

func TestDoRetriesUntilSuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var waits []time.Duration
		l := Loop{Backoff: Backoff{Min: time.Second, Max: 4 * time.Second},
			Notify: func(_ int, _ error, d time.Duration) { waits = append(waits, d) }}
		calls := 0
		start := time.Now()
		err := l.Do(t.Context(), func(context.Context) error {
			if calls++; calls < 4 {
				return errTransient
			}
			return nil
		})
		if err != nil || calls != 4 {
			t.Fatalf("Do = %v after %d calls, want success after 4", err, calls)
		}
		if got := time.Since(start); got != 7*time.Second {
			t.Errorf("took %v of fake time, want 1+2+4 = 7s", got)
		}
		if len(waits) != 3 || waits[2] != 4*time.Second {
			t.Errorf("waits = %v", waits)
		}
	})
}

func TestDoStopsAtAPermanentError(t *testing.T) {
	permanent := errors.New("permanent")
	l := Loop{Backoff: Backoff{Min: time.Hour, Max: time.Hour},
		Retryable: func(err error) bool { return !errors.Is(err, permanent) }}
	calls := 0
	err := l.Do(t.Context(), func(context.Context) error { calls++; return permanent })
	if !errors.Is(err, permanent) || calls != 1 {
		t.Fatalf("Do = %v after %d calls, want the permanent error at once", err, calls)
	}
}

func TestDoEndsWithItsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		l := Loop{Backoff: Backoff{Min: time.Second, Max: time.Second}}
		calls := 0
		err := l.Do(ctx, func(context.Context) error { calls++; return errTransient })
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, errTransient) {
			t.Fatalf("Do = %v, want the deadline joined with the last failure", err)
		}
		if calls < 10 || calls > 11 {
			t.Errorf("%d calls in 10s at 1s apart", calls)
		}
	})
}

func TestAttemptTimeoutBoundsEachCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := Loop{Backoff: Backoff{Min: time.Millisecond, Max: time.Millisecond}, Attempt: 2 * time.Second}
		calls := 0
		err := l.Do(t.Context(), func(ctx context.Context) error {
			if calls++; calls == 1 {
				<-ctx.Done() // a request that never gets an answer
				return ctx.Err()
			}
			return nil
		})
		if err != nil || calls != 2 {
			t.Fatalf("Do = %v after %d calls, want the second attempt to succeed", err, calls)
		}
	})
}

func TestSleepEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Fatal("Sleep on a cancelled context reported a full wait")
	}
}
