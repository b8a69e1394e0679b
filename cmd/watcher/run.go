package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	lxd "github.com/canonical/lxd/client"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/cli"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/health"
	"github.com/zonecast/zonecast/internal/instance"
	"github.com/zonecast/zonecast/internal/lxdwatch"
	"github.com/zonecast/zonecast/internal/retry"
	"github.com/zonecast/zonecast/internal/rrset"
	"github.com/zonecast/zonecast/internal/zonegate"
	"github.com/zonecast/zonecast/internal/zonestore"
)

// lxdWait spaces the looks for a local LXD socket that does not exist yet
// (LXD not started): soon at first, as LXD may be starting beside the
// watcher, then rarely.
var lxdWait = retry.Backoff{Min: 500 * time.Millisecond, Max: 30 * time.Second, Jitter: 0.1}

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
		nc, js, err := cli.ConnectStream(ctx, *cfg.nats, cfg.stream, ready, log)
		if err != nil {
			return g.Err(err)
		}
		defer nc.Close()
		pub = &countingPublisher{pub: bus.NewPublisher(js, cfg.stream, cfg.prefix), stream: cfg.stream, metrics: m}
		mc := mapper.Config()
		zones := append(append([]string(nil), mc.Zones...), mc.ReverseZones...)
		opts.Previous = func(ctx context.Context) ([]rrset.Key, error) {
			return bus.OriginKeys(ctx, js, cfg.stream, cfg.prefix, mc.Origin, zones)
		}
		if cfg.zoneBucket != "" {
			// --zone-bucket: records go only into the zones the list holds;
			// the first sync waits for the list.
			gate := zonegate.New(zonegate.Config{Own: zones, Daemon: "watcher", Reg: reg, Log: log})
			g.Go(func() error { gate.Run(ctx, openZoneList(js, cfg.zoneBucket)); return nil })
			opts.Writable = func(name string) bool {
				z, ok := rrset.ZoneOf(name, zones)
				return ok && gate.Writable(z)
			}
			opts.WritableChanged = gate.Changes()
			opts.Skipped = func(events.Message) { gate.Refused("lxd") }
			ready.NotReady("reading the zone list " + cfg.zoneBucket)
			select {
			case <-gate.Settled():
			case <-ctx.Done():
				return g.Err(nil)
			}
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

// openZoneList opens the zone list's bucket (the syncers make it) for a
// zonegate.Gate.
func openZoneList(js jetstream.JetStream, bucket string) zonegate.Opener {
	return func(ctx context.Context) (zonegate.Follower, error) {
		st, err := zonestore.Open(ctx, js, bucket)
		if err != nil {
			return nil, err
		}
		return st, nil
	}
}

// connectLXD returns the LXD client; while no local socket exists yet (LXD
// not started), it waits for one.
func connectLXD(ctx context.Context, cfg lxdwatch.ConnectConfig, log zerolog.Logger) (lxd.InstanceServer, error) {
	var srv lxd.InstanceServer
	err := retry.Loop{
		Backoff:   lxdWait,
		Retryable: func(err error) bool { return errors.Is(err, lxdwatch.ErrNoSocket) },
		Notify: func(_ int, err error, d time.Duration) {
			log.Warn().Err(err).Dur("retry_in", d).Msg("no lxd socket yet; waiting")
		},
	}.Do(ctx, func(ctx context.Context) (err error) {
		srv, err = lxdwatch.Connect(ctx, cfg)
		return err
	})
	if errors.Is(err, lxdwatch.ErrNoSocket) {
		// Only the end of ctx stops the wait for a socket.
		return nil, fmt.Errorf("waiting for the lxd socket: %w", err)
	}
	if err != nil {
		return nil, err
	}
	return srv, nil
}
