package monitor

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/status"
)

// StreamHealthConfig configures a StreamHealth.
type StreamHealthConfig struct {
	// Read reads the record stream's leader and replicas
	// (bus.ReadStreamHealth); it gives up by itself within seconds.
	Read func(ctx context.Context) status.Stream
	// Self is the server name of this node's embedded nats-server; ""
	// when the syncer joins an external NATS (it then never leads).
	Self string
	// Every is the period of the readings (default 1s).
	Every time.Duration
	Log   zerolog.Logger
}

// StreamHealth reads the record stream's replication health in a
// goroutine of its own, keeps the last reading for the node's status and
// exports it as metrics. A reading that hangs (an election) delays only
// the next reading, never the status.
type StreamHealth struct {
	cfg StreamHealthConfig
	log zerolog.Logger

	hasLeader, isLeader prometheus.Gauge
	leader              *prometheus.GaugeVec // by server: 1 for the leader
	replicas            *prometheus.GaugeVec // by state
	lag                 *prometheus.GaugeVec // by replica

	mu   sync.Mutex
	last *status.Stream // guarded by mu
	// Used by observe only (one goroutine).
	prevLeader string
	prevState  status.StreamState
	lagged     map[string]bool // replicas with a lag sample
}

// NewStreamHealth returns a poller and registers its metrics on reg.
func NewStreamHealth(cfg StreamHealthConfig, reg prometheus.Registerer) *StreamHealth {
	if cfg.Every <= 0 {
		cfg.Every = time.Second
	}
	h := &StreamHealth{cfg: cfg, log: cfg.Log.With().Str("component", "stream-health").Logger(),
		hasLeader: prometheus.NewGauge(prometheus.GaugeOpts{Name: "zonecast_syncer_stream_has_leader",
			Help: "1 when the record stream has a leader (its info was read and names one), else 0."}),
		isLeader: prometheus.NewGauge(prometheus.GaugeOpts{Name: "zonecast_syncer_stream_is_leader",
			Help: "1 when this node's embedded nats-server leads the record stream."}),
		leader: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "zonecast_syncer_stream_leader",
			Help: "1 for the server leading the record stream (one series, for the current leader)."}, []string{"server"}),
		replicas: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "zonecast_syncer_stream_replicas",
			Help: "Followers of the record stream by state: current, lagging (seen, not up to date) or offline."}, []string{"state"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "zonecast_syncer_stream_replica_lag_ops",
			Help: "Raft operations a follower of the record stream is behind its leader."}, []string{"replica"}),
		lagged: map[string]bool{},
	}
	reg.MustRegister(h.hasLeader, h.isLeader, h.leader, h.replicas, h.lag)
	for _, st := range status.ReplicaStates {
		h.replicas.WithLabelValues(string(st)).Set(0)
	}
	return h
}

// Last returns a copy of the last reading, nil before the first.
func (h *StreamHealth) Last() *status.Stream {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.last == nil {
		return nil
	}
	s := *h.last
	s.Replicas = append([]status.Replica(nil), s.Replicas...)
	return &s
}

// Run reads the stream's health every period until ctx is done.
func (h *StreamHealth) Run(ctx context.Context) {
	t := time.NewTicker(h.cfg.Every)
	defer t.Stop()
	for {
		s := h.cfg.Read(ctx)
		if ctx.Err() != nil {
			return
		}
		h.observe(s)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// observe keeps s as the last reading and sets the metrics.
func (h *StreamHealth) observe(s status.Stream) {
	h.mu.Lock()
	h.last = &s
	h.mu.Unlock()

	state := s.State()
	leader := s.Leader
	if state == status.StreamNoLeader {
		leader = ""
	}
	if leader != h.prevLeader {
		if h.prevLeader != "" {
			h.leader.DeleteLabelValues(h.prevLeader)
		}
		if leader != "" {
			h.leader.WithLabelValues(leader).Set(1)
		}
	}
	h.hasLeader.Set(b2f(leader != ""))
	h.isLeader.Set(b2f(leader != "" && leader == h.cfg.Self))
	counts := s.Counts()
	for _, st := range status.ReplicaStates {
		h.replicas.WithLabelValues(string(st)).Set(float64(counts[st]))
	}
	seen := map[string]bool{}
	for _, r := range s.Replicas {
		seen[r.Name] = true
		h.lag.WithLabelValues(r.Name).Set(float64(r.Lag))
	}
	for name := range h.lagged {
		if !seen[name] {
			h.lag.DeleteLabelValues(name)
		}
	}
	h.lagged = seen

	switch {
	case state == status.StreamNoLeader && h.prevState != status.StreamNoLeader:
		ev := h.log.Warn().Str("stream", s.Name)
		if s.Error != "" {
			ev = ev.Str("error", s.Error)
		}
		ev.Msg("the record stream has no leader")
	case leader != "" && leader != h.prevLeader:
		h.log.Info().Str("stream", s.Name).Str("leader", leader).Str("previous", h.prevLeader).Msg("record stream leader")
	}
	h.prevLeader, h.prevState = leader, state
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
