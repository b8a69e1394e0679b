package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"golang.org/x/time/rate"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/cli"
	"github.com/zonecast/zonecast/internal/confirm"
	"github.com/zonecast/zonecast/internal/gateway"
	"github.com/zonecast/zonecast/internal/gwstore"
	"github.com/zonecast/zonecast/internal/health"
	"github.com/zonecast/zonecast/internal/retry"
	"github.com/zonecast/zonecast/internal/status"
	"github.com/zonecast/zonecast/internal/web"
	"github.com/zonecast/zonecast/internal/zonegate"
	"github.com/zonecast/zonecast/internal/zonestore"
)

// run connects to NATS, loads the keys, replays the stream of its zones,
// then answers DNS and dyndns until ctx is done or something fails.
func run(ctx context.Context, cfg *gatewayConfig, log zerolog.Logger) error {
	reg := cli.NewRegistry()
	metrics := gateway.NewMetrics(reg)
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
	ready.NotReady("opening bucket " + cfg.bucket)
	store, err := gwstore.Open(ctx, js, cfg.bucket, cfg.kvReplicas)
	if err != nil {
		return g.Err(err)
	}
	cache := gwstore.NewCache()
	// --confirm all|any: the syncers' applied reports and status.
	var confirmer gateway.Confirmer
	var tracker *confirm.Tracker
	var statusKV jetstream.KeyValue
	if cfg.confirm != confirm.None {
		ready.NotReady("opening the status bucket " + cfg.statusBucket)
		if statusKV, err = waitBucket(ctx, js, cfg.statusBucket, log); err != nil {
			return g.Err(err)
		}
		tracker = confirm.NewTracker(cfg.confirmStale)
		confirmer = confirm.NewConfirmer(tracker, cfg.confirm, cfg.confirmTimeout, reg, log)
	}
	stream, err := js.Stream(ctx, cfg.stream)
	if err != nil {
		return g.Err(fmt.Errorf("looking up stream %s: %w", cfg.stream, err))
	}
	// --zone-bucket: updates go only into the zones the list holds.
	var zoneList gateway.ZoneList
	var gate *zonegate.Gate
	if cfg.zoneBucket != "" {
		gate = zonegate.New(zonegate.Config{Own: cfg.zones, Daemon: "gateway", Reg: reg, Log: log})
		zoneList = gate
		g.Go(func() error { gate.Run(ctx, openZoneList(js, cfg.zoneBucket)); return nil })
	}
	gw := gateway.New(gateway.Config{
		Zones: cfg.zones, Prefix: cfg.prefix, Directory: cache, Metrics: metrics, Log: log,
		Publisher: gateway.NewStreamPublisher(js, cfg.stream, cfg.prefix),
		// Another gateway wrote a subject first: evaluate again on what it stored.
		Last:           func(ctx context.Context, subject string) (bus.Last, error) { return bus.LastOf(ctx, stream, subject) },
		DyndnsRate:     rate.Limit(cfg.dyndnsRate),
		DyndnsBurst:    cfg.dyndnsBurst,
		Confirmer:      confirmer,
		PublishTimeout: cfg.publishTimeout,
		Claims:         cfg.claims, ClaimStore: store, ClaimCount: cache,
		History: store, ZoneList: zoneList,
	})
	if cfg.claims != nil {
		l := log.Info().Strs("zones", cfg.claims.Zones).Dur("lease", cfg.claims.Lease).Dur("key_lease", cfg.claims.KeyLease).
			Strs("types", cfg.claims.Types)
		if len(cfg.claims.Subnets) == 0 {
			l = l.Str("from", "anywhere")
		}
		l.Msg("names in the claim zones are claimed first come, with SIG(0)")
	}

	// Ready once the keys are loaded, the zones' state replayed and the
	// zone list read (or found missing, or failed once).
	var pending atomic.Int32
	loadedAll := make(chan struct{})
	pending.Store(2)
	if tracker != nil {
		pending.Add(1)
	}
	if gate != nil {
		pending.Add(1)
	}
	loaded := func(what string) func() {
		var once sync.Once
		return func() {
			once.Do(func() {
				log.Info().Msg(what)
				if pending.Add(-1) == 0 {
					ready.Set()
					close(loadedAll)
				}
			})
		}
	}
	ready.NotReady("loading keys and replaying the stream")
	keysLoaded, replayed := loaded("keys and hosts loaded"), loaded("stream replayed")
	g.Go(func() error { return store.Watch(ctx, cache, keysLoaded, log) })
	if gate != nil {
		listRead := loaded("zone list settled")
		g.Go(func() error {
			select {
			case <-gate.Settled():
				listRead()
			case <-ctx.Done():
			}
			return nil
		})
	}
	if tracker != nil {
		statusLoaded := loaded("syncer status loaded")
		g.Go(func() error {
			return confirm.Follow(ctx, tracker, nc, cfg.appliedPrefix, cfg.stream, statusKV, statusLoaded, log)
		})
	}
	g.Go(func() error {
		return bus.Follow(ctx, js, bus.FollowConfig{Stream: cfg.stream, Filters: gw.Filters(), Handle: gw.Observe, Ready: replayed, Log: log})
	})
	// Answer nothing until all are done: prerequisites need the state.
	select {
	case <-ctx.Done():
		return g.Err(nil)
	case <-loadedAll:
	}
	g.Go(func() error { return gw.ServeDNSOn(ctx, cfg.dnsListen) })
	if cfg.dyndnsListen != "" {
		g.Go(func() error { return serveDyndns(ctx, cfg, gw, log) })
	}
	if cfg.web.listen != "" {
		// Users and sessions, read on every request, from the cache the
		// watch keeps (gwstore.CachedStore).
		srv, err := web.New(web.Config{Store: gwstore.CachedStore{Store: store, Cache: cache}, Directory: cache, Gateway: gw,
			Metrics: web.NewMetrics(reg), Log: log,
			Fleet:      fleetStatus{js: js, stream: cfg.stream, bucket: cfg.statusBucket},
			SessionTTL: cfg.web.sessionTTL, Signup: cfg.web.signup, SignupZones: cfg.web.signupZones,
			SignupQuota: cfg.web.signupQuota, DyndnsURL: cfg.web.dyndnsURL})
		if err != nil {
			return g.Err(err)
		}
		g.Go(func() error {
			err := serveWeb(ctx, cfg, srv.Handler(), log)
			srv.Wait() // failed logins still being recorded, before NATS closes
			return err
		})
		g.Go(func() error { expireSessions(ctx, store, log); return nil })
	}
	<-ctx.Done()
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

// waitBucket opens an existing key-value bucket (the syncers create the
// status bucket), waiting for it to appear.
func waitBucket(ctx context.Context, js jetstream.JetStream, bucket string, log zerolog.Logger) (jetstream.KeyValue, error) {
	var kv jetstream.KeyValue
	// A short fixed pause: the bucket appears with the first syncer, and
	// the gateway is not ready until it has it.
	err := retry.Loop{
		Backoff: retry.Backoff{Min: bucketPoll, Max: bucketPoll},
		Notify: func(attempt int, err error, _ time.Duration) {
			if attempt == 1 {
				log.Info().Err(err).Str("bucket", bucket).Msg("waiting for the status bucket (created by zonecast-syncer)")
			}
		},
	}.Do(ctx, func(ctx context.Context) (err error) {
		kv, err = js.KeyValue(ctx, bucket)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("opening bucket %s: %w", bucket, err)
	}
	return kv, nil
}

// bucketPoll is the pause between looks for the status bucket.
const bucketPoll = 250 * time.Millisecond

// serveWeb serves the web page on --web-listen, over HTTPS with
// --web-cert-file.
func serveWeb(ctx context.Context, cfg *gatewayConfig, h http.Handler, log zerolog.Logger) error {
	ln, err := net.Listen("tcp", cfg.web.listen)
	if err != nil {
		return fmt.Errorf("listening for the web page on %s: %w", cfg.web.listen, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second, WriteTimeout: 30 * time.Second,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10}
	go func() {
		<-ctx.Done()
		sctx, c := context.WithTimeout(context.Background(), 2*time.Second)
		defer c()
		_ = srv.Shutdown(sctx)
	}()
	tls := cfg.web.cert != ""
	log.Info().Str("addr", cfg.web.listen).Bool("tls", tls).Str("dyndns_url", cfg.web.dyndnsURL).Bool("signup", cfg.web.signup).
		Msg("serving the web page")
	if !tls && !loopback(ln.Addr()) {
		log.Warn().Str("addr", cfg.web.listen).
			Msg("the web page is served over plain HTTP: browsers keep its Secure session cookie only from localhost; use --web-cert-file or a TLS proxy in front")
	}
	if tls {
		err = srv.ServeTLS(ln, cfg.web.cert, cfg.web.key)
	} else {
		err = srv.Serve(ln)
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving the web page on %s: %w", cfg.web.listen, err)
	}
	return nil
}

func loopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// expireSessions removes, every sessionSweep, the web sessions that
// expired without a logout (those read are removed on the way). Every
// gateway sweeps: they remove the same entries, harmlessly.
func expireSessions(ctx context.Context, store *gwstore.Store, log zerolog.Logger) {
	t := time.NewTicker(sessionSweep)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if n, err := store.ExpireSessions(ctx, now); err != nil {
				log.Warn().Err(err).Msg("removing expired web sessions")
			} else if n > 0 {
				log.Debug().Int("sessions", n).Msg("expired web sessions removed")
			}
		}
	}
}

// sessionSweep is the period of expireSessions.
const sessionSweep = time.Hour

// fleetStatus reads the fleet's status for the operator's page, as
// `zonecast-syncer status` does: every node's status from the status
// bucket, opened on each read (the gateway may run before any syncer
// made it), and the stream's backlog of each zone.
type fleetStatus struct {
	js             jetstream.JetStream
	stream, bucket string
}

// fleetOptions classify the fleet as `zonecast-syncer status` does by
// default: the syncers publish every 5s.
var fleetOptions = status.Options{StaleAfter: 20 * time.Second, MaxBehind: 30 * time.Second}

func (f fleetStatus) Status(ctx context.Context, now time.Time) ([]status.Node, []status.Row, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	raw, err := bus.ReadStatuses(ctx, f.js, f.bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil, nil // no syncer yet
	}
	if err != nil {
		return nil, nil, err
	}
	var nodes []status.Node
	var rows []status.Row
	for key, b := range raw {
		n, err := status.Decode(b)
		if err != nil {
			rows = append(rows, status.Row{Node: key, Zone: "-", State: "undecodable", Serial: "-"})
			continue
		}
		backlogs := map[string]status.Backlog{}
		for _, z := range n.Zones {
			bl, err := bus.Backlog(ctx, f.js, f.stream, z.Filter, z.AppliedSeq)
			if err != nil {
				return nil, nil, fmt.Errorf("node %s zone %s: %w", n.Node, z.Zone, err)
			}
			backlogs[z.Zone] = bl
		}
		nodes = append(nodes, n)
		rows = append(rows, status.Classify(n, backlogs, now, fleetOptions)...)
	}
	return nodes, rows, nil
}

func serveDyndns(ctx context.Context, cfg *gatewayConfig, h http.Handler, log zerolog.Logger) error {
	ln, err := net.Listen("tcp", cfg.dyndnsListen)
	if err != nil {
		return fmt.Errorf("listening for dyndns on %s: %w", cfg.dyndnsListen, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, c := context.WithTimeout(context.Background(), 2*time.Second)
		defer c()
		_ = srv.Shutdown(sctx)
	}()
	log.Info().Str("addr", cfg.dyndnsListen).Bool("tls", cfg.dyndnsCert != "").Msg("answering dyndns2")
	if cfg.dyndnsCert != "" {
		err = srv.ServeTLS(ln, cfg.dyndnsCert, cfg.dyndnsKey)
	} else {
		err = srv.Serve(ln)
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving dyndns on %s: %w", cfg.dyndnsListen, err)
	}
	return nil
}
