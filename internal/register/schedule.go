package register

import (
	"time"

	"github.com/zonecast/zonecast/internal/retry"
)

// Schedule decides when to send to one gateway. The host's desired state
// has versions, from 1; each gateway has its own Schedule, so a gateway
// that is down or slow delays no other.
//
//   - A version the gateway has not acknowledged is sent at once.
//   - An acknowledged one is sent again a refresh later (half the lease
//     granted, Reply.Refresh), before the gateway's records expire.
//   - After a failure the same version is sent again after Backoff's next
//     delay, or after its longest with slow (the name is held by another
//     key: nothing changes that soon). A newer version replaces the
//     pending retry and is sent at once, so an address change is never
//     held up behind a backoff; the backoff goes on growing if that send
//     fails too.
type Schedule struct {
	Backoff retry.Backoff

	want     uint64 // the latest version
	acked    uint64 // the version last acknowledged; 0: none
	ackedAt  time.Time
	refresh  time.Duration
	failed   uint64 // the version of the last failure, while failures > 0
	failures int    // in a row, since the last acknowledgement
	retryAt  time.Time
}

// Want makes version the one to send.
func (s *Schedule) Want(version uint64) { s.want = max(s.want, version) }

// Due returns when the version wanted is to be sent (at or before now: at
// once), and false while there is nothing to send yet (no version).
func (s *Schedule) Due(now time.Time) (time.Time, bool) {
	switch {
	case s.want == 0:
		return time.Time{}, false
	case s.failures > 0 && s.failed == s.want:
		return s.retryAt, true
	case s.acked != s.want:
		return now, true
	default:
		return s.ackedAt.Add(s.refresh), true
	}
}

// Acked records that the gateway stored version at now, to be refreshed
// after refresh.
func (s *Schedule) Acked(version uint64, now time.Time, refresh time.Duration) {
	s.acked, s.ackedAt, s.refresh = version, now, refresh
	s.failures, s.failed = 0, 0
}

// Failed records that sending version failed at now and returns the pause
// before it is sent again.
func (s *Schedule) Failed(version uint64, now time.Time, slow bool) time.Duration {
	s.failures++
	s.failed = version
	d := s.Backoff.Delay(s.failures - 1)
	if slow {
		d = s.Backoff.Delay(64) // the longest
	}
	s.retryAt = now.Add(d)
	return d
}

// Acknowledged reports whether the gateway has stored some version.
func (s *Schedule) Acknowledged() bool { return s.acked > 0 }
