package bus

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/zonecast/zonecast/internal/events"
)

const prefix = events.DefaultSubjectPrefix

func TestFollowReadyOnEmptyStream(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		seed    []events.Message // published before Follow starts
		filters []string
	}{
		"empty stream":            {},
		"empty stream, filtered":  {filters: []string{events.ZoneFilter(prefix, "example.com.")}},
		"other zone only":         {seed: []events.Message{msg("a.example.org.", "n1", "192.0.2.1")}, filters: []string{events.ZoneFilter(prefix, "example.com.")}},
		"several filters, no hit": {seed: []events.Message{msg("a.example.org.", "n1", "192.0.2.1")}, filters: []string{events.ZoneFilter(prefix, "example.com."), events.ZoneFilter(prefix, "example.net.")}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := startTestServer(t, false)
			_, js := ts.inProcess(t)
			ensureTestStream(t, js, StreamConfig{})
			pub := NewPublisher(js, "", "")
			for _, m := range tc.seed {
				if _, err := pub.Publish(ctxFor(t, 5*time.Second), m, 0); err != nil {
					t.Fatal(err)
				}
			}
			c := follow(t, js, tc.filters)
			c.waitFor(t, "ready", 10*time.Second, func(_ []events.Delivery, ready int) bool { return ready == 1 })
			got, _, readyAt := c.snapshot()
			if len(got) != 0 || readyAt != 0 {
				t.Fatalf("got %d deliveries, ready after %d; want none before ready", len(got), readyAt)
			}
			// Followed afterwards: a new message in the filtered zone arrives.
			if _, err := pub.Publish(ctxFor(t, 5*time.Second), msg("www.example.com.", "n1", "192.0.2.9"), 0); err != nil {
				t.Fatal(err)
			}
			c.waitFor(t, "the live message", 10*time.Second, func(got []events.Delivery, _ int) bool { return len(got) == 1 })
			if _, calls, _ := c.snapshot(); calls != 1 {
				t.Errorf("ready called %d times", calls)
			}
		})
	}
}

