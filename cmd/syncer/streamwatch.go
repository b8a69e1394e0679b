package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/valve"
)

// streamWatch samples the record stream and reports when it looks as if
// the desired state was lost (valve.Policy.StreamAlarm): purged, made
// anew, most of its messages gone. The last sample is kept in the state
// directory, so that what happened while the syncer was down is reported
// at its start too. The deletions that would follow are held by the
// syncer's delete limit; this says why.
type streamWatch struct {
	st     jetstream.Stream
	policy valve.Policy
	path   string // "" keeps nothing (plan)
	alarms prometheus.Counter
	log    zerolog.Logger

	mu      sync.Mutex
	alarm   string
	alarmAt time.Time
}

// alarmKeep is how long an alarm is reported after it was raised.
const alarmKeep = time.Hour

func newStreamWatch(st jetstream.Stream, policy valve.Policy, path string, reg prometheus.Registerer, log zerolog.Logger) *streamWatch {
	w := &streamWatch{st: st, policy: policy, path: path, log: log.With().Str("component", "streamwatch").Logger(),
		alarms: prometheus.NewCounter(prometheus.CounterOpts{Name: "zonecast_syncer_stream_alarms_total",
			Help: "Times the record stream looked emptied: purged, made anew, or most of its messages gone at once."})}
	reg.MustRegister(w.alarms)
	return w
}

// Alarm returns the last alarm, if it is recent.
func (w *streamWatch) Alarm() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.alarm != "" && time.Since(w.alarmAt) < alarmKeep {
		return w.alarmAt.UTC().Format(time.RFC3339) + ": " + w.alarm
	}
	return ""
}

// run samples the stream every period until ctx is done.
func (w *streamWatch) run(ctx context.Context, every time.Duration) {
	prev := w.load()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if cur, ok := w.sample(ctx); ok {
			if a := w.policy.StreamAlarm(prev, cur); a != "" {
				w.alarms.Inc()
				w.log.Error().Str("stream", cur.Name).Uint64("messages", cur.Msgs).Uint64("was", prev.Msgs).
					Msgf("%s; deletions beyond the delete limit are held (zonecast-syncer status), restore the stream (docs/fleet.md) or approve them", a)
				w.mu.Lock()
				w.alarm, w.alarmAt = a, cur.At
				w.mu.Unlock()
			}
			prev = cur
			w.save(cur)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *streamWatch) sample(ctx context.Context) (valve.StreamState, bool) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	info, err := w.st.Info(ctx)
	if err != nil {
		if ctx.Err() == nil {
			w.log.Debug().Err(err).Msg("reading the stream's state")
		}
		return valve.StreamState{}, false
	}
	return valve.StreamState{Name: info.Config.Name, Created: info.Created, First: info.State.FirstSeq,
		Last: info.State.LastSeq, Msgs: info.State.Msgs, At: time.Now()}, true
}

func (w *streamWatch) load() valve.StreamState {
	var s valve.StreamState
	if w.path == "" {
		return s
	}
	b, err := os.ReadFile(w.path)
	if errors.Is(err, os.ErrNotExist) {
		return s
	}
	if err == nil {
		err = json.Unmarshal(b, &s)
	}
	if err != nil {
		w.log.Warn().Err(err).Str("file", w.path).Msg("ignoring the last stream sample")
		return valve.StreamState{}
	}
	return s
}

func (w *streamWatch) save(s valve.StreamState) {
	if w.path == "" {
		return
	}
	b, _ := json.Marshal(s)
	tmp := w.path + ".tmp"
	err := os.WriteFile(tmp, b, 0o600)
	if err == nil {
		err = os.Rename(tmp, w.path)
	}
	if err != nil {
		w.log.Warn().Err(err).Str("file", filepath.Base(w.path)).Msg("keeping the stream sample")
	}
}
