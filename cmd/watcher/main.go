// Command zonecast-watcher follows an LXD server and publishes its
// instances' addresses as zonecast record events: AAAA and A (and optional
// _acme-challenge NS and PTR) RRsets, with this node's id as origin and a
// lease that it keeps refreshing while it runs.
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

// program is the watcher, a program of one command.
func program() *cli.Program {
	return &cli.Program{Name: "zonecast-watcher", Version: version, Commands: []cli.Command{{
		Args:    "--zone ZONE [flags]",
		Summary: "publish the addresses of this host's LXD instances as zonecast record events",
		Help: `Publishes AAAA and A RRsets with origin --node-id, and keeps them up to
date. Names: an instance of project "default" is <instance>.<zone>; an
instance of another project is --name-template expanded, then .<zone>.
Per instance, the LXD config keys user.zonecast.enabled=false (opt out),
user.zonecast.ttl and user.zonecast.names (extra names) override the
defaults. See docs/watcher.md.`,
		Flags: cli.ConfigFlags(registerFlags, runWatcher),
	}}}
}

// runWatcher runs the watcher with its checked flags.
func runWatcher(ctx context.Context, cfg *watcherConfig) error {
	d := cli.Daemon{Name: "zonecast-watcher", Version: version, Node: cfg.mapping.Origin, Log: cfg.log,
		Start: func(e *zerolog.Event) *zerolog.Event {
			return e.Strs("zones", cfg.mapping.Zones).Str("zone_list", cfg.zoneBucket).Strs("projects", cfg.follow.Projects).
				Bool("dry_run", cfg.follow.DryRun)
		}}
	return d.Run(ctx, func(ctx context.Context, log zerolog.Logger) error { return run(ctx, cfg, log) })
}
