package main

// End-to-end tests with clients no one here wrote: nsupdate (BIND) signs
// with TSIG and sends RFC 2136 UPDATEs to the real zonecast-gateway binary,
// which publishes to NATS; two real zonecast-syncers write to two real
// PowerDNS servers, checked with dig. curl speaks dyndns2.

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecast/zonecast/internal/testenv"
	"github.com/zonecast/zonecast/internal/testpdns"
)

const (
	zone  = "dyn.example.test."
	zone2 = "other.example.test."
)

type env struct {
	pdns []*testpdns.Server
	sync *testenv.Syncer
	gw   *testenv.Gateway
}

func newEnv(t *testing.T) *env {
	t.Helper()
	nats := testenv.StartNATS(t)
	e := &env{}
	var first *testenv.Syncer
	for _, backend := range []string{"gsqlite3", "lmdb"} {
		p := testpdns.Start(t, backend)
		s := testenv.StartSyncer(t, testenv.SyncerOptions{Zones: []string{zone, zone2}, PDNS: p, NATS: nats})
		e.pdns = append(e.pdns, p)
		if first == nil {
			first = s
		}
	}
	e.sync = first
	e.gw = testenv.StartGateway(t, testenv.GatewayOptions{Syncer: first, Zones: []string{zone, zone2}, Dyndns: true})
	return e
}

// waitDig waits until every PowerDNS answers name/typ with exactly want.
func (e *env) waitDig(t *testing.T, name, typ string, want ...string) {
	t.Helper()
	slices.Sort(want)
	for i, p := range e.pdns {
		var got []string
		testenv.Eventually(t, 10*time.Second, fmt.Sprintf("pdns %d: dig %s %s = %v (last %v)", i, name, typ, want, &got), func() bool {
			got = p.Dig(t, name, typ)
			return slices.Equal(got, want)
		})
	}
}

