package main

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are zonecast-register's Prometheus series.
type metrics struct {
	sent      *prometheus.CounterVec
	acked     *prometheus.CounterVec
	failed    *prometheus.CounterVec
	lastAck   *prometheus.GaugeVec
	addresses prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, gateways []string) *metrics {
	m := &metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zonecast_register_updates_sent_total",
			Help: "Signed updates sent to a gateway: new addresses, refreshes, retries and the withdrawal.",
		}, []string{"gateway"}),
		acked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zonecast_register_updates_acknowledged_total",
			Help: "Updates a gateway answered NOERROR: it stored the records.",
		}, []string{"gateway"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zonecast_register_updates_failed_total",
			Help: "Updates that failed, by reason: error (no answer, unreachable) or the rcode of a refusal (YXDOMAIN: another key holds the name).",
		}, []string{"gateway", "reason"}),
		lastAck: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "zonecast_register_last_acknowledged_timestamp_seconds",
			Help: "Unix time of a gateway's last acknowledgement; the records expire a lease after it.",
		}, []string{"gateway"}),
		addresses: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zonecast_register_addresses",
			Help: "Addresses of this host to register, as the last update carries them.",
		}),
	}
	for _, g := range gateways {
		m.sent.WithLabelValues(g)
		m.acked.WithLabelValues(g)
		m.failed.WithLabelValues(g, "error")
	}
	reg.MustRegister(m.sent, m.acked, m.failed, m.lastAck, m.addresses)
	return m
}
