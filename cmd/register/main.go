// Command zonecast-register claims a name for the host it runs on in a
// zonecast-gateway's claim zone (docs/register.md) and keeps the name's
// A and AAAA records equal to the host's addresses, as the kernel reports
// them, with UPDATEs signed with SIG(0) by a key it keeps.
package main

import (
	"context"
	"os"

	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/cli"
)

var version = "dev"

func main() {
	os.Exit(program().Main(os.Args[1:]))
}

var errUsage = cli.ErrUsage

// program is zonecast-register, a program of one command.
func program() *cli.Program {
	return &cli.Program{Name: "zonecast-register", Version: version, Commands: []cli.Command{{
		Args:    "--zone ZONE [flags]",
		Summary: "claim a name for this host in a claim zone and keep its addresses there",
		Help: `Claims <name>.<zone> from the gateways with an UPDATE signed with SIG(0)
by a key kept in --state-dir (made on the first start, in BIND's files),
and sends the host's addresses again whenever they change in the kernel,
and every half lease. Each update carries the whole state: the KEY, the
deletion of the name's A and AAAA, and every address. A clean stop
withdraws the records unless --keep; the claim stays, so a restart with
the same key keeps the name. See docs/register.md.`,
		Flags: cli.ConfigFlags(registerFlags, runRegister),
	}}}
}

// runRegister runs the client with its checked flags.
func runRegister(ctx context.Context, cfg *registerConfig) error {
	d := cli.Daemon{Name: "zonecast-register", Version: version, Node: cfg.label, Log: cfg.log,
		Start: func(e *zerolog.Event) *zerolog.Event {
			return e.Str("zone", cfg.zone).Str("name", cfg.name).Strs("gateways", cfg.gateways).Bool("keep", cfg.keep)
		}}
	return d.Run(ctx, func(ctx context.Context, log zerolog.Logger) error { return run(ctx, cfg, log) })
}
