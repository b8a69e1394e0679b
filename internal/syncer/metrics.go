package syncer

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the syncer's Prometheus metrics.
type Metrics struct {
	Messages        *prometheus.CounterVec
	Invalid         *prometheus.CounterVec
	Applied         *prometheus.CounterVec
	Rejected        *prometheus.CounterVec
	Conflicts       *prometheus.GaugeVec
	BatchSize       prometheus.Histogram
	ApplySeconds    prometheus.Histogram
	PDNSErrors      *prometheus.CounterVec
	LastReconcile   prometheus.Gauge
	ReconcileDrift  *prometheus.GaugeVec
	ZoneSeq         *prometheus.GaugeVec
	ZoneSerial      *prometheus.GaugeVec
	OwnedRRsets     *prometheus.GaugeVec
	DesiredRRsets   prometheus.Gauge
	PDNSReachable   prometheus.Gauge
	ReplayCompleted prometheus.Gauge
	Snapshots       *prometheus.CounterVec
	LeasesEnded     *prometheus.CounterVec
	HeldDeletions   *prometheus.GaugeVec
	NotPresigned    *prometheus.GaugeVec
	Rectifies       *prometheus.CounterVec
}

// NewMetrics registers the metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	const ns = "zonecast_syncer_"
	m := &Metrics{
		Rectifies: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "rectifies_total",
			Help: "Rectifies of a zone the syncer asked PowerDNS for, after a change to its empty non-terminals or delegations, by zone."}, []string{"zone"}),
		NotPresigned: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: ns + "zone_not_presigned",
			Help: "1 for a signed zone that PowerDNS does not serve as presigned: the syncer writes nothing to it (pdnsutil set-presigned)."}, []string{"zone"}),
		HeldDeletions: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: ns + "deletions_held",
			Help: "Deletions the delete limit holds until an operator approves them (zonecast-syncer approve), by zone."}, []string{"zone"}),
		LeasesEnded: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "leases_ended_total",
			Help: "Contributions withdrawn because their lease ran out, by zone."}, []string{"zone"}),
		Messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "messages_total",
			Help: "Record events received from the stream, by kind (set, tombstone, expired)."}, []string{"kind"}),
		Invalid: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "messages_invalid_total",
			Help: "Record events rejected before reaching PowerDNS, by reason."}, []string{"reason"}),
		Applied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "rrsets_applied_total",
			Help: "RRsets written to PowerDNS (upserts and deletes), by zone."}, []string{"zone"}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "rrsets_rejected_total",
			Help: "RRsets PowerDNS refused (HTTP 422/400), by zone."}, []string{"zone"}),
		Conflicts: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: ns + "rrsets_conflicting",
			Help: "Desired RRsets left alone because a foreign RRset holds the name and type, by zone."}, []string{"zone"}),
		BatchSize: prometheus.NewHistogram(prometheus.HistogramOpts{Name: ns + "batch_rrsets",
			Help:    "RRsets per apply round of one zone.",
			Buckets: []float64{1, 2, 5, 10, 50, 100, 500, 1000, 5000, 20000, 100000}}),
		ApplySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: ns + "apply_seconds",
			Help:    "Time to write one apply round of one zone to PowerDNS.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}),
		PDNSErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "pdns_errors_total",
			Help: "Failed PowerDNS API calls, by kind (transient, permanent)."}, []string{"kind"}),
		LastReconcile: prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "last_reconcile_timestamp_seconds",
			Help: "Unix time of the last completed full reconciliation."}),
		ReconcileDrift: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: ns + "reconcile_drift_rrsets",
			Help: "RRsets the last full reconciliation had to write, by zone."}, []string{"zone"}),
		ZoneSeq: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: ns + "zone_stream_seq",
			Help: "Stream sequence of the last message applied (written to PowerDNS), by zone."}, []string{"zone"}),
		ZoneSerial: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: ns + "zone_serial",
			Help: "SOA serial written to PowerDNS, by zone."}, []string{"zone"}),
		OwnedRRsets: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: ns + "rrsets_owned",
			Help: "RRsets owned by zonecast in PowerDNS, by zone."}, []string{"zone"}),
		DesiredRRsets: prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "rrsets_desired",
			Help: "RRsets in the desired state rebuilt from the stream."}),
		PDNSReachable: prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "pdns_reachable",
			Help: "1 if the last PowerDNS API call succeeded or was refused for its content, 0 if it failed."}),
		ReplayCompleted: prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "replay_completed",
			Help: "1 once the stream has been replayed at start."}),
		Snapshots: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "snapshots_total",
			Help: "Zone snapshots loaded at start or stored, by op (load, store) and result (ok, missing, refused, failed)."},
			[]string{"op", "result"}),
	}
	reg.MustRegister(m.HeldDeletions, m.LeasesEnded, m.Messages, m.Invalid, m.Applied, m.Rejected, m.Conflicts, m.BatchSize, m.ApplySeconds,
		m.PDNSErrors, m.LastReconcile, m.ReconcileDrift, m.ZoneSeq, m.ZoneSerial, m.OwnedRRsets, m.DesiredRRsets,
		m.PDNSReachable, m.ReplayCompleted, m.Snapshots, m.NotPresigned, m.Rectifies)
	return m
}
