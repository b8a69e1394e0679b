package events

import "time"

// Delivery is one message of the record stream as a follower sees it, with
// its place in the stream: what the bus hands to the syncer, the gateway
// and the export.
type Delivery struct {
	Subject string
	Data    []byte // the message body; empty when Removed
	Seq     uint64 // stream sequence, strictly increasing within one follow
	// Removed reports a server delete marker (header Nats-Marker-Reason):
	// the subject's last message expired by its TTL. zonecast's stream no
	// longer makes markers, but one made before its roll-ups were turned
	// off, or by a stream configured by hand, may still be delivered.
	Removed bool
	// Pending is how many messages matching the filters the server still
	// had after this one when it was delivered.
	Pending uint64
	// Stored is when the server stored the message.
	Stored time.Time
	// Expires is when the message's lease (Nats-TTL) runs out; zero if it
	// has none, and for markers. The server removes an expired message
	// within about a second, but one that expired while the server was
	// down is replayed once more right after a restart, followed by its
	// marker: callers treat a delivery whose Expires has passed as absent.
	Expires time.Time
}
