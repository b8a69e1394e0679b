// Command zonecast-gateway accepts RFC 2136 UPDATEs signed with TSIG and
// dyndns2 requests, and publishes the resulting RRsets to the zonecast
// stream, with the TSIG key or the host as origin. `zonecast-gateway key`,
// `host` and `token` manage the keys and hosts it accepts.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/zonecast/zonecast/internal/cli"
)

var version = "dev"

func main() {
	os.Exit(realMain(os.Args[1:]))
}

var errUsage = cli.ErrUsage

func realMain(args []string) int {
	switch {
	case cli.IsVersion(args):
		fmt.Println("zonecast-gateway", version)
		return 0
	case len(args) > 0 && (args[0] == "key" || args[0] == "host" || args[0] == "token"):
		return cli.Run("zonecast-gateway", args[1:], func(ctx context.Context, rest []string) error {
			return adminMain(ctx, args[0], rest)
		})
	default:
		return cli.Run("zonecast-gateway", args, gatewayMain)
	}
}

func gatewayMain(ctx context.Context, args []string) error {
	cfg, err := parseFlags(args, os.LookupEnv, os.Stderr)
	if err != nil {
		return err
	}
	log, err := cfg.log.Logger(os.Stderr)
	if err != nil {
		return err
	}
	log = log.With().Str("node", cfg.nodeID).Logger()
	log.Info().Str("version", version).Strs("zones", cfg.zones).Str("dns_listen", cfg.dnsListen).
		Str("dyndns_listen", cfg.dyndnsListen).Msg("starting zonecast-gateway")
	if err := run(ctx, cfg, log); err != nil {
		log.Error().Err(err).Msg("zonecast-gateway stopped on error")
		return err
	}
	log.Info().Msg("zonecast-gateway stopped")
	return nil
}
