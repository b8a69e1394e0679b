package monitor

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// SOAReader lists the SOA serial of every zone PowerDNS has (0 also for
// a zone without SOA). One listing per check, not one read per zone: with a
// thousand zones, reads per zone would be a steady stream of API requests
// beside the writes.
type SOAReader interface {
	ZoneSerials(ctx context.Context) (map[string]uint32, error)
}

// HealConfig configures a Healer.
type HealConfig struct {
	Zones []string // canonical
	// Signed are the zones served presigned: their SOA serial is the
	// signer's, so only a missing zone counts as lost data there.
	Signed []string
	// Interval is the period of the check (default 10s; negative: no
	// check, Run returns at once).
	Interval time.Duration
	PDNS     SOAReader
	Applied  *Applied
	// Reconcile asks the syncer for a full reconciliation (nil: the check
	// only reports).
	Reconcile func()
	// Reachable, when set, hears after every check whether PowerDNS
	// answered its reads (syncer.ObserveReachable): an idle syncer makes
	// no call of its own that would find PowerDNS gone.
	Reachable func(ok bool)
	// ReadFailed, when set, hears of every read PowerDNS did not answer
	// (cmd/syncer counts them as transient PowerDNS errors).
	ReadFailed func(err error)
	Log        zerolog.Logger
}

// Healer checks PowerDNS for lost data every Interval once the syncer is
// ready: a zone missing, or a SOA serial other than the one the syncer
// wrote on two checks in a row, starts a full reconciliation at once
// instead of at the next periodic one. Its reads are also what the
// node's status says PowerDNS serves (Served).
type Healer struct {
	cfg    HealConfig
	log    zerolog.Logger
	heals  prometheus.Counter
	served *prometheus.GaugeVec

	// Used by Run's goroutine only.
	losses  losses
	failing bool // the last check's reads failed

	mu     sync.Mutex
	reads  map[string]Read // guarded by mu
	nHeals int             // guarded by mu
}

// Read is what the last read of one zone's SOA found.
type Read struct {
	// Applied is the zone's applied sequence the read goes with.
	Applied uint64
	// Serial is the SOA serial PowerDNS serves (Known false when the
	// read failed or the zone is missing).
	Serial  uint32
	Known   bool
	Missing bool // PowerDNS does not have the zone, or it has no SOA
}

// Served is what the healer has found so far.
type Served struct {
	Zones map[string]Read // the last read, by zone
	Heals int             // reconciliations started for lost data
}

// NewHealer returns a healer and registers its metrics on reg.
func NewHealer(cfg HealConfig, reg prometheus.Registerer) *Healer {
	if cfg.Interval == 0 {
		cfg.Interval = 10 * time.Second
	}
	h := &Healer{cfg: cfg, log: cfg.Log.With().Str("component", "heal").Logger(),
		heals: prometheus.NewCounter(prometheus.CounterOpts{Name: "zonecast_syncer_heals_total",
			Help: "Full reconciliations started because PowerDNS had lost data (zone missing or SOA serial not the one written)."}),
		served: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "zonecast_syncer_zone_served_serial",
			Help: "SOA serial PowerDNS serves, read through its API, by zone."}, []string{"zone"}),
		losses: losses{seen: map[string]Read{}, signed: cfg.Signed},
		reads:  map[string]Read{},
	}
	reg.MustRegister(h.heals, h.served)
	return h
}

// Served returns a copy of the last reads and the heals so far.
func (h *Healer) Served() Served {
	h.mu.Lock()
	defer h.mu.Unlock()
	return Served{Zones: maps.Clone(h.reads), Heals: h.nHeals}
}

