// Command zonecast-signer runs on a hidden node and holds the DNSSEC keys
// of the signed zones: it follows their record events, signs them, and
// publishes the signed zones (data with RRSIGs, NSEC or NSEC3, DNSKEY,
// SOA and apex NS) for the syncers to serve as presigned zones. Its ds
// command prints the DS records for the parent zone.
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

// program is the signer and its commands.
func program() *cli.Program {
	return &cli.Program{Name: "zonecast-signer", Version: version, Commands: []cli.Command{
		{Args: "--zone ZONE --ns NAME [flags]", Summary: "sign the record events of zones and publish the signed zones",
			Help: signerHelp, Flags: cli.ConfigFlags(registerFlags, runSigner)},
		{Name: "ds", Args: "--zone ZONE [--key-dir DIR]", Summary: "print the DS records of a zone's KSKs, for the parent zone",
			Help: dsHelp, Flags: dsFlags},
		{Name: "rollover", Args: "--zone ZONE --key zsk|ksk [--complete] [flags]", Summary: "start a ZSK or KSK rollover (or complete a KSK rollover)",
			Help: rolloverHelp, Flags: rolloverFlags},
	}}
}

const signerHelp = `Holds the keys of the signed zones in --key-dir (BIND's K*.key and
K*.private files; a KSK and a ZSK of --algorithm are made for a zone that
has none). Follows the record events of the zones, signs what changes, and
publishes the signed RRsets below --signed-prefix as origin --origin, each
change as one atomic batch. Keys never leave this host. Restarted, it reads
back what it published and signs again only what is not still valid. The
syncers serve the zones with --signed-zone; see docs/dnssec.md.`

// runSigner runs the signer with its checked flags.
func runSigner(ctx context.Context, cfg *signerConfig) error {
	d := cli.Daemon{Name: "zonecast-signer", Version: version, Node: cfg.origin, Log: cfg.log,
		Start: func(e *zerolog.Event) *zerolog.Event {
			return e.Strs("zones", cfg.zones).Str("key_dir", cfg.keyDir).Bool("nsec3", cfg.nsec3 != nil)
		}}
	return d.Run(ctx, func(ctx context.Context, log zerolog.Logger) error { return run(ctx, cfg, log) })
}
