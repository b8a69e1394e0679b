package bus

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/zonecast/zonecast/internal/events"
)

// BenchmarkPublishAndReplay reports publish and replay rates of n
// messages (ZONECAST_BUS_MEASURE, default 100,000), in process and over TCP.
// Run: go test -run '^$' -bench PublishAndReplay -benchtime 1x -v ./internal/bus/
func BenchmarkPublishAndReplay(b *testing.B) {
	n, _ := strconv.Atoi(os.Getenv("ZONECAST_BUS_MEASURE"))
	if n <= 0 {
		n = 100000
	}
	for _, tcp := range []bool{false, true} {
		b.Run(fmt.Sprintf("tcp=%v", tcp), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				measure(b, n, tcp)
			}
		})
	}
}

func measure(t testing.TB, n int, tcp bool) {
	ts := startTestServer(t, tcp)
	var js jetstream.JetStream
	if tcp {
		nc, err := Connect(ctxFor(t, 10*time.Second), ClientConfig{URL: ts.url(), User: testUser, PasswordFile: ts.pwFile}, testLog())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		if js, err = jetstream.New(nc); err != nil {
			t.Fatal(err)
		}
	} else {
		_, js = ts.inProcess(t)
	}
	ensureTestStream(t, js, StreamConfig{})
	pub := NewPublisher(js, "", "")
	ctx := ctxFor(t, 5*time.Minute)
	start := time.Now()
	for i := range n {
		name := fmt.Sprintf("h%d.z%d.example.com.", i, i%100)
		if err := pub.PublishAsync(ctx, msg(name, "node1", fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)), 0); err != nil {
			t.Fatal(err)
		}
	}
	stored, err := pub.Flush(ctx)
	if err != nil || stored != n {
		t.Fatalf("Flush = %d, %v", stored, err)
	}
	pubDur := time.Since(start)

	start = time.Now()
	got := 0
	fctx, cancel := context.WithCancel(ctx)
	readyAt := time.Duration(0)
	err = Follow(fctx, js, FollowConfig{
		Handle: func(events.Delivery) { got++ },
		Ready:  func() { readyAt = time.Since(start); cancel() },
		Log:    testLog(),
	})
	cancel()
	if err != nil || got != n {
		t.Fatalf("Follow = %v after %d deliveries", err, got)
	}
	// One zone of 100 (1 % of the stream), as a syncer serving few zones.
	start = time.Now()
	got = 0
	fctx, cancel = context.WithCancel(ctx)
	err = Follow(fctx, js, FollowConfig{
		Filters: []string{events.ZoneFilter(prefix, "z7.example.com.")},
		Handle:  func(events.Delivery) { got++ },
		Ready:   func() { cancel() },
		Log:     testLog(),
	})
	cancel()
	if err != nil || got != n/100 {
		t.Fatalf("filtered Follow = %v after %d deliveries", err, got)
	}
	t.Logf("tcp=%v: filtered replay of %d of %d msgs in %s", tcp, got, n, time.Since(start).Round(time.Millisecond))
	t.Logf("tcp=%v: PublishAsync+Flush %d msgs in %s = %.0f msgs/s; Follow replay in %s = %.0f msgs/s",
		tcp, n, pubDur.Round(time.Millisecond), float64(n)/pubDur.Seconds(), readyAt.Round(time.Millisecond), float64(n)/readyAt.Seconds())
}
