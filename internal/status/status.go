// Package status is the fleet status of zonecast: what every syncer
// reports about itself (Node), and the pure classification and table
// rendering behind `zonecast-syncer status`. Transport (a KV bucket) and
// collection live elsewhere.
package status

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Version is the format version of Node.
const Version = 1

// Node is the status one syncer publishes about itself.
type Node struct {
	V       int       `json:"v"`
	Node    string    `json:"node"`
	Time    time.Time `json:"time"` // when this status was taken
	Version string    `json:"version,omitempty"`
	// Stream is the record stream the node follows: its fleet's name.
	Stream  string    `json:"stream,omitempty"`
	Started time.Time `json:"started"`
	// Ready: the initial replay and reconciliation are done.
	Ready bool `json:"ready"`
	// PDNSReachable: the last PowerDNS API call succeeded.
	PDNSReachable bool      `json:"pdns_reachable"`
	LastReconcile time.Time `json:"last_reconcile,omitzero"`
	DesiredRRsets int       `json:"desired_rrsets"`
	Zones         []Zone    `json:"zones"`
	Errors        []Error   `json:"errors,omitempty"` // most recent last
	// Heals counts the reconciliations the syncer started by itself
	// because its PowerDNS had lost data.
	Heals int `json:"heals,omitempty"`
	// StreamAlarm says, for an hour, that the record stream looked
	// emptied (purged, made anew, most messages gone at once).
	StreamAlarm string `json:"stream_alarm,omitempty"`
	// StreamHealth is the node's last reading of the record stream's
	// leader and replicas (nil before the first).
	StreamHealth *Stream `json:"stream_health,omitempty"`
	// Signer is set in the status of a zonecast-signer (Node is its
	// origin), instead of Zones.
	Signer *Signer `json:"signer,omitempty"`
	// ZoneList is the bucket of the fleet's zone list the node follows
	// besides its --zone flags; empty: none.
	ZoneList string `json:"zone_list,omitempty"`
}

// Signer is what a zonecast-signer publishes about its zones, as the
// Signer of its Node (whose Zones are empty).
type Signer struct {
	Zones []SignedZone `json:"zones"`
}

// SignedZone is one zone of a signer.
type SignedZone struct {
	Zone string `json:"zone"`
	// Serial is the SOA serial of the signer's last change published.
	Serial         uint32    `json:"serial"`
	EarliestExpiry time.Time `json:"earliest_expiry,omitzero"` // of its published signatures
	Keys           []Key     `json:"keys"`
	// NextKeyEvent is the next rollover step (a key published, signing,
	// retired or withdrawn); zero: none scheduled.
	NextKeyEvent time.Time `json:"next_key_event,omitzero"`
}

// Key is one key of a signed zone.
type Key struct {
	Tag       uint16 `json:"tag"`
	Role      string `json:"role"` // ksk or zsk
	Algorithm string `json:"algorithm"`
	State     string `json:"state"` // active, published or unpublished
}

// Zone is one managed zone of a node.
type Zone struct {
	Zone string `json:"zone"`
	// Filter is the stream subject filter of the zone.
	Filter string `json:"filter"`
	// AppliedSeq is the stream sequence of the last message applied.
	AppliedSeq uint64 `json:"applied_seq"`
	// Serial is the SOA serial PowerDNS serves (SerialKnown false when it
	// could not be read, or the zone is missing).
	Serial      uint32 `json:"serial"`
	SerialKnown bool   `json:"serial_known"`
	Missing     bool   `json:"missing,omitempty"` // PowerDNS does not have the zone
	Owned       int    `json:"owned_rrsets"`
	Drift       int    `json:"last_drift_rrsets"` // RRsets the last reconciliation wrote
	Conflicts   int    `json:"conflicts,omitempty"`
	// Held is the number of deletions the delete limit holds until an
	// operator approves them (zonecast-syncer approve).
	Held int `json:"held_deletions,omitempty"`
	// Signed: the zone is served presigned, from the signer's subjects
	// (Filter); its serial is the signer's, not AppliedSeq. A node that
	// is not behind on Filter serves the signer's latest change.
	Signed bool `json:"signed,omitempty"`
	// Removing: the zone was removed from the zone list; the node follows
	// nothing there (no Filter) and deletes what it wrote (held beyond the
	// delete limit: Held), then the zone, and forgets it.
	Removing bool `json:"removing,omitempty"`
}

