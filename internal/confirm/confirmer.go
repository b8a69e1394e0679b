package confirm

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Confirmer waits, for the gateway, until published messages are applied
// as its mode asks, up to a timeout, and counts the outcomes.
type Confirmer struct {
	t       *Tracker
	mode    Mode
	timeout time.Duration
	log     zerolog.Logger

	total   *prometheus.CounterVec
	seconds prometheus.Histogram
}

// DefaultTimeout is how long Confirm waits unless configured.
const DefaultTimeout = 2 * time.Second

// NewConfirmer returns a confirmer for mode over t and registers its
// metrics on reg (nil: not registered).
func NewConfirmer(t *Tracker, mode Mode, timeout time.Duration, reg prometheus.Registerer, log zerolog.Logger) *Confirmer {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	c := &Confirmer{t: t, mode: mode, timeout: timeout, log: log.With().Str("component", "confirm").Logger(),
		total: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zonecast_gateway_confirm_total",
			Help: "Updates waited for under --confirm all|any, by result (confirmed, timeout)."}, []string{"result"}),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "zonecast_gateway_confirm_seconds",
			Help:    "Time from the JetStream acknowledgement to the syncers' confirmation (or the timeout).",
			Buckets: []float64{.001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5}}),
	}
	c.total.WithLabelValues("confirmed")
	c.total.WithLabelValues("timeout")
	if reg != nil {
		live := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "zonecast_gateway_confirm_live_syncers",
			Help: "Syncers that count for --confirm: ready, and heard from within --confirm-stale."},
			func() float64 { return float64(t.Live(time.Now())) })
		reg.MustRegister(c.total, c.seconds, live)
	}
	return c
}

// Confirm waits until the targets (messages JetStream acknowledged) are
// applied as the mode asks. It returns an error wrapping ErrTimeout when
// the timeout (or ctx) ends first; the messages stay stored either way.
func (c *Confirmer) Confirm(ctx context.Context, targets []Target) error {
	if c == nil || c.mode == None || len(targets) == 0 {
		return nil
	}
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	r, err := c.t.Wait(wctx, c.mode, targets)
	c.seconds.Observe(time.Since(start).Seconds())
	if err != nil {
		c.total.WithLabelValues("timeout").Inc()
		ev := c.log.Warn()
		if !errors.Is(err, ErrTimeout) {
			ev = c.log.Error()
		}
		ev.Err(err).Str("mode", string(c.mode)).Str("name", targets[0].Name).Uint64("seq", targets[len(targets)-1].Seq).
			Int("live", r.Live).Int("applied", r.Applied).Strs("waiting", r.Waiting).Msg("update stored but not confirmed in time")
		return err
	}
	c.total.WithLabelValues("confirmed").Inc()
	return nil
}
