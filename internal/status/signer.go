package status

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// SignerRow is one line of the signers' table: one zone of one signer,
// and which nodes serve its last change.
type SignerRow struct {
	Signer string    `json:"signer"`
	Zone   string    `json:"zone"`
	State  string    `json:"state"` // ok, stale, expiring
	Serial uint32    `json:"serial"`
	Expiry time.Time `json:"earliest_expiry,omitzero"`
	Keys   string    `json:"keys"` // e.g. "ksk 12345 active, zsk 2345 active, zsk 3456 published"
	Next   time.Time `json:"next_key_event,omitzero"`
	// Serving are the nodes whose row of the zone serves Serial, of
	// Nodes, every node that serves the zone.
	Serving []string `json:"serving"`
	Nodes   []string `json:"nodes"`
	Failing bool     `json:"failing"`
}

// ExpiryWarning: a signer whose first signature expires sooner fails.
// Signatures are made again days before they expire (--refresh), so a
// day left means re-signing is stuck.
const ExpiryWarning = 24 * time.Hour

// ClassifySigner turns a signer's status into rows, with the nodes' rows
// (Classify) of its zones, at now.
func ClassifySigner(n Node, nodes []Row, now time.Time, o Options) []SignerRow {
	if n.Signer == nil {
		return nil
	}
	age := now.Sub(n.Time)
	var out []SignerRow
	for _, z := range n.Signer.Zones {
		r := SignerRow{Signer: n.Node, Zone: z.Zone, State: "ok", Serial: z.Serial, Expiry: z.EarliestExpiry,
			Next: z.NextKeyEvent, Serving: []string{}, Nodes: []string{}}
		var keys []string
		for _, k := range z.Keys {
			keys = append(keys, fmt.Sprintf("%s %d %s", k.Role, k.Tag, k.State))
		}
		r.Keys = strings.Join(keys, ", ")
		for _, row := range nodes {
			if row.Zone != z.Zone {
				continue
			}
			r.Nodes = append(r.Nodes, row.Node)
			if row.Serial == fmt.Sprint(z.Serial) {
				r.Serving = append(r.Serving, row.Node)
			}
		}
		switch {
		case age > o.StaleAfter:
			r.State, r.Failing = "stale", age > o.MaxBehind
		case !z.EarliestExpiry.IsZero() && z.EarliestExpiry.Sub(now) < ExpiryWarning:
			r.State, r.Failing = "expiring", true
		}
		out = append(out, r)
	}
	return out
}

// RenderSigners writes the signers' rows as an aligned table.
func RenderSigners(w io.Writer, rows []SignerRow, now time.Time) error {
	slices.SortFunc(rows, func(a, b SignerRow) int {
		if c := strings.Compare(a.Signer, b.Signer); c != 0 {
			return c
		}
		return strings.Compare(a.Zone, b.Zone)
	})
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SIGNER\tZONE\tSTATE\tSERIAL\tSERVED BY\tEXPIRES IN\tNEXT KEY STEP\tKEYS")
	for _, r := range rows {
		state := r.State
		if r.Failing {
			state += " !"
		}
		expires, next := "-", "-"
		if !r.Expiry.IsZero() {
			expires = fmtDur(r.Expiry.Sub(now))
		}
		if !r.Next.IsZero() {
			next = "in " + fmtDur(r.Next.Sub(now))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d of %d nodes\t%s\t%s\t%s\n", r.Signer, r.Zone, state, r.Serial,
			len(r.Serving), len(r.Nodes), expires, next, r.Keys)
	}
	return tw.Flush()
}
