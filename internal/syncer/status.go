package syncer

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/pdnsapi"
	"github.com/zonecast/zonecast/internal/rrset"
	"github.com/zonecast/zonecast/internal/status"
)

// SOAReader reads one RRset; the monitor reads each zone's SOA with it.
type SOAReader interface {
	RRset(ctx context.Context, zone string, key rrset.Key) (rrset.Set, bool, error)
}

// StatusSink stores a node's status (a KV bucket: jetstream.KeyValue).
type StatusSink interface {
	Put(ctx context.Context, key string, value []byte) (uint64, error)
}

// MonitorConfig configures a Monitor.
type MonitorConfig struct {
	Node, Version string
	Zones         []string // canonical
	Prefix        string   // subject prefix
	// Interval is the period of status publication (default 5s); a status
	// is also published, at most once per Poll (default 1s), when a zone's
	// applied sequence moves.
	Interval, Poll time.Duration
	// HealInterval is the period of the PowerDNS data-loss check (default
	// 10s; negative disables it): a zone missing, or a SOA serial other
	// than the one the syncer wrote on two checks in a row, starts a full
	// reconciliation at once instead of at the next periodic one.
	HealInterval time.Duration
	Gatherer     prometheus.Gatherer // the registry holding the syncer's Metrics
	PDNS         SOAReader
	Recent       *status.Recent // recent warnings and errors (may be nil)
	Sink         StatusSink     // may be nil: no publication
	Reconcile    func()         // asks the syncer for a full reconciliation
	Ready        <-chan struct{}
	Started      time.Time
	Log          zerolog.Logger
}

// Monitor publishes the node's status and heals PowerDNS data loss.
type Monitor struct {
	cfg     MonitorConfig
	log     zerolog.Logger
	heals   prometheus.Counter
	served  *prometheus.GaugeVec
	mu      sync.Mutex
	last    status.Node
	healer  healer
	nHeals  int
	lastPut time.Time
}

// NewMonitor returns a monitor and registers its metrics on reg.
func NewMonitor(cfg MonitorConfig, reg prometheus.Registerer) *Monitor {
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.HealInterval == 0 {
		cfg.HealInterval = 10 * time.Second
	}
	if cfg.Prefix == "" {
		cfg.Prefix = events.DefaultSubjectPrefix
	}
	m := &Monitor{cfg: cfg, log: cfg.Log.With().Str("component", "monitor").Logger(),
		heals: prometheus.NewCounter(prometheus.CounterOpts{Name: "zonecast_syncer_heals_total",
			Help: "Full reconciliations started because PowerDNS had lost data (zone missing or SOA serial not the one written)."}),
		served: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "zonecast_syncer_zone_served_serial",
			Help: "SOA serial PowerDNS serves, read through its API, by zone."}, []string{"zone"}),
		healer: healer{seen: map[string]observation{}},
	}
	reg.MustRegister(m.heals, m.served)
	return m
}

// Last returns the last status taken.
func (m *Monitor) Last() status.Node {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last
}

// ServeHTTP serves the last status as JSON (/status).
func (m *Monitor) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	b, err := status.Encode(m.Last())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(b, '\n'))
}

