package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zonecast/zonecast/internal/status"
)

// StreamLookup looks a stream up, with its info (jetstream.JetStream).
type StreamLookup interface {
	Stream(ctx context.Context, name string) (jetstream.Stream, error)
}

// StreamHealthTimeout bounds one reading of the stream's health: only
// the stream's leader answers, and during an election nobody may, so a
// caller waits this long at most.
const StreamHealthTimeout = 2 * time.Second

// ReadStreamHealth reads the stream's info (one JetStream API request) and
// returns its leader and replicas. When the info cannot be read within
// StreamHealthTimeout, the reading says why in its Error.
func ReadStreamHealth(ctx context.Context, js StreamLookup, name string) status.Stream {
	rctx, cancel := context.WithTimeout(ctx, StreamHealthTimeout)
	defer cancel()
	st, err := js.Stream(rctx, name)
	now := time.Now().UTC()
	if err != nil {
		return status.Stream{Name: name, Time: now, Error: streamHealthError(err)}
	}
	s := StreamHealthOf(st.CachedInfo())
	s.Name, s.Time = name, now
	return s
}

// streamHealthError says why a reading failed, shortly.
func streamHealthError(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("no answer within %s", StreamHealthTimeout)
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return "stream not found"
	}
	return err.Error()
}

// StreamHealthOf converts a stream's info. A stream that is not clustered
// has no cluster info, or one naming only its server as leader.
func StreamHealthOf(info *jetstream.StreamInfo) status.Stream {
	if info == nil {
		return status.Stream{Error: "no stream info"}
	}
	s := status.Stream{Name: info.Config.Name, Msgs: info.State.Msgs, LastSeq: info.State.LastSeq}
	if c := info.Cluster; c != nil {
		s.Cluster, s.Leader, s.LeaderSince = c.Name, c.Leader, c.LeaderSince
		for _, p := range c.Replicas {
			if p == nil {
				continue
			}
			s.Replicas = append(s.Replicas, status.Replica{Name: p.Name, Current: p.Current, Offline: p.Offline,
				Active: p.Active, Lag: p.Lag})
		}
	} else {
		// A server without JetStream clustering leads its streams; its
		// info names no server, so none is named here either.
		s.Leader = "(standalone)"
	}
	return s
}
