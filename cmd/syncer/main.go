// Command zonecast-syncer replays the zonecast record stream and keeps the
// local PowerDNS in line with it. Its commands (publish, status, plan,
// approve, export, passwd, nkey, zone add/remove/list) serve the operator;
// see program.
package main

import (
	"context"
	"flag"
	"os"
	"runtime/debug"

	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/cli"
)

var version = "dev"

func main() {
	if os.Getenv("GOGC") == "" {
		// The syncer's heap is mostly its long-lived state (desired,
		// actual, owned): collecting at 80 % growth instead of 100 % keeps
		// a large node's resident memory within its target at little CPU
		// cost (docs/benchmarks.md).
		debug.SetGCPercent(80)
	}
	os.Exit(program().Main(os.Args[1:]))
}

// program is the syncer and its commands.
func program() *cli.Program {
	p := &cli.Program{Name: "zonecast-syncer", Version: version, Commands: []cli.Command{
		{Args: "[flags]", Summary: "replay the zonecast record stream into the local PowerDNS and follow it",
			Flags: cli.ConfigFlags(syncerRegister, runSyncer)},
		{Name: "publish", Args: publishArgs, Summary: "put record events on the zonecast stream",
			Help: publishHelp, Flags: publishFlags},
		{Name: "status", Args: "[flags]", Summary: "has every nameserver of the fleet applied the stream?",
			Help: statusHelp, Flags: statusFlags},
		{Name: "plan", Args: planArgs, Summary: "what this syncer would write to its PowerDNS now, writing nothing",
			Help: planHelp, Flags: cli.ConfigFlags(registerPlan, runPlan)},
		{Name: "approve", Args: "--zone Z [--node N] [NATS flags]", Summary: "write the deletions the delete limit holds in a zone",
			Help: approveHelp, Flags: approveFlags},
		{Name: "export", Args: "[--zone ZONE]... [--output FILE] [flags]",
			Summary: "write the fleet's desired state as JSON lines, leases included, for publish --json to restore",
			Help:    exportHelp, Flags: exportFlags},
		{Name: "passwd", Args: "--password-file FILE | < password", Summary: "print the bcrypt hash of a NATS password, for a users file (docs/fleet.md)",
			Flags: passwdFlags},
		{Name: "nkey", Args: "--seed-file FILE", Summary: "make a NATS user nkey and print its public key, for a users file (docs/fleet.md)",
			Flags: nkeyFlags},
	}}
	for _, z := range zoneCommands {
		p.Commands = append(p.Commands, z.command())
	}
	return p
}

var errUsage = cli.ErrUsage

// syncerRegister registers the syncer's own flags, not plan's.
func syncerRegister(fs *flag.FlagSet) func(args []string) (*syncerConfig, error) {
	return registerFlags(fs, false)
}

// runSyncer runs the syncer with its checked flags.
func runSyncer(ctx context.Context, cfg *syncerConfig) error {
	d := cli.Daemon{Name: "zonecast-syncer", Version: version, Node: cfg.nodeID, Log: cfg.log,
		Start: func(e *zerolog.Event) *zerolog.Event {
			return e.Strs("zones", cfg.zones).Str("zone_list", cfg.zoneBucket)
		}}
	return d.Run(ctx, func(ctx context.Context, log zerolog.Logger) error {
		if cfg.ignoredLocal {
			log.Info().Msg("--local-*-password-file ignored: they define users of the embedded server, and --nats-url joins another")
		}
		return run(ctx, cfg, log)
	})
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}
