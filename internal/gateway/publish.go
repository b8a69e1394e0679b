package gateway

import (
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/events"
)

// Publisher sends record messages to the record stream without waiting for
// their acknowledgement, each stored only if its subject's last message has
// stream sequence last (compare-and-set: another gateway may write the same
// subject; bus.IsWrongLastSequence reports the refusal). The gateway calls
// it under its lock, in the order it evaluated the updates; an
// implementation must store the messages in the order of the calls
// (JetStream does for one connection and no resend) and resolve every
// returned future exactly once. Check tells whether an acknowledgement
// comes from the record stream. bus.Publisher is one.
type Publisher interface {
	PublishFutureIf(m events.Message, lease time.Duration, last uint64) (jetstream.PubAckFuture, error)
	Check(ack *jetstream.PubAck) error
}

// NewStreamPublisher returns the Publisher on a JetStream record stream: a
// bus.Publisher below prefix (empty: the default) into the stream named
// stream (empty: bus.DefaultStreamName).
func NewStreamPublisher(js jetstream.JetStream, stream, prefix string) *bus.Publisher {
	return bus.NewPublisher(js, stream, prefix)
}
