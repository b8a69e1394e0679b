// Package testpdns runs a real pdns_server (PowerDNS Authoritative) for
// integration tests: its own config directory in t.TempDir(), a gsqlite3 or
// lmdb backend, the HTTP API and DNS on free loopback ports. Nothing is
// mocked; the server is stopped by the PID this package started.
package testpdns

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecast/zonecast/internal/testport"
)

// Backends lists the backends Start accepts, for tables over backends.
var Backends = []string{"gsqlite3", "lmdb"}

// SQLiteSchema is the Debian path of the gsqlite3 schema.
const SQLiteSchema = "/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql"

const (
	readyTimeout = 20 * time.Second
	stopTimeout  = 10 * time.Second
	logTailLines = 40
)

// Server is one running (or stopped) pdns_server owned by a test.
type Server struct {
	APIURL  string // http://127.0.0.1:PORT, the base URL of the API (no /api/v1)
	APIKey  string
	DNSAddr string // 127.0.0.1:PORT, UDP and TCP
	Backend string // "gsqlite3" or "lmdb"
	Dir     string // config dir: pdns.conf, pdns.log, db/

	dnsPort int
	apiPort int
	bin     string
	extra   string // further pdns.conf lines

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has been waited for
}

// Start creates a config dir, initialises an empty database for backend
// ("gsqlite3" or "lmdb"), starts pdns_server and waits until both the API
// and DNS answer. The server is stopped when the test ends.
func Start(t testing.TB, backend string) *Server {
	t.Helper()
	return StartWith(t, backend, "")
}

// StartWith is Start with extra pdns.conf lines (e.g. "secondary=yes").
func StartWith(t testing.TB, backend, extraConf string) *Server {
	t.Helper()
	bin, err := exec.LookPath("pdns_server")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/pdns_server"); serr == nil {
			bin = "/usr/sbin/pdns_server"
		} else {
			t.Fatalf("testpdns: pdns_server not found (%v): run `scripts/deps.sh pdns`", err)
		}
	}
	if backend != "gsqlite3" && backend != "lmdb" {
		t.Fatalf("testpdns: unknown backend %q (want gsqlite3 or lmdb)", backend)
	}
	if backend == "gsqlite3" {
		if _, err := exec.LookPath("sqlite3"); err != nil {
			t.Fatalf("testpdns: sqlite3 not found: run `scripts/deps.sh pdns`")
		}
		if _, err := os.Stat(SQLiteSchema); err != nil {
			t.Fatalf("testpdns: %v: run `scripts/deps.sh pdns`", err)
		}
	}
	s := &Server{Backend: backend, Dir: t.TempDir(), bin: bin, APIKey: randomHex(t, 16), extra: extraConf}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testpdns: tail of %s:\n%s", s.logPath(), s.LogTail(logTailLines))
		}
		s.stop(t)
	})
	if err := s.initDB(); err != nil {
		t.Fatalf("testpdns: %v", err)
	}
	// A free port found by binding and closing may be taken by someone else
	// before pdns_server binds it: retry with new ports.
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		if err := s.pickPorts(); err != nil {
			t.Fatalf("testpdns: picking ports: %v", err)
		}
		if err := s.writeConfig(); err != nil {
			t.Fatalf("testpdns: %v", err)
		}
		if lastErr = s.start(); lastErr == nil {
			return s
		}
		s.stop(t)
		if !errors.Is(lastErr, errExited) {
			break
		}
	}
	t.Fatalf("testpdns: starting pdns_server (%s): %v\n%s", backend, lastErr, s.LogTail(logTailLines))
	return nil
}

// Start starts the server again on the same ports and data after Stop.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	if s.running() {
		t.Fatalf("testpdns: Start: pdns_server already running")
	}
	if err := s.start(); err != nil {
		t.Fatalf("testpdns: restarting pdns_server: %v\n%s", err, s.LogTail(logTailLines))
	}
}