// TestLastPerSubject publishes 3 versions of one RRset; a replay sees only
// the last.
func TestLastPerSubject(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t, false)
	_, js := ts.inProcess(t)
	ensureTestStream(t, js, StreamConfig{})
	pub := NewPublisher(js, "", "")
	var last uint64
	for i := 1; i <= 3; i++ {
		seq, err := pub.Publish(ctxFor(t, 5*time.Second), msg("web.example.com.", "node1", fmt.Sprintf("192.0.2.%d", i)), 0)
		if err != nil {
			t.Fatal(err)
		}
		last = seq
	}
	c := follow(t, js, nil)
	got := c.waitFor(t, "ready", 10*time.Second, func(_ []events.Delivery, ready int) bool { return ready == 1 })
	if len(got) != 1 {
		t.Fatalf("replayed %d messages, want 1: %s", len(got), describe(got))
	}
	m, err := events.DecodeWithSubject(prefix, got[0].Subject, got[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Seq != last || m.Records[0] != "192.0.2.3" || got[0].Pending != 0 || got[0].Removed {
		t.Errorf("replayed %+v (%v), want seq %d with 192.0.2.3", got[0], m, last)
	}
}

// TestFollowReplayThenFollow replays one zone among two, then follows it.
func TestFollowReplayThenFollow(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t, false)
	_, js := ts.inProcess(t)
	ensureTestStream(t, js, StreamConfig{})
	pub := NewPublisher(js, "", "")
	ctx := ctxFor(t, 30*time.Second)
	const n = 50
	for i := range n {
		for _, zone := range []string{"example.com.", "example.org."} {
			name := fmt.Sprintf("h%d.%s", i, zone)
			if err := pub.PublishAsync(ctx, msg(name, "node1", "192.0.2.1"), 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The zone apex and a wildcard are in the zone too; a deeper zone with a
	// similar suffix is not.
	for _, name := range []string{"example.com.", "*.example.com.", "x.notexample.com."} {
		if err := pub.PublishAsync(ctx, msg(name, "node1", "192.0.2.2"), 0); err != nil {
			t.Fatal(err)
		}
	}
	if stored, err := pub.Flush(ctx); err != nil || stored != 2*n+3 {
		t.Fatalf("Flush = %d, %v", stored, err)
	}
	c := follow(t, js, []string{events.ZoneFilter(prefix, "example.com.")})
	const want = n + 2
	c.waitFor(t, "replay", 10*time.Second, func(_ []events.Delivery, ready int) bool { return ready == 1 })
	got, _, readyAt := c.snapshot()
	if readyAt != want || len(got) != want {
		t.Fatalf("ready after %d deliveries (have %d), want %d", readyAt, len(got), want)
	}
	if got[want-1].Pending != 0 {
		t.Errorf("last replayed delivery has Pending %d", got[want-1].Pending)
	}
	for i, d := range got {
		m, err := events.DecodeWithSubject(prefix, d.Subject, d.Data)
		if err != nil {
			t.Fatal(err)
		}
		if m.Name != "example.com." && !hasSuffix(m.Name, ".example.com.") {
			t.Errorf("delivery %d is %s, outside example.com.", i, m.Name)
		}
		if i > 0 && d.Seq <= got[i-1].Seq {
			t.Errorf("delivery %d has seq %d after %d", i, d.Seq, got[i-1].Seq)
		}
	}
	// Live: one message in each zone; only example.com's arrives.
	if _, err := pub.Publish(ctx, msg("late.example.org.", "node1", "192.0.2.3"), 0); err != nil {
		t.Fatal(err)
	}
	seq, err := pub.Publish(ctx, msg("late.example.com.", "node2", "192.0.2.3"), 0)
	if err != nil {
		t.Fatal(err)
	}
	got = c.waitFor(t, "live message", 10*time.Second, func(got []events.Delivery, _ int) bool { return len(got) > want })
	time.Sleep(200 * time.Millisecond)
	got, calls, _ := c.snapshot()
	if len(got) != want+1 || got[want].Seq != seq || calls != 1 {
		t.Errorf("after live publish: %d deliveries (last %s), ready %d times", len(got), describe(got[want:]), calls)
	}
}

func hasSuffix(s, suf string) bool { return len(s) >= len(suf) && s[len(s)-len(suf):] == suf }

func TestFollowNoStream(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t, false)
	_, js := ts.inProcess(t)
	err := Follow(ctxFor(t, 10*time.Second), js, FollowConfig{Handle: func(events.Delivery) {}, Log: testLog()})
	if err == nil {
		t.Fatal("Follow of a missing stream returned nil")
	}
}

// TestTTL publishes a lease of 2s and watches it expire: the follower gets
// the message with its lease end, the stream drops it then and leaves no
// marker (roll-ups are off), so a later replay sees only what is left.
func TestTTL(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t, false)
	_, js := ts.inProcess(t)
	ensureTestStream(t, js, StreamConfig{})
	pub := NewPublisher(js, "", "")
	ctx := ctxFor(t, 30*time.Second)
	keep, err := pub.Publish(ctx, msg("keep.example.com.", "node1", "192.0.2.1"), 0)
	if err != nil {
		t.Fatal(err)
	}
	lease := msg("lease.example.com.", "node1", "192.0.2.2")
	leaseSubject := events.Subject(prefix, lease)
	if _, err := pub.Publish(ctx, lease, 1500*time.Millisecond); err != nil { // rounded up to 2s
		t.Fatal(err)
	}
	c := follow(t, js, nil)
	got := c.waitFor(t, "both messages", 10*time.Second, func(got []events.Delivery, _ int) bool { return len(got) == 2 })
	if got[1].Subject != leaseSubject || got[1].Removed {
		t.Fatalf("deliveries: %s; want keep, lease", describe(got))
	}
	if !got[0].Expires.IsZero() || got[1].Expires.Sub(got[1].Stored) != 2*time.Second {
		t.Errorf("Expires: keep %v, lease %v after %v", got[0].Expires, got[1].Expires, got[1].Stored)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, err := js.Stream(ctx, DefaultStreamName)
		if err != nil {
			t.Fatal(err)
		}
		if st.CachedInfo().State.Msgs == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream still holds %d messages", st.CachedInfo().State.Msgs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	c2 := follow(t, js, nil)
	got2 := c2.waitFor(t, "replay", 10*time.Second, func(_ []events.Delivery, ready int) bool { return ready == 1 })
	if len(got2) != 1 || got2[0].Seq != keep {
		t.Fatalf("replay after expiry: %s", describe(got2))
	}
	if got, _, _ := c.snapshot(); len(got) != 2 {
		t.Fatalf("the expiry was delivered to the follower: %s", describe(got))
	}
}

func TestTTLHeader(t *testing.T) {
	t.Parallel()
	tests := map[time.Duration]string{
		time.Millisecond:        "1",
		time.Second:             "1",
		1500 * time.Millisecond: "2",
		time.Minute:             "60",
		90 * time.Minute:        "5400",
	}
	for in, want := range tests {
		if got := ttlHeader(in); got != want {
			t.Errorf("ttlHeader(%s) = %q, want %q", in, got, want)
		}
	}
}

// TestFollowSurvivesRestart restarts the server under a follower: at once,
// and after a pause longer than the ordered consumer's own reset attempt.
func TestFollowSurvivesRestart(t *testing.T) {
	t.Parallel()
	for name, down := range map[string]time.Duration{"quick restart": 0, "down 3s": 3 * time.Second} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testFollowSurvivesRestart(t, down)
		})
	}
}