// Run takes and publishes the status, and checks PowerDNS, until ctx is
// done.
func (m *Monitor) Run(ctx context.Context) {
	t := time.NewTicker(m.cfg.Poll)
	defer t.Stop()
	var lastSeqs map[string]uint64
	var lastHeal time.Time
	for {
		now := time.Now()
		seqs := m.seqs()
		due := now.Sub(m.lastPut) >= m.cfg.Interval || !equalSeqs(seqs, lastSeqs)
		heal := m.cfg.HealInterval > 0 && now.Sub(lastHeal) >= m.cfg.HealInterval && m.ready()
		if due || heal {
			// PowerDNS is asked for its serials only on the heal period:
			// an API read beside every applied round would compete with
			// the writer for the database.
			n := m.take(ctx, now, heal)
			if heal {
				lastHeal = now
				m.heal(n)
			}
			if due {
				lastSeqs = seqs
				m.publish(ctx, n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *Monitor) ready() bool {
	if m.cfg.Ready == nil {
		return true
	}
	select {
	case <-m.cfg.Ready:
		return true
	default:
		return false
	}
}

func (m *Monitor) publish(ctx context.Context, n status.Node) {
	m.lastPut = time.Now()
	if m.cfg.Sink == nil {
		return
	}
	b, err := status.Encode(n)
	if err != nil {
		m.log.Error().Err(err).Msg("encoding status")
		return
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := m.cfg.Sink.Put(pctx, m.cfg.Node, b); err != nil && ctx.Err() == nil {
		m.log.Debug().Err(err).Msg("publishing status failed")
	}
}

// seqs reads the applied sequence of every zone from the metrics.
func (m *Monitor) seqs() map[string]uint64 {
	fams, err := m.cfg.Gatherer.Gather()
	if err != nil {
		return nil
	}
	out := map[string]uint64{}
	for z, v := range byZone(fams, "zonecast_syncer_zone_stream_seq") {
		out[z] = uint64(v)
	}
	return out
}

func equalSeqs(a, b map[string]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// take builds the node's status at now: metrics of the syncer, the SOA
// serial each zone serves.
func (m *Monitor) take(ctx context.Context, now time.Time, readPDNS bool) status.Node {
	n := status.Node{V: status.Version, Node: m.cfg.Node, Time: now.UTC(), Version: m.cfg.Version,
		Started: m.cfg.Started.UTC(), Ready: m.ready()}
	fams, _ := m.cfg.Gatherer.Gather()
	seq := byZone(fams, "zonecast_syncer_zone_stream_seq")
	owned := byZone(fams, "zonecast_syncer_rrsets_owned")
	drift := byZone(fams, "zonecast_syncer_reconcile_drift_rrsets")
	conflicts := byZone(fams, "zonecast_syncer_rrsets_conflicting")
	if v, ok := single(fams, "zonecast_syncer_last_reconcile_timestamp_seconds"); ok && v > 0 {
		n.LastReconcile = time.Unix(0, int64(v*1e9)).UTC()
	}
	if v, ok := single(fams, "zonecast_syncer_rrsets_desired"); ok {
		n.DesiredRRsets = int(v)
	}
	reachable := true
	for _, zone := range m.cfg.Zones {
		z := status.Zone{Zone: zone, Filter: events.ZoneFilter(m.cfg.Prefix, zone), AppliedSeq: uint64(seq[zone]),
			Owned: int(owned[zone]), Drift: int(drift[zone]), Conflicts: int(conflicts[zone])}
		if !readPDNS {
			z = m.lastServed(z)
			n.Zones = append(n.Zones, z)
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		set, found, err := m.cfg.PDNS.RRset(rctx, zone, rrset.Key{Name: zone, Type: "SOA"})
		cancel()
		switch {
		case err != nil && zoneMissing(err):
			z.Missing = true
		case err != nil:
			reachable = false
			m.log.Debug().Err(err).Str("zone", zone).Msg("reading the soa serial failed")
		case !found:
			z.Missing = true // a zone without SOA is as good as missing
		default:
			if serial, ok := soaSerial(set); ok {
				z.Serial, z.SerialKnown = serial, true
				m.served.WithLabelValues(zone).Set(float64(serial))
			}
		}
		n.Zones = append(n.Zones, z)
	}
	if v, ok := single(fams, "zonecast_syncer_pdns_reachable"); ok && v == 0 {
		reachable = false
	}
	n.PDNSReachable = reachable
	if m.cfg.Recent != nil {
		n.Errors = m.cfg.Recent.List()
	}
	m.mu.Lock()
	n.Heals = m.nHeals
	m.last = n
	m.mu.Unlock()
	return n
}

// lastServed fills in what the last PowerDNS read found for z's zone.
func (m *Monitor) lastServed(z status.Zone) status.Zone {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, prev := range m.last.Zones {
		if prev.Zone == z.Zone {
			z.Serial, z.SerialKnown, z.Missing = prev.Serial, prev.SerialKnown, prev.Missing
		}
	}
	return z
}

// heal starts a reconciliation when PowerDNS lost data.
func (m *Monitor) heal(n status.Node) {
	zones := m.healer.check(n)
	if len(zones) == 0 || m.cfg.Reconcile == nil {
		return
	}
	m.mu.Lock()
	m.nHeals++
	m.mu.Unlock()
	m.heals.Inc()
	m.log.Warn().Strs("zones", zones).Msg("powerdns lost data (zone missing or serial not the one written); reconciling")
	m.cfg.Reconcile()
}

// observation is what one check saw of a zone.
type observation struct {
	applied uint64
	serial  uint32
	known   bool
	missing bool
}

// healer decides, check after check, which zones lost data. A missing
// zone counts at once; a serial other than the applied sequence counts
// when the previous check saw the same pair (a round may be between its
// PATCH and its metrics when the serial is read).
type healer struct{ seen map[string]observation }

func (h *healer) check(n status.Node) []string {
	var out []string
	for _, z := range n.Zones {
		o := observation{applied: z.AppliedSeq, serial: z.Serial, known: z.SerialKnown, missing: z.Missing}
		prev, had := h.seen[z.Zone]
		h.seen[z.Zone] = o
		switch {
		case o.missing:
			out = append(out, z.Zone)
		case o.known && o.serial != uint32(o.applied) && had && prev == o:
			out = append(out, z.Zone)
			delete(h.seen, z.Zone) // count again only after two more checks
		}
	}
	return out
}

// zoneMissing reports whether err says PowerDNS has no such zone.
func zoneMissing(err error) bool {
	if errors.Is(err, pdnsapi.ErrNotFound) {
		return true
	}
	var apiErr *pdnsapi.Error
	return errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusUnprocessableEntity &&
		strings.Contains(apiErr.Message, "Could not find domain")
}

func soaSerial(set rrset.Set) (uint32, bool) {
	if len(set.Records) != 1 {
		return 0, false
	}
	f := strings.Fields(set.Records[0])
	if len(f) < 3 {
		return 0, false
	}
	v, err := strconv.ParseUint(f[2], 10, 32)
	return uint32(v), err == nil
}

// byZone returns the values of a gauge family by its zone label.
func byZone(fams []*dto.MetricFamily, name string) map[string]float64 {
	out := map[string]float64{}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "zone" {
					out[l.GetValue()] = value(m)
				}
			}
		}
	}
	return out
}

func single(fams []*dto.MetricFamily, name string) (float64, bool) {
	for _, f := range fams {
		if f.GetName() == name && len(f.GetMetric()) > 0 {
			return value(f.GetMetric()[0]), true
		}
	}
	return 0, false
}

func value(m *dto.Metric) float64 {
	switch {
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	}
	return 0
}