func (e *env) lastSeq(t *testing.T) uint64 {
	t.Helper()
	seq, err := e.sync.StreamLastSeq(t)
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

// addKey creates a TSIG key and returns "alg:name:secret".
func (e *env) addKey(t *testing.T, args ...string) string {
	t.Helper()
	out := strings.TrimSpace(e.gw.Admin(t, append([]string{"key", "add"}, args...)...))
	if strings.Count(out, ":") != 2 {
		t.Fatalf("key add printed %q, want alg:name:secret", out)
	}
	return out
}

// nsupdate runs BIND's nsupdate with script on stdin; the key is given with
// the script's "key" statement, so the secret never is on a command line.
func (e *env) nsupdate(t *testing.T, key, script string) (string, error) {
	t.Helper()
	return nsupdateAt(t, e.gw.DNSAddr, key, script)
}

// nsupdateAt is nsupdate against the gateway at addr.
func nsupdateAt(t *testing.T, addr, key, script string) (string, error) {
	bin, err := exec.LookPath("nsupdate")
	if err != nil {
		return "", fmt.Errorf("nsupdate not found (Debian package bind9-dnsutils; scripts/deps.sh pdns installs dnsutils)")
	}
	host, port, _ := net.SplitHostPort(addr)
	parts := strings.SplitN(key, ":", 3)
	in := fmt.Sprintf("server %s %s\nkey %s:%s %s\nzone %s\n%s\nsend\n", host, port, parts[0], parts[1], parts[2], zone, script)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-t", "5")
	cmd.Stdin = strings.NewReader(in)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return out.String(), err
}

func (e *env) mustNsupdate(t *testing.T, key, script string) {
	t.Helper()
	if out, err := e.nsupdate(t, key, script); err != nil {
		t.Fatalf("nsupdate failed: %v\n%s", err, out)
	}
}

// failNsupdate runs an update that must be refused with rcode, publishing nothing.
func (e *env) failNsupdate(t *testing.T, key, script, rcode string) {
	t.Helper()
	before := e.lastSeq(t)
	out, err := e.nsupdate(t, key, script)
	if err == nil {
		t.Fatalf("nsupdate succeeded, want %s:\n%s", rcode, out)
	}
	if !strings.Contains(out, rcode) {
		t.Fatalf("nsupdate output does not name %s:\n%s", rcode, out)
	}
	if after := e.lastSeq(t); after != before {
		t.Fatalf("refused update published: stream %d -> %d", before, after)
	}
}

// TestTwoGatewaysConcurrentNsupdate: 30 nsupdate clients add records to
// one RRset with one key at once, through two gateways (two DHCP servers
// sharing a key). Each gateway evaluates on the state it has followed, so
// without compare-and-set one's write would drop the other's record; every
// record an nsupdate saw acknowledged is served by both PowerDNS.
func TestTwoGatewaysConcurrentNsupdate(t *testing.T) {
	e := newEnv(t)
	gw2 := testenv.StartGateway(t, testenv.GatewayOptions{Syncer: e.sync, Zones: []string{zone, zone2}})
	key := e.addKey(t, "dhcp", "--algorithm", "hmac-sha256", "--zone", zone)
	name := "race." + zone
	// The second gateway learns the key from the shared bucket.
	testenv.Eventually(t, 10*time.Second, "the second gateway knows the key", func() bool {
		_, err := nsupdateAt(t, gw2.DNSAddr, key, "update add probe."+zone+" 60 A 192.0.2.250")
		return err == nil
	})
	type result struct {
		addr string
		err  error
		out  string
	}
	results := make(chan result, 30)
	for i := range 30 {
		gwAddr := []string{e.gw.DNSAddr, gw2.DNSAddr}[i%2]
		addr := fmt.Sprintf("198.51.100.%d", i+1)
		go func() {
			out, err := nsupdateAt(t, gwAddr, key, fmt.Sprintf("update add %s 60 A %s", name, addr))
			results <- result{addr, err, out}
		}()
	}
	var acked []string
	for range 30 {
		r := <-results
		if r.err == nil {
			acked = append(acked, r.addr)
		} else if !strings.Contains(r.out, "SERVFAIL") {
			t.Errorf("nsupdate of %s: %v\n%s", r.addr, r.err, r.out)
		}
	}
	if len(acked) < 25 {
		t.Fatalf("only %d of 30 updates acknowledged", len(acked))
	}
	e.waitDig(t, name, "A", acked...)
	retried := e.gw.Metric(t, `zonecast_gateway_write_conflicts_total{result="retried"}`) +
		gw2.Metric(t, `zonecast_gateway_write_conflicts_total{result="retried"}`)
	t.Logf("%d of 30 acknowledged and served; %v updates evaluated again after the other gateway wrote first", len(acked), retried)
}

func TestNsupdate(t *testing.T) {
	e := newEnv(t)
	key := e.addKey(t, "k1", "--zone", zone)

	// add, then see it on both nameservers
	e.mustNsupdate(t, key, "update add h1."+zone+" 60 A 192.0.2.1\nupdate add h1."+zone+" 60 A 192.0.2.2")
	e.waitDig(t, "h1."+zone, "A", "192.0.2.1", "192.0.2.2")

	// prerequisites
	e.failNsupdate(t, key, "prereq nxdomain h1."+zone+"\nupdate add h1."+zone+" 60 TXT x", "YXDOMAIN")
	e.failNsupdate(t, key, "prereq yxdomain nope."+zone+"\nupdate add nope."+zone+" 60 TXT x", "NXDOMAIN")
	e.failNsupdate(t, key, "prereq nxrrset h1."+zone+" A\nupdate add h1."+zone+" 60 TXT x", "YXRRSET")
	e.failNsupdate(t, key, "prereq yxrrset h1."+zone+" AAAA\nupdate add h1."+zone+" 60 TXT x", "NXRRSET")
	e.failNsupdate(t, key, "prereq yxrrset h1."+zone+" A 192.0.2.1\nupdate add h1."+zone+" 60 TXT x", "NXRRSET")
	e.mustNsupdate(t, key, "prereq yxrrset h1."+zone+" A 192.0.2.1\nprereq yxrrset h1."+zone+" A 192.0.2.2\n"+
		"prereq nxrrset h1."+zone+" AAAA\nupdate add h1."+zone+" 60 AAAA 2001:db8::1")
	e.waitDig(t, "h1."+zone, "AAAA", "2001:db8::1")

	// delete one record, an RRset, a whole name
	e.mustNsupdate(t, key, "update delete h1."+zone+" A 192.0.2.2")
	e.waitDig(t, "h1."+zone, "A", "192.0.2.1")
	e.mustNsupdate(t, key, "update delete h1."+zone+" AAAA")
	e.waitDig(t, "h1."+zone, "AAAA")
	e.mustNsupdate(t, key, "update add h2."+zone+" 60 A 192.0.2.3\nupdate add h2."+zone+" 60 TXT \"hello\"")
	e.waitDig(t, "h2."+zone, "TXT", `"hello"`)
	e.mustNsupdate(t, key, "update delete h2."+zone)
	e.waitDig(t, "h2."+zone, "A")
	e.waitDig(t, "h2."+zone, "TXT")

	// all or nothing: an unsupported type in the same message
	e.failNsupdate(t, key, "update add h3."+zone+" 60 A 192.0.2.4\nupdate add h3."+zone+" 60 HINFO a b", "REFUSED")

	// a wrong secret: NOTAUTH, nothing published
	parts := strings.SplitN(key, ":", 3)
	wrong := parts[0] + ":" + parts[1] + ":" + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	e.failNsupdate(t, wrong, "update add bad."+zone+" 60 A 192.0.2.9", "NOTAUTH")
	unknown := parts[0] + ":nokey:" + parts[2]
	e.failNsupdate(t, unknown, "update add bad."+zone+" 60 A 192.0.2.9", "NOTAUTH")

	// a key limited to another zone: REFUSED
	k2 := e.addKey(t, "k2", "--zone", zone2)
	e.failNsupdate(t, k2, "update add bad."+zone+" 60 A 192.0.2.9", "REFUSED")
	// a key limited to names and types
	k3 := e.addKey(t, "k3", "--zone", zone, "--name", "*.dhcp."+zone, "--type", "A", "--algorithm", "hmac-sha512")
	e.failNsupdate(t, k3, "update add x."+zone+" 60 A 192.0.2.9", "REFUSED")
	e.failNsupdate(t, k3, "update add x.dhcp."+zone+" 60 TXT x", "REFUSED")
	e.mustNsupdate(t, k3, "update add x.dhcp."+zone+" 60 A 192.0.2.10")
	e.waitDig(t, "x.dhcp."+zone, "A", "192.0.2.10")

	// two keys contribute to one RRset: a delete removes only its own part
	e.mustNsupdate(t, key, "update add x.dhcp."+zone+" 60 A 192.0.2.11")
	e.waitDig(t, "x.dhcp."+zone, "A", "192.0.2.10", "192.0.2.11")
	e.mustNsupdate(t, key, "update delete x.dhcp."+zone+" A")
	e.waitDig(t, "x.dhcp."+zone, "A", "192.0.2.10")

	// a key with a lease: its records expire unless updated again
	k4 := e.addKey(t, "k4", "--zone", zone, "--lease", "2s")
	e.mustNsupdate(t, k4, "update add lease."+zone+" 60 A 192.0.2.12")
	e.waitDig(t, "lease."+zone, "A", "192.0.2.12")
	e.waitDig(t, "lease."+zone, "A")

	// a removed key stops working
	e.gw.Admin(t, "key", "remove", "k2")
	testenv.Eventually(t, 5*time.Second, "removed key refused", func() bool {
		out, err := e.nsupdate(t, k2, "update add y."+zone2+" 60 A 192.0.2.9")
		return err != nil && strings.Contains(out, "NOTAUTH")
	})
	if !e.gw.Running() {
		t.Fatal("gateway died")
	}
	if n := e.gw.Metric(t, `zonecast_gateway_tsig_failures_total{error="BADSIG"}`); n < 1 {
		t.Errorf("BADSIG failures counted: %v", n)
	}
}

// exchange sends m signed with key over UDP and returns the response.
func exchange(t *testing.T, addr, key string, m *dns.Msg, signedAt int64) *dns.Msg {
	t.Helper()
	parts := strings.SplitN(key, ":", 3)
	name, alg := dns.Fqdn(parts[1]), dns.Fqdn(parts[0])
	m.SetTsig(name, alg, 300, signedAt)
	c := &dns.Client{Net: "udp", Timeout: 5 * time.Second, TsigSecret: map[string]string{name: parts[2]}}
	r, _, err := c.Exchange(m, addr)
	if r == nil {
		t.Fatalf("no response: %v", err)
	}
	return r
}

func TestBadInput(t *testing.T) {
	e := newEnv(t)
	key := e.addKey(t, "k1", "--zone", zone)
	before := e.lastSeq(t)

	// stale time: signed an hour ago
	m := new(dns.Msg)
	m.SetUpdate(zone)
	m.Insert([]dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "stale." + zone, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 7)}})
	r := exchange(t, e.gw.DNSAddr, key, m, time.Now().Add(-time.Hour).Unix())
	if r.Rcode != dns.RcodeNotAuth || r.IsTsig() == nil || r.IsTsig().Error != dns.RcodeBadTime {
		t.Fatalf("stale update answered %s, tsig %v", dns.RcodeToString[r.Rcode], r.IsTsig())
	}

	// unsigned update: REFUSED
	u := new(dns.Msg)
	u.SetUpdate(zone)
	u.Insert([]dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "unsigned." + zone, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 7)}})
	r, _, err := (&dns.Client{Net: "tcp", Timeout: 5 * time.Second}).Exchange(u, e.gw.DNSAddr)
	if err != nil || r.Rcode != dns.RcodeRefused {
		t.Fatalf("unsigned update: %v %v", r, err)
	}

	// malformed packets: FORMERR or silence, never a crash
	garbage := [][]byte{
		{0, 1, 0x28, 0, 0, 1, 0, 0, 0, 5, 0, 0},                                           // update claiming 5 RRs, none there
		{0, 2, 0x28, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'd', 'y', 'n', 0xc0, 0xff, 0, 6, 0, 1}, // bad compression pointer
		[]byte("not dns at all"),
		{0xff},
	}
	conn, err := net.Dial("udp", e.gw.DNSAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, g := range garbage {
		if _, err := conn.Write(g); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		buf := make([]byte, 512)
		if n, err := conn.Read(buf); err == nil {
			resp := new(dns.Msg)
			// miekg/dns reads a truncated section as a shorter one: that
			// unsigned update is then REFUSED. Anything but NOERROR will do.
			if err := resp.Unpack(buf[:n]); err == nil && resp.Rcode == dns.RcodeSuccess {
				t.Errorf("garbage %x answered %s", g, dns.RcodeToString[resp.Rcode])
			}
		}
	}
	if after := e.lastSeq(t); after != before {
		t.Fatalf("bad input published: stream %d -> %d", before, after)
	}
	// still serving
	e.mustNsupdateFor(t, key, "update add ok."+zone+" 60 A 192.0.2.8")
	e.waitDig(t, "ok."+zone, "A", "192.0.2.8")
}

