// Command zonecast-gateway accepts RFC 2136 UPDATEs signed with TSIG and
// dyndns2 requests, and publishes the resulting RRsets to the zonecast
// stream, with the TSIG key or the host as origin. `zonecast-gateway key`,
// `host` and `token` manage the keys and hosts it accepts.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

var version = "dev"

func main() {
	os.Exit(realMain(os.Args[1:]))
}

var errUsage = errors.New("usage error")

func realMain(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var err error
	switch {
	case len(args) > 0 && (args[0] == "version" || args[0] == "--version" || args[0] == "-version"):
		fmt.Println("zonecast-gateway", version)
		return 0
	case len(args) > 0 && (args[0] == "key" || args[0] == "host" || args[0] == "token"):
		err = adminMain(ctx, args[0], args[1:])
	default:
		err = gatewayMain(ctx, args)
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(os.Stderr, "zonecast-gateway: %v\n", err)
		return 2
	default:
		fmt.Fprintf(os.Stderr, "zonecast-gateway: %v\n", err)
		return 1
	}
}

func gatewayMain(ctx context.Context, args []string) error {
	cfg, err := parseFlags(args, os.LookupEnv, os.Stderr)
	if err != nil {
		return err
	}
	log, err := cfg.log.Logger(os.Stderr)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
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
