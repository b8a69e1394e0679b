package gateway

import (
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/events"
)

// Publisher sends record messages to the record stream without waiting for
// their acknowledgement. The gateway calls it under its lock, in the order
// it evaluated the updates; an implementation must store the messages in
// the order of the calls (JetStream does for one connection and no resend)
// and resolve every returned future exactly once.
type Publisher interface {
	PublishAsync(m events.Message, ttl time.Duration) (jetstream.PubAckFuture, error)
}

// StreamPublisher is the Publisher on a JetStream record stream.
type StreamPublisher struct {
	js     jetstream.JetStream
	stream string
	prefix string
	stall  time.Duration
}

// NewStreamPublisher publishes below prefix (empty: the default) into the
// stream named stream (empty: bus.DefaultStreamName). Every publish expects
// that stream, and none is resent by the client: a resend after a "no
// responders" status could land after a later message of the same subject
// and undo it.
func NewStreamPublisher(js jetstream.JetStream, stream, prefix string) *StreamPublisher {
	if prefix == "" {
		prefix = events.DefaultSubjectPrefix
	}
	if stream == "" {
		stream = bus.DefaultStreamName
	}
	return &StreamPublisher{js: js, stream: stream, prefix: prefix, stall: 5 * time.Second}
}

// PublishAsync encodes m (validating it) and sends it. A tombstone without
// a lease gets bus.TombstoneTTL, as bus.Publisher does. An error means m was
// not sent.
func (p *StreamPublisher) PublishAsync(m events.Message, ttl time.Duration) (jetstream.PubAckFuture, error) {
	v, err := events.Validate(m)
	if err != nil {
		return nil, fmt.Errorf("validating %s %s from %s: %w", m.Name, m.Type, m.Origin, err)
	}
	data, err := events.Encode(v)
	if err != nil {
		return nil, fmt.Errorf("encoding %s %s from %s: %w", m.Name, m.Type, m.Origin, err)
	}
	if ttl <= 0 && v.Tombstone() {
		ttl = bus.TombstoneTTL
	}
	msg := nats.NewMsg(events.Subject(p.prefix, v))
	msg.Data = data
	if ttl > 0 {
		msg.Header.Set(jetstream.MsgTTLHeader, ttlSeconds(ttl))
	}
	f, err := p.js.PublishMsgAsync(msg, jetstream.WithExpectStream(p.stream),
		jetstream.WithRetryAttempts(0), jetstream.WithStallWait(p.stall))
	if err != nil {
		return nil, fmt.Errorf("publishing %s: %w", msg.Subject, err)
	}
	return f, nil
}

// ttlSeconds renders a lease as whole seconds, rounded up, at least 1 (as
// bus.Publisher does).
func ttlSeconds(ttl time.Duration) string {
	s := int64((ttl + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(s, 1), 10)
}
