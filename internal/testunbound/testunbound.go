// Package testunbound runs Debian's real unbound as a validating resolver
// on loopback for integration tests of DNSSEC-signed zones: one stub zone
// pointing at an authoritative server (a testpdns pdns_server), static
// trust anchors, nothing cached between queries. It also runs BIND's delv
// against the authoritative server directly, a second validator no one
// here wrote. Nothing is mocked; unbound is stopped by the PID this
// package started.
package testunbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecast/zonecast/internal/testport"
)

const (
	readyTimeout = 20 * time.Second
	stopTimeout  = 10 * time.Second
	queryTimeout = 5 * time.Second
	logTailLines = 60
)

// Config is what the resolver serves.
type Config struct {
	Zone string // the signed zone, resolved through Stub
	Stub string // 127.0.0.1:PORT of the authoritative server for Zone
	// Also are more authoritative servers for Zone: unbound picks among
	// them all, and asks another when one answers bogus, as a resolver
	// does with a zone's nameservers.
	Also    []string
	Anchors []string // DS or DNSKEY records in presentation form: static trust anchors
}

// Resolver is one running unbound owned by a test.
type Resolver struct {
	Dir string // config dir: unbound.conf, unbound.log

	addr string
	port int
	bin  string
	cfg  Config

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has been waited for
}

// Answer is what the resolver answered to one query.
type Answer struct {
	Rcode     int  // dns.RcodeSuccess, dns.RcodeNameError, dns.RcodeServerFailure...
	AD        bool // authenticated data: unbound validated the answer
	Answer    []dns.RR
	Authority []dns.RR
}

// Status is the rcode's name: "NOERROR", "NXDOMAIN", "SERVFAIL"...
func (a Answer) Status() string { return dns.RcodeToString[a.Rcode] }

// Start writes a config into t.TempDir(), starts unbound on a free
// loopback port and waits until it answers. It is stopped when the test
// ends.
func Start(t testing.TB, cfg Config) *Resolver {
	t.Helper()
	bin, err := exec.LookPath("unbound")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/unbound"); serr == nil {
			bin = "/usr/sbin/unbound"
		} else {
			t.Fatalf("testunbound: unbound not found (%v): run `scripts/deps.sh dnssec`", err)
		}
	}
	if _, err := conf(cfg, 53, "."); err != nil {
		t.Fatalf("testunbound: %v", err)
	}
	r := &Resolver{Dir: t.TempDir(), bin: bin, cfg: cfg}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testunbound: tail of %s:\n%s", r.logPath(), r.LogTail(logTailLines))
		}
		r.stop(t)
	})
	// A port reserved by testport may still be bound by a stranger's
	// outgoing socket: retry with a new one if unbound exits at once.
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := testport.TCPUDP()
		if err != nil {
			t.Fatalf("testunbound: picking a port: %v", err)
		}
		r.port, r.addr = port, net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		text, err := conf(cfg, port, r.Dir)
		if err != nil {
			t.Fatalf("testunbound: %v", err)
		}
		p := filepath.Join(r.Dir, "unbound.conf")
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatalf("testunbound: writing %s: %v", p, err)
		}
		if lastErr = r.start(); lastErr == nil {
			return r
		}
		r.stop(t)
		if !errors.Is(lastErr, errExited) || !strings.Contains(r.LogTail(5), "already in use") {
			break
		}
	}
	t.Fatalf("testunbound: starting unbound: %v", lastErr) // the log follows from Cleanup
	return nil
}

// Addr is the resolver's 127.0.0.1:PORT, UDP and TCP.
func (r *Resolver) Addr() string { return r.addr }

// PID returns the process id of the running unbound, or 0.
func (r *Resolver) PID() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil || r.cmd.Process == nil {
		return 0
	}
	return r.cmd.Process.Pid
}

// Query asks the resolver for name and qtype ("A", "NSEC"...) with the RD,
// DO and AD bits set, over UDP and again over TCP if truncated.
func (r *Resolver) Query(t testing.TB, name, qtype string) Answer {
	t.Helper()
	a, err := query(r.addr, name, qtype)
	if err != nil {
		t.Fatalf("testunbound: %v", err)
	}
	return a
}

