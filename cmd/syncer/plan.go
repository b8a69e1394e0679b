package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/zonecast/zonecast/internal/rrset"
	"github.com/zonecast/zonecast/internal/syncer"
)

// registerPlan registers plan's flags: the syncer's, and --json.
func registerPlan(fs *flag.FlagSet) func(args []string) (*syncerConfig, error) {
	return registerFlags(fs, true)
}

// runPlan is `zonecast-syncer plan`: the syncer's start-up convergence
// against a PowerDNS that takes no writes (syncer.DryRun), printed.
func runPlan(ctx context.Context, cfg *syncerConfig) error {
	if cfg.log.Level == "info" {
		cfg.log.Level = "warn" // the plan is the output
	}
	log, err := cfg.log.Logger(os.Stderr)
	if err != nil {
		return err
	}
	return run(ctx, cfg, log)
}

// zonePlan is one zone's plan as printed.
type zonePlan struct {
	Zone    string           `json:"zone"`
	Create  int              `json:"create"`
	Change  int              `json:"change"`
	Delete  int              `json:"delete"`
	Held    []rrset.Key      `json:"held"` // deletions the delete limit would hold
	Changes []syncer.Planned `json:"changes"`
}

// printPlan writes what the dry run planned in zones (managed, then those
// removed from the zone list), zone by zone, and what the delete limit
// holds.
func printPlan(ctx context.Context, cfg *syncerConfig, zones []string, s *syncer.Syncer, dry *syncer.DryRun) error {
	byZone := map[string]*zonePlan{}
	plans := make([]*zonePlan, 0, len(zones))
	for _, z := range zones {
		held, err := s.HeldKeys(ctx, z)
		if err != nil {
			return err
		}
		p := &zonePlan{Zone: z, Held: held, Changes: []syncer.Planned{}}
		if p.Held == nil {
			p.Held = []rrset.Key{}
		}
		byZone[z] = p
		plans = append(plans, p)
	}
	for _, c := range dry.Planned() {
		p := byZone[c.Zone]
		if p == nil {
			continue
		}
		p.Changes = append(p.Changes, c)
		switch c.Op {
		case "create", "create-zone":
			p.Create++
		case "change":
			p.Change++
		case "delete", "delete-zone":
			p.Delete++
		}
	}
	if cfg.planJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"zones": plans})
	}
	return renderPlan(os.Stdout, plans)
}

func renderPlan(w io.Writer, plans []*zonePlan) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, p := range plans {
		fmt.Fprintf(tw, "zone %s: %d to create, %d to change, %d to delete, %d deletions held by the delete limit\n",
			p.Zone, p.Create, p.Change, p.Delete, len(p.Held))
		for _, c := range p.Changes {
			line := fmt.Sprintf("  %s\t%s\t%s", c.Op, c.Set.Name, c.Set.Type)
			if c.Op != "delete" && c.Op != "delete-zone" {
				line += fmt.Sprintf("\t%d\t%s", c.Set.TTL, strings.Join(c.Set.Records, " "))
			} else {
				line += "\t\t"
			}
			if len(c.Was.Records) > 0 {
				line += "\t(serves " + strings.Join(c.Was.Records, " ") + ")"
			}
			fmt.Fprintln(tw, line)
		}
		for _, k := range p.Held {
			fmt.Fprintf(tw, "  held\t%s\t%s\t\t\t(a deletion: approve with zonecast-syncer approve --zone %s)\n", k.Name, k.Type, p.Zone)
		}
	}
	return tw.Flush()
}
