// Package testenv runs zonecast's real binaries for integration tests and
// benchmarks: it builds them once per test process, starts them on free
// loopback ports, waits for readiness, and stops exactly the processes it
// started. PowerDNS comes from testpdns, NATS from the syncer's embedded
// server (or bus.StartEmbedded).
package testenv

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/testpdns"
	"github.com/zonecast/zonecast/internal/testport"
)

var (
	buildMu  sync.Mutex
	built    = map[string]string{}
	binDir   string
	binDirMu sync.Once
)

// Binary builds ./cmd/<name> once per test process and returns its path.
func Binary(t testing.TB, name string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built[name]; ok {
		return p
	}
	binDirMu.Do(func() {
		d, err := os.MkdirTemp("", "zonecast-testbin-")
		if err != nil {
			t.Fatalf("making binary dir: %v", err)
		}
		binDir = d
	})
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(binDir, "zonecast-"+name)
	cmd := exec.Command("go", "build", "-o", out, "./cmd/"+name)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", name, err, b)
	}
	built[name] = out
	return out
}

func moduleRoot() (string, error) {
	b, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("finding the module root: %w", err)
	}
	return filepath.Dir(strings.TrimSpace(string(b))), nil
}

// FreePort returns a free TCP port on 127.0.0.1, outside the ephemeral
// range and reserved for this test binary, so that a process restarted on
// it finds it still free (see internal/testport).
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := testport.TCP()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// Eventually polls cond every 10 ms until it holds or timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// SyncerOptions configures a zonecast-syncer process.
type SyncerOptions struct {
	Zones    []string
	PDNS     *testpdns.Server
	StateDir string   // default: a new temp dir
	NATS     *NATS    // join this NATS instead of embedding one
	Extra    []string // further flags
	Env      []string // added to the process's environment, as KEY=value
	// ReadyTimeout bounds the wait for /readyz (default 30 s); a new
	// node converging a zone of 10^6 RRsets needs longer.
	ReadyTimeout time.Duration
}

// Syncer is a running zonecast-syncer process.
type Syncer struct {
	proc         // HTTPAddr, LogPath; Stop, Kill, Signal, PID, LogTail, Metric
	Opts         SyncerOptions
	NATSPort     int
	PasswordFile string
	nc           *nats.Conn
	js           jetstream.JetStream
}

// StartSyncer starts zonecast-syncer and waits until /readyz answers.
func StartSyncer(t testing.TB, opts SyncerOptions) *Syncer {
	t.Helper()
	if opts.StateDir == "" {
		opts.StateDir = t.TempDir()
	}
	s := &Syncer{Opts: opts, NATSPort: FreePort(t)}
	s.label = "zonecast-syncer"
	s.PasswordFile = filepath.Join(opts.StateDir, "nats-password")
	s.LogPath = filepath.Join(opts.StateDir, "syncer.log")
	s.Start(t)
	s.stopAtCleanup(t, 80)
	return s
}

// Start (re)starts the process with the same options and ports, and waits
// until /readyz answers.
func (s *Syncer) Start(t testing.TB) {
	t.Helper()
	s.spawn(t, Binary(t, "syncer"), s.args(t), s.env()...)
	timeout := s.Opts.ReadyTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	s.waitReady(t, timeout)
}

// env is what the process gets beside the test's environment: a
// reconciliation interval longer than any test, and Opts.Env.
func (s *Syncer) env() []string {
	return append([]string{"ZONECAST_RECONCILE_INTERVAL=1h"}, s.Opts.Env...)
}

// Launch (re)starts the process without waiting for /readyz (a syncer
// holding deletions is not ready).
func (s *Syncer) Launch(t testing.TB) {
	t.Helper()
	s.spawn(t, Binary(t, "syncer"), s.args(t), s.env()...)
}

// Readyz reports /readyz: whether it answers 200, and its body.
func (s *Syncer) Readyz() (bool, string) {
	resp, err := http.Get("http://" + s.HTTPAddr + "/readyz")
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode == http.StatusOK, string(b)
}

// Run runs the syncer binary with args (a subcommand) and returns its
// standard output and its error, if it failed.
func (s *Syncer) Run(t testing.TB, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(Binary(t, "syncer"), args...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%v: %s", err, errOut.String())
	}
	return out.String(), err
}

