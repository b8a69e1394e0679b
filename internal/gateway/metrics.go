package gateway

import (
	"sync/atomic"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the gateway's Prometheus series.
type Metrics struct {
	updates       *prometheus.CounterVec                 // by rcode
	updatesBy     [24]atomic.Pointer[prometheus.Counter] // bound updates children, by rcode
	tsigFailures  *prometheus.CounterVec                 // by TSIG error
	undecodable   prometheus.Counter
	updateSeconds prometheus.Histogram
	published     prometheus.Counter
	publishErrors prometheus.Counter
	dyndns        *prometheus.CounterVec // by answer
	rrsets        prometheus.Gauge
	streamSeq     prometheus.Gauge
	casConflicts  *prometheus.CounterVec // by result: retried, failed
	unavailable   prometheus.Counter
	claims        *prometheus.CounterVec // SIG(0) claim updates, by result
}

// NewMetrics registers the series on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		updates: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zonecast_gateway_updates_total",
			Help: "RFC 2136 UPDATE messages answered, by response code."}, []string{"rcode"}),
		tsigFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zonecast_gateway_tsig_failures_total",
			Help: "Messages refused for their TSIG (BADKEY, BADSIG, BADTIME) or for having none (UNSIGNED)."}, []string{"error"}),
		undecodable: prometheus.NewCounter(prometheus.CounterOpts{Name: "zonecast_gateway_dns_undecodable_total",
			Help: "DNS messages that did not decode, answered FORMERR by the DNS library or not at all."}),
		updateSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "zonecast_gateway_update_seconds",
			Help:    "Time from receiving an UPDATE to answering it (including the JetStream acknowledgement).",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .5, 1, 5}}),
		published: prometheus.NewCounter(prometheus.CounterOpts{Name: "zonecast_gateway_messages_published_total",
			Help: "Record messages acknowledged by JetStream."}),
		publishErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "zonecast_gateway_publish_errors_total",
			Help: "Record messages JetStream did not acknowledge."}),
		dyndns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zonecast_gateway_dyndns_answers_total",
			Help: "dyndns2 answers per host name, by return code (good, nochg, badauth, nohost, notfqdn, abuse, 911)."}, []string{"answer"}),
		rrsets: prometheus.NewGauge(prometheus.GaugeOpts{Name: "zonecast_gateway_rrsets",
			Help: "RRsets with a contribution in the gateway's zones, as followed from the stream."}),
		streamSeq: prometheus.NewGauge(prometheus.GaugeOpts{Name: "zonecast_gateway_stream_sequence",
			Help: "Stream sequence of the last message followed."}),
		casConflicts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zonecast_gateway_write_conflicts_total",
			Help: "Updates whose subject another gateway wrote first: evaluated again (retried), or answered SERVFAIL (failed)."}, []string{"result"}),
		unavailable: prometheus.NewCounter(prometheus.CounterOpts{Name: "zonecast_gateway_publish_retries_total",
			Help: "Updates sent again because the stream could not take them (no leader during an election, a restarting server)."}),
		claims: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zonecast_gateway_claims_total",
			Help: "SIG(0)-signed updates of claim zones, by result (claimed, updated, released, refused, bad_signature, error)."}, []string{"result"}),
	}
	if reg != nil {
		reg.MustRegister(m.claims, m.updates, m.tsigFailures, m.undecodable, m.updateSeconds, m.published, m.publishErrors, m.dyndns, m.rrsets, m.streamSeq, m.casConflicts, m.unavailable)
	}
	return m
}

// updated counts one UPDATE answered with rcode. The children of the rcodes
// answered so far are kept bound, so a label is looked up once per rcode.
func (m *Metrics) updated(rcode int) {
	if rcode < 0 || rcode >= len(m.updatesBy) {
		m.updates.WithLabelValues(dns.RcodeToString[rcode]).Inc()
		return
	}
	if c := m.updatesBy[rcode].Load(); c != nil {
		(*c).Inc()
		return
	}
	c := m.updates.WithLabelValues(dns.RcodeToString[rcode])
	m.updatesBy[rcode].Store(&c)
	c.Inc()
}