// Run waits for the syncer to be ready, then checks PowerDNS at once and
// every Interval until ctx is done.
func (h *Healer) Run(ctx context.Context) {
	if h.cfg.Interval < 0 {
		return
	}
	select {
	case <-ctx.Done():
		return
	case <-h.cfg.Applied.Ready():
	}
	t := time.NewTicker(h.cfg.Interval)
	defer t.Stop()
	for {
		h.check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// check reads every zone's SOA serial and starts a reconciliation when
// PowerDNS lost data.
func (h *Healer) check(ctx context.Context) {
	before := h.cfg.Applied.Look()
	reads := make(map[string]Read, len(h.cfg.Zones))
	serials, err := h.readAll(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return // stopping: no news of PowerDNS
		}
		h.log.Debug().Err(err).Msg("reading the soa serials failed")
		if h.cfg.ReadFailed != nil {
			h.cfg.ReadFailed(err)
		}
	}
	reachable := err == nil
	for _, zone := range h.cfg.Zones {
		r := Read{Applied: before.Seq[zone]}
		if reachable {
			// Serial 0 is an empty zone's (no message yet), or a zone
			// that lost its SOA: the latter differs from what was
			// written once anything was, and heals as a mismatch.
			if serial, ok := serials[zone]; ok {
				r.Serial, r.Known = serial, true
			} else {
				r.Missing = true
			}
		}
		// Rounds land while PowerDNS is read, and PowerDNS serves a
		// PATCH's serial before the syncer's positions move. A serial the
		// syncer wrote between its look before the read and its look
		// after it is no mismatch: the read then pairs the sequence and
		// serial written last, which PowerDNS has acknowledged.
		if b, wrote := before.Serial[zone]; wrote && r.Known && r.Serial != uint32(r.Applied) {
			after := h.cfg.Applied.Look()
			if a, ok := after.Serial[zone]; ok && b <= r.Serial && r.Serial <= a && a == uint32(after.Seq[zone]) {
				r.Applied, r.Serial = after.Seq[zone], a
			}
		}
		if r.Known {
			h.served.WithLabelValues(zone).Set(float64(r.Serial))
		}
		reads[zone] = r
	}
	h.mu.Lock()
	maps.Copy(h.reads, reads)
	h.mu.Unlock()
	h.observe(reachable)

	zones := h.losses.check(h.cfg.Zones, reads)
	if len(zones) == 0 || h.cfg.Reconcile == nil {
		return
	}
	h.mu.Lock()
	h.nHeals++
	h.mu.Unlock()
	h.heals.Inc()
	h.log.Warn().Strs("zones", zones).Msg("powerdns lost data (zone missing or serial not the one written); reconciling")
	h.cfg.Reconcile()
}

// observe passes on whether PowerDNS answered the reads, warning when it
// stops answering them.
func (h *Healer) observe(ok bool) {
	switch {
	case !ok && !h.failing:
		h.log.Warn().Msg("powerdns does not answer the soa reads; writes wait for it")
	case ok && h.failing:
		h.log.Info().Msg("powerdns answers the soa reads again")
	}
	h.failing = !ok
	if h.cfg.Reachable != nil {
		h.cfg.Reachable(ok)
	}
}

// readTimeout bounds one listing of the serials: a PowerDNS that does
// not answer is reported at this check, not at the end of a hung call.
const readTimeout = 5 * time.Second

// readAll lists the zones' SOA serials.
func (h *Healer) readAll(ctx context.Context) (map[string]uint32, error) {
	rctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	return h.cfg.PDNS.ZoneSerials(rctx)
}

// losses decides, check after check, which zones lost data. A missing
// zone counts at once; a serial other than the applied sequence counts
// when the previous check saw the same pair (a round may be between its
// PATCH and its positions when the serial is read).
type losses struct {
	seen   map[string]Read
	signed []string // zones whose serial is not the applied sequence
}

// check returns the zones of reads that lost data, in the order of zones.
func (l *losses) check(zones []string, reads map[string]Read) []string {
	var out []string
	for _, zone := range zones {
		r, ok := reads[zone]
		if !ok {
			continue
		}
		prev, had := l.seen[zone]
		l.seen[zone] = r
		switch {
		case r.Missing:
			out = append(out, zone)
		case r.Known && r.Serial != uint32(r.Applied) && had && prev == r && !slices.Contains(l.signed, zone):
			out = append(out, zone)
			delete(l.seen, zone) // count again only after two more checks
		}
	}
	return out
}
