// Package monitor watches a syncer from outside and tells others: the
// node's status in the status bucket (Publisher), the data-loss check of
// PowerDNS that asks for a reconciliation (Healer), the applied reports
// gateways wait for (Reporter) and the record stream's replication
// health (StreamHealth). Each part reads what the syncer exposes
// (syncer.Progress, its positions and their change notification), never
// its metrics.
package monitor

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/status"
)

// Syncer is what the monitor watches (a *syncer.Syncer).
type Syncer interface {
	ProgressSource
	PositionSource
	ChangeSource
	// ObserveReachable tells the syncer whether PowerDNS answered the
	// healer's reads.
	ObserveReachable(ok bool)
}

// Config configures a Monitor: its parts' configurations in one.
type Config struct {
	Node, Version string
	Stream        string   // the record stream, for status.Node.Stream
	Zones         []string // canonical
	Prefix        string   // subject prefix
	// Signed and SignedPrefix: the zones served presigned, and the
	// signer's subject prefix (see StatusConfig).
	Signed       []string
	SignedPrefix string
	// Retiring and ZoneList: see StatusConfig.
	Retiring []string
	ZoneList string
	// Interval and Poll: see StatusConfig.
	Interval, Poll time.Duration
	// HealInterval is the period of the data-loss check (default 10s;
	// negative disables it): see Healer.
	HealInterval time.Duration
	Syncer       Syncer
	PDNS         SOAReader
	Reconcile    func()          // asks the syncer for a full reconciliation
	Ready        <-chan struct{} // closed once the syncer is ready
	// ReadFailed: see HealConfig.
	ReadFailed   func(err error)
	Recent       *status.Recent // may be nil
	Sink         StatusSink     // may be nil: no publication
	StreamAlarm  func() string
	StreamHealth func() *status.Stream
	// Applied, when set, gets the applied reports on AppliedSubject (see
	// Reporter).
	Applied        AppliedSink
	AppliedSubject string
	Heartbeat      time.Duration
	Started        time.Time
	Log            zerolog.Logger
}

// Monitor holds the parts that watch one syncer.
type Monitor struct {
	Status   *Publisher
	Healer   *Healer
	Reporter *Reporter // nil without Config.Applied
}

// New returns the parts and registers their metrics on reg.
func New(cfg Config, reg prometheus.Registerer) *Monitor {
	applied := NewApplied(cfg.Syncer, cfg.Zones, cfg.Ready)
	healer := NewHealer(HealConfig{Zones: cfg.Zones, Signed: cfg.Signed, Interval: cfg.HealInterval, PDNS: cfg.PDNS, Applied: applied,
		Reconcile: cfg.Reconcile, Reachable: cfg.Syncer.ObserveReachable, ReadFailed: cfg.ReadFailed, Log: cfg.Log}, reg)
	m := &Monitor{Healer: healer,
		Status: NewPublisher(StatusConfig{Node: cfg.Node, Version: cfg.Version, Stream: cfg.Stream, Zones: cfg.Zones,
			Prefix: cfg.Prefix, Signed: cfg.Signed, SignedPrefix: cfg.SignedPrefix, Retiring: cfg.Retiring, ZoneList: cfg.ZoneList,
			Interval: cfg.Interval, Poll: cfg.Poll, Progress: cfg.Syncer, Applied: applied,
			Served: healer.Served, Recent: cfg.Recent, Sink: cfg.Sink, Started: cfg.Started,
			StreamAlarm: cfg.StreamAlarm, StreamHealth: cfg.StreamHealth, Log: cfg.Log}),
	}
	if cfg.Applied != nil {
		m.Reporter = NewReporter(ReporterConfig{Node: cfg.Node, Started: cfg.Started, Applied: applied,
			Changes: cfg.Syncer, Sink: cfg.Applied, Subject: cfg.AppliedSubject, Heartbeat: cfg.Heartbeat, Log: cfg.Log})
	}
	return m
}

// Run runs the parts until ctx is done and all of them have stopped (the
// reporter's last report sent).
func (m *Monitor) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { m.Status.Run(ctx) })
	wg.Go(func() { m.Healer.Run(ctx) })
	if m.Reporter != nil {
		wg.Go(func() { m.Reporter.Run(ctx) })
	}
	wg.Wait()
}

// ServeHTTP serves the last status (/status).
func (m *Monitor) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.Status.ServeHTTP(w, r) }
