package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/claimlog"
	"github.com/zonecast/zonecast/internal/cli"
	"github.com/zonecast/zonecast/internal/config"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/health"
	"github.com/zonecast/zonecast/internal/idlegc"
	"github.com/zonecast/zonecast/internal/monitor"
	"github.com/zonecast/zonecast/internal/pdnsapi"
	"github.com/zonecast/zonecast/internal/reap"
	"github.com/zonecast/zonecast/internal/status"
	"github.com/zonecast/zonecast/internal/syncer"
)

// run wires NATS, PowerDNS, the syncer and the HTTP endpoints, and returns
// when ctx is done or something fails for good.
func run(ctx context.Context, cfg *syncerConfig, log zerolog.Logger) error {
	apiKey, err := config.ReadSecret(cfg.pdnsKeyFile)
	if err != nil {
		// A configuration error (exit 2), which systemd does not restart.
		return fmt.Errorf("%w: reading the PowerDNS API key: %v", cli.ErrUsage, err)
	}
	nc, srv, err := connectNATS(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer func() {
		nc.Close()
		if srv != nil {
			srv.Shutdown()
			srv.WaitForShutdown()
		}
	}()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("opening jetstream: %w", err)
	}
	var stream jetstream.Stream
	if cfg.dryRun {
		// A dry run neither creates nor updates the stream.
		if err := bus.WaitStream(ctx, js, cfg.stream, log); err != nil {
			return err
		}
		if stream, err = js.Stream(ctx, cfg.stream); err != nil {
			return fmt.Errorf("looking up stream %s: %w", cfg.stream, err)
		}
	} else if stream, err = bus.EnsureStreamWait(ctx, js, bus.StreamConfig{Name: cfg.stream, Prefix: cfg.prefix, SignedPrefix: cfg.signedPrefix, Replicas: cfg.replicas}, log); err != nil {
		return fmt.Errorf("ensuring stream %s: %w", cfg.stream, err)
	}

	reg := cli.NewRegistry()
	metrics := syncer.NewMetrics(reg)
	api := pdnsapi.New(cfg.pdnsURL, apiKey, cfg.pdnsServerID, cfg.pdnsTimeout)
	var pdns syncer.PDNS = api
	if len(cfg.signed) > 0 {
		go checkQueryCache(ctx, api, log)
	}
	var dry *syncer.DryRun
	if cfg.dryRun {
		// Reads go to PowerDNS, writes nowhere: the stream, the status
		// bucket, the snapshots and the claim log are left alone too.
		dry = &syncer.DryRun{PDNS: pdns, Keep: cfg.plan}
		if !cfg.plan {
			dry.OnChange = func(p syncer.Planned) {
				log.Info().Str("zone", p.Zone).Str("op", p.Op).Str("name", p.Set.Name).Str("type", p.Set.Type).
					Strs("records", p.Set.Records).Strs("was", p.Was.Records).Msg("dry run: would write")
			}
		}
		pdns = dry
		cfg.snapshotEvery = 0
	}
	recent := status.NewRecent(20)
	if !cfg.dryRun {
		if err := os.MkdirAll(cfg.stateDir, 0o700); err != nil {
			return fmt.Errorf("creating the state directory: %w", err)
		}
	}
	scfg := syncer.Config{
		Zones: cfg.zones, Prefix: cfg.prefix, SOA: cfg.soa, NS: cfg.ns,
		Signed: cfg.signed, SignedPrefix: cfg.signedPrefix,
		BatchDelay: cfg.batchDelay, ReconcileInterval: cfg.reconcile,
		DeleteLimit: cfg.deleteLimit, ApproveAtStart: cfg.approveAtStart,
	}
	var reaper *reap.Reaper
	if cfg.dryRun {
		// The claims the running syncer logged count as owned here too.
		scfg.Claims = claimlog.ReadOnly{Path: filepath.Join(cfg.stateDir, "claims.log")}
	} else {
		claims, err := claimlog.Open(filepath.Join(cfg.stateDir, "claims.log"))
		if err != nil {
			return err
		}
		defer claims.Close()
		scfg.Claims = claims
		collector := idlegc.New(idleGarbage)
		scfg.Idle = func() {
			if collector.Idle() {
				log.Debug().Msg("idle: collecting garbage before the next burst")
			}
		}
		reaper = reap.New(reap.Config{Prefix: cfg.prefix, Publisher: bus.NewPublisher(js, cfg.stream, cfg.prefix),
			Last:   func(ctx context.Context, subject string) (bus.Last, error) { return bus.LastOf(ctx, stream, subject) },
			Jitter: reapJitter, Log: log}, reg)
		scfg.LeasesEnded = reaper.Ended
	}
	s := syncer.New(scfg, pdns, metrics, log.Hook(recent))
	watchFile := filepath.Join(cfg.stateDir, "stream.json")
	if cfg.dryRun {
		watchFile = ""
	}
	watch := newStreamWatch(stream, cfg.deleteLimit, watchFile, reg, log)
	// The stream's leader and replicas, read in a goroutine of their own:
	// during an election a reading waits up to bus.StreamHealthTimeout.
	self := ""
	if srv != nil {
		self = srv.Name()
	}
	streamHealth := monitor.NewStreamHealth(monitor.StreamHealthConfig{
		Read: func(ctx context.Context) status.Stream { return bus.ReadStreamHealth(ctx, js, cfg.stream) },
		Self: self, Log: log.Hook(recent),
	}, reg)
	heal := cfg.healEvery
	if heal == 0 {
		heal = -1
	}
	mcfg := monitor.Config{
		Node: cfg.nodeID, Version: version, Stream: cfg.stream, Zones: cfg.zones, Prefix: cfg.prefix,
		Signed: cfg.signed, SignedPrefix: cfg.signedPrefix,
		Interval: cfg.statusEvery, HealInterval: heal, Syncer: s, PDNS: pdns, Recent: recent,
		Reconcile: s.RequestReconcile, Ready: s.Ready(), Started: time.Now(), Log: log.Hook(recent),
		StreamAlarm: watch.Alarm, StreamHealth: streamHealth.Last,
		// The healer's failed SOA reads count as the syncer's own failed
		// calls of PowerDNS.
		ReadFailed: func(string, error) { s.ObserveReadFailed() },
	}
	if !cfg.dryRun {
		kv, err := bus.StatusBucket(ctx, js, cfg.statusBucket, cfg.replicas, log)
		if err != nil {
			return fmt.Errorf("opening the status bucket: %w", err)
		}
		mcfg.Sink = kv
		// Applied reports, for gateways running with --confirm all|any.
		mcfg.Applied, mcfg.AppliedSubject = nc, events.AppliedSubject(cfg.appliedPrefix, cfg.stream, cfg.nodeID)
		sub, err := bus.ServeApprovals(nc, bus.ApproveSubject(cfg.controlPrefix, cfg.stream), cfg.nodeID,
			approveTimeout, s.Approve, log)
		if err != nil {
			return err
		}
		defer sub.Unsubscribe()
	}
	mon := monitor.New(mcfg, reg)

	ready := health.NewReady("replaying the stream and converging zones")
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, ctx := cli.NewGroup(ctx)
	defer g.Stop()
	g.Go(func() error { mon.Run(ctx); return nil })
	if reaper != nil {
		g.Go(func() error { reaper.Run(ctx); return nil })
	}
	g.Go(func() error { watch.run(ctx, cfg.statusEvery); return nil })
	g.Go(func() error { streamHealth.Run(ctx); return nil })
	g.Go(func() error {
		mux := health.Handler(reg, ready)
		mux.Handle("/status", mon)
		mux.Handle("/status/fleet", fleetHandler(js, cfg))
		if cfg.pprof {
			health.AddPprof(mux)
		}
		return health.Serve(ctx, cfg.httpListen, mux)
	})
	g.Go(func() error { readiness(ctx, s, ready); return nil })
	// The syncer reads (or creates) its zones in PowerDNS while the
	// snapshots load and the stream replays.
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(ctx) }()
	snaps := openSnapshots(ctx, js, cfg, stream, s, metrics, log)
	var after uint64 // the follower replays the stream after the snapshots loaded
	if snaps != nil {
		if info, err := stream.Info(ctx); err != nil {
			log.Warn().Err(err).Msg("could not read the stream's state; replaying the whole stream")
		} else {
			after = snaps.load(ctx, info.State.LastSeq)
		}
		g.Go(func() error { snaps.run(ctx, s.Ready()); return nil })
	}
	filters := followFilters(cfg)
	// The follower hands deliveries to a goroutine of their own, in order,
	// so that fetching the next messages overlaps decoding this one.
	type item struct {
		d        events.Delivery
		replayed bool // the replay is complete (after the deliveries before)
	}
	intake := make(chan item, 8192)
	go func() {
		for it := range intake {
			if it.replayed {
				s.Replayed()
				continue
			}
			s.HandleMessage(it.d, time.Now())
		}
	}()
	g.Go(func() error {
		defer close(intake)
		err := bus.Follow(ctx, js, bus.FollowConfig{
			Stream: cfg.stream, Filters: filters, After: after, Log: log,
			Ready:  func() { intake <- item{replayed: true} },
			Handle: func(d events.Delivery) { intake <- item{d: d} },
		})
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("following stream %s: %w", cfg.stream, err)
		}
		return nil
	})
	cli.OnHUP(ctx, s.RequestReconcile)

	planned := make(chan error, 1)
	if cfg.plan {
		go func() {
			select {
			case <-s.Ready():
				planned <- printPlan(ctx, cfg, s, dry)
			case <-ctx.Done():
			}
		}()
	}
	select {
	case err = <-runErr:
	case <-ctx.Done(): // the end of the parent's, or a failure in the group
		err = <-runErr
	case err = <-planned:
		cancel()
		<-runErr
	}
	return g.Err(err)
}