func testFollowSurvivesRestart(t *testing.T, down time.Duration) {
	ts := startTestServer(t, true)
	addr := ts.srv.Addr().String()
	nc, err := Connect(ctxFor(t, 10*time.Second), ClientConfig{URL: ts.url(), User: testUser, PasswordFile: ts.pwFile}, testLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ensureTestStream(t, js, StreamConfig{})
	pub := NewPublisher(js, "", "")
	for i := range 5 {
		if _, err := pub.Publish(ctxFor(t, 5*time.Second), msg(fmt.Sprintf("h%d.example.com.", i), "n1", "192.0.2.1"), 0); err != nil {
			t.Fatal(err)
		}
	}
	c := follow(t, js, nil)
	c.waitFor(t, "replay", 10*time.Second, func(got []events.Delivery, ready int) bool { return ready == 1 && len(got) == 5 })

	ts.stop()
	time.Sleep(down)
	cfg := ts.cfg
	cfg.Listen = addr
	srv, err := StartEmbedded(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts.srv = srv

	// Publish once the client is back (retrying until then).
	ctx := ctxFor(t, 30*time.Second)
	var seqs []uint64
	for i := 0; i < 3; {
		seq, err := pub.Publish(ctx, msg(fmt.Sprintf("after%d.example.com.", i), "n1", "192.0.2.7"), 0)
		if err == nil {
			seqs = append(seqs, seq)
			i++
			continue
		}
		if ctx.Err() != nil {
			t.Fatalf("publishing after restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	last := seqs[len(seqs)-1]
	got := c.waitFor(t, "the messages published after the restart", 30*time.Second, func(got []events.Delivery, _ int) bool {
		return len(got) > 0 && got[len(got)-1].Seq == last
	})
	for i, d := range got {
		if i > 0 && d.Seq <= got[i-1].Seq {
			t.Errorf("seq %d delivered after %d", d.Seq, got[i-1].Seq)
		}
	}
	if len(got) != 8 || got[5].Seq != seqs[0] {
		t.Errorf("%d deliveries, want 8: %s", len(got), describe(got))
	}
	if _, calls, _ := c.snapshot(); calls != 1 {
		t.Errorf("ready called %d times", calls)
	}
}

// TestReadyUnderLoad replays while a publisher keeps adding messages to the
// followed zone: Ready must still fire, and only after every message that
// existed at the start.
func TestReadyUnderLoad(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t, false)
	_, js := ts.inProcess(t)
	ensureTestStream(t, js, StreamConfig{})
	pub := NewPublisher(js, "", "")
	ctx := ctxFor(t, 60*time.Second)
	const seed = 5000
	seeded := map[string]bool{}
	for i := range seed {
		m := msg(fmt.Sprintf("seed%d.example.com.", i), "n1", "192.0.2.1")
		seeded[events.Subject(prefix, m)] = true
		if err := pub.PublishAsync(ctx, m, 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pub.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	loadDone := make(chan int, 1)
	var stopOnce sync.Once
	published := 0
	stopLoad := func() { stopOnce.Do(func() { close(stop); published = <-loadDone }) }
	go func() {
		live := NewPublisher(js, "", "")
		n := 0
		defer func() { loadDone <- n }()
		for ; ; n++ {
			select {
			case <-stop:
				_, _ = live.Flush(ctx)
				return
			default:
			}
			if err := live.PublishAsync(ctx, msg(fmt.Sprintf("live%d.example.com.", n), "n1", "192.0.2.2"), 0); err != nil {
				t.Error(err)
				return
			}
			if n%100 == 99 {
				_, _ = live.Flush(ctx)
			}
		}
	}()
	time.Sleep(100 * time.Millisecond) // the load is running before Follow starts
	c := follow(t, js, []string{events.ZoneFilter(prefix, "example.com.")})
	t.Cleanup(stopLoad)
	c.waitFor(t, "ready", 30*time.Second, func(_ []events.Delivery, ready int) bool { return ready == 1 })
	stopLoad()
	got, _, readyAt := c.snapshot()
	for _, d := range got[:readyAt] {
		delete(seeded, d.Subject)
	}
	if len(seeded) != 0 {
		t.Errorf("ready fired before %d seeded messages were delivered", len(seeded))
	}
	t.Logf("ready after %d deliveries; %d published during the test", readyAt, published)
}

// TestFollowCleansUp checks that a cancelled Follow returns promptly and
// leaves no consumer on the server.
func TestFollowCleansUp(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t, false)
	_, js := ts.inProcess(t)
	ensureTestStream(t, js, StreamConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Follow(ctx, js, FollowConfig{Handle: func(events.Delivery) {}, Ready: func() { close(ready) }, Log: testLog()})
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("not ready")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Follow did not return within 5s of cancel")
	}
	st, err := js.Stream(ctxFor(t, 5*time.Second), DefaultStreamName)
	if err != nil {
		t.Fatal(err)
	}
	if n := st.CachedInfo().State.Consumers; n != 0 {
		t.Errorf("%d consumers left on the stream", n)
	}
}

// TestTTLExpiresWhileServerDown: a lease that runs out while the server is
// down is dropped once the server is back. A follower that replays right
// after the restart may still get the expired message (the server expires
// it a moment after starting), with a lease end in the past.
func TestTTLExpiresWhileServerDown(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t, false)
	nc, js := ts.inProcess(t)
	ensureTestStream(t, js, StreamConfig{})
	lease := msg("lease.example.com.", "node1", "192.0.2.2")
	if _, err := NewPublisher(js, "", "").Publish(ctxFor(t, 5*time.Second), lease, time.Second); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	ts.stop()
	time.Sleep(2 * time.Second)
	srv, err := StartEmbedded(ts.cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts.srv = srv
	_, js = ts.inProcess(t)
	c := follow(t, js, nil)
	got := c.waitFor(t, "the replay", 15*time.Second, func(_ []events.Delivery, ready int) bool { return ready == 1 })
	for _, d := range got {
		if d.Subject != events.Subject(prefix, lease) || d.Removed {
			t.Errorf("unexpected delivery %s", describe([]events.Delivery{d}))
		}
		if d.Expires.IsZero() || d.Expires.After(time.Now()) {
			t.Errorf("expired lease replayed with Expires %v (stored %v): callers cannot tell it expired", d.Expires, d.Stored)
		}
	}
	testenvEventually(t, 15*time.Second, "the stream drops the expired message", func() bool {
		st, err := js.Stream(ctxFor(t, 5*time.Second), DefaultStreamName)
		return err == nil && st.CachedInfo().State.Msgs == 0
	})
	t.Logf("deliveries after the restart: %s", describe(got))
}

func TestExpiry(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := map[string]struct {
		ttl  string
		want time.Time
	}{
		"none":     {"", time.Time{}},
		"seconds":  {"60", at.Add(time.Minute)},
		"duration": {"15m0s", at.Add(15 * time.Minute)},
		"never":    {"never", time.Time{}},
		"garbage":  {"soon", time.Time{}},
		"zero":     {"0", time.Time{}},
	}
	for name, tc := range tests {
		if got := LeaseEnd(at, tc.ttl); !got.Equal(tc.want) {
			t.Errorf("%s: LeaseEnd(%q) = %v, want %v", name, tc.ttl, got, tc.want)
		}
	}
}

// TestFollowAfter: a follower that starts after a sequence (a snapshot's)
// replays only the messages after it, and is ready at once when there are
// none.
func TestFollowAfter(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t, false)
	_, js := ts.inProcess(t)
	ensureTestStream(t, js, StreamConfig{})
	pub := NewPublisher(js, "", "")
	ctx := ctxFor(t, 30*time.Second)
	var seqs []uint64
	for i := range 5 {
		seq, err := pub.Publish(ctx, msg(fmt.Sprintf("h%d.example.com.", i), "node1", "192.0.2.1"), 0)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
	}
	filters := []string{events.ZoneFilter(prefix, "example.com.")}
	c := followAfter(t, js, filters, seqs[2])
	c.waitFor(t, "replay", 10*time.Second, func(_ []events.Delivery, ready int) bool { return ready == 1 })
	got, _, readyAt := c.snapshot()
	if readyAt != 2 || len(got) != 2 || got[0].Seq != seqs[3] || got[1].Seq != seqs[4] {
		t.Fatalf("after seq %d: ready after %d, deliveries %s", seqs[2], readyAt, describe(got))
	}
	empty := followAfter(t, js, filters, seqs[4])
	empty.waitFor(t, "replay", 10*time.Second, func(_ []events.Delivery, ready int) bool { return ready == 1 })
	seq, err := pub.Publish(ctx, msg("late.example.com.", "node1", "192.0.2.1"), 0)
	if err != nil {
		t.Fatal(err)
	}
	got = empty.waitFor(t, "live message", 10*time.Second, func(got []events.Delivery, _ int) bool { return len(got) == 1 })
	if got[0].Seq != seq {
		t.Fatalf("live delivery %s, want seq %d", describe(got), seq)
	}
}
