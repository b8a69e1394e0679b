package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/cli"
	"github.com/zonecast/zonecast/internal/status"
)

const statusHelp = `Reads the status every syncer publishes (KV bucket --status-bucket) and
compares each node's applied sequence, per zone, with the stream's last
message for that zone. Prints one line per node and zone: caught-up, behind
by N (messages), starting, pdns-unreachable, holding N deletions (the
delete limit waits for zonecast-syncer approve), serial-mismatch or stale
(no status for --stale-after); then an ALARM line per node whose stream
watch saw the stream emptied within the last hour; then the stream's
leader and replicas, read from the stream's info, e.g.
  stream ZONECAST: leader ns1, replicas ns2 current, ns3 lagging 120 ops (seen 2s ago); ...
("no leader" during an election, or when no leader answered within 2s).
Exits 1 when a node has been behind (or stale) for longer than
--max-behind, holds deletions, or raised an alarm; when the stream has no
leader; or when a replica offline or not current was last seen longer
than --max-behind ago; 0 otherwise.`

// errFailing is returned when the fleet is not converged or the stream
// is not healthy.
var errFailing = errors.New("failing: a node behind or stale longer than --max-behind, deletions held, an alarm, " +
	"or the stream without a leader or with a replica gone longer than --max-behind")

type fleetOptions struct {
	stream, bucket string
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
			bl, err := bus.Backlog(ctx, js, fo.stream, z.Filter, z.AppliedSeq)
			if err != nil {
				return report{Stream: &sr}, fmt.Errorf("node %s zone %s: %w", n.Node, z.Zone, err)
			}
			backlogs[z.Zone] = bl
		}
		rep.Nodes = append(rep.Nodes, n)
		rep.Rows = append(rep.Rows, status.Classify(n, backlogs, now, fo.opts)...)
		if n.StreamAlarm != "" {
			rep.Alarms = append(rep.Alarms, n.Node+": "+n.StreamAlarm)
		}
	}
	status.SortRows(rep.Rows)
	slices.Sort(rep.Alarms)
	rep.Failing = status.Failing(rep.Rows) || len(rep.Alarms) > 0 || sr.Failing
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
		fo := fleetOptions{stream: cfg.stream, bucket: cfg.statusBucket,
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
