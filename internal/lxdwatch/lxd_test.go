package lxdwatch

// Integration tests against the real LXD that scripts/lxd.sh brings up.
// They create instances named zc-*, and delete them when done.

import (
	"context"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	lxd "github.com/canonical/lxd/client"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/instance"
	"github.com/zonecast/zonecast/internal/rrset"
	"github.com/zonecast/zonecast/internal/testenv"
)

const testZone = "lxd.zonecast.test."

// requireLXD connects to the local LXD or fails with the command to run.
// It holds the cross-package LXD test lock shared until the test ends.
func requireLXD(t *testing.T) lxd.InstanceServer {
	t.Helper()
	testenv.LockLXD(t, false)
	return connectLXD(t)
}

func connectLXD(t *testing.T) lxd.InstanceServer {
	t.Helper()
	srv, err := Connect(context.Background(), ConnectConfig{})
	if err == nil {
		_, _, err = srv.GetServer()
	}
	if err != nil {
		t.Fatalf("LXD is not running (%v): run `scripts/lxd.sh up` first", err)
	}
	return srv
}

// recorder is an in-memory Publisher: it validates every message like the
// bus would and keeps the last message per key, as a stream with one
// message per subject does.
type recorder struct {
	mu      sync.Mutex
	seq     uint64
	state   map[rrset.Key]events.Message
	all     []events.Message
	leases  []time.Duration
	changed chan struct{}
}

func newRecorder() *recorder {
	return &recorder{state: map[rrset.Key]events.Message{}, changed: make(chan struct{})}
}

func (r *recorder) Publish(ctx context.Context, m events.Message, lease time.Duration) (uint64, error) {
	if _, err := events.Encode(m); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	r.all = append(r.all, m)
	r.leases = append(r.leases, lease)
	if m.Tombstone() {
		delete(r.state, m.Key())
	} else {
		r.state[m.Key()] = m
	}
	close(r.changed)
	r.changed = make(chan struct{})
	return r.seq, nil
}

func (r *recorder) get(name, typ string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.state[rrset.Key{Name: name, Type: typ}].Records)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.all)
}

func (r *recorder) since(n int) []events.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.all[n:])
}

// waitFor waits until cond holds on the recorded state and returns how long
// that took.
func (r *recorder) waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		ch := r.changed
		r.mu.Unlock()
		if cond() {
			return time.Since(start)
		}
		select {
		case <-ch:
		case <-time.After(100 * time.Millisecond):
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
	}
}

func has(recs []string, pred func(string) bool) bool { return slices.ContainsFunc(recs, pred) }
func isV4(s string) bool                             { return strings.Count(s, ".") == 3 }
func isV6(s string) bool                             { return strings.Contains(s, ":") }

