package main

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/cli"
	"github.com/zonecast/zonecast/internal/health"
	"github.com/zonecast/zonecast/internal/register"
)

// withdrawWait bounds the withdrawal at a clean stop: a gateway that does
// not answer by then lets the records expire with their lease.
const withdrawWait = 5 * time.Second

// run loads or makes the key, serves the HTTP endpoints, follows the
// kernel's addresses and keeps every gateway holding them, until ctx
// ends; then it withdraws the records unless --keep.
func run(ctx context.Context, cfg *registerConfig, log zerolog.Logger) error {
	return runWith(ctx, cfg, log, netlinkSource)
}

// runWith is run with the kernel's messages from src.
func runWith(ctx context.Context, cfg *registerConfig, log zerolog.Logger, src source) error {
	k, err := loadKey(cfg.stateDir, cfg.name, time.Now())
	if err != nil {
		return err
	}
	e := log.Info().Str("name", cfg.name).Str("file", k.file).Uint16("key_tag", k.key.KeyTag())
	if k.created {
		e.Msg("key made")
	} else {
		e.Msg("key loaded")
	}
	reg := cli.NewRegistry()
	m := newMetrics(reg, cfg.gateways)
	ready := health.NewReady("no gateway has stored the name yet")
	claim := register.Claim{Zone: cfg.zone, Name: cfg.name, Key: k.key, TTL: cfg.ttl, Lease: cfg.lease, KeyLease: cfg.keyLease}
	state := &desired{}

	g, gctx := cli.NewGroup(ctx)
	defer g.Stop()
	g.Go(func() error { return health.Serve(gctx, cfg.httpListen, health.Handler(reg, ready)) })
	senders := make([]*sender, len(cfg.gateways))
	for i, gw := range cfg.gateways {
		s := newSender(gw, claim, k, cfg, state, m, log)
		s.onAck = ready.Set
		senders[i] = s
		g.Go(func() error { return s.run(gctx) })
	}
	f := &follower{filter: cfg.filter, subscribe: src, state: state, log: log,
		onChange: func(a []netip.Addr) { m.addresses.Set(float64(len(a))) }}
	g.Go(func() error { return f.run(gctx) })
	<-gctx.Done()
	g.Stop()
	if err := g.Err(nil); err != nil {
		return err
	}
	if cfg.keep {
		log.Info().Str("name", cfg.name).Msg("records kept until their lease ends (--keep)")
		return nil
	}
	withdraw(senders, log)
	return nil
}

// withdraw deletes the records from every gateway that stored them in
// this run, all at once, within withdrawWait. The KEY stays, so that a
// restart keeps the name.
func withdraw(senders []*sender, log zerolog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), withdrawWait)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range senders {
		if !s.sched.Acknowledged() {
			continue
		}
		wg.Go(func() {
			if err := s.withdraw(ctx); err != nil {
				s.log.Warn().Err(err).Msg("records not withdrawn: they expire with their lease")
				return
			}
			s.log.Info().Str("name", s.claim.Name).Msg("records withdrawn")
		})
	}
	wg.Wait()
}