// Stop sends SIGTERM to the pdns_server this Server started, waits for it to
// exit and sends SIGKILL after 10 s. Stopping a stopped server is a no-op.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.stop(t)
}

// Wipe stops the server, deletes its database, initialises an empty one and
// starts the server again: all zones are lost, ports and API key are kept.
func (s *Server) Wipe(t testing.TB) {
	t.Helper()
	s.stop(t)
	if err := os.RemoveAll(filepath.Join(s.Dir, "db")); err != nil {
		t.Fatalf("testpdns: removing database: %v", err)
	}
	if err := s.initDB(); err != nil {
		t.Fatalf("testpdns: %v", err)
	}
	s.Start(t)
}

// Dig runs `dig @127.0.0.1 -p PORT +short +norec name typ` and returns the
// answer lines sorted.
func (s *Server) Dig(t testing.TB, name, typ string) []string {
	t.Helper()
	out := s.dig(t, "+short", name, typ)
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	slices.Sort(lines)
	return lines
}

// DigStatus runs dig and returns the response code from its header, such as
// "NOERROR", "NXDOMAIN" or "REFUSED".
func (s *Server) DigStatus(t testing.TB, name, typ string) string {
	t.Helper()
	out := s.dig(t, "+noall", "+comments", name, typ)
	for _, l := range strings.Split(out, "\n") {
		if i := strings.Index(l, "status: "); i >= 0 {
			st := l[i+len("status: "):]
			if j := strings.IndexByte(st, ','); j >= 0 {
				st = st[:j]
			}
			return strings.TrimSpace(st)
		}
	}
	t.Fatalf("testpdns: no status in dig output:\n%s", out)
	return ""
}

// AXFR returns the zone's full transfer as dig prints it (one SOA).
func (s *Server) AXFR(t testing.TB, zone string) string {
	t.Helper()
	return s.dig(t, "+onesoa", "+nocmd", "+nostats", "+nocomments", "+noquestion", zone, "AXFR")
}

