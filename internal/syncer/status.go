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

	"github.com/zonecast/zonecast/internal/confirm"
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

// AppliedSink publishes applied reports on core NATS (a *nats.Conn).
type AppliedSink interface {
	Publish(subject string, data []byte) error
}

// PositionSource is where the monitor reads the applied positions (a
// *Syncer).
type PositionSource interface {
	Positions() (seq map[string]uint64, serial map[string]uint32)
	PositionChanges() uint64
}

// MonitorConfig configures a Monitor.
type MonitorConfig struct {
	Node, Version string
	Stream        string   // the record stream, for status.Node.Stream
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
	// StreamAlarm, if set, says whether the record stream looked emptied
	// lately (status.Node.StreamAlarm).
	StreamAlarm func() string
	// StreamHealth, if set, returns the last reading of the record
	// stream's leader and replicas (status.Node.StreamHealth; nil before
	// the first). It must not block: a poller of its own reads NATS
	// (StreamHealth.Last).
	StreamHealth func() *status.Stream

	// Metrics are the syncer's metrics. When set, the applied sequences
	// are read from them directly (cheap enough to do every AppliedPoll)
	// instead of through Gatherer.
	Metrics *Metrics
	// Source, when set, gives the applied positions instead of Gatherer.
	Source PositionSource
	// Applied, when set, gets an applied report (confirm.Report) on
	// AppliedSubject within AppliedPoll (default 2ms) of a zone's applied
	// sequence advancing, every Heartbeat (default 1s) otherwise, and a
	// last one with Ready false when the monitor stops.
	Applied        AppliedSink
	AppliedSubject string
	AppliedPoll    time.Duration
	Heartbeat      time.Duration
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
	// putFailed: the last status was not stored.
	putFailed bool
	// readsFailing: the last heal period's reads of PowerDNS failed.
	readsFailing bool
	applied      appliedSeqs // guarded by mu
	// read is what the last read of PowerDNS found, by zone (guarded by mu).
	read map[string]status.Zone
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
	if cfg.AppliedPoll <= 0 {
		cfg.AppliedPoll = 2 * time.Millisecond
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = time.Second
	}
	m := &Monitor{cfg: cfg, log: cfg.Log.With().Str("component", "monitor").Logger(),
		heals: prometheus.NewCounter(prometheus.CounterOpts{Name: "zonecast_syncer_heals_total",
			Help: "Full reconciliations started because PowerDNS had lost data (zone missing or SOA serial not the one written)."}),
		served: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "zonecast_syncer_zone_served_serial",
			Help: "SOA serial PowerDNS serves, read through its API, by zone."}, []string{"zone"}),
		healer:  healer{seen: map[string]observation{}},
		applied: appliedSeqs{seq: map[string]uint64{}},
		read:    map[string]status.Zone{},
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

