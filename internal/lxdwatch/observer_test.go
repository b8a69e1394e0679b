package lxdwatch

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	lxd "github.com/canonical/lxd/client"
	"github.com/canonical/lxd/shared/api"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/instance"
)

// flaky fails every publish until ok is set; failed is signalled (without
// blocking) after each failure.
type flaky struct {
	ok     atomic.Bool
	fails  atomic.Int64
	failed chan struct{}
	rec    *recorder
}

func newFlaky() *flaky { return &flaky{failed: make(chan struct{}, 1), rec: newRecorder()} }

func (f *flaky) Publish(ctx context.Context, m events.Message, lease time.Duration) (uint64, error) {
	if !f.ok.Load() {
		f.fails.Add(1)
		select {
		case f.failed <- struct{}{}:
		default:
		}
		return 0, errors.New("stream not found")
	}
	return f.rec.Publish(ctx, m, lease)
}

// obs records what it is told; synced is signalled (without blocking)
// after each Synced.
type obs struct {
	mu        sync.Mutex
	connected int
	synced    []int
	changed   chan struct{}
}

func newObs() *obs { return &obs{changed: make(chan struct{}, 1)} }

func (o *obs) Connected() { o.mu.Lock(); o.connected++; o.mu.Unlock() }
func (o *obs) Synced(n int, _ time.Time) {
	o.mu.Lock()
	o.synced = append(o.synced, n)
	o.mu.Unlock()
	select {
	case o.changed <- struct{}{}:
	default:
	}
}

func (o *obs) get() (int, []int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.connected, append([]int(nil), o.synced...)
}

// fakeLXD lists instances from memory, by project. The methods the
// follower does not call are left to the nil embedded interface.
type fakeLXD struct {
	lxd.InstanceServer
	project string
	insts   map[string][]api.InstanceFull
}

func (s *fakeLXD) UseProject(p string) lxd.InstanceServer {
	c := *s
	c.project = p
	return &c
}

func (s *fakeLXD) GetInstancesFull(api.InstanceType) ([]api.InstanceFull, error) {
	return s.insts[s.project], nil
}

func (s *fakeLXD) GetInstancesFullAllProjects(api.InstanceType) ([]api.InstanceFull, error) {
	var all []api.InstanceFull
	for _, insts := range s.insts {
		all = append(all, insts...)
	}
	return all, nil
}

func (s *fakeLXD) GetInstanceFull(name string) (*api.InstanceFull, string, error) {
	for _, inst := range s.insts[s.project] {
		if inst.Name == name {
			return &inst, "", nil
		}
	}
	return nil, "", api.StatusErrorf(http.StatusNotFound, "instance %s not found", name)
}

// connectedForever stands in for LXD's event stream: connected, silent,
// until ctx ends.
func connectedForever(ctx context.Context, _ func(api.Event)) (func() error, error) {
	return func() error {
		<-ctx.Done()
		return ctx.Err()
	}, nil
}

// full is inst as LXD lists it.
func full(inst instance.Instance) api.InstanceFull {
	return api.InstanceFull{Instance: inst.Instance, State: inst.State}
}

// TestObserverSyncedAfterPublish: a full sync is reported only once what it
// implies is published, and counts the followed instances.
func TestObserverSyncedAfterPublish(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const project, name = "p1", "obs"
		inst := running(name, project, "192.0.2.1")
		inst.State.Network["eth0"] = api.InstanceStateNetwork{Addresses: append(inst.State.Network["eth0"].Addresses,
			api.InstanceStateNetworkAddress{Family: "inet6", Address: "2001:db8::1", Scope: "global"})}
		srv := &fakeLXD{insts: map[string][]api.InstanceFull{
			project: {full(inst)},
			"other": {full(running("elsewhere", "other", "192.0.2.2"))}, // not followed
		}}
		m, err := instance.NewMapper(instance.Config{Zones: []string{testZone}, Origin: "node1"})
		if err != nil {
			t.Fatal(err)
		}
		pub := newFlaky()
		o := newObs()
		f, err := New(srv, m, pub, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel), Options{
			Projects: []string{project}, PollInterval: 300 * time.Millisecond, Observer: o,
			BackoffMin: 50 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		f.subscribe = connectedForever
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- f.Run(ctx) }()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run = %v", err)
			}
		}()
		// Fake time: the deadlines bound the follower's own schedule, not
		// how fast this machine runs it.
		deadline := time.NewTimer(10 * time.Second)
		defer deadline.Stop()

		for pub.fails.Load() < 3 {
			select {
			case <-pub.failed:
			case <-deadline.C:
				t.Fatalf("%d failed publishes in 10s, want 3 retries", pub.fails.Load())
			}
		}
		if c, s := o.get(); c != 1 || len(s) != 0 {
			t.Fatalf("while publishing fails: connected %d, synced %v; want 1, none", c, s)
		}
		pub.ok.Store(true)
		for {
			if _, s := o.get(); len(s) > 0 {
				if s[0] != 1 {
					t.Errorf("synced with %d instances, want 1", s[0])
				}
				break
			}
			select {
			case <-o.changed:
			case <-deadline.C:
				t.Fatal("no sync reported after publishing recovered")
			}
		}
		if pub.rec.get(name+"."+project+"."+testZone, "A") == nil {
			t.Error("synced reported before the A record was published")
		}
	})
}
