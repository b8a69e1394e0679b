// Command zonecast-gateway accepts RFC 2136 UPDATEs signed with TSIG and
// dyndns2 requests, and publishes the resulting RRsets to the zonecast
// stream, with the TSIG key or the host as origin; with --web-listen it
// serves the web page where users manage their own hosts (internal/web).
// `zonecast-gateway key`, `host`, `token` and `user` manage the keys,
// hosts and users it accepts.
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

// program is the gateway and its admin commands (admin.go).
func program() *cli.Program {
	p := &cli.Program{Name: "zonecast-gateway", Version: version, Commands: []cli.Command{{
		Args:    "--zone ZONE [flags]",
		Summary: "publish RRsets from signed DNS UPDATEs and dyndns2 requests to the zonecast stream",
		Help: `Accepts RFC 2136 UPDATEs signed with TSIG and dyndns2 requests for its
zones, and publishes the resulting RRsets with the key or the host as
origin. With --web-listen it also serves a web page where users manage
their own hosts (docs/web.md). The key, host, token and user commands
manage the keys, hosts and users it accepts, in a JetStream key-value
bucket. See docs/gateway.md.`,
		Flags: cli.ConfigFlags(registerFlags, runGateway),
	}}}
	for _, a := range adminCommands {
		p.Commands = append(p.Commands, a.command())
	}
	return p
}

// runGateway runs the gateway with its checked flags.
func runGateway(ctx context.Context, cfg *gatewayConfig) error {
	d := cli.Daemon{Name: "zonecast-gateway", Version: version, Node: cfg.nodeID, Log: cfg.log,
		Start: func(e *zerolog.Event) *zerolog.Event {
			return e.Strs("zones", cfg.zones).Str("zone_list", cfg.zoneBucket).Str("dns_listen", cfg.dnsListen).
				Str("dyndns_listen", cfg.dyndnsListen)
		}}
	return d.Run(ctx, func(ctx context.Context, log zerolog.Logger) error { return run(ctx, cfg, log) })
}