// ServeHTTP serves the last status as JSON (/status), with the latest
// reading of the stream's health (which carries its own time).
func (m *Monitor) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	n := m.Last()
	if m.cfg.StreamHealth != nil {
		if s := m.cfg.StreamHealth(); s != nil {
			n.StreamHealth = s
		}
	}
	b, err := status.Encode(n)
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
	if m.cfg.Applied != nil {
		done := make(chan struct{})
		go func() {
			defer close(done)
			m.runApplied(ctx)
		}()
		defer func() { <-done }()
	}
	t := time.NewTicker(m.cfg.Poll)
	defer t.Stop()
	var lastSeqs map[string]uint64
	var lastHeal time.Time
	var lastReady bool
	for {
		now := time.Now()
		seqs := m.seqs()
		// A status is due on the period, and as soon as an applied
		// sequence moves or the syncer becomes ready: "starting" must not
		// outlive /readyz by a period.
		ready := m.ready()
		// A status the bucket did not take (its leader being elected) is
		// sent again at the next poll, not a period later.
		due := now.Sub(m.lastPut) >= m.cfg.Interval || !equalSeqs(seqs, lastSeqs) || ready != lastReady || m.putFailed
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
				lastSeqs, lastReady = seqs, n.Ready
				m.putFailed = !m.publish(ctx, n)
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

// publish puts n into the status bucket and reports whether it was
// stored (or there is no bucket).
func (m *Monitor) publish(ctx context.Context, n status.Node) bool {
	m.lastPut = time.Now()
	if m.cfg.Sink == nil {
		return true
	}
	b, err := status.Encode(n)
	if err != nil {
		m.log.Error().Err(err).Msg("encoding status")
		return true // sending it again would not help
	}
	pctx, cancel := context.WithTimeout(ctx, statusPutTimeout)
	defer cancel()
	if _, err := m.cfg.Sink.Put(pctx, m.cfg.Node, b); err != nil {
		if ctx.Err() == nil {
			m.log.Debug().Err(err).Msg("publishing status failed; sending it again at the next poll")
		}
		return false
	}
	return true
}

// statusPutTimeout bounds one put of the status: during the bucket's
// election nothing answers, and a newer status is sent at the next poll.
const statusPutTimeout = 2 * time.Second

// seqs returns the applied sequence of every zone (see appliedSeqs).
func (m *Monitor) seqs() map[string]uint64 {
	seqs, _ := m.appliedNow(nil)
	return seqs
}

// appliedNow reads the syncer's gauges (from cfg.Metrics, or from fams
// or a fresh Gather) and returns the applied sequence of every zone, and
// whether the syncer is ready.
func (m *Monitor) appliedNow(fams []*dto.MetricFamily) (map[string]uint64, bool) {
	var seq map[string]uint64
	var serial map[string]uint32
	if m.cfg.Source != nil {
		seq, serial = m.cfg.Source.Positions()
	} else {
		if fams == nil {
			var err error
			if fams, err = m.cfg.Gatherer.Gather(); err != nil {
				fams = nil
			}
		}
		seq, serial = map[string]uint64{}, map[string]uint32{}
		for z, v := range byZone(fams, "zonecast_syncer_zone_stream_seq") {
			seq[z] = uint64(v)
		}
		for z, v := range byZone(fams, "zonecast_syncer_zone_serial") {
			serial[z] = uint32(v)
		}
	}
	ready := m.ready()
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.applied.update(m.cfg.Zones, seq, serial, ready), ready
}

// appliedSeqs derives, zone by zone, the stream sequence that is in
// PowerDNS from the syncer's gauges. zone_stream_seq is set once a batch
// carrying a sequence is written (or found to need no write), zone_serial
// (the low 32 bits of a batch's sequence) once PowerDNS took the PATCH
// with that SOA. The applied sequence is the last one at or below
// zone_stream_seq whose low 32 bits are zone_serial; a zone whose serial
// this process never wrote (PowerDNS already had it at start) counts from
// the moment the syncer is ready, and moves only with its serial after that.
type appliedSeqs struct{ seq map[string]uint64 }

func (a *appliedSeqs) update(zones []string, seq map[string]uint64, serial map[string]uint32, ready bool) map[string]uint64 {
	out := make(map[string]uint64, len(zones))
	for _, z := range zones {
		s, hasSeq := seq[z]
		ser, hasSerial := serial[z]
		cur, known := a.seq[z]
		switch {
		case !hasSeq:
		case hasSerial:
			if back := uint64(uint32(s) - ser); back <= s && (!known || s-back > cur) {
				a.seq[z] = s - back
			}
		case !known && ready:
			a.seq[z] = s
		}
		out[z] = a.seq[z]
	}
	return out
}

// runApplied publishes applied reports until ctx is done, then a last
// one saying the node is no longer ready.
func (m *Monitor) runApplied(ctx context.Context) {
	t := time.NewTicker(m.cfg.AppliedPoll)
	defer t.Stop()
	var last map[string]uint64
	var lastReady bool
	var lastSent time.Time
	var seen uint64 // the metrics' position changes at the last look
	for {
		now := time.Now()
		// With the syncer's metrics at hand, a look costs an atomic load
		// until a position moves, readiness changes or a heartbeat is due.
		changed := m.cfg.Source == nil || lastSent.IsZero() || m.ready() != lastReady ||
			now.Sub(lastSent) >= m.cfg.Heartbeat
		if m.cfg.Source != nil {
			if c := m.cfg.Source.PositionChanges(); c != seen {
				seen, changed = c, true
			}
		}
		if changed {
			seqs, ready := m.appliedNow(nil)
			if ready != lastReady || !equalSeqs(seqs, last) || now.Sub(lastSent) >= m.cfg.Heartbeat {
				m.sendApplied(now, seqs, ready)
				last, lastReady, lastSent = seqs, ready, now
			}
		}
		select {
		case <-ctx.Done():
			m.sendApplied(time.Now(), last, false)
			if f, ok := m.cfg.Applied.(interface{ FlushTimeout(time.Duration) error }); ok {
				_ = f.FlushTimeout(time.Second)
			}
			return
		case <-t.C:
		}
	}
}

func (m *Monitor) sendApplied(now time.Time, seqs map[string]uint64, ready bool) {
	b, err := confirm.Encode(confirm.Report{Node: m.cfg.Node, Time: now.UTC(), Started: m.cfg.Started.UTC(),
		Ready: ready, Applied: seqs})
	if err != nil {
		m.log.Error().Err(err).Msg("encoding applied report")
		return
	}
	if err := m.cfg.Applied.Publish(m.cfg.AppliedSubject, b); err != nil {
		m.log.Debug().Err(err).Msg("publishing applied report failed")
	}
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
		Stream: m.cfg.Stream, Started: m.cfg.Started.UTC(), Ready: m.ready()}
	fams, _ := m.cfg.Gatherer.Gather()
	seq, _ := m.appliedNow(fams)
	owned := byZone(fams, "zonecast_syncer_rrsets_owned")
	drift := byZone(fams, "zonecast_syncer_reconcile_drift_rrsets")
	conflicts := byZone(fams, "zonecast_syncer_rrsets_conflicting")
	held := byZone(fams, "zonecast_syncer_deletions_held")
	if v, ok := single(fams, "zonecast_syncer_last_reconcile_timestamp_seconds"); ok && v > 0 {
		n.LastReconcile = time.Unix(0, int64(v*1e9)).UTC()
	}
	if v, ok := single(fams, "zonecast_syncer_rrsets_desired"); ok {
		n.DesiredRRsets = int(v)
	}
	reachable := true
	written := m.writtenSerials(fams)
	for _, zone := range m.cfg.Zones {
		z := status.Zone{Zone: zone, Filter: events.ZoneFilter(m.cfg.Prefix, zone), AppliedSeq: uint64(seq[zone]),
			Owned: int(owned[zone]), Drift: int(drift[zone]), Conflicts: int(conflicts[zone]), Held: int(held[zone])}
		if !readPDNS {
			z = m.lastServed(z, written)
			n.Zones = append(n.Zones, z)
			continue
		}
		// Rounds land while PowerDNS is read, and PowerDNS serves a
		// PATCH's serial before the syncer's gauges move. A serial the
		// syncer wrote between its look before the read and its look
		// after it is no mismatch: the status then pairs the sequence and
		// serial written last, which PowerDNS has acknowledged.
		before, wroteBefore := written[zone]
		ok := m.readSerial(ctx, &z)
		if ok && z.SerialKnown && !z.Missing && z.Serial != uint32(z.AppliedSeq) && wroteBefore {
			seqAfter, _ := m.appliedNow(nil)
			after, wroteAfter := m.writtenSerials(nil)[zone]
			if wroteAfter && before <= z.Serial && z.Serial <= after && after == uint32(seqAfter[zone]) {
				z.AppliedSeq, z.Serial = seqAfter[zone], after
			}
		}
		if !ok {
			reachable = false
		}
		if z.SerialKnown {
			m.served.WithLabelValues(zone).Set(float64(z.Serial))
		}
		m.mu.Lock()
		m.read[zone] = z
		m.mu.Unlock()
		n.Zones = append(n.Zones, z)
	}
	switch {
	case readPDNS:
		// The reads just made are the news, also for the metric: an
		// idle syncer writes nothing that would find PowerDNS gone.
		m.setReachable(reachable)
	default:
		if v, ok := single(fams, "zonecast_syncer_pdns_reachable"); ok && v == 0 {
			reachable = false
		}
	}
	n.PDNSReachable = reachable
	if m.cfg.Recent != nil {
		n.Errors = m.cfg.Recent.List()
	}
	if m.cfg.StreamAlarm != nil {
		n.StreamAlarm = m.cfg.StreamAlarm()
	}
	if m.cfg.StreamHealth != nil {
		n.StreamHealth = m.cfg.StreamHealth()
	}
	m.mu.Lock()
	n.Heals = m.nHeals
	m.last = n
	m.mu.Unlock()
	return n
}

