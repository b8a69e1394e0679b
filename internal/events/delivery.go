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
	// Batch is the id of the atomic batch the message was stored with
	// (header Nats-Batch-Id: a signer's change of a signed zone), empty
	// for a message published alone. A batch's messages have consecutive
	// sequences and are followed one after the other; a reader applies
	// them together, at BatchEnd.
	Batch string
	// BatchEnd is true on a batch's last message (its commit, header
	// Nats-Batch-Commit) and on every message published alone. A replay
	// may lack some of a batch's messages, the last included, since
	// replaced or expired: a delivery of another batch, one published
	// alone, or the end of the replay ends the batch as well.
	BatchEnd bool
}

// EndsBatch reports whether d is the last message of its batch, or a
// message published alone: where a reader applies what it gathered.
func (d Delivery) EndsBatch() bool { return d.Batch == "" || d.BatchEnd }