// Error is one recent warning or error of a node.
type Error struct {
	Time    time.Time `json:"time"`
	Level   string    `json:"level"`
	Message string    `json:"message"`
}

// Encode renders n as JSON.
func Encode(n Node) ([]byte, error) {
	n.V = Version
	return json.Marshal(n)
}

// Decode parses a status.
func Decode(b []byte) (Node, error) {
	var n Node
	if err := json.Unmarshal(b, &n); err != nil {
		return Node{}, fmt.Errorf("decoding node status: %w", err)
	}
	if n.V != Version {
		return Node{}, fmt.Errorf("decoding node status: version %d, want %d", n.V, Version)
	}
	return n, nil
}

// Backlog is what the stream holds for a zone after a node's applied
// sequence (see bus.Backlog).
type Backlog struct {
	LastSeq uint64    `json:"stream_seq"` // last sequence of the zone's filter
	Pending uint64    `json:"pending"`    // messages after the node's sequence
	Oldest  time.Time `json:"oldest,omitzero"`
}

// State of a node's zone.
type State string

// States, from good to bad.
const (
	CaughtUp    State = "caught-up"
	Behind      State = "behind"
	Mismatch    State = "serial-mismatch" // PowerDNS serves another serial than the syncer applied
	Unreachable State = "pdns-unreachable"
	NotReady    State = "starting"
	Stale       State = "stale" // no status for too long: node down or cut off
	Held        State = "deletions-held"
	Removing    State = "removing" // removed from the zone list: the node withdraws from the zone
	Absent      State = "absent"   // in the zone list, not (yet) managed by the node
)

// Row is one line of the table: one zone of one node.
type Row struct {
	Node       string        `json:"node"`
	Zone       string        `json:"zone"`
	State      State         `json:"state"`
	AppliedSeq uint64        `json:"applied_seq"`
	StreamSeq  uint64        `json:"stream_seq"`
	Serial     string        `json:"serial"`
	BehindBy   uint64        `json:"behind_by"`     // messages
	BehindFor  time.Duration `json:"behind_for_ns"` // since the first unapplied message was stored
	Age        time.Duration `json:"age_ns"`        // of the node's status
	Owned      int           `json:"owned_rrsets"`
	Drift      int           `json:"last_drift_rrsets"`
	Errors     int           `json:"errors"`
	Held       int           `json:"held_deletions,omitempty"`
	Failing    bool          `json:"failing"` // counts against --max-behind
}

// Options of Classify.
type Options struct {
	StaleAfter time.Duration // a status older than this is stale
	MaxBehind  time.Duration // behind (or stale) longer than this fails
}

