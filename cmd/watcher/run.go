package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	lxd "github.com/canonical/lxd/client"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/cli"
	"github.com/zonecast/zonecast/internal/health"
	"github.com/zonecast/zonecast/internal/instance"
	"github.com/zonecast/zonecast/internal/lxdwatch"
)

// Waits for the stream and the LXD socket back off between these bounds.
const (
	waitMin = 500 * time.Millisecond
	waitMax = 30 * time.Second
)

// run serves the HTTP endpoints, connects to NATS (unless a dry run) and
// LXD, and follows LXD until ctx is done or something fails for good.
func run(ctx context.Context, cfg *watcherConfig, log zerolog.Logger) error {
	mapper, err := instance.NewMapper(cfg.mapping)
	if err != nil {
		return fmt.Errorf("configuring the instance mapping: %w", err)
	}
	reg := cli.NewRegistry()
	m := newMetrics(reg)
	ready := health.NewReady("starting")

	g, ctx := cli.NewGroup(ctx)
	defer g.Stop()
	g.Go(func() error {
		mux := health.Handler(reg, ready)
		if cfg.pprof {
			health.AddPprof(mux)
		}
		return health.Serve(ctx, cfg.httpListen, mux)
	})

	var pub lxdwatch.Publisher
	if !cfg.follow.DryRun {
		ready.NotReady("connecting to nats")
		nc, js, err := cli.ConnectJetStream(ctx, *cfg.nats, log)
		if err != nil {
			return g.Err(err)
		}
		defer nc.Close()
		ready.NotReady("waiting for stream " + cfg.stream)
		if err := waitStream(ctx, js, cfg.stream, log); err != nil {
			return g.Err(err)
		}
		pub = &countingPublisher{pub: bus.NewPublisher(js, cfg.stream, cfg.prefix), stream: cfg.stream, metrics: m}
	}

	ready.NotReady("connecting to lxd")
	srv, err := connectLXD(ctx, cfg.lxd, log)
	if err != nil {
		return g.Err(err)
	}
	ready.NotReady("first full sync of the lxd instances")
	opts := cfg.follow
	opts.Observer = &observer{metrics: m, ready: ready, log: log}
	f, err := lxdwatch.New(srv, mapper, pub, log, opts)
	if err != nil {
		return err
	}
	if err := f.Run(ctx); err != nil {
		return g.Err(fmt.Errorf("following lxd: %w", err))
	}
	return g.Err(nil)
}

// waitStream waits until the record stream exists. The watcher never
// creates it: a zonecast-syncer does, with the settings it needs.
func waitStream(ctx context.Context, js jetstream.JetStream, name string, log zerolog.Logger) error {
	for attempt := 0; ; attempt++ {
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := js.Stream(lctx, name)
		cancel()
		if err == nil {
			log.Info().Str("stream", name).Msg("record stream found")
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("waiting for stream %s: %w (last error: %w)", name, ctx.Err(), err)
		}
		d := backoff(attempt)
		ev := log.Warn().Err(err).Str("stream", name).Dur("retry_in", d)
		switch {
		case errors.Is(err, jetstream.ErrStreamNotFound):
			ev.Msg("record stream does not exist yet; waiting for a zonecast-syncer to create it (the watcher never does)")
		case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, nats.ErrNoResponders):
			ev.Msg("jetstream is not available on this nats server; waiting")
		default:
			ev.Msg("looking up the record stream failed; retrying")
		}
		if !sleep(ctx, d) {
			return fmt.Errorf("waiting for stream %s: %w (last error: %w)", name, ctx.Err(), err)
		}
	}
}

// connectLXD returns the LXD client; while no local socket exists yet (LXD
// not started), it waits for one.
func connectLXD(ctx context.Context, cfg lxdwatch.ConnectConfig, log zerolog.Logger) (lxd.InstanceServer, error) {
	for attempt := 0; ; attempt++ {
		srv, err := lxdwatch.Connect(ctx, cfg)
		if err == nil {
			return srv, nil
		}
		if !errors.Is(err, lxdwatch.ErrNoSocket) {
			return nil, err
		}
		d := backoff(attempt)
		log.Warn().Err(err).Dur("retry_in", d).Msg("no lxd socket yet; waiting")
		if !sleep(ctx, d) {
			return nil, fmt.Errorf("waiting for the lxd socket: %w", ctx.Err())
		}
	}
}

func backoff(attempt int) time.Duration {
	d := waitMin
	for i := 0; i < attempt && d < waitMax; i++ {
		d *= 2
	}
	return min(d, waitMax)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
