package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/cli"
	"github.com/zonecast/zonecast/internal/rrset"
)

const approveHelp = `A syncer holds a plan's deletions when they would remove more than its
--delete-limit-share and --delete-limit-min of a zone's owned RRsets within
--delete-limit-window (zonecast-syncer status shows "holding N deletions").
This asks every syncer of the stream (or --node) to write the deletions it
holds in the zone now, and prints what each answered. Look first: the
syncer's log, or zonecast-syncer plan on that node, lists them. Needs an
admin NATS user (by default the local syncer's password file). Exits 1
when no syncer answered.`

var errNoAnswer = errors.New("no syncer answered")

// approveFlags registers approve's flags and returns what runs it.
func approveFlags(fs *flag.FlagSet) cli.Func {
	nc := cli.NATSFlags(fs, "nats://127.0.0.1:4222", "NATS server URL(s)")
	var zone, node, stream, prefix string
	var wait time.Duration
	fs.StringVar(&zone, "zone", "", "the zone whose held deletions to write (required)")
	fs.StringVar(&node, "node", "", "only this node (default: every node)")
	fs.StringVar(&stream, "stream", bus.DefaultStreamName, "JetStream stream name of the fleet")
	fs.StringVar(&prefix, "control-prefix", bus.DefaultControlPrefix, "subject prefix of operators' requests (the syncers' --control-prefix)")
	fs.DurationVar(&wait, "wait", 3*time.Second, "how long to gather the syncers' answers")
	return func(ctx context.Context, _ []string) error {
		return approve(ctx, nc, zone, node, stream, prefix, wait)
	}
}

// approve asks the syncers to write the deletions they hold in zone, and
// prints their answers.
func approve(ctx context.Context, nc *bus.ClientConfig, zone, node, stream, prefix string, wait time.Duration) error {
	cz, err := rrset.CanonicalName(zone)
	if err != nil {
		return fmt.Errorf("%w: --zone: %w", errUsage, err)
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second+wait)
	defer cancel()
	conn, _, _, err := cli.ConnectCommand(cctx, nc, "zonecast-syncer-approve")
	if err != nil {
		return err
	}
	defer conn.Close()
	replies, err := bus.RequestApprovals(cctx, conn, bus.ApproveSubject(prefix, stream),
		bus.ApproveRequest{Zone: cz, Node: node}, wait)
	if err != nil {
		return err
	}
	if len(replies) == 0 {
		return fmt.Errorf("%w within %v (is the user an admin? do the syncers run with --control-prefix %s and --stream %s?)",
			errNoAnswer, wait, prefix, stream)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tZONE\tAPPROVED\tERROR")
	for _, r := range replies {
		e := r.Error
		if e == "" {
			e = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", r.Node, r.Zone, r.Approved, e)
	}
	return tw.Flush()
}
