package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// The subjects of the applied reports: what every syncer publishes on core
// NATS as its applied sequences advance, and the gateway's --confirm waits
// for (internal/confirm holds the waiting). They live here,
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

// AppliedVersion is the format version of AppliedReport.
const AppliedVersion = 1

// AppliedReport is what a syncer publishes whenever the stream sequence it
// has applied to PowerDNS advances in one of its zones, and periodically as
// a heartbeat.
type AppliedReport struct {
	V       int       `json:"v"`
	Node    string    `json:"node"`
	Time    time.Time `json:"time"`    // taken at, the syncer's clock
	Started time.Time `json:"started"` // the process start: a new one resets the node
	// Ready: the syncer's initial replay and reconciliation are done.
	// A syncer that stops sends a last report with Ready false.
	Ready bool `json:"ready"`
	// Applied is, per zone of the node, the stream sequence of the last
	// message written to PowerDNS (the zone's SOA serial is its low 32
	// bits).
	Applied map[string]uint64 `json:"applied"`
}

// EncodeApplied renders r as JSON.
func EncodeApplied(r AppliedReport) ([]byte, error) {
	r.V = AppliedVersion
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encoding applied report: %w", err)
	}
	return b, nil
}

// DecodeApplied parses an applied report (untrusted: any client allowed
// to publish on the subjects may send one).
func DecodeApplied(b []byte) (AppliedReport, error) {
	var r AppliedReport
	if err := json.Unmarshal(b, &r); err != nil {
		return AppliedReport{}, fmt.Errorf("decoding applied report: %w", err)
	}
	if r.V != AppliedVersion {
		return AppliedReport{}, fmt.Errorf("decoding applied report: version %d, want %d", r.V, AppliedVersion)
	}
	if r.Node == "" {
		return AppliedReport{}, errors.New("decoding applied report: no node")
	}
	return r, nil
}
