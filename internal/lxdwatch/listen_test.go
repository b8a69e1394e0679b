package lxdwatch

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/canonical/lxd/shared/api"
	"github.com/rs/zerolog"
)

// TestListenReconnects: the event stream is reconnected with backoff,
// which starts over after a connection that lasted.
func TestListenReconnects(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := &Follower{log: zerolog.Nop(),
			opt: Options{BackoffMin: time.Second, BackoffMax: 4 * time.Second}.withDefaults()}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		var starts []time.Time
		refused := errors.New("refused")
		f.subscribe = func(ctx context.Context, _ func(api.Event)) (func() error, error) {
			starts = append(starts, time.Now())
			switch len(starts) {
			case 5: // stays up past stableAfter, then drops
				return func() error {
					up := time.NewTimer(2 * stableAfter)
					defer up.Stop()
					select {
					case <-up.C:
						return errors.New("dropped")
					case <-ctx.Done():
						return ctx.Err()
					}
				}, nil
			case 7:
				cancel()
			}
			return nil, refused
		}
		f.listen(ctx, make(chan trigger, 1), make(chan struct{}, 1))

		s := time.Second
		want := []struct{ up, pause time.Duration }{ // before connection i+2
			{0, s}, {0, 2 * s}, {0, 4 * s}, {0, 4 * s}, // doubling to the cap
			{2 * stableAfter, s}, // after a stable connection: from the start
			{0, 2 * s},
		}
		if len(starts) != len(want)+1 {
			t.Fatalf("%d connections, want %d", len(starts), len(want)+1)
		}
		for i, w := range want {
			gap := starts[i+1].Sub(starts[i])
			if lo := w.up + w.pause; gap < lo || gap > lo+w.pause/5 {
				t.Errorf("connection %d came %v after the one before, want %v plus up to %v of jitter", i+2, gap, lo, w.pause/5)
			}
		}
	})
}