// readiness keeps /readyz in line: not ready until the first convergence,
// then not ready while a zone holds deletions (they wait for an operator).
func readiness(ctx context.Context, s *syncer.Syncer, ready *health.Ready) {
	select {
	case <-s.Ready():
	case <-ctx.Done():
		return
	}
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		if holds := s.Holds(); len(holds) > 0 {
			var parts []string
			for _, h := range holds {
				parts = append(parts, fmt.Sprintf("%d deletions held in %s (of %d owned RRsets; approve: zonecast-syncer approve --zone %s)",
					h.Held, h.Zone, h.Owned, h.Zone))
			}
			ready.NotReady(strings.Join(parts, "; "))
		} else {
			ready.Set()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// approveTimeout bounds the wait for the writer when an operator approves
// held deletions.
const approveTimeout = 30 * time.Second

// connectNATS joins --nats-url, or starts the embedded server and connects
// in-process. srv is nil when joining.
func connectNATS(ctx context.Context, cfg *syncerConfig, log zerolog.Logger) (*nats.Conn, *server.Server, error) {
	if cfg.dryRun && cfg.nats.URL == "" {
		// A plan, or a dry run, beside the syncer: it joins its embedded
		// server rather than start one on the same store.
		cfg.nats.URL = "nats://" + cfg.natsListen
		if cfg.nats.PasswordFile == "" {
			cfg.nats.PasswordFile = cli.FirstReadable(append([]string{filepath.Join(cfg.stateDir, "nats-password")},
				cli.DefaultPasswordFiles...)...)
		}
	}
	if cfg.nats.URL != "" {
		cfg.nats.Name = "zonecast-syncer/" + cfg.nodeID
		nc, err := bus.Connect(ctx, *cfg.nats, log)
		if err != nil {
			return nil, nil, err // says "connecting to nats"
		}
		return nc, nil, nil
	}
	pwFile := cfg.nats.PasswordFile
	if pwFile == "" {
		pwFile = filepath.Join(cfg.stateDir, "nats-password")
	}
	password, err := bus.EnsurePassword(pwFile)
	if err != nil {
		return nil, nil, fmt.Errorf("preparing the embedded nats password: %w", err)
	}
	cluster, err := cfg.cluster.config()
	if err != nil {
		return nil, nil, err
	}
	var users []bus.UserSpec
	if cfg.usersFile != "" {
		if users, err = bus.ReadUsersFile(cfg.usersFile); err != nil {
			return nil, nil, err
		}
	}
	local, err := localUsers(cfg)
	if err != nil {
		return nil, nil, err
	}
	users = append(users, local...)
	srv, err := bus.StartEmbedded(bus.ServerConfig{
		StoreDir: filepath.Join(cfg.stateDir, "jetstream"), Listen: cfg.natsListen,
		User: cfg.nats.User, Password: password, Name: cfg.nodeID, Log: log,
		Cluster: cluster, Users: users,
		Scope: bus.Scope{Prefix: cfg.prefix, SignedPrefix: cfg.signedPrefix, Stream: cfg.stream, StatusBucket: cfg.statusBucket, Applied: cfg.appliedPrefix,
			Snapshots: cfg.snapshotBucket},
		TLSCertFile: cfg.cluster.srvCert, TLSKeyFile: cfg.cluster.srvKey, TLSCAFile: cfg.cluster.srvCA,
	})
	if err != nil {
		return nil, nil, err
	}
	ev := log.Info().Str("listen", cfg.natsListen).Str("password_file", pwFile).Int("users", len(users))
	if cluster != nil {
		ev = ev.Str("cluster", cluster.Name).Str("cluster_listen", cluster.Listen).Int("routes", len(cluster.Routes))
	}
	ev.Msg("embedded nats-server started")
	nc, err := bus.ConnectInProcess(srv, cfg.nats.User, password, log)
	if err != nil {
		srv.Shutdown()
		return nil, nil, fmt.Errorf("connecting in-process: %w", err)
	}
	return nc, srv, nil
}

// localUsers returns the users of this host's watcher and gateway, each
// confined to its role, from --local-watcher-password-file and
// --local-gateway-password-file.
func localUsers(cfg *syncerConfig) ([]bus.UserSpec, error) {
	var out []bus.UserSpec
	for _, lu := range []struct {
		name, role, origin string
		u                  localUser
	}{
		{"watcher", bus.RoleSource, cfg.nodeID, cfg.localWatcher},
		{"gateway", bus.RoleGateway, "", cfg.localGateway},
	} {
		if lu.u.passwordFile == "" {
			continue
		}
		pw, err := config.ReadSecret(lu.u.passwordFile)
		if err != nil {
			return nil, fmt.Errorf("%w: reading the password of local user %s: %v", cli.ErrUsage, lu.name, err)
		}
		u, err := bus.LocalUser(lu.name, lu.role, lu.origin, pw, lu.u.zones)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", cli.ErrUsage, err)
		}
		out = append(out, u)
	}
	return out, nil
}

// openSnapshots opens the snapshot bucket; nil, with a warning, when
// snapshots are off or the bucket cannot be opened (the syncer then
// replays the whole stream and stores none).
func openSnapshots(ctx context.Context, js jetstream.JetStream, cfg *syncerConfig, stream jetstream.Stream,
	s *syncer.Syncer, m *syncer.Metrics, log zerolog.Logger) *snapshots {
	if cfg.snapshotBucket == "" {
		return nil
	}
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var store *bus.SnapshotStore
	var err error
	if cfg.dryRun {
		store, err = bus.OpenSnapshots(octx, js, cfg.snapshotBucket)
	} else {
		store, err = bus.SnapshotBucket(octx, js, cfg.snapshotBucket, cfg.replicas, log)
	}
	if err != nil {
		log.Warn().Err(err).Str("bucket", cfg.snapshotBucket).Msg("snapshots unavailable; replaying the whole stream")
		return nil
	}
	return &snapshots{store: store, stream: cfg.stream, created: stream.CachedInfo().Created,
		zones: cfg.zones, every: cfg.snapshotEvery, s: s, m: m,
		log: log.With().Str("component", "snapshots").Str("bucket", cfg.snapshotBucket).Logger()}
}

// reapJitter bounds the random delay before a syncer publishes the
// tombstones of leases it has ended: the syncers of a fleet spread their
// attempts, and the first one's tombstone spares the others theirs.
const reapJitter = time.Second

// idleGarbage is the least garbage the syncer collects while idle (see
// internal/idlegc): below it, a cycle during a burst costs little.
const idleGarbage = 16 << 20

// followFilters returns the subjects the syncer follows: the record
// subjects of its unsigned zones, and zonecast-signer's of its signed
// ones (their record subjects are the signer's to read).
func followFilters(cfg *syncerConfig) []string {
	var plain []string
	for _, z := range cfg.zones {
		if !slices.Contains(cfg.signed, z) {
			plain = append(plain, z)
		}
	}
	return append(events.ZoneFilters(cfg.prefix, plain), events.ZoneFilters(cfg.signedPrefix, cfg.signed)...)
}