// startFollower runs a follower until the test ends; the cleanup checks
// that Run returns nil without withdrawing anything.
func startFollower(t *testing.T, srv lxd.InstanceServer, cfg instance.Config, opt Options) *recorder {
	t.Helper()
	if cfg.Zones == nil {
		cfg.Zones = []string{testZone}
	}
	if cfg.Origin == "" {
		cfg.Origin = "node1"
	}
	m, err := instance.NewMapper(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
	if testing.Verbose() {
		log = log.Level(zerolog.DebugLevel)
	}
	f, err := New(srv, m, rec, log, opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	t.Cleanup(func() {
		n := rec.count()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run after cancel = %v, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return within 10 s of cancel")
		}
		for _, m := range rec.since(n) {
			t.Errorf("published %s %s %v during a clean stop", m.Name, m.Type, m.Records)
		}
	})
	return rec
}

func uniqueName(t *testing.T, what string) string { return testenv.UniqueName(t, what) }

func lxc(t *testing.T, args ...string) string { return testenv.LXC(t, args...) }

// launch starts a busybox container and deletes it when the test ends.
func launch(t *testing.T, name string, args ...string) {
	t.Helper()
	t.Cleanup(func() {
		out, err := exec.Command("lxc", append([]string{"delete", "--force", name}, projectArgs(args)...)...).CombinedOutput()
		if err != nil && !strings.Contains(string(out), "not found") {
			t.Logf("deleting %s: %v: %s", name, err, out)
		}
	})
	lxc(t, append([]string{"launch", "busybox", name}, args...)...)
}

func projectArgs(args []string) []string {
	for i, a := range args {
		if a == "--project" && i+1 < len(args) {
			return []string{"--project", args[i+1]}
		}
	}
	return nil
}

func fqdn(name string) string { return name + "." + testZone }

func TestLaunchStopStartDelete(t *testing.T) {
	t.Parallel()
	srv := requireLXD(t)
	rec := startFollower(t, srv, instance.Config{}, Options{PollInterval: 5 * time.Second, Lease: time.Minute})
	name := uniqueName(t, "launch")
	fq := fqdn(name)

	launch(t, name)
	took := rec.waitFor(t, 15*time.Second, "AAAA and A of "+fq, func() bool {
		return has(rec.get(fq, "AAAA"), isV6) && has(rec.get(fq, "A"), isV4)
	})
	t.Logf("launch -> AAAA and A recorded in %v: %v %v", took, rec.get(fq, "AAAA"), rec.get(fq, "A"))
	rec.mu.Lock()
	for _, l := range rec.leases {
		if l != time.Minute {
			t.Errorf("published with lease %v, want 1m", l)
		}
	}
	rec.mu.Unlock()

	lxc(t, "stop", name)
	took = rec.waitFor(t, 15*time.Second, "tombstones of "+fq, func() bool {
		return rec.get(fq, "AAAA") == nil && rec.get(fq, "A") == nil
	})
	t.Logf("stop -> tombstones in %v", took)

	lxc(t, "start", name)
	rec.waitFor(t, 15*time.Second, "records back after start", func() bool {
		return has(rec.get(fq, "AAAA"), isV6) && has(rec.get(fq, "A"), isV4)
	})
	lxc(t, "delete", "--force", name)
	took = rec.waitFor(t, 15*time.Second, "tombstones after delete", func() bool {
		return rec.get(fq, "AAAA") == nil && rec.get(fq, "A") == nil
	})
	t.Logf("delete -> tombstones in %v", took)
}

func TestRename(t *testing.T) {
	t.Parallel()
	srv := requireLXD(t)
	rec := startFollower(t, srv, instance.Config{}, Options{PollInterval: 5 * time.Second})
	old := uniqueName(t, "ren")
	renamed := old + "-new"
	launch(t, old)
	t.Cleanup(func() { _ = exec.Command("lxc", "delete", "--force", renamed).Run() })
	rec.waitFor(t, 15*time.Second, "records of "+old, func() bool {
		return rec.get(fqdn(old), "AAAA") != nil && rec.get(fqdn(old), "A") != nil
	})
	// LXD renames stopped containers only.
	lxc(t, "stop", "--force", old)
	lxc(t, "rename", old, renamed)
	lxc(t, "start", renamed)
	rec.waitFor(t, 15*time.Second, "old name withdrawn, new published", func() bool {
		return rec.get(fqdn(old), "AAAA") == nil && rec.get(fqdn(old), "A") == nil &&
			has(rec.get(fqdn(renamed), "AAAA"), isV6) && has(rec.get(fqdn(renamed), "A"), isV4)
	})
}

func TestAddressAddedInsideAppearsWithinPollInterval(t *testing.T) {
	t.Parallel()
	srv := requireLXD(t)
	const poll = 2 * time.Second
	rec := startFollower(t, srv, instance.Config{}, Options{PollInterval: poll})
	name := uniqueName(t, "addr")
	fq := fqdn(name)
	launch(t, name)
	rec.waitFor(t, 15*time.Second, "records of "+fq, func() bool {
		return rec.get(fq, "AAAA") != nil && rec.get(fq, "A") != nil
	})
	const extra = "fd42:99:1:1::beef"
	lxc(t, "exec", name, "--", "ip", "addr", "add", extra+"/64", "dev", "eth0")
	took := rec.waitFor(t, poll+3*time.Second, extra+" in AAAA", func() bool {
		return slices.Contains(rec.get(fq, "AAAA"), extra)
	})
	t.Logf("ip addr add -> AAAA updated in %v (poll interval %v)", took, poll)
	lxc(t, "exec", name, "--", "ip", "addr", "del", extra+"/64", "dev", "eth0")
	rec.waitFor(t, poll+3*time.Second, extra+" gone from AAAA", func() bool {
		aaaa := rec.get(fq, "AAAA")
		return aaaa != nil && !slices.Contains(aaaa, extra)
	})
}

func TestOptOutKey(t *testing.T) {
	t.Parallel()
	srv := requireLXD(t)
	obs := &syncs{}
	rec := startFollower(t, srv, instance.Config{}, Options{PollInterval: time.Second, Observer: obs})
	name := uniqueName(t, "opt")
	fq := fqdn(name)
	launch(t, name, "-c", instance.KeyEnabled+"=false")
	// Wait until LXD reports both addresses, then two full polls more.
	deadline := time.Now().Add(15 * time.Second)
	for {
		out := lxc(t, "list", name, "--format=csv", "-c", "46")
		if strings.Contains(out, "10.99.") && strings.Contains(out, "fd42:") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s got no addresses: %s", name, out)
		}
		time.Sleep(200 * time.Millisecond) // polling LXD, a real peer
	}
	obs.waitMore(t, 2, 15*time.Second) // two full listings with both addresses applied
	if a, aaaa := rec.get(fq, "A"), rec.get(fq, "AAAA"); a != nil || aaaa != nil {
		t.Fatalf("opted-out instance published: A %v AAAA %v", a, aaaa)
	}
	lxc(t, "config", "set", name, instance.KeyEnabled+"=true", instance.KeyTTL+"=300", instance.KeyNames+"=www-"+name)
	rec.waitFor(t, 10*time.Second, "records after opting in", func() bool {
		return rec.get(fq, "AAAA") != nil && rec.get("www-"+fq, "A") != nil
	})
	rec.mu.Lock()
	ttl := rec.state[rrset.Key{Name: fq, Type: "AAAA"}].TTL
	rec.mu.Unlock()
	if ttl != 300 {
		t.Errorf("ttl = %d, want the override 300", ttl)
	}
	lxc(t, "config", "set", name, instance.KeyEnabled+"=false")
	rec.waitFor(t, 10*time.Second, "tombstones after opting out", func() bool {
		return rec.get(fq, "AAAA") == nil && rec.get(fq, "A") == nil && rec.get("www-"+fq, "A") == nil
	})
}