// Flags returns the daemon's flags, for subcommands that take them
// (plan).
func (s *Syncer) Flags(t testing.TB) []string { t.Helper(); return s.args(t) }

func (s *Syncer) args(t testing.TB) []string {
	t.Helper()
	if s.HTTPAddr == "" {
		s.HTTPAddr = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	}
	keyFile := filepath.Join(s.Opts.StateDir, "pdns-api-key")
	if err := os.WriteFile(keyFile, []byte(s.Opts.PDNS.APIKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{
		"--pdns-url", s.Opts.PDNS.APIURL, "--pdns-api-key-file", keyFile,
		"--state-dir", s.Opts.StateDir, "--http-listen", s.HTTPAddr,
		"--nats-listen", fmt.Sprintf("127.0.0.1:%d", s.NATSPort),
		"--node-id", "test", "--log-level", "debug",
	}
	if s.Opts.NATS != nil {
		args = append(args, "--nats-url", s.Opts.NATS.URL, "--nats-password-file", s.Opts.NATS.PasswordFile)
	}
	for _, z := range s.Opts.Zones {
		args = append(args, "--zone", z)
	}
	return append(args, s.Opts.Extra...)
}

// NATS connects to the syncer's embedded NATS over TCP with its password.
func (s *Syncer) NATS(t testing.TB) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	if s.nc != nil {
		return s.nc, s.js
	}
	url, pwFile := s.natsClient()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, err := bus.Connect(ctx, bus.ClientConfig{URL: url, User: "zonecast", PasswordFile: pwFile}, zerolog.Nop())
	if err != nil {
		t.Fatalf("connecting to nats: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s.nc, s.js = nc, js
	return nc, js
}

// natsClient returns the URL and password file of the NATS the syncer
// uses: its embedded server, or the one it joined.
func (s *Syncer) natsClient() (url, pwFile string) {
	if s.Opts.NATS != nil {
		return s.Opts.NATS.URL, s.Opts.NATS.PasswordFile
	}
	return fmt.Sprintf("nats://127.0.0.1:%d", s.NATSPort), s.PasswordFile
}

// StreamLastSeq returns the last sequence of the record stream.
func (s *Syncer) StreamLastSeq(t testing.TB) (uint64, error) {
	t.Helper()
	_, js := s.NATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, "ZONECAST")
	if err != nil {
		return 0, fmt.Errorf("looking up the stream: %w", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading stream info: %w", err)
	}
	return info.State.LastSeq, nil
}

// Publisher returns a publisher on the syncer's stream.
func (s *Syncer) Publisher(t testing.TB) *bus.Publisher {
	t.Helper()
	_, js := s.NATS(t)
	return bus.NewPublisher(js, "ZONECAST", "zonecast.rr")
}

// NATS is a nats-server with JetStream running in the test process, the way
// an external NATS deployment looks to the daemons.
type NATS struct {
	URL          string
	PasswordFile string
}

// StartNATS starts an embedded nats-server with password authentication on
// a free loopback port; it is shut down when the test ends.
func StartNATS(t testing.TB) *NATS {
	t.Helper()
	return StartNATSUsers(t, nil)
}

// StartNATSUsers is StartNATS with the users of a users file beside the
// unrestricted one, each confined to its role (bus.RolePermissions).
func StartNATSUsers(t testing.TB, users []bus.UserSpec) *NATS {
	t.Helper()
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "nats-password")
	pw, err := bus.EnsurePassword(pwFile)
	if err != nil {
		t.Fatal(err)
	}
	port := FreePort(t)
	srv, err := bus.StartEmbedded(bus.ServerConfig{StoreDir: filepath.Join(dir, "js"),
		Listen: fmt.Sprintf("127.0.0.1:%d", port), User: "zonecast", Password: pw, Name: "test-nats", Users: users,
		Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	return &NATS{URL: fmt.Sprintf("nats://127.0.0.1:%d", port), PasswordFile: pwFile}
}

// ProcStatus returns a field of /proc/PID/status in KiB (e.g. "VmRSS",
// "VmHWM"), or 0.
func ProcStatus(pid int, field string) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.Atoi(f[0])
				return n
			}
		}
	}
	return 0
}
