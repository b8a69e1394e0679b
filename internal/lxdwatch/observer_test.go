package lxdwatch

import (
	"context"
	"errors"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/instance"
)

// flaky fails every publish until ok is set.
type flaky struct {
	ok    atomic.Bool
	fails atomic.Int64
	rec   *recorder
}

func (f *flaky) Publish(ctx context.Context, m events.Message, lease time.Duration) (uint64, error) {
	if !f.ok.Load() {
		f.fails.Add(1)
		return 0, errors.New("stream not found")
	}
	return f.rec.Publish(ctx, m, lease)
}

type obs struct {
	mu        sync.Mutex
	connected int
	synced    []int
}

func (o *obs) Connected() { o.mu.Lock(); o.connected++; o.mu.Unlock() }
func (o *obs) Synced(n int, _ time.Time) {
	o.mu.Lock()
	o.synced = append(o.synced, n)
	o.mu.Unlock()
}

func (o *obs) get() (int, []int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.connected, append([]int(nil), o.synced...)
}

// TestObserverSyncedAfterPublish: a full sync is reported only once what it
// implies is published, and counts the followed instances.
func TestObserverSyncedAfterPublish(t *testing.T) {
	t.Parallel()
	srv := requireLXD(t)
	project := uniqueName(t, "p")
	lxc(t, "project", "create", project, "-c", "features.profiles=false", "-c", "features.images=false")
	t.Cleanup(func() { _ = exec.Command("lxc", "project", "delete", project).Run() })
	name := uniqueName(t, "obs")
	launch(t, name, "--project", project)
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, _, err := srv.UseProject(project).GetInstanceState(name)
		if err == nil && len(st.Network["eth0"].Addresses) >= 3 { // v4, v6, link-local
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s got no addresses", name)
		}
		time.Sleep(100 * time.Millisecond)
	}

	m, err := instance.NewMapper(instance.Config{Zones: []string{testZone}, Origin: "node1"})
	if err != nil {
		t.Fatal(err)
	}
	pub := &flaky{rec: newRecorder()}
	o := &obs{}
	f, err := New(srv, m, pub, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel), Options{
		Projects: []string{project}, PollInterval: 300 * time.Millisecond, Observer: o,
		BackoffMin: 50 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}()

	for pub.fails.Load() < 3 {
		time.Sleep(20 * time.Millisecond)
	}
	if c, s := o.get(); c != 1 || len(s) != 0 {
		t.Fatalf("while publishing fails: connected %d, synced %v; want 1, none", c, s)
	}
	pub.ok.Store(true)
	deadline = time.Now().Add(10 * time.Second)
	for {
		if _, s := o.get(); len(s) > 0 {
			if s[0] != 1 {
				t.Errorf("synced with %d instances, want 1", s[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no sync reported after publishing recovered")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if pub.rec.get(name+"."+project+"."+testZone, "A") == nil {
		t.Error("synced reported before the A record was published")
	}
}
