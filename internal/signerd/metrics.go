package signerd

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zonecast/zonecast/internal/status"
)

// Metrics are the signer's Prometheus series.
type Metrics struct {
	Messages      *prometheus.CounterVec // record deliveries, by kind
	Published     prometheus.Counter
	PublishErrors prometheus.Counter
	SignErrors    prometheus.Counter
	Unpublishable prometheus.Counter
	Serial        *prometheus.GaugeVec
	Expiry        *prometheus.GaugeVec
	RRsets        *prometheus.GaugeVec
	Keys          *prometheus.GaugeVec
	KeyEvent      *prometheus.GaugeVec
}

// NewMetrics registers the signer's series on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zonecast_signer_messages_total",
			Help: "Record stream deliveries of the signed zones, by kind: record (a set or a tombstone), expired (lease over or marker) or invalid (refused, see the log).",
		}, []string{"kind"}),
		Published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zonecast_signer_published_total",
			Help: "Signed RRsets (and withdrawals) stored in the stream.",
		}),
		PublishErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zonecast_signer_publish_errors_total",
			Help: "Atomic batches the stream did not take; each is tried again until it does.",
		}),
		Unpublishable: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zonecast_signer_unpublishable_total",
			Help: "Signed RRsets left out because no message may hold them (e.g. more records than a message takes; see the log).",
		}),
		SignErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zonecast_signer_sign_errors_total",
			Help: "Signing rounds of a zone that failed (see the log); the zone's changes wait for the next round.",
		}),
		Serial: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "zonecast_signer_serial",
			Help: "SOA serial of the last signed change published, per zone.",
		}, []string{"zone"}),
		Expiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "zonecast_signer_signature_expiry_earliest_timestamp_seconds",
			Help: "Unix time at which the first of the zone's published signatures expires.",
		}, []string{"zone"}),
		RRsets: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "zonecast_signer_rrsets",
			Help: "RRsets the signer has published in the zone (data, RRSIG, NSEC/NSEC3, apex).",
		}, []string{"zone"}),
		Keys: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "zonecast_signer_key_info",
			Help: "The zone's keys (1 each): role ksk or zsk, tag, algorithm, and state: active (signs), published (in the DNSKEY RRset only: before or after it signs) or unpublished (its files remain).",
		}, []string{"zone", "role", "tag", "algorithm", "state"}),
		KeyEvent: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "zonecast_signer_key_next_event_timestamp_seconds",
			Help: "Unix time of the zone's next rollover step (a key published, signing, retired or withdrawn); 0: none scheduled.",
		}, []string{"zone"}),
	}
	for _, k := range []string{"record", "expired", "invalid"} {
		m.Messages.WithLabelValues(k)
	}
	reg.MustRegister(m.Messages, m.Published, m.PublishErrors, m.SignErrors, m.Unpublishable, m.Serial, m.Expiry, m.RRsets, m.Keys, m.KeyEvent)
	return m
}

func (m *Metrics) folded(o outcome) {
	switch o {
	case folded:
		m.Messages.WithLabelValues("record").Inc()
	case expired:
		m.Messages.WithLabelValues("expired").Inc()
	default:
		m.Messages.WithLabelValues("invalid").Inc()
	}
}

// observe sets the per-zone gauges from the signers.
func (m *Metrics) observe(st *state) {
	for zone, sg := range st.zones {
		m.RRsets.WithLabelValues(zone).Set(float64(sg.Published()))
		if at, ok := sg.EarliestExpiry(); ok {
			m.Expiry.WithLabelValues(zone).Set(float64(at.Unix()))
		}
	}
}

// keys records the states of zone's keys, and its next key event.
func (m *Metrics) keys(zone string, states []status.Key, next time.Time) {
	m.Keys.DeletePartialMatch(prometheus.Labels{"zone": zone})
	for _, k := range states {
		m.Keys.WithLabelValues(zone, k.Role, strconv.Itoa(int(k.Tag)), k.Algorithm, k.State).Set(1)
	}
	at := 0.0
	if !next.IsZero() {
		at = float64(next.Unix())
	}
	m.KeyEvent.WithLabelValues(zone).Set(at)
}
