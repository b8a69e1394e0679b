package gateway

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/zonecast/zonecast/internal/gwstore"
	"github.com/zonecast/zonecast/internal/rrset"
)

// fakeList is a ZoneList the test edits.
type fakeList struct {
	mu       sync.Mutex
	listed   map[string]bool
	refusals map[string]int
}

func (l *fakeList) Writable(zone string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.listed[zone]
}
func (l *fakeList) Refused(via string)       { l.mu.Lock(); defer l.mu.Unlock(); l.refusals[via]++ }
func (l *fakeList) set(zone string, on bool) { l.mu.Lock(); defer l.mu.Unlock(); l.listed[zone] = on }
func (l *fakeList) count(via string) int     { l.mu.Lock(); defer l.mu.Unlock(); return l.refusals[via] }

// withKeys is a Directory of hosts with the keys of keys.
type withKeys struct {
	Directory
	keys keys
}

func (d withKeys) Key(name string) (gwstore.Key, bool) { return d.keys.Key(name) }

// TestUnlistedZone: the gateway writes into a zone of its own only while
// the zone list holds it: RFC 2136 answers NOTAUTH (as for a zone that is
// not its own), dyndns nohost, the web path an invalid error, a SOA query
// REFUSED; each refusal is counted by path. Listed again, it writes.
func TestUnlistedZone(t *testing.T) {
	t.Parallel()
	tok, home := issue(t, gwstore.Host{Name: "home." + testZone, TTL: 30})
	zl := &fakeList{listed: map[string]bool{}, refusals: map[string]int{}}
	hr := newHostRig(t, func(c *Config) {
		c.ZoneList = zl
		c.Directory = withKeys{Directory: c.Directory,
			keys: keys{"k1.": {Name: "k1.", Algorithm: dns.HmacSHA256, Secret: testSecret, Zones: []string{testZone}}}}
	}, home)
	add := func(addr string) func(m *dns.Msg) {
		return func(m *dns.Msg) { m.Insert([]dns.RR{a("www."+testZone, addr)}) }
	}
	www := rrset.Key{Name: "www." + testZone, Type: "A"}
	soa := func() int {
		m := new(dns.Msg)
		m.SetQuestion(testZone, dns.TypeSOA)
		return hr.g.Handle(context.Background(), m, nil, nil).Rcode
	}

	if rc := hr.update(t, add("192.0.2.1")); rc != dns.RcodeNotAuth {
		t.Fatalf("update into an unlisted zone: %s, want NOTAUTH", dns.RcodeToString[rc])
	}
	if got := hr.dyndns(t, tok, "hostname=home."+testZone+"&myip=192.0.2.1"); got != "nohost\n" {
		t.Fatalf("dyndns into an unlisted zone: %q, want nohost", got)
	}
	_, err := hr.g.SetAddresses(context.Background(), home, []string{"192.0.2.1"}, nil, "web", "")
	if !errors.Is(err, gwstore.ErrInvalid) {
		t.Fatalf("web into an unlisted zone: %v, want an invalid error", err)
	}
	if rc := soa(); rc != dns.RcodeRefused {
		t.Fatalf("SOA query of an unlisted zone: %s, want REFUSED", dns.RcodeToString[rc])
	}
	for via, n := range map[string]int{"dns": 1, "dyndns": 1, "web": 1} {
		if got := zl.count(via); got != n {
			t.Errorf("%s refusals %d, want %d", via, got, n)
		}
	}
	if got := hr.own(www, gwstore.Key{Name: "k1."}.Origin()); len(got) != 0 {
		t.Fatalf("published %v into an unlisted zone", got)
	}

	zl.set(testZone, true)
	if rc := hr.update(t, add("192.0.2.1")); rc != dns.RcodeSuccess {
		t.Fatalf("update into a listed zone: %s", dns.RcodeToString[rc])
	}
	if got := hr.dyndns(t, tok, "hostname=home."+testZone+"&myip=192.0.2.2"); got != "good 192.0.2.2\n" {
		t.Fatalf("dyndns into a listed zone: %q", got)
	}
	if rc := soa(); rc != dns.RcodeSuccess {
		t.Fatalf("SOA query of a listed zone: %s", dns.RcodeToString[rc])
	}
	// A zone not the gateway's is NOTAUTH as before, and not counted.
	m := new(dns.Msg)
	m.SetUpdate("other.example.")
	m.SetTsig("k1.", dns.HmacSHA256, Fudge, 0)
	if rc := hr.g.Handle(context.Background(), m, nil, nil).Rcode; rc != dns.RcodeNotAuth {
		t.Fatalf("update of another zone: %s, want NOTAUTH", dns.RcodeToString[rc])
	}
	if got := zl.count("dns"); got != 1 {
		t.Errorf("dns refusals %d after the other zone, want 1", got)
	}

	zl.set(testZone, false)
	if rc := hr.update(t, add("192.0.2.9")); rc != dns.RcodeNotAuth {
		t.Fatalf("update after the zone's removal: %s, want NOTAUTH", dns.RcodeToString[rc])
	}
	if got := hr.own(www, gwstore.Key{Name: "k1."}.Origin()); len(got) != 1 || got[0] != "192.0.2.1" {
		t.Fatalf("A %v, want the listed update's alone", got)
	}
}