func TestProjectsAndTemplate(t *testing.T) {
	t.Parallel()
	srv := requireLXD(t)
	project := uniqueName(t, "p")
	lxc(t, "project", "create", project, "-c", "features.profiles=false", "-c", "features.images=false")
	t.Cleanup(func() { _ = exec.Command("lxc", "project", "delete", project).Run() })
	obs := &syncs{}
	rec := startFollower(t, srv, instance.Config{ACMEChallengeNS: true},
		Options{Projects: []string{project}, PollInterval: 5 * time.Second, Observer: obs})
	name := uniqueName(t, "proj")
	launch(t, name, "--project", project)
	other := uniqueName(t, "notfollowed")
	launch(t, other)
	fq := name + "." + project + "." + testZone
	rec.waitFor(t, 15*time.Second, "records of "+fq, func() bool {
		return has(rec.get(fq, "AAAA"), isV6) && has(rec.get(fq, "A"), isV4) &&
			slices.Equal(rec.get("_acme-challenge."+fq, "NS"), []string{fq})
	})
	obs.waitMore(t, 1, 15*time.Second) // a full listing after both instances run
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for k := range rec.state {
		if strings.Contains(k.Name, other) {
			t.Errorf("instance %s of a project not followed was published: %s", other, k)
		}
	}
}

