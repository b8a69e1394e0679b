package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/claimlog"
	"github.com/zonecast/zonecast/internal/cli"
	"github.com/zonecast/zonecast/internal/config"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/health"
	"github.com/zonecast/zonecast/internal/idlegc"
	"github.com/zonecast/zonecast/internal/monitor"
	"github.com/zonecast/zonecast/internal/owner"
	"github.com/zonecast/zonecast/internal/pdnsapi"
	"github.com/zonecast/zonecast/internal/reap"
	"github.com/zonecast/zonecast/internal/status"
	"github.com/zonecast/zonecast/internal/syncer"
	"github.com/zonecast/zonecast/internal/zonelist"
	"github.com/zonecast/zonecast/internal/zonestore"
)

// run wires NATS, PowerDNS, the syncer and the HTTP endpoints, and returns
// when ctx is done or something fails for good. The syncer's core (the
// writer, its monitor, the snapshots and the stream's follower) runs for
// one assignment of zones (its flags' and the zone list's); when the zone
// list changes it is stopped and started again with the new one, while
// the rest stays up (see runCores).
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
	api := pdnsapi.New(cfg.pdnsURL, apiKey, cfg.pdnsServerID, cfg.pdnsTimeout)
	// Writes are followed by a late flush of PowerDNS's caches of the zone
	// (internal/syncer/cacheflush.go), unless they are off.
	flush := syncer.NewLateFlush(api, syncer.LateFlushConfig{Log: log}, reg)
	sh := &shared{cfg: cfg, log: log, nc: nc, js: js, stream: stream, reg: reg, core: replacing{reg},
		pdns: flush, api: api, recent: status.NewRecent(20), started: time.Now(),
		ready: health.NewReady("replaying the stream and converging zones")}
	go checkCaches(ctx, api, len(cfg.signed) > 0, flush.CachesOn, log)
	if cfg.dryRun {
		// Reads go to PowerDNS, writes nowhere: the stream, the status
		// bucket, the snapshots and the claim log are left alone too.
		sh.dry = &syncer.DryRun{PDNS: sh.pdns, Keep: cfg.plan}
		if !cfg.plan {
			sh.dry.OnChange = func(p syncer.Planned) {
				log.Info().Str("zone", p.Zone).Str("op", p.Op).Str("name", p.Set.Name).Str("type", p.Set.Type).
					Strs("records", p.Set.Records).Strs("was", p.Was.Records).Msg("dry run: would write")
			}
		}
		sh.pdns = sh.dry
		cfg.snapshotEvery = 0
	}
	if !cfg.dryRun {
		if err := os.MkdirAll(cfg.stateDir, 0o700); err != nil {
			return fmt.Errorf("creating the state directory: %w", err)
		}
	}
	if cfg.dryRun {
		// The claims the running syncer logged count as owned here too.
		sh.claims = claimlog.ReadOnly{Path: filepath.Join(cfg.stateDir, "claims.log")}
	} else {
		claims, err := claimlog.Open(filepath.Join(cfg.stateDir, "claims.log"))
		if err != nil {
			return err
		}
		defer claims.Close()
		sh.claims = claims
		collector := idlegc.New(idleGarbage)
		sh.idle = func() {
			if collector.Idle() {
				log.Debug().Msg("idle: collecting garbage before the next burst")
			}
		}
		sh.reaper = reap.New(reap.Config{Prefix: cfg.prefix, Publisher: bus.NewPublisher(js, cfg.stream, cfg.prefix),
			Last:   func(ctx context.Context, subject string) (bus.Last, error) { return bus.LastOf(ctx, stream, subject) },
			Jitter: reapJitter, Log: log}, reg)
	}
	watchFile := filepath.Join(cfg.stateDir, "stream.json")
	if cfg.dryRun {
		watchFile = ""
	}
	sh.watch = newStreamWatch(stream, cfg.deleteLimit, watchFile, reg, log)
	// The stream's leader and replicas, read in a goroutine of their own:
	// during an election a reading waits up to bus.StreamHealthTimeout.
	if srv != nil {
		sh.self = srv.Name()
	}
	sh.streamHealth = monitor.NewStreamHealth(monitor.StreamHealthConfig{
		Read: func(ctx context.Context) status.Stream { return bus.ReadStreamHealth(ctx, js, cfg.stream) },
		Self: sh.self, Log: log.Hook(sh.recent),
	}, reg)
	if !cfg.dryRun {
		if sh.statusKV, err = bus.StatusBucket(ctx, js, cfg.statusBucket, cfg.replicas, log); err != nil {
			return fmt.Errorf("opening the status bucket: %w", err)
		}
	}
	sh.restarts = prometheus.NewCounter(prometheus.CounterOpts{Name: "zonecast_syncer_core_restarts_total",
		Help: "Restarts of the syncer's core with the zones of a changed zone list."})
	reg.MustRegister(sh.restarts)
	sh.zones = newZoneFollower(cfg.zones, reg, log)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, ctx := cli.NewGroup(ctx)
	defer g.Stop()
	if sh.reaper != nil {
		g.Go(func() error { sh.reaper.Run(ctx); return nil })
	}
	g.Go(func() error { flush.Run(ctx); return nil })
	g.Go(func() error { sh.watch.run(ctx, cfg.statusEvery); return nil })
	g.Go(func() error { sh.streamHealth.Run(ctx); return nil })
	g.Go(func() error {
		mux := health.Handler(reg, sh.ready)
		mux.Handle("/status", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if m := sh.mon.Load(); m != nil {
				m.ServeHTTP(w, r)
				return
			}
			http.Error(w, "starting", http.StatusServiceUnavailable)
		}))
		mux.Handle("/status/fleet", fleetHandler(js, cfg))
		if cfg.pprof {
			health.AddPprof(mux)
		}
		return health.Serve(ctx, cfg.httpListen, mux)
	})
	// Once for the process: between two cores SIGHUP must not find the
	// signal's default action (the end of the process) in place.
	cli.OnHUP(ctx, func() {
		if s := sh.syncer.Load(); s != nil {
			s.RequestReconcile()
		}
	})
	switch {
	case cfg.zoneBucket == "":
		sh.zones.set(nil)
	case cfg.plan:
		// A plan reads the list once, as it stands.
		l, err := loadZoneList(ctx, js, cfg.zoneBucket)
		if err != nil {
			return g.Err(err)
		}
		sh.zones.set(l)
	default:
		g.Go(func() error {
			sh.zones.run(ctx, func(ctx context.Context) (*zonestore.Store, error) {
				if cfg.dryRun {
					return zonestore.Open(ctx, js, cfg.zoneBucket)
				}
				return zonestore.Ensure(ctx, js, cfg.zoneBucket, cfg.replicas)
			})
			return nil
		})
	}
	err = runCores(ctx, sh)
	if errors.Is(err, errPlanned) {
		err = nil
	}
	return g.Err(err)
}

