package register

import (
	"testing"
	"time"

	"github.com/zonecast/zonecast/internal/retry"
)

func TestSchedule(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	s := Schedule{Backoff: retry.Backoff{Min: time.Second, Max: time.Minute}}
	due := func(now time.Duration, want time.Time) {
		t.Helper()
		got, ok := s.Due(at(now))
		if !ok || !got.Equal(want) {
			t.Fatalf("at %v: due %v (%v), want %v", now, got.Sub(t0), ok, want.Sub(t0))
		}
	}

	if _, ok := s.Due(t0); ok {
		t.Fatal("due before any version")
	}
	s.Want(1)
	due(0, at(0)) // a new version: at once
	s.Acked(1, at(10*time.Millisecond), time.Hour)
	due(time.Second, at(time.Hour+10*time.Millisecond)) // the refresh, half the lease granted
	if !s.Acknowledged() {
		t.Error("not acknowledged after an acknowledgement")
	}

	// The refresh fails: retried after 1s, 2s, 4s ...
	if d := s.Failed(1, at(time.Hour), false); d != time.Second {
		t.Errorf("first retry after %v, want 1s", d)
	}
	due(time.Hour, at(time.Hour+time.Second))
	s.Failed(1, at(time.Hour+time.Second), false)
	due(time.Hour+time.Second, at(time.Hour+3*time.Second))
	for range 10 {
		s.Failed(1, at(time.Hour+3*time.Second), false)
	}
	due(time.Hour+3*time.Second, at(time.Hour+3*time.Second+time.Minute)) // capped

	// A new version replaces the pending retry: sent at once.
	s.Want(2)
	due(time.Hour+4*time.Second, at(time.Hour+4*time.Second))
	// It fails too: the backoff goes on from where it was.
	if d := s.Failed(2, at(time.Hour+4*time.Second), false); d != time.Minute {
		t.Errorf("retry of the new version after %v, want the capped 1m", d)
	}
	due(time.Hour+5*time.Second, at(time.Hour+4*time.Second+time.Minute))
	// An older version acknowledged while a newer is wanted: the newer is
	// still due at once, and the backoff starts again.
	s.Want(3)
	s.Acked(2, at(time.Hour+5*time.Second), time.Hour)
	due(time.Hour+5*time.Second, at(time.Hour+5*time.Second))
	if d := s.Failed(3, at(time.Hour+6*time.Second), false); d != time.Second {
		t.Errorf("first failure after an acknowledgement retried after %v, want 1s", d)
	}
	s.Want(2) // versions never go back
	due(time.Hour+6*time.Second, at(time.Hour+7*time.Second))
}

// The name is held by another key: retried at the slow end of the
// backoff from the first failure.
func TestScheduleSlow(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	s := Schedule{Backoff: retry.Backoff{Min: time.Second, Max: time.Minute}}
	s.Want(1)
	if d := s.Failed(1, t0, true); d != time.Minute {
		t.Errorf("slow retry after %v, want 1m", d)
	}
	if got, _ := s.Due(t0); !got.Equal(t0.Add(time.Minute)) {
		t.Errorf("due %v", got.Sub(t0))
	}
	if s.Acknowledged() {
		t.Error("acknowledged without an acknowledgement")
	}
}
