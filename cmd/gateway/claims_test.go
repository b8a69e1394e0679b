package main

// First-come claims with SIG(0), end to end: BIND's nsupdate signs with
// keys made by dnssec-keygen -T KEY and claims names of a --claim-zone
// from the real zonecast-gateway; two zonecast-syncers write to two
// PowerDNS, checked with dig.

import (
	"bytes"
	"context"
	"crypto"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecast/zonecast/internal/sig0"
	"github.com/zonecast/zonecast/internal/testenv"
	"github.com/zonecast/zonecast/internal/testpdns"
)

const claimZone = "claim.example.test."

// Leases short enough to watch them end: records 3 s, claims 6 s.
const (
	claimLease    = 3 * time.Second
	claimKeyLease = 6 * time.Second
)

// newClaimEnv starts NATS, two syncers (gsqlite3, lmdb) and a gateway
// whose claim zone accepts claims from 127.0.0.1 only, www reserved.
func newClaimEnv(t *testing.T, extra ...string) *env {
	t.Helper()
	nats := testenv.StartNATS(t)
	e := &env{}
	for _, backend := range []string{"gsqlite3", "lmdb"} {
		p := testpdns.Start(t, backend)
		s := testenv.StartSyncer(t, testenv.SyncerOptions{Zones: []string{claimZone}, PDNS: p, NATS: nats})
		e.pdns = append(e.pdns, p)
		if e.sync == nil {
			e.sync = s
		}
	}
	e.gw = testenv.StartGateway(t, testenv.GatewayOptions{Syncer: e.sync, Extra: append([]string{
		"--claim-zone", claimZone, "--claim-from", "127.0.0.1/32", "--claim-reserved", "www",
		"--claim-lease", claimLease.String(), "--claim-key-lease", claimKeyLease.String()}, extra...)})
	return e
}

// sig0Key is a key made by BIND's dnssec-keygen for SIG(0).
type sig0Key struct {
	name    string
	private string // the K*.private file nsupdate -k reads
	key     *dns.KEY
}

func keygen(t *testing.T, name, alg string) sig0Key {
	t.Helper()
	bin, err := exec.LookPath("dnssec-keygen")
	if err != nil {
		t.Fatal("dnssec-keygen not found (Debian package bind9-utils; scripts/deps.sh dnssec installs it)")
	}
	dir := t.TempDir()
	out, err := exec.Command(bin, "-K", dir, "-T", "KEY", "-n", "HOST", "-a", alg, name).Output()
	if err != nil {
		t.Fatalf("dnssec-keygen %s %s: %v", alg, name, err)
	}
	base := filepath.Join(dir, strings.TrimSpace(string(out)))
	f, err := os.Open(base + ".key")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zp := dns.NewZoneParser(f, "", base+".key")
	rr, ok := zp.Next()
	k, isKey := rr.(*dns.KEY)
	if !ok || !isKey {
		t.Fatalf("%s.key holds no KEY (%v)", base, zp.Err())
	}
	return sig0Key{name: name, private: base + ".private", key: k}
}

// rr is the KEY as an nsupdate "update add" line.
func (k sig0Key) add() string {
	return fmt.Sprintf("update add %s 60 IN KEY %d %d %d %s", k.name, k.key.Flags, k.key.Protocol, k.key.Algorithm, k.key.PublicKey)
}

