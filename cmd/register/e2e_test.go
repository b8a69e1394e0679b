package main

// zonecast-register end to end: the client runs in a network namespace
// of its own and follows the kernel's addresses there; a real
// zonecast-gateway with a --claim-zone listens on the host's end of the
// namespace's veth; two zonecast-syncers write to two PowerDNS (gsqlite3,
// lmdb), checked with dig.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecast/zonecast/internal/testenv"
	"github.com/zonecast/zonecast/internal/testpdns"
)

const claimZone = "claim.example.test."

// Leases of the second gateway, short enough to watch them end.
const (
	shortLease    = 3 * time.Second
	shortKeyLease = 6 * time.Second
)

// nsIf is the interface of the namespace's end of the veth to the host
// (testenv.PrivateLink names it so).
const nsIf = "host"

type regEnv struct {
	pdns  []*testpdns.Server
	sync  *testenv.Syncer
	link  *testenv.Link
	gw    string // HostIP:port of the gateway with the default leases
	short string // HostIP:port of the gateway with 3 s and 6 s leases
	dead  string // HostIP:port where nothing listens
	bin   string
	ip    string
}

// newRegEnv starts NATS, two syncers (gsqlite3, lmdb), a namespace with
// a veth to the host, and two gateways with the claim zone listening on
// the host's end, accepting claims from the namespace's address only: one
// with the default leases (2 h, 168 h), one with 3 s and 6 s.
func newRegEnv(t testing.TB) *regEnv {
	t.Helper()
	return newRegEnvConf(t, "")
}

// newRegEnvConf is newRegEnv with pdnsConf, lines of pdns.conf, added to
// both PowerDNS's.
func newRegEnvConf(t testing.TB, pdnsConf string) *regEnv {
	t.Helper()
	testenv.RequireRoot(t, "runs the client in a network namespace")
	e := &regEnv{link: testenv.PrivateLink(t), bin: testenv.Binary(t, "register"), ip: testenv.Tool(t, "ip", "iproute2")}
	nats := testenv.StartNATS(t)
	for _, backend := range []string{"gsqlite3", "lmdb"} {
		p := testpdns.StartWith(t, backend, pdnsConf)
		s := testenv.StartSyncer(t, testenv.SyncerOptions{Zones: []string{claimZone}, PDNS: p, NATS: nats})
		e.pdns = append(e.pdns, p)
		if e.sync == nil {
			e.sync = s
		}
	}
	hostAddr := func() string {
		return net.JoinHostPort(e.link.HostIP.String(), strconv.Itoa(testenv.FreeUDPPort(t)))
	}
	e.gw, e.short, e.dead = hostAddr(), hostAddr(), hostAddr()
	claims := []string{"--claim-zone", claimZone, "--claim-from", netip.PrefixFrom(e.link.PeerIP, 32).String()}
	// --dns-listen after StartGateway's own loopback one: the last wins.
	testenv.StartGateway(t, testenv.GatewayOptions{Syncer: e.sync, Extra: append(slices.Clone(claims), "--dns-listen", e.gw)})
	testenv.StartGateway(t, testenv.GatewayOptions{Syncer: e.sync, Extra: append(slices.Clone(claims), "--dns-listen", e.short,
		"--claim-lease", shortLease.String(), "--claim-key-lease", shortKeyLease.String())})
	return e
}

