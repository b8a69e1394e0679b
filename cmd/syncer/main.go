// Command zonecast-syncer replays the zonecast record stream and keeps the
// local PowerDNS in line with it. `zonecast-syncer publish` puts one record
// event on the stream.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

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
	os.Exit(realMain(os.Args[1:]))
}

func realMain(args []string) int {
	if cli.IsVersion(args) {
		fmt.Println("zonecast-syncer", version)
		return 0
	}
	if len(args) > 0 {
		switch args[0] {
		case "publish":
			return cli.Run("zonecast-syncer publish", args[1:], publishMain)
		case "status":
			return cli.Run("zonecast-syncer status", args[1:], statusMain)
		case "passwd":
			return cli.Run("zonecast-syncer passwd", args[1:], passwdMain)
		case "nkey":
			return cli.Run("zonecast-syncer nkey", args[1:], nkeyMain)
		case "plan":
			return cli.Run("zonecast-syncer plan", args[1:], planMain)
		case "approve":
			return cli.Run("zonecast-syncer approve", args[1:], approveMain)
		case "export":
			return cli.Run("zonecast-syncer export", args[1:], exportMain)
		}
	}
	return cli.Run("zonecast-syncer", args, syncerMain)
}

var errUsage = cli.ErrUsage

func syncerMain(ctx context.Context, args []string) error {
	cfg, err := parseSyncerFlags(args)
	if err != nil {
		return err
	}
	log, err := cfg.log.Logger(os.Stderr)
	if err != nil {
		return err
	}
	log = log.With().Str("node", cfg.nodeID).Logger()
	log.Info().Str("version", version).Strs("zones", cfg.zones).Msg("starting zonecast-syncer")
	if cfg.ignoredLocal {
		log.Info().Msg("--local-*-password-file ignored: they define users of the embedded server, and --nats-url joins another")
	}
	err = run(ctx, cfg, log)
	if err != nil {
		log.Error().Err(err).Msg("zonecast-syncer stopped on error")
		return err
	}
	log.Info().Msg("zonecast-syncer stopped")
	return nil
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}

// withHUP calls fn on every SIGHUP until ctx is done.
func withHUP(ctx context.Context, fn func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	go func() {
		defer signal.Stop(ch)
		for {
			select {
			case <-ctx.Done():
				return
			case <-ch:
				fn()
			}
		}
	}()
}
