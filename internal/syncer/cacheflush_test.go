package syncer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/pdnsapi"
)

func TestFlushTimes(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	type write struct {
		zone string
		at   int // ms
	}
	for name, tc := range map[string]struct {
		writes   []write
		takeAt   []int      // ms, in order
		want     [][]string // taken at each takeAt
		nextLeft int        // ms of the first flush left due; -1: none
	}{
		"one write":                {[]write{{"a.", 0}}, []int{99, 100}, [][]string{nil, {"a."}}, -1},
		"a burst costs one flush":  {[]write{{"a.", 0}, {"a.", 30}, {"a.", 60}, {"a.", 90}}, []int{100, 189, 190}, [][]string{nil, nil, {"a."}}, -1},
		"a write after its flush":  {[]write{{"a.", 0}, {"a.", 150}}, []int{100, 249, 250}, [][]string{{"a."}, nil, {"a."}}, -1},
		"zones apart":              {[]write{{"a.", 0}, {"b.", 50}}, []int{100}, [][]string{{"a."}}, 150},
		"zones due together":       {[]write{{"b.", 0}, {"a.", 0}}, []int{100}, [][]string{{"a.", "b."}}, -1},
		"a late take takes it all": {[]write{{"a.", 0}, {"b.", 50}, {"a.", 70}}, []int{1000}, [][]string{{"a.", "b."}}, -1},
		"nothing written":          {nil, []int{100}, [][]string{nil}, -1},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFlushTimes(100 * time.Millisecond)
			i := 0
			for k, at := range tc.takeAt {
				for ; i < len(tc.writes) && tc.writes[i].at <= at; i++ {
					f.wrote(tc.writes[i].zone, ms(tc.writes[i].at))
					if next, ok := f.next(); !ok || next.After(ms(tc.writes[i].at+100)) {
						t.Fatalf("after write %d: next %v %v", i, next, ok)
					}
				}
				if got := f.take(ms(at)); !slices.Equal(got, tc.want[k]) {
					t.Fatalf("take at %d ms: %v, want %v", at, got, tc.want[k])
				}
			}
			next, ok := f.next()
			if tc.nextLeft < 0 && ok || tc.nextLeft >= 0 && (!ok || !next.Equal(ms(tc.nextLeft))) {
				t.Fatalf("next left: %v %v, want %d ms", next, ok, tc.nextLeft)
			}
		})
	}
}

// TestFlushTimesWriteInFlight: a zone with a write in flight is not
// flushed, nor waited for; the write's end makes its flush due anew, and a
// failed write leaves the earlier one due.
func TestFlushTimesWriteInFlight(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	f := newFlushTimes(100 * time.Millisecond)
	f.wrote("a.", ms(0))
	f.begin("a.")
	if got := f.take(ms(200)); got != nil {
		t.Fatalf("took %v with a write in flight", got)
	}
	if next, ok := f.next(); ok {
		t.Fatalf("next %v with a write in flight", next)
	}
	f.wrote("a.", ms(250))
	if got := f.take(ms(349)); got != nil {
		t.Fatalf("took %v before the delay after the write in flight ended", got)
	}
	if got := f.take(ms(350)); !slices.Equal(got, []string{"a."}) {
		t.Fatalf("took %v at 350 ms, want a.", got)
	}
	f.wrote("b.", ms(400))
	f.begin("b.")
	f.end("b.") // failed
	if got := f.take(ms(500)); !slices.Equal(got, []string{"b."}) {
		t.Fatalf("took %v after a failed write, want b. from the write before", got)
	}
}

// flushPDNS records what LateFlush passes on, with the (bubble's) time.
type flushPDNS struct {
	PDNS // nil: other calls are not expected

	mu       sync.Mutex
	flushed  []string
	at       []time.Time
	failNext error         // the next flush's error
	block    chan struct{} // if set, flushes wait until it is closed
	applyErr error
}