// shared is what the daemon's cores share: they come and go with the zone
// list, these stay.
type shared struct {
	cfg          *syncerConfig
	log          zerolog.Logger
	nc           *nats.Conn
	js           jetstream.JetStream
	stream       jetstream.Stream
	self         string // the embedded server's name; empty when joining
	reg          *prometheus.Registry
	core         prometheus.Registerer // the cores' metrics: each replaces the previous one's
	pdns         syncer.PDNS
	api          *pdnsapi.Client // reads that need no syncer.PDNS wrapper (the healer's)
	dry          *syncer.DryRun
	recent       *status.Recent
	claims       owner.WAL
	idle         func()
	reaper       *reap.Reaper
	watch        *streamWatch
	streamHealth *monitor.StreamHealth
	statusKV     jetstream.KeyValue // nil in a dry run
	ready        *health.Ready
	started      time.Time
	zones        *zoneFollower
	restarts     prometheus.Counter
	mon          atomic.Pointer[monitor.Monitor] // the running core's, for /status
	syncer       atomic.Pointer[syncer.Syncer]   // the running core's, for SIGHUP
}

// zoneListWait bounds the wait for the zone list at start when the flags
// name zones: without them there is nothing to do but wait.
const zoneListWait = 10 * time.Second

// runCores runs the syncer's core for the current assignment of zones,
// and again for the next one each time the zone list changes it, until
// ctx is done or a core fails.
func runCores(ctx context.Context, sh *shared) error {
	cfg := sh.cfg
	wait := zoneListWait
	if len(cfg.zones) == 0 {
		wait = 0
		sh.ready.NotReady("waiting for the zone list: no --zone")
	}
	a := sh.zones.waitLoaded(ctx, wait)
	if ctx.Err() != nil {
		return nil
	}
	for _, z := range cfg.approveAtStart {
		if !slices.Contains(a.Zones, z) && !slices.Contains(a.Retiring, z) {
			return fmt.Errorf("%w: --approve-deletions %s: not a zone of the flags or the zone list", cli.ErrUsage, z)
		}
	}
	for first := true; ; first = false {
		cctx, stop := context.WithCancel(ctx)
		done, ended := make(chan error, 1), make(chan struct{})
		go func() {
			done <- runCore(cctx, sh, a, first)
			close(ended)
		}()
		next, changed := sh.zones.waitChange(ctx, a, ended)
		stop()
		err := <-done
		if !changed || ctx.Err() != nil || err != nil {
			return err
		}
		added, dropped, retiring := describeChange(a, next)
		sh.restarts.Inc()
		sh.log.Info().Strs("added", added).Strs("dropped", dropped).Strs("removed", retiring).Int("zones", len(next.Zones)).
			Msg("zone list changed: restarting the syncer core with its zones")
		sh.ready.NotReady("the zone list changed: replaying the stream and converging zones")
		sh.mon.Store(nil)
		a = next
	}
}

