package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/cli"
	"github.com/zonecast/zonecast/internal/status"
	"github.com/zonecast/zonecast/internal/zonelist"
	"github.com/zonecast/zonecast/internal/zonestore"
)

const statusHelp = `Reads the status every syncer publishes (KV bucket --status-bucket) and
compares each node's applied sequence, per zone, with the stream's last
message for that zone. Prints one line per node and zone: caught-up, behind
by N (messages), starting, pdns-unreachable, holding N deletions (the
delete limit waits for zonecast-syncer approve), serial-mismatch or stale
(no status for --stale-after), removing (the zone was removed from the
zone list and the node withdraws from it) or absent (a zone of the zone
list the node does not manage: failing once listed for --max-behind);
then an ALARM line per node whose stream watch saw the stream emptied
within the last hour; then the zone list (--zone-bucket: how many zones,
how many removed); then the stream's leader and replicas, read from the
stream's info, e.g.
  stream ZONECAST: leader ns1, replicas ns2 current, ns3 lagging 120 ops (seen 2s ago); ...
("no leader" during an election, or when no leader answered within 2s).
Exits 1 when a node has been behind (or stale) for longer than
--max-behind, holds deletions, lacks a zone of the list, or raised an
alarm; when an entry of the zone list does not read; when the stream has no
leader; or when a replica offline or not current was last seen longer
than --max-behind ago; 0 otherwise.`

// errFailing is returned when the fleet is not converged or the stream
// is not healthy.
var errFailing = errors.New("failing: a node behind or stale longer than --max-behind, deletions held, an alarm, " +
	"or the stream without a leader or with a replica gone longer than --max-behind")

type fleetOptions struct {
	stream, bucket string
	zoneBucket     string // the zone list; empty: not read
	opts           status.Options
}

// statusFlags registers the flags of status and returns the command.
func statusFlags(fs *flag.FlagSet) cli.Func {
	nc := cli.NATSFlags(fs, "nats://127.0.0.1:4222", "NATS server URL(s)")
	var (
		fo     fleetOptions
		asJSON bool
	)
	fs.StringVar(&fo.stream, "stream", bus.DefaultStreamName, "JetStream stream name")
	fs.StringVar(&fo.bucket, "status-bucket", bus.DefaultStatusBucket, "KV bucket of the node statuses")
	fs.StringVar(&fo.zoneBucket, "zone-bucket", bus.DefaultZoneBucket,
		"KV bucket of the fleet's zone list: a node that follows it and does not manage one of its zones shows it absent; empty: not read")
	fs.DurationVar(&fo.opts.MaxBehind, "max-behind", 30*time.Second, "fail when a node has been behind (or stale) longer than this")
	fs.DurationVar(&fo.opts.StaleAfter, "stale-after", 20*time.Second, "a node whose status is older than this is stale")
	fs.BoolVar(&asJSON, "json", false, "print JSON (statuses and rows) instead of a table")
	return func(ctx context.Context, args []string) error {
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		conn, js, _, err := cli.ConnectCommand(cctx, nc, "zonecast-syncer-status")
		if err != nil {
			return err
		}
		defer conn.Close()
		rep, err := fleetReport(cctx, js, fo, time.Now())
		if err != nil {
			if rep.Stream != nil {
				// What may explain it: an election, a stream without leader.
				fmt.Fprintln(os.Stderr, rep.Stream.Line())
			}
			return err
		}
		if asJSON {
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(rep); err != nil {
				return err
			}
		} else {
			if err := status.Render(os.Stdout, rep.Rows); err != nil {
				return err
			}
			if len(rep.Signers) > 0 {
				fmt.Println()
				if err := status.RenderSigners(os.Stdout, rep.Signers, rep.Time); err != nil {
					return err
				}
			}
			for _, a := range rep.Alarms {
				fmt.Println("ALARM", a)
			}
			if zl := rep.ZoneList; zl != nil {
				fmt.Println(zl.Line())
			}
			fmt.Println(rep.Stream.Line())
		}
		if rep.Failing {
			return errFailing
		}
		return nil
	}
}

// report is the fleet status: every node's own status and the rows.
type report struct {
	Time    time.Time     `json:"time"`
	Failing bool          `json:"failing"`
	Rows    []status.Row  `json:"rows"`
	Nodes   []status.Node `json:"nodes"`
	// Signers are the signed zones of the signers, with the nodes that
	// serve their last change.
	Signers []status.SignerRow `json:"signers,omitempty"`
	Alarms  []string           `json:"alarms,omitempty"` // "node: what its stream watch saw"
	// Stream is the record stream's leader and replicas, as read now.
	Stream *status.StreamRow `json:"stream"`
	// ZoneList is the fleet's zone list as read now (nil: not read).
	ZoneList *zoneListRow `json:"zone_list,omitempty"`
}

// zoneListRow sums up the zone list in the fleet report.
type zoneListRow struct {
	Bucket  string   `json:"bucket"`
	Zones   []string `json:"zones"`
	Removed []string `json:"removed"`         // the syncers withdraw from them
	Bad     []string `json:"bad,omitempty"`   // keys whose entry does not read
	Error   string   `json:"error,omitempty"` // the list could not be read
}

