package testenv

import (
	"cmp"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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
	dir := lxdState()
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

// lxdState is scripts/lxd.sh's state directory.
func lxdState() string { return cmp.Or(os.Getenv("ZC_LXD_STATE"), "/run/zonecast-lxd") }

// LXDDir is the LXD_DIR of the LXD the tests use: $LXD_DIR, as
// `scripts/lxd.sh env` prints it, else Debian's /var/lib/lxd.
func LXDDir() string { return cmp.Or(os.Getenv("LXD_DIR"), "/var/lib/lxd") }

// LXDNetns is the network namespace of the private LXD scripts/lxd.sh
// starts beside someone else's, or "" when its LXD runs in the host's.
func LXDNetns() string {
	b, err := os.ReadFile(filepath.Join(lxdState(), "lxd.netns"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// ForwardFromNetns returns a loopback address of the host's namespace
// whose connections are forwarded, byte for byte, to addr dialled inside
// the network namespace ns (a name under /run/netns): a client on the host
// reaches a server that listens only in ns, TLS included. It stops when
// the test ends.
func ForwardFromNetns(t testing.TB, ns, addr string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				s, err := dialInNetns(ns, addr)
				if err != nil {
					t.Logf("forwarding to %s in %s: %v", addr, ns, err)
					return
				}
				defer s.Close()
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(s, c); done <- struct{}{} }()
				go func() { _, _ = io.Copy(c, s); done <- struct{}{} }()
				<-done
			}()
		}
	}()
	return l.Addr().String()
}

// dialInNetns dials addr from a thread moved into ns: a socket belongs to
// the namespace of the thread that creates it. The thread is moved back
// before it is released; if that fails it stays locked, and dies with its
// goroutine, so no other goroutine ever runs in ns.
func dialInNetns(ns, addr string) (net.Conn, error) {
	target, err := os.Open(filepath.Join("/run/netns", ns))
	if err != nil {
		return nil, err
	}
	defer target.Close()
	runtime.LockOSThread()
	self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer self.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("entering network namespace %s: %w", ns, err)
	}
	c, dialErr := net.DialTimeout("tcp", addr, 10*time.Second)
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		if c != nil {
			c.Close()
		}
		return nil, fmt.Errorf("leaving network namespace %s: %w", ns, err)
	}
	runtime.UnlockOSThread()
	return c, dialErr
}