func (s *Server) dig(t testing.TB, opts ...string) string {
	t.Helper()
	bin, err := exec.LookPath("dig")
	if err != nil {
		t.Fatalf("testpdns: dig not found: run `scripts/deps.sh pdns`")
	}
	host, port, _ := net.SplitHostPort(s.DNSAddr)
	args := append([]string{"@" + host, "-p", port, "+norec", "+time=2", "+tries=2"}, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("testpdns: dig %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// LogTail returns the last n lines of pdns_server's stderr.
func (s *Server) LogTail(n int) string {
	b, err := os.ReadFile(s.logPath())
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// PID returns the process id of the running pdns_server, or 0.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

func (s *Server) logPath() string { return filepath.Join(s.Dir, "pdns.log") }

func (s *Server) initDB() error {
	dbDir := filepath.Join(s.Dir, "db")
	if err := os.MkdirAll(dbDir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dbDir, err)
	}
	if s.Backend != "gsqlite3" {
		return nil // lmdb creates its files on start
	}
	schema, err := os.Open(SQLiteSchema)
	if err != nil {
		return fmt.Errorf("opening schema: %w", err)
	}
	defer schema.Close()
	cmd := exec.Command("sqlite3", filepath.Join(dbDir, "pdns.sqlite3"))
	cmd.Stdin = schema
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initialising sqlite database: %w: %s", err, out)
	}
	return nil
}

// pickPorts reserves the DNS and API ports; they survive a restart of
// the server (see internal/testport).
func (s *Server) pickPorts() error {
	dnsPort, err := testport.TCPUDP()
	if err != nil {
		return err
	}
	apiPort, err := testport.TCP()
	if err != nil {
		return err
	}
	s.dnsPort, s.apiPort = dnsPort, apiPort
	s.DNSAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(dnsPort))
	s.APIURL = "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(apiPort))
	return nil
}

func (s *Server) writeConfig() error {
	db := filepath.Join(s.Dir, "db")
	var backend string
	switch s.Backend {
	case "gsqlite3":
		backend = "launch=gsqlite3\ngsqlite3-database=" + filepath.Join(db, "pdns.sqlite3") + "\n"
	case "lmdb":
		backend = "launch=lmdb\nlmdb-filename=" + filepath.Join(db, "pdns.lmdb") + "\n"
	}
	conf := backend + fmt.Sprintf(`local-address=127.0.0.1
local-port=%d
socket-dir=%s
api=yes
api-key=%s
webserver=yes
webserver-address=127.0.0.1
webserver-port=%d
webserver-allow-from=127.0.0.0/8
security-poll-suffix=
guardian=no
daemon=no
disable-syslog=yes
write-pid=no
`, s.dnsPort, s.Dir, s.APIKey, s.apiPort) + s.extra + "\n"
	p := filepath.Join(s.Dir, "pdns.conf")
	if err := os.WriteFile(p, []byte(conf), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	return nil
}

var errExited = errors.New("pdns_server exited")

// start launches pdns_server and waits until the API and DNS answer.
func (s *Server) start() error {
	logf, err := os.OpenFile(s.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("opening log: %w", err)
	}
	fmt.Fprintf(logf, "=== testpdns: starting pdns_server at %s\n", time.Now().Format(time.RFC3339Nano))
	// The config file holds the API key; nothing secret goes on the command line.
	cmd := exec.Command(s.bin, "--config-dir="+s.Dir, "--guardian=no", "--daemon=no",
		"--disable-syslog", "--write-pid=no")
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	return s.waitReady(done)
}

func (s *Server) waitReady(done <-chan struct{}) error {
	deadline := time.Now().Add(readyTimeout)
	hc := &http.Client{Timeout: 2 * time.Second}
	apiOK, dnsOK := false, false
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("%w before becoming ready", errExited)
		default:
		}
		if !apiOK {
			lastErr = s.pingAPI(hc)
			apiOK = lastErr == nil
		}
		if apiOK && !dnsOK {
			lastErr = s.pingDNS()
			dnsOK = lastErr == nil
		}
		if apiOK && dnsOK {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %s: %v", readyTimeout, lastErr)
}

func (s *Server) pingAPI(hc *http.Client) error {
	req, err := http.NewRequest(http.MethodGet, s.APIURL+"/api/v1/servers/localhost", nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-API-Key", s.APIKey)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("API answered %s", resp.Status)
	}
	return nil
}

// pingDNS sends one UDP query; any answer (REFUSED included) means DNS is up.
func (s *Server) pingDNS() error {
	m := new(dns.Msg)
	m.SetQuestion("testpdns.invalid.", dns.TypeSOA)
	m.RecursionDesired = false
	c := &dns.Client{Net: "udp", Timeout: 500 * time.Millisecond}
	_, _, err := c.Exchange(m, s.DNSAddr)
	return err
}

func (s *Server) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

func (s *Server) stop(t testing.TB) {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd, s.done = nil, nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(stopTimeout):
		t.Logf("testpdns: pdns_server pid %d ignored SIGTERM for %s: SIGKILL", cmd.Process.Pid, stopTimeout)
		_ = cmd.Process.Kill()
		<-done
	}
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("testpdns: random: %v", err)
	}
	return hex.EncodeToString(b)
}

// VerifyDNSSEC transfers zone and checks the transfer with BIND's
// dnssec-verify; it returns the transfer, and dnssec-verify's complaint
// when it refuses it.
func (s *Server) VerifyDNSSEC(t testing.TB, zone string) (string, error) {
	t.Helper()
	axfr := s.AXFR(t, zone)
	file := filepath.Join(t.TempDir(), "axfr.db")
	if err := os.WriteFile(file, []byte(axfr), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("dnssec-verify", "-o", zone, file).CombinedOutput(); err != nil {
		return axfr, fmt.Errorf("dnssec-verify refused the transfer of %s: %w\n%s", zone, err, out)
	}
	return axfr, nil
}