// Line is the report's line of the zone list.
func (z *zoneListRow) Line() string {
	if z.Error != "" {
		return fmt.Sprintf("zone list %s: not read: %s", z.Bucket, z.Error)
	}
	line := fmt.Sprintf("zone list %s: %d zones, %d removed", z.Bucket, len(z.Zones), len(z.Removed))
	if len(z.Bad) > 0 {
		line += fmt.Sprintf(", %d entries that do not read (%s) !", len(z.Bad), strings.Join(z.Bad, " "))
	}
	return line
}

// readZoneList reads the zone list for the report: the zones, by when
// they were added; nil when there is none to read.
func readZoneList(ctx context.Context, js jetstream.JetStream, bucket string) (*zoneListRow, map[string]time.Time) {
	if bucket == "" {
		return nil, nil
	}
	row := &zoneListRow{Bucket: bucket, Zones: []string{}, Removed: []string{}}
	st, err := zonestore.Open(ctx, js, bucket)
	if errors.Is(err, zonestore.ErrNoBucket) {
		return nil, nil // no syncer follows a list yet
	}
	var l *zonelist.List
	if err == nil {
		l, err = st.Load(ctx)
	}
	if err != nil {
		row.Error = err.Error()
		return row, nil
	}
	listed := make(map[string]time.Time, len(l.Zones))
	for _, z := range l.Sorted() {
		row.Zones = append(row.Zones, z.Name)
		listed[z.Name] = z.Added
	}
	row.Removed = slices.Sorted(maps.Keys(l.Removed))
	row.Bad = slices.Sorted(maps.Keys(l.Bad))
	return row, listed
}

// fleetReport reads the stream's health, every node's status and the
// stream's backlog for each of its zones, and classifies them. On error,
// the report holds the stream's health only.
func fleetReport(ctx context.Context, js jetstream.JetStream, fo fleetOptions, now time.Time) (report, error) {
	sr := status.ClassifyStream(bus.ReadStreamHealth(ctx, js, fo.stream), fo.opts)
	rep := report{Time: now.UTC(), Rows: []status.Row{}, Nodes: []status.Node{}, Stream: &sr}
	raw, err := bus.ReadStatuses(ctx, js, fo.bucket)
	if err != nil {
		return report{Stream: &sr}, err
	}
	zl, listed := readZoneList(ctx, js, fo.zoneBucket)
	rep.ZoneList = zl
	var signers []status.Node
	for key, b := range raw {
		n, err := status.Decode(b)
		if err != nil {
			rep.Rows = append(rep.Rows, status.Row{Node: key, Zone: "-", State: "undecodable", Serial: "-"})
			continue
		}
		if n.Signer != nil {
			signers = append(signers, n)
			continue
		}
		backlogs := map[string]status.Backlog{}
		for _, z := range n.Zones {
			if z.Removing {
				continue // followed no more
			}
			bl, err := bus.Backlog(ctx, js, fo.stream, z.Filter, z.AppliedSeq)
			if err != nil {
				return report{Stream: &sr}, fmt.Errorf("node %s zone %s: %w", n.Node, z.Zone, err)
			}
			backlogs[z.Zone] = bl
		}
		rep.Nodes = append(rep.Nodes, n)
		rep.Rows = append(rep.Rows, status.Classify(n, backlogs, now, fo.opts)...)
		rep.Rows = append(rep.Rows, status.AbsentZones(n, listed, now, fo.opts)...)
		if n.StreamAlarm != "" {
			rep.Alarms = append(rep.Alarms, n.Node+": "+n.StreamAlarm)
		}
	}
	status.SortRows(rep.Rows)
	slices.Sort(rep.Alarms)
	rep.Failing = status.Failing(rep.Rows) || len(rep.Alarms) > 0 || sr.Failing || (zl != nil && len(zl.Bad) > 0)
	for _, n := range signers {
		rep.Nodes = append(rep.Nodes, n)
		for _, r := range status.ClassifySigner(n, rep.Rows, now, fo.opts) {
			rep.Signers = append(rep.Signers, r)
			rep.Failing = rep.Failing || r.Failing
		}
	}
	return rep, nil
}

// fleetHandler serves the fleet report as JSON (/status/fleet), as the
// status command computes it; ?max-behind=30s&stale-after=20s.
func fleetHandler(js jetstream.JetStream, cfg *syncerConfig) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fo := fleetOptions{stream: cfg.stream, bucket: cfg.statusBucket, zoneBucket: cfg.zoneBucket,
			opts: status.Options{MaxBehind: 30 * time.Second, StaleAfter: 4 * cfg.statusEvery}}
		if d, err := time.ParseDuration(r.URL.Query().Get("max-behind")); err == nil {
			fo.opts.MaxBehind = d
		}
		if d, err := time.ParseDuration(r.URL.Query().Get("stale-after")); err == nil {
			fo.opts.StaleAfter = d
		}
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		rep, err := fleetReport(ctx, js, fo, time.Now())
		if err != nil {
			msg := err.Error()
			if rep.Stream != nil {
				msg += "\n" + rep.Stream.Line()
			}
			http.Error(w, msg, http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if rep.Failing {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(rep)
	})
}
