// Command zonecast-syncer replays the zonecast record stream and keeps the
// local PowerDNS in line with it. `zonecast-syncer publish` puts one record
// event on the stream.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

var version = "dev"

func main() {
	if os.Getenv("GOGC") == "" {
		// The syncer's heap is mostly its long-lived state (desired,
		// actual, owned): collecting at 50 % growth instead of 100 % keeps
		// a 100k-RRset node well under 150 MB resident.
		debug.SetGCPercent(50)
	}
	os.Exit(realMain(os.Args[1:]))
}

func realMain(args []string) int {
	if len(args) > 0 {
		switch args[0] {
		case "publish":
			return runCommand(args[1:], "publish", publishMain)
		case "status":
			return runCommand(args[1:], "status", statusMain)
		case "passwd":
			return runCommand(args[1:], "passwd", passwdMain)
		case "nkey":
			return runCommand(args[1:], "nkey", nkeyMain)
		case "version", "--version", "-version":
			fmt.Println("zonecast-syncer", version)
			return 0
		}
	}
	return runCommand(args, "", syncerMain)
}

// runCommand gives a command its signal-aware context and exit code.
func runCommand(args []string, name string, fn func(ctx context.Context, args []string) error) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err := fn(ctx, args)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	}
	prog := "zonecast-syncer"
	if name != "" {
		prog += " " + name
	}
	fmt.Fprintf(os.Stderr, "%s: %v\n", prog, err)
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

var errUsage = errors.New("usage error")

func syncerMain(ctx context.Context, args []string) error {
	cfg, err := parseSyncerFlags(args)
	if err != nil {
		return err
	}
	log, err := cfg.log.Logger(os.Stderr)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	log = log.With().Str("node", cfg.nodeID).Logger()
	log.Info().Str("version", version).Strs("zones", cfg.zones).Msg("starting zonecast-syncer")
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
