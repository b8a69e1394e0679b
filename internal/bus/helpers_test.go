package bus

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/zonecast/zonecast/internal/events"
)

const testUser = "zonecast"

func testLog() zerolog.Logger {
	return zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).Level(zerolog.WarnLevel).With().Timestamp().Logger()
}

// testServer is an embedded server for one test.
type testServer struct {
	cfg      ServerConfig
	srv      *server.Server
	pwFile   string
	password string
}

// startTestServer starts an embedded server; tcp adds a loopback listener
// on a free port.
func startTestServer(t testing.TB, tcp bool) *testServer {
	t.Helper()
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "secrets", "nats-password")
	pw, err := EnsurePassword(pwFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := ServerConfig{
		StoreDir: filepath.Join(dir, "jetstream"),
		User:     testUser,
		Password: pw,
		Name:     "test-" + filepath.Base(dir),
		Log:      testLog(),
	}
	if tcp {
		cfg.Listen = "127.0.0.1:0"
	}
	srv, err := StartEmbedded(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{cfg: cfg, srv: srv, pwFile: pwFile, password: pw}
	t.Cleanup(ts.stop)
	return ts
}

func (ts *testServer) stop() {
	if ts.srv != nil {
		ts.srv.Shutdown()
		ts.srv.WaitForShutdown()
		ts.srv = nil
	}
}

// url is the TCP URL of the listener.
func (ts *testServer) url() string { return ts.srv.ClientURL() }

// inProcess returns an in-process JetStream context.
func (ts *testServer) inProcess(t testing.TB) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := ConnectInProcess(ts.srv, testUser, ts.password, testLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

func ctxFor(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func ensureTestStream(t testing.TB, js jetstream.JetStream, cfg StreamConfig) {
	t.Helper()
	if _, err := EnsureStream(ctxFor(t, 10*time.Second), js, cfg); err != nil {
		t.Fatal(err)
	}
}

// msg returns a valid A record message.
func msg(name, origin string, ip string) events.Message {
	return events.Message{Version: events.Version, Name: name, Type: "A", Origin: origin, TTL: 60, Records: []string{ip}}
}

// collector records deliveries and the Ready call of one Follow.
type collector struct {
	mu         sync.Mutex
	got        []events.Delivery
	readyCalls int
	readyAt    int // len(got) when Ready was called
	changed    chan struct{}
}

func newCollector() *collector { return &collector{changed: make(chan struct{}, 1), readyAt: -1} }

func (c *collector) notify() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

func (c *collector) handle(d events.Delivery) {
	c.mu.Lock()
	c.got = append(c.got, d)
	c.mu.Unlock()
	c.notify()
}

func (c *collector) ready() {
	c.mu.Lock()
	c.readyCalls++
	if c.readyCalls == 1 {
		c.readyAt = len(c.got)
	}
	c.mu.Unlock()
	c.notify()
}

func (c *collector) snapshot() ([]events.Delivery, int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]events.Delivery(nil), c.got...), c.readyCalls, c.readyAt
}

// waitFor waits until cond holds on the collector's state.
func (c *collector) waitFor(t *testing.T, what string, d time.Duration, cond func(got []events.Delivery, readyCalls int) bool) []events.Delivery {
	t.Helper()
	deadline := time.After(d)
	for {
		got, calls, _ := c.snapshot()
		if cond(got, calls) {
			return got
		}
		select {
		case <-c.changed:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out after %s waiting for %s; got %d deliveries, ready called %d times: %s", d, what, len(got), calls, describe(got))
		}
	}
}

func describe(ds []events.Delivery) string {
	s := ""
	for i, d := range ds {
		if i == 10 {
			s += fmt.Sprintf(" ... (%d more)", len(ds)-10)
			break
		}
		s += fmt.Sprintf("[%d %s removed=%v pending=%d] ", d.Seq, d.Subject, d.Removed, d.Pending)
	}
	return s
}

// follow runs Follow in the background until the test ends, and returns
// the collector. Follow must return nil once cancelled.
func follow(t *testing.T, js jetstream.JetStream, filters []string) *collector {
	t.Helper()
	return followAfter(t, js, filters, 0)
}

// followAfter is follow from after sequence after.
func followAfter(t *testing.T, js jetstream.JetStream, filters []string, after uint64) *collector {
	t.Helper()
	c := newCollector()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Follow(ctx, js, FollowConfig{Filters: filters, After: after, Handle: c.handle, Ready: c.ready, Log: testLog()})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Follow returned %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("Follow did not return after cancel")
		}
	})
	return c
}

// testenvEventually polls cond every 100 ms until it holds or timeout
// passes (internal/testenv imports bus, so bus cannot import it).
func testenvEventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
