package reap

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/lease"
	"github.com/zonecast/zonecast/internal/rrset"
)

type published struct {
	subject string
	last    uint64
	lease   time.Duration
}

type fakePub struct {
	mu   sync.Mutex
	got  []published
	fail error
}

func (p *fakePub) PublishIf(_ context.Context, m events.Message, lease time.Duration, last uint64) (uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !m.Tombstone() {
		return 0, errors.New("not a tombstone")
	}
	p.got = append(p.got, published{subject: events.Subject(events.DefaultSubjectPrefix, m), last: last, lease: lease})
	return 100, p.fail
}

func ref(name string) lease.Ref {
	return lease.Ref{Key: rrset.Key{Name: name + ".z.", Type: "A"}, Origin: "o"}
}

func subj(name string) string {
	return events.Subject(events.DefaultSubjectPrefix, events.Message{Name: name + ".z.", Type: "A", Origin: "o"})
}

// TestReap: the tombstone is published only on a subject that still holds
// the expired message (compare-and-set on its sequence) or nothing (0); a
// subject renewed, or already reaped, is left alone.
func TestReap(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	stream := map[string]bus.Last{
		subj("expired"): {Found: true, Seq: 7, LeaseEnd: now.Add(-Margin - time.Second)},
		subj("just"):    {Found: true, Seq: 8, LeaseEnd: now.Add(-time.Second)}, // this clock may be ahead
		subj("renewed"): {Found: true, Seq: 9, LeaseEnd: now.Add(time.Minute)},
		subj("reaped"):  {Found: true, Seq: 11}, // a tombstone without lease
	}
	for name, tc := range map[string]struct {
		ref     lease.Ref
		pubErr  error
		want    string
		wantPub []published
	}{
		"gone":       {ref: ref("gone"), want: "stored", wantPub: []published{{subj("gone"), 0, bus.TombstoneTTL}}},
		"expired":    {ref: ref("expired"), want: "stored", wantPub: []published{{subj("expired"), 7, bus.TombstoneTTL}}},
		"renewed":    {ref: ref("renewed"), want: "superseded"},
		"reaped":     {ref: ref("reaped"), want: "superseded"},
		"raced":      {ref: ref("gone"), pubErr: fmt.Errorf("x: %w", bus.ErrWrongLastSequence), want: "superseded", wantPub: []published{{subj("gone"), 0, bus.TombstoneTTL}}},
		"pub fails":  {ref: ref("gone"), pubErr: errors.New("no quorum"), want: "failed", wantPub: []published{{subj("gone"), 0, bus.TombstoneTTL}}},
		"read fails": {ref: ref("unreadable"), want: "failed"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pub := &fakePub{fail: tc.pubErr}
			r := New(Config{Publisher: pub, Now: func() time.Time { return now }, Log: zerolog.Nop(),
				Last: func(_ context.Context, s string) (bus.Last, error) {
					if s == subj("unreadable") {
						return bus.Last{}, errors.New("timeout")
					}
					return stream[s], nil
				}}, prometheus.NewRegistry())
			got, _ := r.reap(context.Background(), tc.ref)
			if got != tc.want {
				t.Fatalf("result %s, want %s", got, tc.want)
			}
			if fmt.Sprint(pub.got) != fmt.Sprint(tc.wantPub) {
				t.Fatalf("published %v, want %v", pub.got, tc.wantPub)
			}
		})
	}
}

// TestRunAfterJitter: a batch is reaped once its random delay has passed,
// not before, and counted.
func TestRunAfterJitter(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		pub := &fakePub{}
		r := New(Config{Publisher: pub, Jitter: time.Second, Log: zerolog.Nop(),
			Last: func(context.Context, string) (bus.Last, error) { return bus.Last{}, nil }}, prometheus.NewRegistry())
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { r.Run(ctx); close(done) }()
		r.Ended([]lease.Ref{ref("a"), ref("b")})
		synctest.Wait()
		r.mu.Lock()
		queued := len(r.queue)
		r.mu.Unlock()
		pub.mu.Lock()
		early := len(pub.got)
		pub.mu.Unlock()
		if queued == 0 && early < 2 {
			t.Fatal("batch neither queued nor reaped")
		}
		time.Sleep(time.Second) // past any jitter (a fake clock inside the bubble)
		synctest.Wait()
		pub.mu.Lock()
		n := len(pub.got)
		pub.mu.Unlock()
		if n != 2 {
			t.Fatalf("published %d tombstones, want 2", n)
		}
		var m dto.Metric
		if err := r.m.WithLabelValues("stored").Write(&m); err != nil || m.GetCounter().GetValue() != 2 {
			t.Fatalf("stored counter %v (%v)", m.GetCounter().GetValue(), err)
		}
		cancel()
		<-done
	})
}