func (f *flushPDNS) Apply(context.Context, string, []pdnsapi.Change, []pdnsapi.Change) ([]pdnsapi.Rejection, error) {
	return nil, f.applyErr
}

func (f *flushPDNS) Rectify(context.Context, string) error { return nil }

func (f *flushPDNS) FlushCache(ctx context.Context, zone string) error {
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flushed = append(f.flushed, zone)
	f.at = append(f.at, time.Now())
	err := f.failNext
	f.failNext = nil
	return err
}

func (f *flushPDNS) got() ([]string, []time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.flushed), slices.Clone(f.at)
}

func TestLateFlush(t *testing.T) {
	t.Parallel()
	run := func(t *testing.T, fn func(l *LateFlush, p *flushPDNS)) {
		synctest.Test(t, func(t *testing.T) {
			p := &flushPDNS{}
			l := NewLateFlush(p, LateFlushConfig{Log: zerolog.Nop()}, prometheus.NewRegistry())
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() { l.Run(ctx); close(done) }()
			fn(l, p)
			cancel()
			<-done
		})
	}
	apply := func(t *testing.T, l *LateFlush, zone string) {
		t.Helper()
		if _, err := l.Apply(t.Context(), zone, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	counted := func(l *LateFlush, result string) float64 {
		return testutil.ToFloat64(l.flushes.WithLabelValues(result))
	}

	t.Run("a burst of writes, one flush after the last", func(t *testing.T) {
		run(t, func(l *LateFlush, p *flushPDNS) {
			start := time.Now()
			for range 5 {
				apply(t, l, "a.")
				time.Sleep(30 * time.Millisecond)
			}
			last := time.Now().Add(-30 * time.Millisecond)
			time.Sleep(time.Second)
			synctest.Wait()
			zones, at := p.got()
			if !slices.Equal(zones, []string{"a."}) || !at[0].Equal(last.Add(lateFlushDelay)) {
				t.Fatalf("flushed %v at %v, want a. at %v (start %v)", zones, at, last.Add(lateFlushDelay), start)
			}
			if counted(l, "ok") != 1 || counted(l, "failed") != 0 {
				t.Fatalf("counted %v ok, %v failed", counted(l, "ok"), counted(l, "failed"))
			}
		})
	})
	t.Run("zones flushed apart, a rectify too", func(t *testing.T) {
		run(t, func(l *LateFlush, p *flushPDNS) {
			start := time.Now()
			apply(t, l, "a.")
			time.Sleep(40 * time.Millisecond)
			if err := l.Rectify(t.Context(), "b."); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Second)
			synctest.Wait()
			zones, at := p.got()
			// b. is due 40 ms after a., within the gap after a.'s round.
			want := []time.Time{start.Add(lateFlushDelay), start.Add(lateFlushDelay + flushGap)}
			if !slices.Equal(zones, []string{"a.", "b."}) || !slices.EqualFunc(at, want, time.Time.Equal) {
				t.Fatalf("flushed %v at %v, want a., b. at %v", zones, at, want)
			}
		})
	})
	t.Run("a burst across many zones, rounds that flush all caches", func(t *testing.T) {
		run(t, func(l *LateFlush, p *flushPDNS) {
			// 300 zones, one write each, 2 ms apart (about the pace of one
			// change per zone here), then zone 0 again.
			const n = 300
			wrote := map[string]time.Time{}
			for i := range n {
				z := fmt.Sprintf("z%d.", i)
				apply(t, l, z)
				wrote[z] = time.Now()
				time.Sleep(2 * time.Millisecond)
			}
			apply(t, l, "z0.")
			wrote["z0."] = time.Now()
			time.Sleep(time.Second)
			synctest.Wait()
			zones, at := p.got()
			// A round every flushGap from the first zone's due time, up to
			// the last one's: far fewer requests than zones.
			if len(zones) > int((2*n*time.Millisecond+lateFlushDelay)/flushGap)+2 {
				t.Fatalf("%d flushes for %d zones: %v", len(zones), n, zones)
			}
			// Each zone's last write is followed by a flush that covers it,
			// between lateFlushDelay and lateFlushDelay+flushGap later.
			covered := func(z string, w time.Time) bool {
				for i, f := range zones {
					if d := at[i].Sub(w); (f == z || f == pdnsapi.AllZones) && d >= lateFlushDelay && d <= lateFlushDelay+flushGap {
						return true
					}
				}
				return false
			}
			for z, w := range wrote {
				if !covered(z, w) {
					t.Fatalf("no flush of %s (or of all) %v-%v after its write; flushed %v at %v", z, lateFlushDelay, lateFlushDelay+flushGap, zones, at)
				}
			}
			if !slices.Contains(zones, pdnsapi.AllZones) {
				t.Fatalf("no round flushed all caches: %v", zones)
			}
			if counted(l, "ok") != float64(len(zones)) {
				t.Fatalf("counted %v ok for %d flushes", counted(l, "ok"), len(zones))
			}
		})
	})
	t.Run("a few zones due together, flushed one by one", func(t *testing.T) {
		run(t, func(l *LateFlush, p *flushPDNS) {
			for _, z := range []string{"d.", "c.", "b.", "a."} {
				apply(t, l, z)
			}
			time.Sleep(time.Second)
			synctest.Wait()
			if zones, _ := p.got(); !slices.Equal(zones, []string{"a.", "b.", "c.", "d."}) {
				t.Fatalf("flushed %v, want a.-d. apart", zones)
			}
		})
	})
	t.Run("a failed write, no flush", func(t *testing.T) {
		run(t, func(l *LateFlush, p *flushPDNS) {
			p.applyErr = errors.New("powerdns down")
			if _, err := l.Apply(t.Context(), "a.", nil, nil); err == nil {
				t.Fatal("the write's error is lost")
			}
			time.Sleep(time.Second)
			synctest.Wait()
			if zones, _ := p.got(); len(zones) != 0 {
				t.Fatalf("flushed %v", zones)
			}
		})
	})
	t.Run("caches off, no flush", func(t *testing.T) {
		run(t, func(l *LateFlush, p *flushPDNS) {
			l.CachesOn(false)
			apply(t, l, "a.")
			time.Sleep(time.Second)
			synctest.Wait()
			if zones, _ := p.got(); len(zones) != 0 {
				t.Fatalf("flushed %v", zones)
			}
			l.CachesOn(true)
			apply(t, l, "a.")
			time.Sleep(time.Second)
			synctest.Wait()
			if zones, _ := p.got(); len(zones) != 1 {
				t.Fatalf("flushed %v, want one after the caches came on", zones)
			}
		})
	})
	t.Run("a failed flush is counted, the next write flushed again", func(t *testing.T) {
		run(t, func(l *LateFlush, p *flushPDNS) {
			p.failNext = &pdnsapi.Error{StatusCode: 503, Message: "unavailable"}
			apply(t, l, "a.")
			time.Sleep(time.Second)
			synctest.Wait()
			apply(t, l, "a.")
			time.Sleep(time.Second)
			synctest.Wait()
			if zones, _ := p.got(); len(zones) != 2 || counted(l, "failed") != 1 || counted(l, "ok") != 1 {
				t.Fatalf("flushed %v; counted %v ok, %v failed", zones, counted(l, "ok"), counted(l, "failed"))
			}
		})
	})
	t.Run("a write does not wait for a flush", func(t *testing.T) {
		run(t, func(l *LateFlush, p *flushPDNS) {
			p.block = make(chan struct{})
			apply(t, l, "a.")
			time.Sleep(time.Second) // the flush is under way, and waits
			synctest.Wait()
			for range 100 {
				apply(t, l, "a.")
			}
			close(p.block)
			time.Sleep(time.Second)
			synctest.Wait()
			if zones, _ := p.got(); len(zones) != 2 {
				t.Fatalf("flushed %v, want a. twice", zones)
			}
		})
	})
}
