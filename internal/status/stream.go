package status

import (
	"fmt"
	"strings"
	"time"
)

// Stream is the replication health of the record stream, as JetStream
// reports it (the stream's leader answers; during an election a replica
// may, without a leader).
type Stream struct {
	Name string    `json:"name"`
	Time time.Time `json:"time"` // when it was read
	// Cluster is the name of the NATS cluster ("" without one).
	Cluster string `json:"cluster,omitempty"`
	// Leader is the server name of the stream's leader, "" when none.
	Leader string `json:"leader"`
	// LeaderSince is when the leader was elected (nil when unknown).
	LeaderSince *time.Time `json:"leader_since,omitempty"`
	// Replicas are the other members of the stream's raft group (the
	// leader is not among them). A stream that is not clustered has none.
	Replicas []Replica `json:"replicas,omitempty"`
	Msgs     uint64    `json:"messages"`
	LastSeq  uint64    `json:"last_seq"`
	// Error says why the stream's info could not be read (then nothing
	// else but Name and Time is known).
	Error string `json:"error,omitempty"`
}

// Replica is one follower of the stream.
type Replica struct {
	Name string `json:"name"`
	// Current: up to date with the leader.
	Current bool `json:"current"`
	// Offline: the cluster considers its server gone.
	Offline bool `json:"offline,omitempty"`
	// Active is how long ago the reporting server last heard from it (0:
	// never, for a replica it has not seen since its own start).
	Active time.Duration `json:"active_ns"`
	// Lag is the number of raft operations it is behind the leader.
	Lag uint64 `json:"lag_ops,omitempty"`
}

// ReplicaState of a follower.
type ReplicaState string

// Replica states.
const (
	ReplicaCurrent ReplicaState = "current"
	ReplicaLagging ReplicaState = "lagging" // seen, but not up to date
	ReplicaOffline ReplicaState = "offline"
)

// ReplicaStates lists every replica state (the labels of the replica
// counts).
var ReplicaStates = []ReplicaState{ReplicaCurrent, ReplicaLagging, ReplicaOffline}

// State of r.
func (r Replica) State() ReplicaState {
	switch {
	case r.Offline:
		return ReplicaOffline
	case !r.Current:
		return ReplicaLagging
	}
	return ReplicaCurrent
}

// StreamState is the health of the stream as a whole.
type StreamState string

// Stream states, from good to bad.
const (
	StreamOK       StreamState = "ok"
	StreamDegraded StreamState = "degraded" // a replica offline or not current
	StreamNoLeader StreamState = "no-leader"
)

// State of s. A stream whose info could not be read counts as without a
// leader: no leader answered within the time asked.
func (s Stream) State() StreamState {
	if s.Error != "" || s.Leader == "" {
		return StreamNoLeader
	}
	for _, r := range s.Replicas {
		if r.State() != ReplicaCurrent {
			return StreamDegraded
		}
	}
	return StreamOK
}

// Counts returns the number of replicas in each state.
func (s Stream) Counts() map[ReplicaState]int {
	out := make(map[ReplicaState]int, len(ReplicaStates))
	for _, st := range ReplicaStates {
		out[st] = 0
	}
	for _, r := range s.Replicas {
		out[r.State()]++
	}
	return out
}

// StreamRow is the stream's line of the fleet report.
type StreamRow struct {
	Stream
	State StreamState `json:"state"`
	// Failing counts against the status command's exit code.
	Failing bool `json:"failing"`
}

// Unheard says how long the leader has not heard from replica p, as far
// as the reading tells: its Active age; for a replica the leader never
// heard from (Active 0: it went away before this leader's election), the
// time since the election. known is false when neither is known.
func (s Stream) Unheard(p Replica) (d time.Duration, known bool) {
	switch {
	case p.Active > 0:
		return p.Active, true
	case s.LeaderSince != nil && !s.Time.IsZero():
		return max(s.Time.Sub(*s.LeaderSince), 0), true
	}
	return 0, false
}

// ClassifyStream judges s: failing without a leader (writes stop), or when
// a replica that is offline or not current has not been heard from for
// longer than o.MaxBehind (see Unheard; a replica lagging but heard from
// lately is catching up). An offline replica unheard of for an unknown
// time fails too.
func ClassifyStream(s Stream, o Options) StreamRow {
	r := StreamRow{Stream: s, State: s.State()}
	switch r.State {
	case StreamNoLeader:
		r.Failing = true
	case StreamDegraded:
		for _, p := range s.Replicas {
			st := p.State()
			if st == ReplicaCurrent {
				continue
			}
			d, known := s.Unheard(p)
			if (known && d > o.MaxBehind) || (!known && st == ReplicaOffline) {
				r.Failing = true
			}
		}
	}
	return r
}

// Line renders the row on one line, e.g.
//
//	stream ZONECAST: leader ns1, replicas ns2 current, ns3 lagging 120 ops (seen 2s ago); 5002 messages, last seq 10004
//
// with " !" at the end when failing.
func (r StreamRow) Line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "stream %s: ", r.Name)
	if r.Error != "" {
		fmt.Fprintf(&b, "no leader (%s)", r.Error)
	} else {
		if r.Leader == "" {
			b.WriteString("no leader")
		} else {
			b.WriteString("leader " + r.Leader)
		}
		if len(r.Replicas) == 0 {
			b.WriteString(", no replicas")
		}
		for i, p := range r.Replicas {
			if i == 0 {
				b.WriteString(", replicas ")
			} else {
				b.WriteString(", ")
			}
			b.WriteString(p.Name + " " + r.describe(p))
		}
		fmt.Fprintf(&b, "; %d messages, last seq %d", r.Msgs, r.LastSeq)
	}
	if r.Failing {
		b.WriteString(" !")
	}
	return b.String()
}

func (s Stream) describe(p Replica) string {
	st := p.State()
	if st == ReplicaCurrent {
		return string(st)
	}
	what := string(st)
	if st == ReplicaLagging {
		what = "not current"
		if p.Lag > 0 {
			what = fmt.Sprintf("lagging %d ops", p.Lag)
		}
	}
	d, known := s.Unheard(p)
	switch {
	case p.Active > 0:
		return fmt.Sprintf("%s (seen %s ago)", what, fmtDur(d))
	case known:
		return fmt.Sprintf("%s (not seen since the election %s ago)", what, fmtDur(d))
	}
	return what + " (never seen)"
}
