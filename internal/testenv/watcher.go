package testenv

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// WatcherOptions configures a zonecast-watcher process.
type WatcherOptions struct {
	// Syncer whose NATS (embedded, or the one it joined) the watcher publishes to.
	Syncer *Syncer
	Zones  []string
	NodeID string   // default "test-watcher"
	Dir    string   // log directory, default a new temp dir
	Extra  []string // further flags, e.g. --project, --poll-interval, --lease
}

// Watcher is a running zonecast-watcher process.
type Watcher struct {
	proc // HTTPAddr, LogPath; Ready, Stop, Kill, PID, LogTail, Metric
	Opts WatcherOptions
}

// StartWatcher starts zonecast-watcher against the local LXD and the
// syncer's NATS, and waits until /readyz answers (its first full sync is
// published). It is stopped with SIGTERM when the test ends.
func StartWatcher(t testing.TB, opts WatcherOptions) *Watcher {
	t.Helper()
	if opts.Syncer == nil {
		t.Fatal("StartWatcher: no syncer")
	}
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.NodeID == "" {
		opts.NodeID = "test-watcher"
	}
	w := &Watcher{Opts: opts}
	w.label = "zonecast-watcher " + opts.NodeID
	w.LogPath = filepath.Join(opts.Dir, "watcher-"+opts.NodeID+".log")
	w.Start(t)
	w.stopAtCleanup(t, 60)
	return w
}

// Start (re)starts the process with the same options and HTTP port.
func (w *Watcher) Start(t testing.TB) {
	t.Helper()
	if w.HTTPAddr == "" {
		w.HTTPAddr = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	}
	url, pwFile := w.Opts.Syncer.natsClient()
	args := []string{
		"--nats-url", url, "--nats-password-file", pwFile,
		"--node-id", w.Opts.NodeID, "--http-listen", w.HTTPAddr, "--log-level", "debug",
	}
	for _, z := range w.Opts.Zones {
		args = append(args, "--zone", z)
	}
	args = append(args, w.Opts.Extra...)
	w.start(t, Binary(t, "watcher"), args)
}

// LockLXD serialises tests of several packages (go test runs packages as
// parallel processes) that share one LXD daemon: a test that uses LXD holds
// the lock shared, a test that restarts the daemon holds it exclusively, so
// a restart never falls into another package's test. The lock is a flock on
// $ZC_LXD_STATE/tests.lock (default /run/zonecast-lxd, the state directory
// of scripts/lxd.sh), released when the test ends, after its other
// cleanups (register it first).
func LockLXD(t testing.TB, exclusive bool) {
	t.Helper()
	dir := cmp.Or(os.Getenv("ZC_LXD_STATE"), "/run/zonecast-lxd")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("locking lxd for tests: %v", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "tests.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("locking lxd for tests: %v", err)
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	start := time.Now()
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		t.Fatalf("locking lxd for tests: %v", err)
	}
	if waited := time.Since(start); waited > time.Second {
		t.Logf("waited %v for the lxd test lock (exclusive %v)", waited.Round(time.Millisecond), exclusive)
	}
	t.Cleanup(func() { f.Close() }) // closing releases the lock
}
