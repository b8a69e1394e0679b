package main

import (
	"context"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/cli"
	"github.com/zonecast/zonecast/internal/dnssec"
	"github.com/zonecast/zonecast/internal/health"
	"github.com/zonecast/zonecast/internal/keystore"
	"github.com/zonecast/zonecast/internal/signer"
	"github.com/zonecast/zonecast/internal/signerd"
)

// run loads (or makes) the zones' keys, serves the HTTP endpoints,
// connects to NATS and signs until ctx is done or something fails for
// good.
func run(ctx context.Context, cfg *signerConfig, log zerolog.Logger) error {
	reg := cli.NewRegistry()
	m := signerd.NewMetrics(reg)
	signers := make([]*signer.Signer, 0, len(cfg.zones))
	store := keystore.Store{Dir: cfg.keyDir}
	for _, zone := range cfg.zones {
		keys, created, err := store.Ensure(zone, cfg.algorithm, cfg.template.KeyTTL)
		if err != nil {
			return fmt.Errorf("loading the keys of %s: %w", zone, err)
		}
		ksk, zsk, err := pickKeys(zone, keys)
		if err != nil {
			return err
		}
		if created {
			log.Info().Str("zone", zone).Uint16("ksk", ksk.Tag()).Uint16("zsk", zsk.Tag()).Str("key_dir", cfg.keyDir).
				Msg("made new keys; add the DS records of zonecast-signer ds to the parent zone")
		}
		m.KeyInfo(zone, ksk, "active")
		m.KeyInfo(zone, zsk, "active")
		zc := cfg.template
		zc.Zone, zc.KSK, zc.ZSK = zone, ksk, zsk
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
		Metrics: m, Ready: ready, Log: log})
	return g.Err(err)
}

// pickKeys returns the KSK and the ZSK that sign zone: the first of each
// in the key directory.
func pickKeys(zone string, keys []dnssec.Key) (ksk, zsk dnssec.Key, err error) {
	for _, k := range keys {
		switch {
		case k.KSK() && ksk.DNSKEY == nil:
			ksk = k
		case !k.KSK() && zsk.DNSKEY == nil:
			zsk = k
		}
	}
	if ksk.DNSKEY == nil || zsk.DNSKEY == nil {
		return ksk, zsk, fmt.Errorf("keys of %s: want a KSK (flags 257) and a ZSK (flags 256), found %d keys", zone, len(keys))
	}
	return ksk, zsk, nil
}