// ipNS runs ip -n NS args.
func (e *regEnv) ipNS(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command(e.ip, append([]string{"-n", e.link.ServerNS}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip -n %s %s: %v\n%s", e.link.ServerNS, strings.Join(args, " "), err, out)
	}
}

// nsAddrs returns the namespace interface's IPv6 addresses as ip -j
// shows them: address -> flags set (temporary, tentative, deprecated...).
func (e *regEnv) nsAddrs(t testing.TB) map[string]map[string]bool {
	t.Helper()
	out, err := exec.Command(e.ip, "-n", e.link.ServerNS, "-6", "-j", "addr", "show", "dev", nsIf).Output()
	if err != nil {
		t.Fatalf("ip addr show: %v", err)
	}
	var links []struct {
		AddrInfo []map[string]any `json:"addr_info"`
	}
	if err := json.Unmarshal(out, &links); err != nil {
		t.Fatalf("ip -j addr show: %v\n%s", err, out)
	}
	got := map[string]map[string]bool{}
	for _, l := range links {
		for _, a := range l.AddrInfo {
			flags := map[string]bool{}
			for k, v := range a {
				if b, ok := v.(bool); ok && b {
					flags[k] = true
				}
			}
			got[fmt.Sprint(a["local"])] = flags
		}
	}
	return got
}

func (e *regEnv) waitDig(t testing.TB, name, typ string, want ...string) {
	t.Helper()
	slices.Sort(want)
	for i, p := range e.pdns {
		var got []string
		testenv.Eventually(t, 10*time.Second, fmt.Sprintf("pdns %d (%s): dig %s %s = %v (last %v)", i, p.Backend, name, typ, want, &got), func() bool {
			got = p.Dig(t, name, typ)
			return slices.Equal(got, want)
		})
	}
}

func (e *regEnv) digNow(t testing.TB, name, typ string, want ...string) {
	t.Helper()
	slices.Sort(want)
	for i, p := range e.pdns {
		if got := p.Dig(t, name, typ); !slices.Equal(got, want) {
			t.Errorf("pdns %d (%s): dig %s %s = %v, want %v", i, p.Backend, name, typ, got, want)
		}
	}
}

func (e *regEnv) waitNXDOMAIN(t testing.TB, name string, timeout time.Duration) {
	t.Helper()
	for i, p := range e.pdns {
		var got string
		testenv.Eventually(t, timeout, fmt.Sprintf("pdns %d (%s): %s NXDOMAIN (last %v)", i, p.Backend, name, &got), func() bool {
			got = p.DigStatus(t, name, "A")
			return got == "NXDOMAIN"
		})
	}
}

// until returns how long after start both PowerDNS answered name typ
// with (present) or without addr, asked in-process (every 10 ms,
// testenv.Eventually) so that the figure is not dig's start-up.
func (e *regEnv) until(t testing.TB, start time.Time, name string, typ uint16, addr string, present bool) time.Duration {
	t.Helper()
	c := &dns.Client{Timeout: time.Second}
	for _, p := range e.pdns {
		testenv.Eventually(t, 10*time.Second, fmt.Sprintf("%s %s %s present %v on %s", name, dns.TypeToString[typ], addr, present, p.Backend), func() bool {
			q := new(dns.Msg)
			q.SetQuestion(name, typ)
			r, _, err := c.Exchange(q, p.DNSAddr)
			if err != nil {
				return false
			}
			found := false
			for _, rr := range r.Answer {
				found = found || strings.HasSuffix(rr.String(), "\t"+addr)
			}
			return found == present
		})
	}
	return time.Since(start)
}

func (e *regEnv) lastSeq(t testing.TB) uint64 {
	t.Helper()
	seq, err := e.sync.StreamLastSeq(t)
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

// client is one zonecast-register process in the namespace.
type client struct {
	label    string
	logPath  string
	httpAddr string // PeerIP:port, reached from the host over the veth
	cmd      *exec.Cmd
	done     chan struct{}
	state    *os.ProcessState
}

// start runs zonecast-register in the namespace with the key in stateDir,
// on the veth's interface only, with args.
func (e *regEnv) start(t testing.TB, label, stateDir string, args ...string) *client {
	t.Helper()
	c := &client{label: label, logPath: filepath.Join(t.TempDir(), label+".log"), done: make(chan struct{}),
		httpAddr: net.JoinHostPort(e.link.PeerIP.String(), strconv.Itoa(testenv.FreePort(t)))}
	bin, all := e.link.InServerNS(e.bin, append([]string{"--zone", claimZone, "--state-dir", stateDir, "--interface", nsIf,
		"--timeout", "500ms", "--log-level", "debug", "--http-listen", c.httpAddr}, args...)...)
	logf, err := os.Create(c.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	c.cmd = exec.Command(bin, all...)
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", label, err)
	}
	go func() { _ = c.cmd.Wait(); c.state = c.cmd.ProcessState; close(c.done) }()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			_ = c.cmd.Process.Kill() // by its own PID: ip netns exec execs the client
			<-c.done
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", label, c.tail(60))
		}
	})
	return c
}

