package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// Operators' commands to the syncers of a fleet travel as core NATS
// requests below a control prefix, one subject per stream so that two
// fleets sharing a NATS do not command each other. Only admin users may
// publish there; syncers subscribe and answer (the syncer role may reply,
// not publish).

// DefaultControlPrefix is the default prefix of control subjects.
const DefaultControlPrefix = "zonecast.control"

// ApproveSubject is where `zonecast-syncer approve` asks the syncers of
// stream to write the deletions they hold.
func ApproveSubject(prefix, stream string) string { return prefix + "." + stream + ".approve" }

// ApproveRequest asks for the held deletions of Zone to be written, on
// Node or (empty) on every node.
type ApproveRequest struct {
	Zone string `json:"zone"`
	Node string `json:"node,omitempty"`
}

// ApproveReply is one syncer's answer.
type ApproveReply struct {
	Node     string `json:"node"`
	Zone     string `json:"zone"`
	Approved int    `json:"approved"` // deletions let through (0: none held)
	Error    string `json:"error,omitempty"`
}

// ServeApprovals answers approve requests for node on subject with
// approve's result, each in a goroutine of its own (it may wait for the
// writer) bounded by timeout.
func ServeApprovals(nc *nats.Conn, subject, node string, timeout time.Duration,
	approve func(ctx context.Context, zone string) (int, error), log zerolog.Logger) (*nats.Subscription, error) {
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
		if !strings.HasPrefix(m.Reply, "_INBOX") {
			// A JetStream delivery (reply $JS.ACK...): a push consumer
			// pointed here by a user who may not publish here. The
			// server does not check a consumer's deliver subject against
			// its creator's permissions (nats-server issue 8274).
			log.Warn().Str("subject", m.Subject).Str("reply", m.Reply).Msg("ignoring an approve request that is not a request")
			return
		}
		var req ApproveRequest
		if err := json.Unmarshal(m.Data, &req); err != nil || req.Zone == "" {
			log.Warn().Str("subject", m.Subject).Msg("ignoring a malformed approve request")
			return
		}
		if req.Node != "" && req.Node != node {
			return
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			rep := ApproveReply{Node: node, Zone: req.Zone}
			n, err := approve(ctx, req.Zone)
			rep.Approved = n
			if err != nil {
				rep.Error = err.Error()
			}
			b, _ := json.Marshal(rep)
			if err := m.Respond(b); err != nil {
				log.Warn().Err(err).Str("zone", req.Zone).Msg("answering an approve request")
			}
		}()
	})
	if err != nil {
		return nil, fmt.Errorf("subscribing to %s: %w", subject, err)
	}
	return sub, nil
}

// RequestApprovals sends req on subject and gathers the syncers' answers
// for wait (or until ctx ends).
func RequestApprovals(ctx context.Context, nc *nats.Conn, subject string, req ApproveRequest, wait time.Duration) ([]ApproveReply, error) {
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, fmt.Errorf("subscribing to the replies: %w", err)
	}
	defer sub.Unsubscribe()
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if err := nc.PublishRequest(subject, inbox, b); err != nil {
		return nil, fmt.Errorf("sending the approve request: %w", err)
	}
	if err := nc.FlushWithContext(ctx); err != nil {
		return nil, fmt.Errorf("sending the approve request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var out []ApproveReply
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("reading the replies: %w", err)
		}
		var rep ApproveReply
		if err := json.Unmarshal(m.Data, &rep); err != nil {
			continue
		}
		out = append(out, rep)
	}
}