// TestDaemonRestart restarts the LXD daemon that scripts/lxd.sh started:
// running containers stay up, the follower reconnects, resyncs, and then
// follows new events. It is not parallel: it runs before the parallel tests.
func TestDaemonRestart(t *testing.T) {
	testenv.LockLXD(t, true) // no test of another package uses LXD during the restart
	srv := connectLXD(t)
	rec := startFollower(t, srv, instance.Config{}, Options{PollInterval: time.Hour, BackoffMin: 200 * time.Millisecond, BackoffMax: time.Second})
	before := uniqueName(t, "rst")
	launch(t, before)
	rec.waitFor(t, 15*time.Second, "records of "+before, func() bool {
		return rec.get(fqdn(before), "AAAA") != nil && rec.get(fqdn(before), "A") != nil
	})
	n := rec.count()

	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "scripts", "lxd.sh")
	start := time.Now()
	out, err := exec.Command(script, "restart-daemon").CombinedOutput()
	if err != nil {
		t.Fatalf("%s restart-daemon: %v\n%s(the restart test needs an LXD started by scripts/lxd.sh: run `scripts/lxd.sh down && scripts/lxd.sh up`)", script, err, out)
	}
	t.Logf("lxd restarted in %v", time.Since(start))

	// Only the event stream sees this container: polling is hourly.
	after := uniqueName(t, "rst")
	launch(t, after)
	took := rec.waitFor(t, 20*time.Second, "records of "+after+" after the restart", func() bool {
		return rec.get(fqdn(after), "AAAA") != nil && rec.get(fqdn(after), "A") != nil
	})
	t.Logf("new container after restart published in %v", took)
	for _, m := range rec.since(n) {
		if m.Tombstone() {
			t.Errorf("restart withdrew %s %s", m.Name, m.Type)
		}
	}
	if rec.get(fqdn(before), "AAAA") == nil {
		t.Errorf("%s lost its records over the restart", before)
	}
}

func TestLeaseRefresh(t *testing.T) {
	t.Parallel()
	srv := requireLXD(t)
	const lease = 3 * time.Second
	rec := startFollower(t, srv, instance.Config{}, Options{Lease: lease, PollInterval: time.Hour})
	name := uniqueName(t, "lease")
	fq := fqdn(name)
	launch(t, name)
	rec.waitFor(t, 15*time.Second, "records of "+fq, func() bool {
		return rec.get(fq, "AAAA") != nil && rec.get(fq, "A") != nil
	})
	n := rec.count()
	time.Sleep(lease)
	refreshed := 0
	for _, m := range rec.since(n) {
		if m.Name == fq && m.Tombstone() {
			t.Errorf("unexpected tombstone %s %s", m.Name, m.Type)
		}
		if m.Name == fq && m.Type == "A" {
			refreshed++
		}
	}
	// RefreshEvery is lease/3: within one lease, at least two refreshes.
	if refreshed < 2 {
		t.Errorf("A of %s refreshed %d times in one lease, want >= 2", fq, refreshed)
	}
}

// syncs counts the follower's full syncs (Observer), so that a test waits
// for listings to have been applied rather than sleeping through them and
// checking that nothing happened.
type syncs struct {
	mu sync.Mutex
	n  int
}

func (s *syncs) Connected() {}

func (s *syncs) Synced(int, time.Time) {
	s.mu.Lock()
	s.n++
	s.mu.Unlock()
}

func (s *syncs) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// waitMore waits until k more full syncs than now have been applied.
func (s *syncs) waitMore(t *testing.T, k int, timeout time.Duration) {
	t.Helper()
	want := s.count() + k
	deadline := time.Now().Add(timeout)
	for s.count() < want {
		if time.Now().After(deadline) {
			t.Fatalf("%d full syncs in %v, want %d", s.count()-want+k, timeout, k)
		}
		time.Sleep(50 * time.Millisecond) // the follower polls a real LXD
	}
}

// syncBuffer is an io.Writer safe for the follower's goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestDryRunPublishesNothing(t *testing.T) {
	t.Parallel()
	srv := requireLXD(t)
	name := uniqueName(t, "dry")
	launch(t, name)
	m, err := instance.NewMapper(instance.Config{Zones: []string{testZone}, Origin: "node1"})
	if err != nil {
		t.Fatal(err)
	}
	var buf syncBuffer
	f, err := New(srv, m, nil, zerolog.New(&buf), Options{DryRun: true, PollInterval: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(buf.String(), `"name":"`+fqdn(name)+`","type":"AAAA"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no dry-run line for %s:\n%s", name, buf.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if !strings.Contains(buf.String(), `"dry_run":true,"message":"would publish"`) {
		t.Errorf("dry-run lines missing:\n%s", buf.String())
	}
}
