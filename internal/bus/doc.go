// Package bus is zonecast's NATS JetStream layer: an embedded nats-server,
// client connections, the record stream, publishing and following.
//
// The stream IS the fleet's desired state. It keeps only the last message
// per subject (MaxMsgsPerSubject=1), so replaying it from the start yields
// exactly one message per (name, type, origin). Messages may carry a
// per-message TTL (the Nats-TTL header, used for record leases); the server
// drops such a message when it expires, without a marker (roll-ups, which
// markers need, are off: see StreamConfig), so readers end leases on their
// own clock (events.Delivery.Expires, internal/lease) and the syncers record each
// end as a tombstone (internal/reap).
//
// A syncer never uses a durable consumer: every start it calls Follow, which
// replays the whole (filtered) stream with an ordered consumer, signals Ready
// once the replay is complete, then keeps following. Nothing is acknowledged.
package bus