// TryQuery is Query returning its error instead of failing the test:
// for a goroutine other than the test's.
func (r *Resolver) TryQuery(name, qtype string) (Answer, error) { return query(r.addr, name, qtype) }

func query(addr, name, qtype string) (Answer, error) {
	typ, ok := dns.StringToType[strings.ToUpper(qtype)]
	if !ok {
		return Answer{}, fmt.Errorf("querying %s %s: unknown type", name, qtype)
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), typ)
	m.RecursionDesired = true
	m.AuthenticatedData = true
	m.SetEdns0(4096, true)
	c := &dns.Client{Net: "udp", Timeout: queryTimeout}
	resp, _, err := c.Exchange(m, addr)
	if err == nil && resp.Truncated {
		c.Net = "tcp"
		resp, _, err = c.Exchange(m, addr)
	}
	if err != nil {
		return Answer{}, fmt.Errorf("querying %s %s at %s: %w", name, qtype, addr, err)
	}
	return Answer{Rcode: resp.Rcode, AD: resp.AuthenticatedData, Answer: resp.Answer, Authority: resp.Ns}, nil
}

// LogTail returns the last n lines of unbound's log.
func (r *Resolver) LogTail(n int) string {
	b, err := os.ReadFile(r.logPath())
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (r *Resolver) logPath() string { return filepath.Join(r.Dir, "unbound.log") }

// conf renders unbound.conf. Queries always reach the stub: stub-no-cache
// keeps the zone's data out of the message and RRset caches, and
// cache-max-ttl 0 expires anything else (the DNSKEY in the key cache among
// it) at once; val-bogus-ttl 0 keeps a validation failure from being
// served again once the zone is fixed.
func conf(cfg Config, port int, dir string) (string, error) {
	zone := dns.Fqdn(strings.ToLower(cfg.Zone))
	if _, ok := dns.IsDomainName(zone); !ok || cfg.Zone == "" {
		return "", fmt.Errorf("zone %q is not a domain name", cfg.Zone)
	}
	var stubs strings.Builder
	for _, st := range append([]string{cfg.Stub}, cfg.Also...) {
		host, sport, err := net.SplitHostPort(st)
		if err != nil || net.ParseIP(host) == nil {
			return "", fmt.Errorf("stub %q is not IP:PORT", st)
		}
		fmt.Fprintf(&stubs, "    stub-addr: %s@%s\n", host, sport)
	}
	if len(cfg.Anchors) == 0 {
		return "", errors.New("no trust anchors: the zone would be insecure")
	}
	var anchors strings.Builder
	for _, a := range cfg.Anchors {
		rr, err := anchorRR(a)
		if err != nil {
			return "", err
		}
		// unbound reads the anchor as one line of words: no tabs.
		fmt.Fprintf(&anchors, "    trust-anchor: %q\n", strings.Join(strings.Fields(rr.String()), " "))
	}
	// Unbound's own outgoing sockets stay in the kernel's ephemeral range,
	// off the ports testport hands out below it.
	return fmt.Sprintf(`server:
    interface: 127.0.0.1
    port: %d
    do-ip6: no
    access-control: 127.0.0.0/8 allow
    outgoing-port-avoid: 0-%d
    num-threads: 1
    do-daemonize: no
    chroot: ""
    username: ""
    directory: %q
    pidfile: ""
    use-syslog: no
    logfile: ""
    verbosity: 1
    log-servfail: yes
    val-log-level: 2
    do-not-query-localhost: no
    module-config: "validator iterator"
    harden-dnssec-stripped: yes
    qname-minimisation: no
    aggressive-nsec: no
    prefetch: no
    serve-expired: no
    cache-max-ttl: 0
    cache-max-negative-ttl: 0
    val-bogus-ttl: 0
    local-zone: %q transparent
%s
remote-control:
    control-enable: no

stub-zone:
    name: %q
%s    stub-no-cache: yes
`, port, testport.EphemeralLow()-1, dir, zone, anchors.String(), zone, stubs.String()), nil
}

// anchorRR parses a DS or DNSKEY record in presentation form.
func anchorRR(s string) (dns.RR, error) {
	rr, err := dns.NewRR(s)
	if err != nil {
		return nil, fmt.Errorf("trust anchor %q: %w", s, err)
	}
	switch rr.(type) {
	case *dns.DS, *dns.DNSKEY:
		return rr, nil
	case nil:
		return nil, fmt.Errorf("trust anchor %q: empty", s)
	}
	return nil, fmt.Errorf("trust anchor %q: not a DS or DNSKEY record", s)
}

var errExited = errors.New("unbound exited")

func (r *Resolver) start() error {
	logf, err := os.OpenFile(r.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("opening log: %w", err)
	}
	fmt.Fprintf(logf, "=== testunbound: starting unbound at %s\n", time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(r.bin, "-d", "-c", filepath.Join(r.Dir, "unbound.conf"))
	cmd.Dir = r.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting %s: %w", r.bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	r.mu.Lock()
	r.cmd, r.done = cmd, done
	r.mu.Unlock()
	return r.waitReady(done)
}

// waitReady asks for localhost., which unbound answers from its own
// default local zone without asking the stub.
func (r *Resolver) waitReady(done <-chan struct{}) error {
	deadline := time.Now().Add(readyTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("%w before becoming ready", errExited)
		default:
		}
		m := new(dns.Msg)
		m.SetQuestion("localhost.", dns.TypeA)
		c := &dns.Client{Net: "udp", Timeout: 500 * time.Millisecond}
		if _, _, lastErr = c.Exchange(m, r.addr); lastErr == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %s: %v", readyTimeout, lastErr)
}

func (r *Resolver) stop(t testing.TB) {
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.cmd, r.done = nil, nil
	r.mu.Unlock()
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
		t.Logf("testunbound: unbound pid %d ignored SIGTERM for %s: SIGKILL", cmd.Process.Pid, stopTimeout)
		_ = cmd.Process.Kill()
		<-done
	}
}

// Delv runs BIND's delv against the authoritative server at addr
// (127.0.0.1:PORT) with anchors as the only trust anchors, at zone, and
// says whether it printed "; fully validated". Its output comes back for
// messages.
func Delv(t testing.TB, addr, zone string, anchors []string, name, qtype string) (bool, string) {
	t.Helper()
	bin, err := exec.LookPath("delv")
	if err != nil {
		t.Fatalf("testunbound: delv not found (%v): run `scripts/deps.sh dnssec`", err)
	}
	text, err := delvAnchors(zone, anchors)
	if err != nil {
		t.Fatalf("testunbound: %v", err)
	}
	file := filepath.Join(t.TempDir(), "anchors.conf")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatalf("testunbound: writing %s: %v", file, err)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("testunbound: delv server %q: %v", addr, err)
	}
	args := []string{"@" + host, "-p", port, "-a", file, "+root=" + dns.Fqdn(zone), name, qtype}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("testunbound: delv %s: %v\n%s", strings.Join(args, " "), ctx.Err(), out)
	}
	// delv exits non-zero on a validation failure: that is an answer, not
	// an error of the helper.
	_ = err
	return strings.Contains(string(out), "; fully validated"), string(out)
}

// delvAnchors renders anchors in BIND's trust-anchors syntax.
func delvAnchors(zone string, anchors []string) (string, error) {
	var b strings.Builder
	b.WriteString("trust-anchors {\n")
	for _, a := range anchors {
		rr, err := anchorRR(a)
		if err != nil {
			return "", err
		}
		switch k := rr.(type) {
		case *dns.DS:
			fmt.Fprintf(&b, "  %q static-ds %d %d %d %q;\n", k.Hdr.Name, k.KeyTag, k.Algorithm, k.DigestType, k.Digest)
		case *dns.DNSKEY:
			fmt.Fprintf(&b, "  %q static-key %d %d %d %q;\n", k.Hdr.Name, k.Flags, k.Protocol, k.Algorithm, k.PublicKey)
		}
	}
	if len(anchors) == 0 {
		return "", fmt.Errorf("no trust anchors for %s", zone)
	}
	b.WriteString("};\n")
	return b.String(), nil
}
