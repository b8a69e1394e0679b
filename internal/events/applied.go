package events

// The subjects of the applied reports: what every syncer publishes on core
// NATS as its applied sequences advance, and the gateway's --confirm waits
// for (internal/confirm holds the report and the waiting). They live here,
// beside the record subjects, because the NATS permissions (internal/bus)
// name both and must not depend on the gateway's confirmation.

// DefaultAppliedPrefix is where syncers publish their applied reports,
// outside the record subjects (DefaultSubjectPrefix) so that JetStream
// does not store them.
const DefaultAppliedPrefix = "zonecast.applied"

// AppliedSubject returns the subject a node of the fleet of stream
// publishes its applied reports on: <prefix>.<stream>.<node>. The stream's
// name keeps fleets that share one NATS apart (a stream name is one
// subject token: no dots, no wildcards).
func AppliedSubject(prefix, stream, node string) string {
	return prefix + "." + stream + "." + node
}

// AppliedFilter returns the subject filter of the applied reports of
// stream's fleet.
func AppliedFilter(prefix, stream string) string { return prefix + "." + stream + ".>" }