// readSerial reads the SOA serial PowerDNS serves for z's zone into z; it
// reports false when PowerDNS could not be asked.
// setReachable sets the syncer's zonecast_syncer_pdns_reachable from the
// monitor's reads, warning when PowerDNS stops answering them.
func (m *Monitor) setReachable(ok bool) {
	failing := m.readsFailing
	m.readsFailing = !ok
	if m.cfg.Metrics == nil {
		return
	}
	switch {
	case ok:
		m.cfg.Metrics.PDNSReachable.Set(1)
	default:
		m.cfg.Metrics.PDNSReachable.Set(0)
		if !failing {
			m.log.Warn().Msg("powerdns does not answer the soa reads; writes wait for it")
		}
	}
}

func (m *Monitor) readSerial(ctx context.Context, z *status.Zone) bool {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	set, found, err := m.cfg.PDNS.RRset(rctx, z.Zone, rrset.Key{Name: z.Zone, Type: "SOA"})
	cancel()
	switch {
	case err != nil && zoneMissing(err):
		z.Missing = true
	case err != nil:
		m.log.Debug().Err(err).Str("zone", z.Zone).Msg("reading the soa serial failed")
		if m.cfg.Metrics != nil {
			m.cfg.Metrics.PDNSErrors.WithLabelValues("transient").Inc()
		}
		return false
	case !found:
		z.Missing = true // a zone without SOA is as good as missing
	default:
		z.Serial, z.SerialKnown = soaSerial(set)
	}
	return true
}