func (e *env) mustNsupdateFor(t *testing.T, key, script string) { e.mustNsupdate(t, key, script) }

// curl runs curl with the credentials in a config read from stdin (not on
// the command line) and returns the body.
func (e *env) curl(t *testing.T, user, token, query string) string {
	t.Helper()
	bin, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl not found (Debian package curl)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-sS", "-K", "-", "http://"+e.gw.DyndnsAddr+"/nic/update?"+query)
	cmd.Stdin = strings.NewReader(fmt.Sprintf("user = \"%s:%s\"\n", user, token))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("curl: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func TestDyndnsCurl(t *testing.T) {
	e := newEnv(t)
	host := "home." + zone
	e.gw.Admin(t, "host", "add", host, "--ttl", "30")
	token := strings.TrimSpace(e.gw.Admin(t, "token", "issue", host))
	if len(token) < 40 {
		t.Fatalf("token %q", token)
	}
	if got := e.curl(t, host, token, "hostname="+host+"&myip=192.0.2.50,2001:db8::50"); got != "good 192.0.2.50,2001:db8::50" {
		t.Fatalf("first update: %q", got)
	}
	e.waitDig(t, host, "A", "192.0.2.50")
	e.waitDig(t, host, "AAAA", "2001:db8::50")
	if got := e.curl(t, host, token, "hostname="+host+"&myip=192.0.2.50,2001:db8::50"); got != "nochg 192.0.2.50,2001:db8::50" {
		t.Fatalf("same update: %q", got)
	}
	// only IPv4 given: AAAA stays
	if got := e.curl(t, host, token, "hostname="+host+"&myip=192.0.2.51"); got != "good 192.0.2.51" {
		t.Fatalf("v4 update: %q", got)
	}
	e.waitDig(t, host, "A", "192.0.2.51")
	e.waitDig(t, host, "AAAA", "2001:db8::50")
	before := e.lastSeq(t)
	if got := e.curl(t, host, "wrong-token", "hostname="+host+"&myip=192.0.2.66"); got != "badauth" {
		t.Fatalf("wrong token: %q", got)
	}
	if got := e.curl(t, host, token, "hostname=foreign."+zone+"&myip=192.0.2.66"); got != "nohost" {
		t.Fatalf("foreign host: %q", got)
	}
	if got := e.curl(t, host, token, "hostname=nodots&myip=192.0.2.66"); got != "notfqdn" {
		t.Fatalf("not fqdn: %q", got)
	}
	if got := e.curl(t, host, token, "hostname="+strings.Repeat(host+",", 21)+"&myip=192.0.2.66"); got != "numhost" {
		t.Fatalf("21 host names: %q", got)
	}
	// rate limit: burst 3 per host, all used above (refused requests do not count)
	if got := e.curl(t, host, token, "hostname="+host+"&myip=192.0.2.53"); got != "abuse" {
		t.Fatalf("fourth update: %q", got)
	}
	if after := e.lastSeq(t); after != before {
		t.Fatalf("refused dyndns request published: %d -> %d", before, after)
	}
	// a revoked token is refused
	e.gw.Admin(t, "token", "revoke", host)
	testenv.Eventually(t, 5*time.Second, "revoked token refused", func() bool {
		return e.curl(t, host, token, "hostname="+host+"&myip=192.0.2.54") == "badauth"
	})
}