// stop sends sig and returns the exit code.
func (c *client) stop(t testing.TB, sig syscall.Signal) int {
	t.Helper()
	if err := c.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signalling %s: %v", c.label, err)
	}
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not exit on %v:\n%s", c.label, sig, c.tail(30))
	}
	return c.state.ExitCode()
}

func (c *client) log() string {
	b, _ := os.ReadFile(c.logPath)
	return string(b)
}

func (c *client) tail(n int) string {
	lines := strings.Split(strings.TrimRight(c.log(), "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}

// metric reads one sample of the client's /metrics (0 when missing).
func (c *client) metric(sample string) (float64, error) {
	hc := &http.Client{Timeout: 2 * time.Second}
	resp, err := hc.Get("http://" + c.httpAddr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, sc.Err()
}

// waitMetric waits until sample is at least min.
func (c *client) waitMetric(t testing.TB, timeout time.Duration, sample string, min float64) {
	t.Helper()
	var got float64
	testenv.Eventually(t, timeout, fmt.Sprintf("%s: %s >= %v (last %v)", c.label, sample, min, &got), func() bool {
		v, err := c.metric(sample)
		got = v
		return err == nil && v >= min
	})
}

// nsupdate runs BIND's nsupdate -k with the client's key file in the
// namespace, against gw.
func (e *regEnv) nsupdate(t testing.TB, keyFile, gw, script string) (string, error) {
	t.Helper()
	bin := testenv.Tool(t, "nsupdate", "bind9-dnsutils")
	host, port, _ := net.SplitHostPort(gw)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ip, args := e.link.InServerNS(bin, "-t", "5", "-k", keyFile)
	cmd := exec.CommandContext(ctx, ip, args...)
	cmd.Stdin = strings.NewReader(fmt.Sprintf("server %s %s\nzone %s\n%s\nsend\n", host, port, claimZone, script))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestRegister: the client claims its name and follows the namespace's
// addresses (added, deleted, temporary and deprecated left out), keeps the
// claim over a restart while a second key is refused, withdraws on a clean
// stop, and after a SIGKILL leaves records that expire with their lease.
func TestRegister(t *testing.T) {
	e := newRegEnv(t)
	name := "host1." + claimZone
	peer := e.link.PeerIP.String()
	state1 := t.TempDir()

	// One gateway up, one where nothing listens: the first is not held
	// up by the second.
	c1 := e.start(t, "client1", state1, "--name", "host1", "--gateway", e.gw, "--gateway", e.dead, "--keep")
	if !t.Run("claim", func(t *testing.T) {
		// Only the veth's address: the bridge's of the namespace is on
		// another interface (--interface).
		e.waitDig(t, name, "A", peer)
		e.waitDig(t, name, "AAAA")
		c1.waitMetric(t, 10*time.Second, fmt.Sprintf(`zonecast_register_updates_failed_total{gateway="%s",reason="error"}`, e.dead), 1)
		c1.waitMetric(t, 10*time.Second, "zonecast_register_addresses", 1)
		for _, path := range []string{"/healthz", "/readyz"} {
			resp, err := http.Get("http://" + c1.httpAddr + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("%s: %s, want 200 once a gateway stored the name", path, resp.Status)
			}
		}
	}) {
		return
	}

	// 1. An address added reaches dig.
	if !t.Run("address added", func(t *testing.T) {
		start := time.Now()
		e.ipNS(t, "addr", "add", "2001:db8:77::10/64", "dev", nsIf, "nodad")
		d := e.until(t, start, name, dns.TypeAAAA, "2001:db8:77::10", true)
		t.Logf("ip addr add -> AAAA answered by both PowerDNS: %v", d)
		e.waitDig(t, name, "AAAA", "2001:db8:77::10")
		e.digNow(t, name, "A", peer)
		c1.waitMetric(t, 5*time.Second, fmt.Sprintf(`zonecast_register_updates_acknowledged_total{gateway="%s"}`, e.gw), 2)
		c1.waitMetric(t, 5*time.Second, "zonecast_register_addresses", 2)
	}) {
		return
	}

	// 2. Deleted, it goes.
	if !t.Run("address deleted", func(t *testing.T) {
		start := time.Now()
		e.ipNS(t, "addr", "del", "2001:db8:77::10/64", "dev", nsIf)
		d := e.until(t, start, name, dns.TypeAAAA, "2001:db8:77::10", false)
		t.Logf("ip addr del -> AAAA gone from both PowerDNS: %v", d)
		e.waitDig(t, name, "AAAA")
	}) {
		return
	}

	// 3. A temporary (privacy) address and a deprecated one are left out.
	// iproute2 cannot set IFA_F_TEMPORARY; the kernel makes a temporary
	// address beside one added with mngtmpaddr when use_tempaddr is 2.
	var temporary string
	if !t.Run("temporary and deprecated left out", func(t *testing.T) {
		sysctl := testenv.Tool(t, "sysctl", "procps")
		ip, args := e.link.InServerNS(sysctl, "-q", "-w", "net.ipv6.conf."+nsIf+".use_tempaddr=2", "net.ipv6.conf."+nsIf+".accept_dad=0")
		if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
			t.Fatalf("sysctl: %v\n%s", err, out)
		}
		e.ipNS(t, "addr", "add", "2001:db8:77::20/64", "dev", nsIf, "mngtmpaddr", "nodad")
		e.ipNS(t, "addr", "add", "2001:db8:77::40/64", "dev", nsIf, "nodad", "preferred_lft", "0")
		testenv.Eventually(t, 10*time.Second, "a usable temporary address in the namespace", func() bool {
			for a, flags := range e.nsAddrs(t) {
				if flags["temporary"] && !flags["tentative"] && !flags["deprecated"] {
					temporary = a
					return true
				}
			}
			return false
		})
		if !e.nsAddrs(t)["2001:db8:77::40"]["deprecated"] {
			t.Fatal("2001:db8:77::40 added with preferred_lft 0 is not deprecated")
		}
		// Every update carries every address: once one with ::30 is
		// served, the temporary and the deprecated address, there before
		// it, would be served with it.
		e.ipNS(t, "addr", "add", "2001:db8:77::30/64", "dev", nsIf, "nodad")
		e.waitDig(t, name, "AAAA", "2001:db8:77::20", "2001:db8:77::30")
	}) {
		return
	}

	// 4. A restart keeps the claim; BIND's nsupdate reads the client's key
	// files; a second key is answered YXDOMAIN and publishes nothing.
	if !t.Run("restart keeps the claim", func(t *testing.T) {
		if code := c1.stop(t, syscall.SIGTERM); code != 0 {
			t.Fatalf("exit code %d on SIGTERM:\n%s", code, c1.tail(20))
		}
		if !strings.Contains(c1.log(), "records kept until their lease ends") {
			t.Error("no line saying the records are kept (--keep)")
		}
		e.digNow(t, name, "A", peer)
		e.digNow(t, name, "AAAA", "2001:db8:77::20", "2001:db8:77::30")

		keys, _ := filepath.Glob(filepath.Join(state1, "Khost1."+claimZone+"+013+*.private"))
		if len(keys) != 1 {
			t.Fatalf("key files in the state dir: %v", keys)
		}
		secret, err := os.ReadFile(keys[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(secret), "\n") {
			if v, ok := strings.CutPrefix(line, "PrivateKey: "); ok && strings.Contains(c1.log(), strings.TrimSpace(v)) {
				t.Error("the private key is in the log")
			}
		}
		if out, err := e.nsupdate(t, keys[0], e.gw, "update add "+name+" 60 IN A 192.0.2.99"); err != nil {
			t.Fatalf("nsupdate -k with the client's key: %v\n%s", err, out)
		}
		e.waitDig(t, name, "A", "192.0.2.99", peer)

		c1b := e.start(t, "client1-again", state1, "--name", "host1", "--gateway", e.gw, "--temporary")
		// The whole state replaces nsupdate's A, and now the temporary
		// address is in it (--temporary).
		e.waitDig(t, name, "A", peer)
		e.waitDig(t, name, "AAAA", "2001:db8:77::20", "2001:db8:77::30", temporary)
		c1b.waitMetric(t, 5*time.Second, fmt.Sprintf(`zonecast_register_updates_acknowledged_total{gateway="%s"}`, e.gw), 1)
		log := c1b.log()
		if !strings.Contains(log, `"key loaded"`) || strings.Contains(log, `"key made"`) || strings.Contains(log, "YXDOMAIN") ||
			strings.Contains(log, "update refused") {
			t.Errorf("the second run did not load the key, or was refused:\n%s", c1b.tail(30))
		}

		before := e.lastSeq(t)
		c2 := e.start(t, "client2", t.TempDir(), "--name", "host1", "--gateway", e.gw)
		c2.waitMetric(t, 10*time.Second, fmt.Sprintf(`zonecast_register_updates_failed_total{gateway="%s",reason="YXDOMAIN"}`, e.gw), 1)
		if after := e.lastSeq(t); after != before {
			t.Errorf("a second key's claim published: stream %d -> %d", before, after)
		}
		if !strings.Contains(c2.log(), "another key holds the name") {
			t.Errorf("the second key's refusal is not logged as such:\n%s", c2.tail(20))
		}
		e.digNow(t, name, "A", peer)
		if code := c2.stop(t, syscall.SIGTERM); code != 0 {
			t.Errorf("client2 exit code %d", code)
		}
		if after := e.lastSeq(t); after != before {
			t.Errorf("the second key's stop published: stream %d -> %d", before, after)
		}

		// A clean stop without --keep withdraws the records.
		if code := c1b.stop(t, syscall.SIGTERM); code != 0 {
			t.Fatalf("exit code %d on SIGTERM:\n%s", code, c1b.tail(20))
		}
		if !strings.Contains(c1b.log(), `"records withdrawn"`) {
			t.Errorf("no withdrawal logged:\n%s", c1b.tail(20))
		}
		e.waitNXDOMAIN(t, name, 10*time.Second)
	}) {
		return
	}

	// 5. Killed, the client leaves its records; refreshed every half lease
	// they outlived a lease; now they expire with it. Over TCP (--tcp).
	t.Run("killed: records expire", func(t *testing.T) {
		name := "host5." + claimZone
		c := e.start(t, "client5", t.TempDir(), "--name", "host5", "--gateway", e.short, "--lease", "3s", "--key-lease", "6s", "--tcp")
		e.waitDig(t, name, "A", peer)
		first := time.Now()
		c.waitMetric(t, 10*time.Second, fmt.Sprintf(`zonecast_register_updates_acknowledged_total{gateway="%s"}`, e.short), 3)
		testenv.Eventually(t, 5*time.Second, "a lease past the claim", func() bool { return time.Since(first) > shortLease })
		e.digNow(t, name, "A", peer)
		if !strings.Contains(c.log(), `"lease":3000`) || !strings.Contains(c.log(), `"key_lease":6000`) {
			t.Errorf("the leases granted are not logged:\n%s", c.tail(10))
		}
		c.stop(t, syscall.SIGKILL)
		killed := time.Now()
		e.digNow(t, name, "A", peer)
		e.waitNXDOMAIN(t, name, 3*shortLease)
		t.Logf("SIGKILL -> records gone from both PowerDNS: %v (lease %v)", time.Since(killed), shortLease)
	})
}
