package valve

import (
	"fmt"
	"time"
)

// StreamState is what a syncer samples of the record stream.
type StreamState struct {
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	First   uint64    `json:"first_seq"`
	Last    uint64    `json:"last_seq"`
	Msgs    uint64    `json:"messages"`
	At      time.Time `json:"at"` // when it was sampled
}

// StreamAlarm reports why the stream at cur looks as if the desired state
// had been lost since prev (a purge, the stream made anew, an operator's
// mistake), or "" if it does not. The message count may fall as leases
// end and tombstones expire; it alarms only when it falls by more than
// the policy's share and minimum, as deletions are held.
func (p Policy) StreamAlarm(prev, cur StreamState) string {
	switch {
	case prev.At.IsZero() || prev.Name != cur.Name:
		return ""
	case !prev.Created.IsZero() && !cur.Created.Equal(prev.Created):
		return fmt.Sprintf("the stream %s was made anew at %s (it was made at %s): it holds %d messages, it held %d at %s",
			cur.Name, cur.Created.UTC().Format(time.RFC3339), prev.Created.UTC().Format(time.RFC3339), cur.Msgs, prev.Msgs,
			prev.At.UTC().Format(time.RFC3339))
	case cur.Msgs < prev.Msgs:
		fell := prev.Msgs - cur.Msgs
		if fell <= uint64(p.Min) || float64(fell) <= p.Share*float64(prev.Msgs) || p.Share >= 1 {
			return ""
		}
		return fmt.Sprintf("the stream %s lost %d of its %d messages since %s (first sequence %d, was %d; last %d): purged?",
			cur.Name, fell, prev.Msgs, prev.At.UTC().Format(time.RFC3339), cur.First, prev.First, cur.Last)
	}
	return ""
}
