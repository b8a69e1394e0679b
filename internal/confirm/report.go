// Package confirm lets zonecast-gateway answer an update only once the
// syncers have applied it (--confirm all|any). Every syncer publishes an
// applied report on a core NATS subject (events.AppliedSubject) as soon
// as its applied sequences advance, and as a heartbeat; the gateway's
// Tracker keeps, per node, whether it is live and what it applied, from
// those reports and from the status bucket, and Wait blocks until the
// mode is satisfied.
//
// The Tracker is the pure core (time comes in as a parameter); Follow is
// the shell that feeds it from NATS.
package confirm

import (
	"encoding/json"
	"fmt"
	"time"
)

// Version is the format version of Report.
const Version = 1

// Report is what a syncer publishes whenever the stream sequence it has
// applied to PowerDNS advances in one of its zones, and periodically as a
// heartbeat.
type Report struct {
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

// Encode renders r as JSON.
func Encode(r Report) ([]byte, error) {
	r.V = Version
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encoding applied report: %w", err)
	}
	return b, nil
}

// Decode parses a report.
func Decode(b []byte) (Report, error) {
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return Report{}, fmt.Errorf("decoding applied report: %w", err)
	}
	if r.V != Version {
		return Report{}, fmt.Errorf("decoding applied report: version %d, want %d", r.V, Version)
	}
	if r.Node == "" {
		return Report{}, fmt.Errorf("decoding applied report: no node")
	}
	return r, nil
}
