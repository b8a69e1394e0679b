// Command zonecast-watcher follows an LXD server and publishes its
// instances' addresses as zonecast record events: AAAA and A (and optional
// _acme-challenge NS and PTR) RRsets, with this node's id as origin and a
// lease that it keeps refreshing while it runs.
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

func realMain(args []string) int {
	if cli.IsVersion(args) {
		fmt.Println("zonecast-watcher", version)
		return 0
	}
	return cli.Run("zonecast-watcher", args, watcherMain)
}

var errUsage = cli.ErrUsage

func watcherMain(ctx context.Context, args []string) error {
	cfg, err := parseFlags(args, os.LookupEnv, os.Stderr)
	if err != nil {
		return err
	}
	log, err := cfg.log.Logger(os.Stderr)
	if err != nil {
		return err
	}
	log = log.With().Str("node", cfg.mapping.Origin).Logger()
	log.Info().Str("version", version).Strs("zones", cfg.mapping.Zones).Strs("projects", cfg.follow.Projects).
		Bool("dry_run", cfg.follow.DryRun).Msg("starting zonecast-watcher")
	if err := run(ctx, cfg, log); err != nil {
		log.Error().Err(err).Msg("zonecast-watcher stopped on error")
		return err
	}
	log.Info().Msg("zonecast-watcher stopped")
	return nil
}