// runCore runs the writer, its monitor, the snapshots and the stream's
// follower for the zones of a, until ctx is done or one of them fails;
// a plan ends once printed. first: the daemon's first core, which takes
// --approve-deletions.
func runCore(ctx context.Context, sh *shared, a zonelist.Assignment, first bool) error {
	cfg, log := sh.cfg, sh.log
	signed := slices.DeleteFunc(slices.Clone(cfg.signed), func(z string) bool { return !slices.Contains(a.Zones, z) })
	perZone := map[string]syncer.ZoneConfig{}
	for name, z := range a.Listed {
		if slices.Contains(signed, name) {
			continue // its SOA and NS are the signer's
		}
		perZone[name] = syncer.ZoneConfig{NS: z.NS, NSTTL: z.TTL,
			SOA: syncer.SOA{MName: z.SOA.MName, RName: z.SOA.RName, Refresh: z.SOA.Refresh, Retry: z.SOA.Retry,
				Expire: z.SOA.Expire, Minimum: z.SOA.Minimum, TTL: z.SOA.TTL}}
	}
	metrics := syncer.NewMetrics(sh.core)
	scfg := syncer.Config{
		Zones: a.Zones, Prefix: cfg.prefix, SOA: cfg.soa, NS: cfg.ns, PerZone: perZone, Retiring: a.Retiring,
		Signed: signed, SignedPrefix: cfg.signedPrefix,
		BatchDelay: cfg.batchDelay, ReconcileInterval: cfg.reconcile,
		DeleteLimit: cfg.deleteLimit, Claims: sh.claims, Idle: sh.idle,
	}
	if first {
		scfg.ApproveAtStart = cfg.approveAtStart
	}
	if sh.reaper != nil {
		scfg.LeasesEnded = sh.reaper.Ended
	}
	s := syncer.New(scfg, sh.pdns, metrics, log.Hook(sh.recent))
	heal := cfg.healEvery
	if heal == 0 {
		heal = -1
	}
	mcfg := monitor.Config{
		Node: cfg.nodeID, Version: version, Stream: cfg.stream, Zones: a.Zones, Prefix: cfg.prefix,
		Signed: signed, SignedPrefix: cfg.signedPrefix, Retiring: a.Retiring, ZoneList: cfg.zoneBucket,
		Interval: cfg.statusEvery, HealInterval: heal, Syncer: s, PDNS: sh.api, Recent: sh.recent,
		Reconcile: s.RequestReconcile, Ready: s.Ready(), Started: sh.started, Log: log.Hook(sh.recent),
		StreamAlarm: sh.watch.Alarm, StreamHealth: sh.streamHealth.Last,
		// The healer's failed SOA reads count as the syncer's own failed
		// calls of PowerDNS.
		ReadFailed: func(error) { s.ObserveReadFailed() },
	}
	if sh.statusKV != nil {
		mcfg.Sink = sh.statusKV
		// Applied reports, for gateways running with --confirm all|any.
		mcfg.Applied, mcfg.AppliedSubject = sh.nc, events.AppliedSubject(cfg.appliedPrefix, cfg.stream, cfg.nodeID)
		sub, err := bus.ServeApprovals(sh.nc, bus.ApproveSubject(cfg.controlPrefix, cfg.stream), cfg.nodeID,
			approveTimeout, s.Approve, log)
		if err != nil {
			return err
		}
		defer sub.Unsubscribe()
	}
	mon := monitor.New(mcfg, sh.core)
	sh.mon.Store(mon)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, ctx := cli.NewGroup(ctx)
	defer g.Stop()
	g.Go(func() error { mon.Run(ctx); return nil })
	g.Go(func() error { readiness(ctx, s, sh.ready); return nil })
	// The syncer reads (or creates) its zones in PowerDNS while the
	// snapshots load and the stream replays.
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(ctx) }()
	var snaps *snapshots
	if len(a.Zones) > 0 {
		snaps = openSnapshots(ctx, sh.js, cfg, a.Zones, sh.stream, s, metrics, log)
	}
	var after uint64 // the follower replays the stream after the snapshots loaded
	if snaps != nil {
		if info, err := sh.stream.Info(ctx); err != nil {
			log.Warn().Err(err).Msg("could not read the stream's state; replaying the whole stream")
		} else {
			after = snaps.load(ctx, info.State.LastSeq)
		}
		g.Go(func() error { snaps.run(ctx, s.Ready()); return nil })
	}
	filters := followFilters(cfg.prefix, cfg.signedPrefix, a.Zones, signed)
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
		if len(filters) == 0 {
			// No zone to follow (only zones to withdraw from, or none
			// yet): without filters the follower would take the whole
			// stream.
			intake <- item{replayed: true}
			<-ctx.Done()
			return nil
		}
		err := bus.Follow(ctx, sh.js, bus.FollowConfig{
			Stream: cfg.stream, Filters: filters, After: after, Log: log,
			Ready:  func() { intake <- item{replayed: true} },
			Handle: func(d events.Delivery) { intake <- item{d: d} },
		})
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("following stream %s: %w", cfg.stream, err)
		}
		return nil
	})
	sh.syncer.Store(s)

	planned := make(chan error, 1)
	if cfg.plan {
		go func() {
			select {
			case <-s.Ready():
				planned <- printPlan(ctx, cfg, append(slices.Clone(a.Zones), a.Retiring...), s, sh.dry)
			case <-ctx.Done():
			}
		}()
	}
	var err error
	select {
	case err = <-runErr:
	case <-ctx.Done(): // the end of the parent's, or a failure in the group
		err = <-runErr
	case err = <-planned:
		cancel()
		<-runErr
		if err == nil {
			err = errPlanned
		}
	}
	return g.Err(err)
}