// nsupdateSIG0 runs nsupdate -k with the key's private file (SIG(0)),
// over TCP with tcp set.
func (e *env) nsupdateSIG0(t *testing.T, k sig0Key, tcp bool, script string) (string, error) {
	t.Helper()
	bin, err := exec.LookPath("nsupdate")
	if err != nil {
		t.Fatal("nsupdate not found (Debian package bind9-dnsutils; scripts/deps.sh pdns installs dnsutils)")
	}
	host, port, _ := net.SplitHostPort(e.gw.DNSAddr)
	args := []string{"-t", "5", "-k", k.private}
	if tcp {
		args = append(args, "-v")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = strings.NewReader(fmt.Sprintf("server %s %s\nzone %s\n%s\nsend\n", host, port, claimZone, script))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return out.String(), err
}

func (e *env) mustClaim(t *testing.T, k sig0Key, tcp bool, script string) {
	t.Helper()
	if out, err := e.nsupdateSIG0(t, k, tcp, script); err != nil {
		t.Fatalf("nsupdate -k %s failed: %v\n%s", filepath.Base(k.private), err, out)
	}
}

// refused runs an update that must be answered rcode, publishing nothing.
func (e *env) refused(t *testing.T, what string, rcode string, run func() (string, error)) {
	t.Helper()
	before := e.lastSeq(t)
	out, err := run()
	if err == nil || !strings.Contains(out, rcode) {
		t.Errorf("%s: want %s, got %v:\n%s", what, rcode, err, out)
	}
	if after := e.lastSeq(t); after != before {
		t.Errorf("%s: refused update published: stream %d -> %d", what, before, after)
	}
}

// TestSIG0Claims: a key made by dnssec-keygen claims a name with nsupdate
// (ECDSAP256SHA256 over UDP, ED25519 over TCP), and dig answers it on both
// PowerDNS; a second key is refused; the first updates and deletes; once
// the leases run out the records go and the second key may claim the name.
func TestSIG0Claims(t *testing.T) {
	t.Parallel()
	e := newClaimEnv(t)
	name := "laptop." + claimZone
	k1, k2 := keygen(t, name, "ECDSAP256SHA256"), keygen(t, name, "ECDSAP256SHA256")

	e.mustClaim(t, k1, false, k1.add()+"\nupdate add "+name+" 60 IN AAAA 2001:db8::1")
	e.waitDig(t, name, "AAAA", "2001:db8::1")
	if got := e.pdns[0].Dig(t, name, "KEY"); len(got) != 0 {
		t.Errorf("the claim's KEY is published: %v", got)
	}

	e.refused(t, "a second key claims the name", "YXDOMAIN", func() (string, error) {
		return e.nsupdateSIG0(t, k2, false, k2.add()+"\nupdate add "+name+" 60 IN AAAA 2001:db8::2")
	})
	e.refused(t, "a second key updates the name", "REFUSED", func() (string, error) {
		return e.nsupdateSIG0(t, k2, false, "update add "+name+" 60 IN AAAA 2001:db8::2")
	})

	e.mustClaim(t, k1, false, "update delete "+name+" AAAA\nupdate add "+name+" 60 IN A 192.0.2.7")
	e.waitDig(t, name, "A", "192.0.2.7")
	e.waitDig(t, name, "AAAA")

	// ED25519, over TCP; the reply echoes what was stored, TTL lowered.
	ed := keygen(t, "desk."+claimZone, "ED25519")
	e.mustClaim(t, ed, true, ed.add()+"\nupdate add desk."+claimZone+" 86400 IN A 192.0.2.8")
	e.waitDig(t, "desk."+claimZone, "A", "192.0.2.8")

	// The leases: records go after 3 s, the claim after 6 s; then the
	// second key claims the name.
	e.waitNXDOMAIN(t, name, "A")
	testenv.Eventually(t, 2*claimKeyLease, "the second key claims the lapsed name", func() bool {
		_, err := e.nsupdateSIG0(t, k2, false, k2.add()+"\nupdate add "+name+" 60 IN AAAA 2001:db8::2")
		return err == nil
	})
	e.waitDig(t, name, "AAAA", "2001:db8::2")
	if got := e.gw.Metric(t, `zonecast_gateway_claims_total{result="claimed"}`); got < 3 {
		t.Errorf("claims counted: %v, want 3", got)
	}
}

// TestSIG0BadInput: each bad claim is answered with its rcode and
// publishes nothing.
func TestSIG0BadInput(t *testing.T) {
	t.Parallel()
	e := newClaimEnv(t)
	name := "host." + claimZone
	k := keygen(t, name, "ECDSAP256SHA256")
	run := func(k sig0Key, script string) func() (string, error) {
		return func() (string, error) { return e.nsupdateSIG0(t, k, false, script) }
	}
	add := "\nupdate add " + name + " 60 IN A 192.0.2.1"
	other := keygen(t, "other."+claimZone, "ECDSAP256SHA256")
	e.refused(t, "a KEY for another name", "REFUSED", run(k, other.add()+add))
	www := keygen(t, "www."+claimZone, "ECDSAP256SHA256")
	e.refused(t, "a reserved name", "REFUSED", run(www, www.add()+"\nupdate add www."+claimZone+" 60 IN A 192.0.2.1"))
	deep := keygen(t, "a.b."+claimZone, "ECDSAP256SHA256")
	e.refused(t, "a name two labels deep", "REFUSED", run(deep, deep.add()+"\nupdate add a.b."+claimZone+" 60 IN A 192.0.2.1"))
	e.refused(t, "a type not allowed", "REFUSED", run(k, k.add()+"\nupdate add "+name+` 60 IN TXT "x"`))
	e.refused(t, "a claim from a subnet not allowed", "REFUSED", run(k, "local 127.0.0.2\n"+k.add()+add))

	// Signed here with a key of the same name: a signature that does not
	// verify with the KEY the claim adds, and one signed an hour ago.
	wrong, priv := sig0KeyPair(t, name)
	m := new(dns.Msg)
	m.SetUpdate(claimZone)
	m.Ns = []dns.RR{k.key, mustRR(t, name+" 60 IN A 192.0.2.1")}
	now := time.Now()
	e.refused(t, "a bad signature", "NOTAUTH", func() (string, error) {
		raw, err := sig0.Sign(m.Copy(), wrong, priv, now.Add(-time.Minute), now.Add(5*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		// The KEY the claim adds is k's, the signature wrong's: same
		// name, same algorithm, another key tag.
		return sendRaw(t, e.gw.DNSAddr, raw)
	})
	e.refused(t, "a stale time", "NOTAUTH", func() (string, error) {
		m := m.Copy()
		m.Ns[0] = wrong
		raw, err := sig0.Sign(m, wrong, priv, now.Add(-2*time.Hour), now.Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return sendRaw(t, e.gw.DNSAddr, raw)
	})
	e.mustClaim(t, k, false, k.add()+add) // and the good one after them
	e.waitDig(t, name, "A", "192.0.2.1")
}

func mustRR(t *testing.T, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return rr
}

// sig0KeyPair makes an ECDSAP256SHA256 KEY of name with miekg/dns.
func sig0KeyPair(t testing.TB, name string) (*dns.KEY, crypto.Signer) {
	t.Helper()
	k := &dns.KEY{DNSKEY: dns.DNSKEY{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeKEY, Class: dns.ClassINET, Ttl: 60},
		Flags: 512, Protocol: 3, Algorithm: dns.ECDSAP256SHA256}}
	priv, err := k.Generate(256)
	if err != nil {
		t.Fatal(err)
	}
	return k, priv.(crypto.Signer)
}

// sendRaw sends raw over UDP and returns the answer's rcode as nsupdate
// would print it, with an error unless it is NOERROR.
func sendRaw(t *testing.T, addr string, raw []byte) (string, error) {
	t.Helper()
	co, err := dns.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer co.Close()
	_ = co.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := co.Write(raw); err != nil {
		t.Fatal(err)
	}
	r, err := co.ReadMsg()
	if err != nil {
		return "", err
	}
	rc := dns.RcodeToString[r.Rcode]
	if r.Rcode != dns.RcodeSuccess {
		return "update failed: " + rc, fmt.Errorf("%s", rc)
	}
	return rc, nil
}
