package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	lxd "github.com/canonical/lxd/client"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/cli"
	"github.com/zonecast/zonecast/internal/health"
	"github.com/zonecast/zonecast/internal/instance"
	"github.com/zonecast/zonecast/internal/lxdwatch"
	"github.com/zonecast/zonecast/internal/rrset"
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
	opts := cfg.follow
	if !cfg.follow.DryRun {
		ready.NotReady("connecting to nats")
		nc, js, err := cli.ConnectJetStream(ctx, *cfg.nats, log)
		if err != nil {
			return g.Err(err)
		}
		defer nc.Close()
		ready.NotReady("waiting for stream " + cfg.stream)
		if err := bus.WaitStream(ctx, js, cfg.stream, log); err != nil {
			return g.Err(err)
		}
		pub = &countingPublisher{pub: bus.NewPublisher(js, cfg.stream, cfg.prefix), stream: cfg.stream, metrics: m}
		mc := mapper.Config()
		zones := append(append([]string(nil), mc.Zones...), mc.ReverseZones...)
		opts.Previous = func(ctx context.Context) ([]rrset.Key, error) {
			return bus.OriginKeys(ctx, js, cfg.stream, cfg.prefix, mc.Origin, zones)
		}
	}

	ready.NotReady("connecting to lxd")
	srv, err := connectLXD(ctx, cfg.lxd, log)
	if err != nil {
		return g.Err(err)
	}
	ready.NotReady("first full sync of the lxd instances")
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