// errPlanned ends the daemon once a plan is printed.
var errPlanned = errors.New("planned")

// loadZoneList reads the zone list once; a bucket no syncer made yet is an
// empty list.
func loadZoneList(ctx context.Context, js jetstream.JetStream, bucket string) (*zonelist.List, error) {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := zonestore.Open(lctx, js, bucket)
	if errors.Is(err, zonestore.ErrNoBucket) {
		return zonelist.NewList(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the zone list (--zone-bucket \"\" plans without it): %w", err)
	}
	l, err := st.Load(lctx)
	if err != nil {
		return nil, fmt.Errorf("reading the zone list (--zone-bucket \"\" plans without it): %w", err)
	}
	return l, nil
}

// replacing registers the metrics of a syncer core in place of the
// previous core's: a core started again with other zones starts its
// counters again, as after a restart of the process.
type replacing struct{ reg *prometheus.Registry }

func (r replacing) Register(c prometheus.Collector) error {
	err := r.reg.Register(c)
	if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
		r.reg.Unregister(are.ExistingCollector)
		return r.reg.Register(c)
	}
	return err
}

func (r replacing) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

func (r replacing) Unregister(c prometheus.Collector) bool { return r.reg.Unregister(c) }

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
			Snapshots: cfg.snapshotBucket, Zones: cfg.zoneBucket},
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
func openSnapshots(ctx context.Context, js jetstream.JetStream, cfg *syncerConfig, zones []string, stream jetstream.Stream,
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
		zones: zones, every: cfg.snapshotEvery, s: s, m: m,
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
// subjects (prefix) of its unsigned zones, and zonecast-signer's
// (signedPrefix) of its signed ones (their record subjects are the
// signer's to read).
func followFilters(prefix, signedPrefix string, zones, signed []string) []string {
	var plain []string
	for _, z := range zones {
		if !slices.Contains(signed, z) {
			plain = append(plain, z)
		}
	}
	return append(events.ZoneFilters(prefix, plain), events.ZoneFilters(signedPrefix, signed)...)
}
