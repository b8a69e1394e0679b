package testenv

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// proc is one process of a zonecast binary that a test started: its log
// file, its HTTP endpoints (/readyz, /metrics) and the exit of its last
// start. Syncer, Watcher and Gateway embed it.
type proc struct {
	HTTPAddr string // 127.0.0.1:PORT of /readyz and /metrics
	LogPath  string // standard output and error, appended on every start

	label string // names the process in failures, e.g. "zonecast-syncer n1"
	cmd   *exec.Cmd
	done  chan struct{} // closed when the last started process has exited
}

// spawn starts binary with args, its output appended to LogPath, without
// waiting for it to be ready. env is added to the test's environment.
func (p *proc) spawn(t testing.TB, binary string, args []string, env ...string) {
	t.Helper()
	logf, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", p.label, err)
	}
	p.cmd = cmd
	done := make(chan struct{})
	p.done = done
	go func() { _ = cmd.Wait(); close(done) }()
}

// start spawns the process and waits up to 30 s for /readyz.
func (p *proc) start(t testing.TB, binary string, args []string, env ...string) {
	t.Helper()
	p.spawn(t, binary, args, env...)
	p.waitReady(t, 30*time.Second)
}

// waitReady waits until /readyz answers 200, failing the test when the
// process exits first or timeout passes (then stopping it).
func (p *proc) waitReady(t testing.TB, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !p.Ready() {
		select {
		case <-p.done:
			t.Fatalf("%s exited during start:\n%s", p.label, p.LogTail(40))
		default:
		}
		if time.Now().After(deadline) {
			// Stopped here: the caller's cleanup that would stop it is
			// registered only once it is ready.
			p.stop(syscall.SIGTERM)
			t.Fatalf("%s not ready after %s:\n%s", p.label, timeout, p.LogTail(40))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stopAtCleanup stops the process with SIGTERM when the test ends and, if
// the test failed, logs the last tail lines of its log.
func (p *proc) stopAtCleanup(t testing.TB, tail int) {
	t.Cleanup(func() {
		p.stop(syscall.SIGTERM)
		if t.Failed() {
			t.Logf("%s log (%s):\n%s", p.label, p.LogPath, p.LogTail(tail))
		}
	})
}

// Ready reports whether /readyz answers 200.
func (p *proc) Ready() bool {
	resp, err := http.Get("http://" + p.HTTPAddr + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Running reports whether the process has been started and not exited.
func (p *proc) Running() bool {
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// PID returns the process id (0 when not started).
func (p *proc) PID() int {
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Stop sends SIGTERM and waits for the process to exit.
func (p *proc) Stop(t testing.TB) {
	t.Helper()
	if !p.stop(syscall.SIGTERM) {
		t.Fatalf("%s did not stop on SIGTERM:\n%s", p.label, p.LogTail(20))
	}
}

// Kill sends SIGKILL and waits for the process to exit.
func (p *proc) Kill(t testing.TB) {
	t.Helper()
	p.stop(syscall.SIGKILL)
}

// Signal sends sig to the process (e.g. SIGHUP).
func (p *proc) Signal(t testing.TB, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signalling %s: %v", p.label, err)
	}
}

// stop sends sig and waits for the exit; after 20 s it kills the process
// and reports false.
func (p *proc) stop(sig syscall.Signal) bool {
	if p.cmd == nil {
		return true
	}
	select {
	case <-p.done:
		return true
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return true
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return false
	}
}

// LogTail returns the last n lines of the process log.
func (p *proc) LogTail(n int) string {
	b, _ := os.ReadFile(p.LogPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Metric returns the value of one sample from /metrics: name with labels
// in exposition order, e.g. Metric(t, `zonecast_syncer_rrsets_applied_total{zone="z."}`).
// A missing sample is 0.
func (p *proc) Metric(t testing.TB, sample string) float64 {
	t.Helper()
	v, err := p.TryMetric(sample)
	if err != nil {
		t.Fatalf("reading %s metrics: %v", p.label, err)
	}
	return v
}

// TryMetric is Metric for a process that may not be listening yet.
func (p *proc) TryMetric(sample string) (float64, error) {
	resp, err := http.Get("http://" + p.HTTPAddr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0, fmt.Errorf("metric %s: %w", sample, err)
			}
			return f, nil
		}
	}
	return 0, sc.Err()
}