// Classify turns one node's status and the backlogs of its zones (by zone
// name) into rows, at time now.
func Classify(n Node, backlogs map[string]Backlog, now time.Time, o Options) []Row {
	age := now.Sub(n.Time)
	stale := age > o.StaleAfter
	var rows []Row
	for _, z := range n.Zones {
		b := backlogs[z.Zone]
		r := Row{Node: n.Node, Zone: z.Zone, AppliedSeq: z.AppliedSeq, StreamSeq: b.LastSeq, Age: age,
			Owned: z.Owned, Drift: z.Drift, Errors: len(n.Errors), Held: z.Held, Serial: "-"}
		if z.SerialKnown {
			r.Serial = fmt.Sprint(z.Serial)
		} else if z.Missing {
			r.Serial = "missing"
		}
		if b.LastSeq > z.AppliedSeq {
			r.BehindBy = max(b.Pending, 1)
			if !b.Oldest.IsZero() {
				r.BehindFor = max(now.Sub(b.Oldest), 0)
			}
		}
		switch {
		case stale:
			r.State = Stale
			r.Failing = age > o.MaxBehind || r.BehindFor > o.MaxBehind
		case !n.Ready:
			r.State = NotReady
			r.Failing = r.BehindFor > o.MaxBehind
		case !n.PDNSReachable:
			r.State = Unreachable
			r.Failing = r.BehindFor > o.MaxBehind
		case z.Held > 0:
			// Waits for an operator: failing at once.
			r.State = Held
			r.Failing = true
		case z.Removing:
			r.State = Removing
		case r.BehindBy > 0:
			r.State = Behind
			r.Failing = r.BehindFor > o.MaxBehind
		case z.Missing || (z.SerialKnown && !z.Signed && z.Serial != uint32(z.AppliedSeq)):
			// The syncer heals this by itself within seconds; it fails
			// only once its status says so for long (the status is
			// refreshed every few seconds, so use its age as a bound).
			r.State = Mismatch
			r.Failing = false
		default:
			r.State = CaughtUp
		}
		rows = append(rows, r)
	}
	if len(n.Zones) == 0 {
		r := Row{Node: n.Node, Zone: "-", State: CaughtUp, Age: age, Errors: len(n.Errors), Serial: "-"}
		if stale {
			r.State, r.Failing = Stale, age > o.MaxBehind
		}
		rows = append(rows, r)
	}
	return rows
}

// AbsentZones returns a row for each zone of the zone list (listed, by zone,
// with when it was added; zero: unknown) that node n, which follows the
// list, does not manage: it fails once the zone has been listed for
// longer than o.MaxBehind (every node restarts its core within seconds
// of a change of the list). A node that follows no list, and a signer,
// have none.
func AbsentZones(n Node, listed map[string]time.Time, now time.Time, o Options) []Row {
	if n.ZoneList == "" || n.Signer != nil {
		return nil
	}
	has := make(map[string]bool, len(n.Zones))
	for _, z := range n.Zones {
		if !z.Removing {
			has[z.Zone] = true
		}
	}
	var rows []Row
	for zone, added := range listed {
		if has[zone] {
			continue
		}
		r := Row{Node: n.Node, Zone: zone, State: Absent, Serial: "-", Age: now.Sub(n.Time), Errors: len(n.Errors)}
		if !added.IsZero() {
			r.BehindFor = max(now.Sub(added), 0)
		}
		r.Failing = added.IsZero() || r.BehindFor > o.MaxBehind
		rows = append(rows, r)
	}
	return rows
}

// Failing reports whether any row fails.
func Failing(rows []Row) bool {
	return slices.ContainsFunc(rows, func(r Row) bool { return r.Failing })
}

// SortRows orders rows by node, then zone.
func SortRows(rows []Row) {
	slices.SortFunc(rows, func(a, b Row) int {
		if c := strings.Compare(a.Node, b.Node); c != 0 {
			return c
		}
		return strings.Compare(a.Zone, b.Zone)
	})
}

// Render writes rows as an aligned table.
func Render(w io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tZONE\tSTATE\tAPPLIED\tSTREAM\tSERIAL\tBEHIND\tAGE\tOWNED\tDRIFT\tERRORS")
	for _, r := range rows {
		state := string(r.State)
		switch r.State {
		case Behind:
			state = fmt.Sprintf("behind by %d", r.BehindBy)
		case Held:
			state = fmt.Sprintf("holding %d deletions", r.Held)
		}
		if r.Failing {
			state += " !"
		}
		behind := "-"
		if r.BehindBy > 0 {
			behind = fmtDur(r.BehindFor)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%d\t%d\t%d\n", r.Node, r.Zone, state, r.AppliedSeq,
			r.StreamSeq, r.Serial, behind, fmtDur(r.Age), r.Owned, r.Drift, r.Errors)
	}
	return tw.Flush()
}

func fmtDur(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}
