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

// ClassifyStream judges s: failing without a leader (writes stop), or when
// a replica that is offline or not current was last heard from longer
// than o.MaxBehind ago (its Active age; a replica lagging but heard from
// lately is catching up). An offline replica never heard from (Active 0,
// e.g. a node that did not come back after the whole cluster restarted)
// has been gone for an unknown time, and fails too.
func ClassifyStream(s Stream, o Options) StreamRow {
	r := StreamRow{Stream: s, State: s.State()}
	switch r.State {
	case StreamNoLeader:
		r.Failing = true
	case StreamDegraded:
		for _, p := range s.Replicas {
			st := p.State()
			if st != ReplicaCurrent && (p.Active > o.MaxBehind || (st == ReplicaOffline && p.Active == 0)) {
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
			b.WriteString(p.Name + " " + p.describe())
		}
		fmt.Fprintf(&b, "; %d messages, last seq %d", r.Msgs, r.LastSeq)
	}
	if r.Failing {
		b.WriteString(" !")
	}
	return b.String()
}

func (r Replica) describe() string {
	st := r.State()
	if st == ReplicaCurrent {
		return string(st)
	}
	what := string(st)
	if st == ReplicaLagging {
		what = "not current"
		if r.Lag > 0 {
			what = fmt.Sprintf("lagging %d ops", r.Lag)
		}
	}
	if r.Active == 0 {
		return what + " (never seen)"
	}
	return fmt.Sprintf("%s (seen %s ago)", what, fmtDur(r.Active))
}
