package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/health"
	"github.com/zonecast/zonecast/internal/lxdwatch"
)

// metrics are the watcher's Prometheus series.
type metrics struct {
	published  *prometheus.CounterVec
	pubErrors  prometheus.Counter
	reconnects prometheus.Counter
	instances  prometheus.Gauge
	lastSync   prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zonecast_watcher_messages_published_total",
			Help: "Record messages stored in the stream, by kind: set (new, changed or lease refresh) or tombstone.",
		}, []string{"kind"}),
		pubErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zonecast_watcher_publish_errors_total",
			Help: "Publishes that failed (NATS down, stream missing, ...); they are retried.",
		}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zonecast_watcher_lxd_reconnects_total",
			Help: "Reconnections of the LXD lifecycle event stream after the first connection.",
		}),
		instances: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zonecast_watcher_instances",
			Help: "Followed LXD instances seen by the last full sync.",
		}),
		lastSync: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zonecast_watcher_last_full_sync_timestamp_seconds",
			Help: "Unix time of the last full sync whose changes were all published.",
		}),
	}
	m.published.WithLabelValues("set")
	m.published.WithLabelValues("tombstone")
	reg.MustRegister(m.published, m.pubErrors, m.reconnects, m.instances, m.lastSync)
	return m
}

// countingPublisher is the follower's Publisher: the bus publisher, with
// metrics and a clear error when the stream is missing.
type countingPublisher struct {
	pub interface {
		Publish(ctx context.Context, m events.Message, lease time.Duration) (uint64, error)
	}
	stream  string
	metrics *metrics
}

func (p *countingPublisher) Publish(ctx context.Context, m events.Message, lease time.Duration) (uint64, error) {
	seq, err := p.pub.Publish(ctx, m, lease)
	if err != nil {
		p.metrics.pubErrors.Inc()
		if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, jetstream.ErrStreamNotFound) {
			err = fmt.Errorf("stream %s missing or unavailable (zonecast-syncer creates it): %w", p.stream, err)
		}
		return 0, err
	}
	kind := "set"
	if m.Tombstone() {
		kind = "tombstone"
	}
	p.metrics.published.WithLabelValues(kind).Inc()
	return seq, nil
}

// observer turns the follower's reports into metrics and readiness.
type observer struct {
	metrics   *metrics
	ready     *health.Ready
	log       zerolog.Logger
	connected atomic.Int64
	synced    atomic.Bool
}

var _ lxdwatch.Observer = (*observer)(nil)

func (o *observer) Connected() {
	if o.connected.Add(1) > 1 {
		o.metrics.reconnects.Inc()
	}
}

func (o *observer) Synced(instances int, at time.Time) {
	o.metrics.instances.Set(float64(instances))
	o.metrics.lastSync.Set(float64(at.UnixNano()) / 1e9)
	if !o.synced.Swap(true) {
		o.ready.Set()
		o.log.Info().Int("instances", instances).Msg("first full sync published; ready")
	}
}
