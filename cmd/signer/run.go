package main

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/cli"
	"github.com/zonecast/zonecast/internal/health"
	"github.com/zonecast/zonecast/internal/keystore"
	"github.com/zonecast/zonecast/internal/signer"
	"github.com/zonecast/zonecast/internal/signerd"
	"github.com/zonecast/zonecast/internal/status"
)

// run loads (or makes) the zones' keys, serves the HTTP endpoints,
// connects to NATS and signs until ctx is done or something fails for
// good.
func run(ctx context.Context, cfg *signerConfig, log zerolog.Logger) error {
	reg := cli.NewRegistry()
	m := signerd.NewMetrics(reg)
	signers := make([]*signer.Signer, 0, len(cfg.zones))
	store := keystore.Store{Dir: cfg.keyDir}
	now := time.Now()
	for _, zone := range cfg.zones {
		keys, created, err := store.Ensure(zone, cfg.algorithm, cfg.template.KeyTTL, now)
		if err != nil {
			return fmt.Errorf("loading the keys of %s: %w", zone, err)
		}
		ks, _, err := signer.Plan(zone, keys, now)
		if err != nil {
			return err
		}
		if created {
			log.Info().Str("zone", zone).Uint16("ksk", ks.KSKs[0].Tag()).Uint16("zsk", ks.ZSK.Tag()).Str("key_dir", cfg.keyDir).
				Msg("made new keys; add the DS records of zonecast-signer ds to the parent zone")
		}
		zc := cfg.template
		zc.Zone, zc.KSK, zc.ZSK = zone, ks.KSKs[0], ks.ZSK
		zc.SOAEvery = signerd.DefaultSOAEvery
		signers = append(signers, signer.New(zc))
	}
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
	nc, js, err := cli.ConnectStream(ctx, *cfg.nats, cfg.stream, ready, log)
	if err != nil {
		return g.Err(err)
	}
	defer nc.Close()
	err = signerd.Run(ctx, js, bus.NewSignedPublisher(js, cfg.stream, cfg.signedPrefix), signerd.Config{
		Signers: signers, Origin: cfg.origin, Stream: cfg.stream, Prefix: cfg.prefix, SignedPrefix: cfg.signedPrefix,
		Metrics: m, Ready: ready, Log: log, Keys: store, ZSKLifetime: cfg.zskLifetime,
		Rollover: signer.Rollover{Prepublish: 2 * time.Duration(cfg.template.KeyTTL) * time.Second, Retire: defaultRetire},
		Reload:   reloads(ctx), Version: version, Status: statusSink(js, cfg.statusBucket, cfg.origin)})
	return g.Err(err)
}

// reloads returns a channel that receives on every SIGHUP until ctx
// ends: the signer reads its keys again.
func reloads(ctx context.Context) <-chan struct{} {
	out := make(chan struct{}, 1)
	cli.OnHUP(ctx, func() {
		select {
		case out <- struct{}{}:
		default:
		}
	})
	return out
}

// statusSink puts the signer's status into the status bucket under its
// origin, opening the bucket (which the syncers make) when it first can.
func statusSink(js jetstream.JetStream, bucket, origin string) func(ctx context.Context, n status.Node) error {
	if bucket == "" {
		return nil
	}
	var kv jetstream.KeyValue
	return func(ctx context.Context, n status.Node) error {
		b, err := status.Encode(n)
		if err != nil {
			return err
		}
		if kv == nil {
			if kv, err = js.KeyValue(ctx, bucket); err != nil {
				kv = nil
				return fmt.Errorf("opening the status bucket %s: %w", bucket, err)
			}
		}
		if _, err := kv.Put(ctx, origin, b); err != nil {
			return fmt.Errorf("putting the status of %s: %w", origin, err)
		}
		return nil
	}
}
