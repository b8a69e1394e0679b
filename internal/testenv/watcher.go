package testenv

import (
	"bufio"
	"cmp"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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
	Opts     WatcherOptions
	HTTPAddr string
	LogPath  string
	cmd      *exec.Cmd
	done     chan struct{}
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
	w := &Watcher{Opts: opts, LogPath: filepath.Join(opts.Dir, "watcher-"+opts.NodeID+".log")}
	w.Start(t)
	t.Cleanup(func() {
		w.stop(syscall.SIGTERM)
		if t.Failed() {
			t.Logf("zonecast-watcher %s log (%s):\n%s", opts.NodeID, w.LogPath, w.LogTail(60))
		}
	})
	return w
}

// Start (re)starts the process with the same options and HTTP port.
func (w *Watcher) Start(t testing.TB) {
	t.Helper()
	if w.HTTPAddr == "" {
		w.HTTPAddr = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	}
	s := w.Opts.Syncer
	url, pwFile := fmt.Sprintf("nats://127.0.0.1:%d", s.NATSPort), s.PasswordFile
	if s.Opts.NATS != nil {
		url, pwFile = s.Opts.NATS.URL, s.Opts.NATS.PasswordFile
	}
	args := []string{
		"--nats-url", url, "--nats-password-file", pwFile,
		"--node-id", w.Opts.NodeID, "--http-listen", w.HTTPAddr, "--log-level", "debug",
	}
	for _, z := range w.Opts.Zones {
		args = append(args, "--zone", z)
	}
	args = append(args, w.Opts.Extra...)
	logf, err := os.OpenFile(w.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(Binary(t, "watcher"), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting zonecast-watcher: %v", err)
	}
	w.cmd = cmd
	w.done = make(chan struct{})
	go func() { _ = cmd.Wait(); close(w.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if w.Ready() {
			return
		}
		select {
		case <-w.done:
			t.Fatalf("zonecast-watcher exited during start:\n%s", w.LogTail(40))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("zonecast-watcher not ready after 30s:\n%s", w.LogTail(40))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Ready reports whether /readyz answers 200.
func (w *Watcher) Ready() bool {
	resp, err := http.Get("http://" + w.HTTPAddr + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Stop sends SIGTERM and waits for the process to exit.
func (w *Watcher) Stop(t testing.TB) {
	t.Helper()
	if !w.stop(syscall.SIGTERM) {
		t.Fatalf("zonecast-watcher did not stop on SIGTERM:\n%s", w.LogTail(20))
	}
}

// Kill sends SIGKILL and waits for the process to exit.
func (w *Watcher) Kill(t testing.TB) {
	t.Helper()
	w.stop(syscall.SIGKILL)
}

// PID returns the process id (0 when not started).
func (w *Watcher) PID() int {
	if w.cmd == nil || w.cmd.Process == nil {
		return 0
	}
	return w.cmd.Process.Pid
}

func (w *Watcher) stop(sig syscall.Signal) bool {
	if w.cmd == nil {
		return true
	}
	select {
	case <-w.done:
		return true
	default:
	}
	_ = w.cmd.Process.Signal(sig)
	select {
	case <-w.done:
		return true
	case <-time.After(20 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.done
		return false
	}
}

// LogTail returns the last n lines of the process log.
func (w *Watcher) LogTail(n int) string {
	b, _ := os.ReadFile(w.LogPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Metric returns the value of one sample of the watcher's /metrics (0 when
// missing), e.g. Metric(t, `zonecast_watcher_messages_published_total{kind="tombstone"}`).
func (w *Watcher) Metric(t testing.TB, sample string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + w.HTTPAddr + "/metrics")
	if err != nil {
		t.Fatalf("reading watcher metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("metric %s: %v", sample, err)
			}
			return f
		}
	}
	return 0
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