// writtenSerials returns, by zone, the SOA serial of the last PATCH
// PowerDNS took from this process.
func (m *Monitor) writtenSerials(fams []*dto.MetricFamily) map[string]uint32 {
	if m.cfg.Source != nil {
		_, serial := m.cfg.Source.Positions()
		return serial
	}
	out := map[string]uint32{}
	for z, v := range byZone(fams, "zonecast_syncer_zone_serial") {
		out[z] = uint32(v)
	}
	return out
}

// lastServed fills in the serial z's zone serves without asking PowerDNS:
// what the last read found, unless the syncer has applied more since and
// PowerDNS took the PATCH with that sequence's serial, which it then
// serves. A status between two reads after a burst would otherwise pair
// the new sequence with the serial read before it.
func (m *Monitor) lastServed(z status.Zone, written map[string]uint32) status.Zone {
	m.mu.Lock()
	prev, read := m.read[z.Zone]
	m.mu.Unlock()
	if read {
		z.Serial, z.SerialKnown, z.Missing = prev.Serial, prev.SerialKnown, prev.Missing
	}
	if ser, ok := written[z.Zone]; ok && (!read || prev.AppliedSeq != z.AppliedSeq) && ser == uint32(z.AppliedSeq) {
		z.Serial, z.SerialKnown, z.Missing = ser, true, false
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
	return errors.Is(err, pdnsapi.ErrZoneNotFound)
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
