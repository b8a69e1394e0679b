package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/gwstore"
	"github.com/zonecast/zonecast/internal/rrset"
)

// hostDir is a Directory of hosts, changed while in use, and a
// HistoryStore that keeps what it is given.
type hostDir struct {
	mu      sync.Mutex
	hosts   map[string]gwstore.Host
	history map[string][]gwstore.HistoryEntry
	failing bool // AppendHistory fails
}

func newHostDir(hosts ...gwstore.Host) *hostDir {
	d := &hostDir{hosts: map[string]gwstore.Host{}, history: map[string][]gwstore.HistoryEntry{}}
	for _, h := range hosts {
		d.put(h)
	}
	return d
}

func (d *hostDir) put(h gwstore.Host) gwstore.Host {
	h, err := h.Validate()
	if err != nil {
		panic(err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.hosts[h.Name] = h
	return h
}

func (d *hostDir) get(name string) gwstore.Host {
	h, ok := d.Host(name)
	if !ok {
		panic("no host " + name)
	}
	return h
}

func (d *hostDir) Key(string) (gwstore.Key, bool) { return gwstore.Key{}, false }

func (d *hostDir) Host(name string) (gwstore.Host, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	h, ok := d.hosts[name]
	return h, ok
}

func (d *hostDir) Dependents(name string) []gwstore.Host {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []gwstore.Host
	for _, h := range d.hosts {
		if h.PrefixFrom == name {
			out = append(out, h)
		}
	}
	slices.SortFunc(out, func(a, b gwstore.Host) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (d *hostDir) AppendHistory(_ context.Context, host string, e gwstore.HistoryEntry) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failing {
		return errors.New("history down")
	}
	d.history[host] = append([]gwstore.HistoryEntry{e}, d.history[host]...)
	return nil
}

func (d *hostDir) hist(host string) []gwstore.HistoryEntry {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.history[host])
}

// hostRig is a rig whose gateway has the hosts of dir, and a clock.
type hostRig struct {
	*rig
	dir *hostDir
	reg *prometheus.Registry
	mu  sync.Mutex
	now time.Time
}

func newHostRig(t *testing.T, tweak func(*Config), hosts ...gwstore.Host) *hostRig {
	t.Helper()
	hr := &hostRig{dir: newHostDir(hosts...), reg: prometheus.NewRegistry(), now: time.Now()}
	hr.rig = newRigWith(t, func(c *Config) {
		c.Directory, c.History, c.Metrics = hr.dir, hr.dir, NewMetrics(hr.reg)
		c.Now = hr.clock
		if tweak != nil {
			tweak(c)
		}
	})
	return hr
}

func (hr *hostRig) clock() time.Time { hr.mu.Lock(); defer hr.mu.Unlock(); return hr.now }

// dyndns sends one /nic/update request and returns the answer.
func (hr *hostRig) dyndns(t *testing.T, token, query string) string {
	t.Helper()
	r := httptest.NewRequest("GET", "/nic/update?"+query, nil)
	r.RemoteAddr = "198.51.100.7:40000"
	r.SetBasicAuth("user", token)
	w := httptest.NewRecorder()
	hr.g.ServeHTTP(w, r)
	return w.Body.String()
}

// ownAAAA and ownA are a host's own records in the gateway's view.
func (hr *hostRig) ownAAAA(name string) []string {
	return hr.own(rrset.Key{Name: name, Type: "AAAA"}, gwstore.Host{Name: name}.Origin())
}

func (hr *hostRig) ownA(name string) []string {
	return hr.own(rrset.Key{Name: name, Type: "A"}, gwstore.Host{Name: name}.Origin())
}

// streamOwn is a host's own records of typ in the stream, replayed.
func (hr *hostRig) streamOwn(t *testing.T, name, typ string) rrset.Contribution {
	t.Helper()
	idx, _ := hr.streamState(t)
	return idx.Contributions(rrset.Key{Name: name, Type: typ})[gwstore.Host{Name: name}.Origin()]
}

// streamSeq is the stream sequence of a host's own records of typ.
func (hr *hostRig) streamSeq(t *testing.T, name, typ string) uint64 {
	t.Helper()
	idx, _ := hr.streamState(t)
	return idx.Seq(rrset.Key{Name: name, Type: typ}, gwstore.Host{Name: name}.Origin())
}

func issue(t *testing.T, h gwstore.Host) (string, gwstore.Host) {
	t.Helper()
	tok, rec, err := gwstore.NewToken(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	h.Tokens = append(h.Tokens, rec)
	return tok, h
}

// TestDyndnsAnswers: the dyndns2 answers of one host, through
// SetAddresses: good, nochg, badauth, nohost, notfqdn, abuse, 911, each
// counted; what changed goes into the history.
func TestDyndnsAnswers(t *testing.T) {
	t.Parallel()
	tok, home := issue(t, gwstore.Host{Name: "home." + testZone, TTL: 30})
	hr := newHostRig(t, func(c *Config) { c.DyndnsRate, c.DyndnsBurst = rate.Every(time.Hour), 5 }, home,
		gwstore.Host{Name: "other." + testZone})
	name := "home." + testZone
	steps := []struct {
		token, query, want string
	}{
		{tok, "hostname=" + name + "&myip=192.0.2.1", "good 192.0.2.1\n"},
		{tok, "hostname=" + name + "&myip=192.0.2.1", "nochg 192.0.2.1\n"},
		{"wrong", "hostname=" + name + "&myip=192.0.2.2", "badauth\n"},
		{tok, "hostname=nope." + testZone + "&myip=192.0.2.2", "nohost\n"},
		{tok, "hostname=home." + testZone + ",other." + testZone + "&myip=192.0.2.2", "good 192.0.2.2\nbadauth\n"},
		{tok, "hostname=localhost&myip=192.0.2.2", "notfqdn\n"},
		{tok, "hostname=" + name + "&myip=2001:db8::1", "good 2001:db8::1\n"},
		{tok, "hostname=" + name, "good 198.51.100.7\n"}, // no address: the client's
	}
	for i, s := range steps {
		if got := hr.dyndns(t, s.token, s.query); got != s.want {
			t.Fatalf("step %d (%s): %q, want %q", i, s.query, got, s.want)
		}
	}
	if got := hr.dyndns(t, tok, "hostname="+name+"&myip=192.0.2.3"); got != "abuse\n" {
		t.Fatalf("sixth update within the burst: %q, want abuse", got)
	}
	if got, want := hr.ownA(name), []string{"198.51.100.7"}; !slices.Equal(got, want) {
		t.Fatalf("A %v, want %v", got, want)
	}
	if got, want := hr.ownAAAA(name), []string{"2001:db8::1"}; !slices.Equal(got, want) {
		t.Fatalf("AAAA %v, want %v (an A-only update leaves it)", got, want)
	}
	for code, n := range map[string]float64{"good": 4, "nochg": 1, "badauth": 2, "nohost": 1, "notfqdn": 1, "abuse": 1} {
		if got := counterValue(t, hr.reg, "zonecast_gateway_dyndns_answers_total", "answer", code); got != n {
			t.Errorf("answers{%s} %v, want %v", code, got, n)
		}
	}
	h := hr.dir.hist(name)
	if len(h) != 4 {
		t.Fatalf("history %+v, want the 4 changes", h)
	}
	if e := h[0]; e.Via != "dyndns" || e.Remote != "198.51.100.7" || !slices.Equal(e.A, []string{"198.51.100.7"}) || e.AAAA != nil {
		t.Fatalf("newest entry %+v", e)
	}
	if e := h[1]; !slices.Equal(e.AAAA, []string{"2001:db8::1"}) || e.A != nil {
		t.Fatalf("the AAAA entry %+v", e)
	}
	// A failed publish answers 911 and leaves the view as stored.
	hr.pub.set(func(m events.Message) bool { return m.Name == name })
	hr.g.limiters = map[string]*rate.Limiter{}
	if got := hr.dyndns(t, tok, "hostname="+name+"&myip=192.0.2.9"); got != "911\n" {
		t.Fatalf("failing publish: %q", got)
	}
	if got := hr.ownA(name); !slices.Equal(got, []string{"198.51.100.7"}) {
		t.Fatalf("after a failed publish A %v", got)
	}
	if len(hr.dir.hist(name)) != 4 {
		t.Fatal("a failed publish is in the history")
	}
	hr.pub.set(nil)
	// A history that fails does not fail the update.
	hr.dir.mu.Lock()
	hr.dir.failing = true
	hr.dir.mu.Unlock()
	if got := hr.dyndns(t, tok, "hostname="+name+"&myip=192.0.2.9"); got != "good 192.0.2.9\n" {
		t.Fatalf("with the history down: %q", got)
	}
	if c := hr.streamOwn(t, name, "A"); !slices.Equal(c.Records, []string{"192.0.2.9"}) || c.TTL != 30 {
		t.Fatalf("stream holds %+v", c)
	}
}

// TestDyndnsLeaseRenews: with a lease an unchanged update answers nochg
// and is published again, so the lease starts over.
func TestDyndnsLeaseRenews(t *testing.T) {
	t.Parallel()
	tok, h := issue(t, gwstore.Host{Name: "lease." + testZone, LeaseSeconds: 600})
	hr := newHostRig(t, nil, h)
	q := "hostname=" + h.Name + "&myip=192.0.2.1"
	if got := hr.dyndns(t, tok, q); got != "good 192.0.2.1\n" {
		t.Fatal(got)
	}
	first := hr.streamSeq(t, h.Name, "A")
	if got := hr.dyndns(t, tok, q); got != "nochg 192.0.2.1\n" {
		t.Fatal(got)
	}
	if got := hr.streamSeq(t, h.Name, "A"); got <= first {
		t.Fatalf("not published again: stream sequence %d, was %d", got, first)
	}
	if n := len(hr.dir.hist(h.Name)); n != 1 {
		t.Fatalf("%d history entries, want 1: a renewal is no change", n)
	}
}

// TestPrefixFollows: hosts behind a router take its prefix and their
// interface id, each published as its own origin with its own TTL, and
// follow when the router's prefix changes or goes.
func TestPrefixFollows(t *testing.T) {
	t.Parallel()
	router := "router." + testZone
	tok, r := issue(t, gwstore.Host{Name: router})
	nas := gwstore.Host{Name: "nas." + testZone, TTL: 120, PrefixFrom: router, InterfaceID: "::1234:5678"}
	cam := gwstore.Host{Name: "cam." + testZone, PrefixFrom: router, PrefixLen: 56, InterfaceID: "::77:0:0:0:9"}
	// Behind the NAS, a chain: it follows the NAS's prefix.
	vm := gwstore.Host{Name: "vm." + testZone, PrefixFrom: "nas." + testZone, InterfaceID: "::abcd"}
	outside := gwstore.Host{Name: "x.elsewhere.test.", PrefixFrom: router, InterfaceID: "::1"}
	hr := newHostRig(t, nil, r, nas, cam, vm, outside)

	if got := hr.dyndns(t, tok, "hostname="+router+"&myip=192.0.2.1&myipv6=2001:db8:1:2::1"); got != "good 192.0.2.1,2001:db8:1:2::1\n" {
		t.Fatal(got)
	}
	want := map[string][]string{
		nas.Name: {"2001:db8:1:2::1234:5678"},
		cam.Name: {"2001:db8:1:77::9"},
		vm.Name:  {"2001:db8:1:2::abcd"},
	}
	check := func(when string) {
		t.Helper()
		for n, w := range want {
			if got := hr.ownAAAA(n); !slices.Equal(got, w) {
				t.Errorf("%s: %s AAAA %v, want %v", when, n, got, w)
			}
			if len(hr.ownA(n)) != 0 {
				t.Errorf("%s: %s got an A", when, n)
			}
		}
	}
	check("first update")
	if c := hr.streamOwn(t, nas.Name, "AAAA"); !slices.Equal(c.Records, want[nas.Name]) || c.TTL != 120 {
		t.Fatalf("stream holds %+v for the NAS", c)
	}
	if e := hr.dir.hist(nas.Name); len(e) != 1 || e[0].Via != "prefix" || e[0].Remote != "198.51.100.7" || !slices.Equal(e[0].AAAA, want[nas.Name]) {
		t.Fatalf("NAS history %+v", e)
	}

	// The prefix changes.
	if got := hr.dyndns(t, tok, "hostname="+router+"&myip=192.0.2.1&myipv6=2001:db8:9:8::1"); got != "good 192.0.2.1,2001:db8:9:8::1\n" {
		t.Fatal(got)
	}
	want = map[string][]string{nas.Name: {"2001:db8:9:8::1234:5678"}, cam.Name: {"2001:db8:9:77::9"}, vm.Name: {"2001:db8:9:8::abcd"}}
	check("new prefix")
	// An A-only update changes nothing behind the router.
	if got := hr.dyndns(t, tok, "hostname="+router+"&myip=192.0.2.2"); got != "good 192.0.2.2\n" {
		t.Fatal(got)
	}
	check("A only")
	if n := len(hr.dir.hist(nas.Name)); n != 2 {
		t.Fatalf("NAS history has %d entries, want 2", n)
	}
	// The router's AAAA is removed by hand: the hosts behind it lose theirs.
	if _, err := hr.g.SetAddresses(context.Background(), hr.dir.get(router), nil, []string{}, "web", "203.0.113.1"); err != nil {
		t.Fatal(err)
	}
	want = map[string][]string{nas.Name: nil, cam.Name: nil, vm.Name: nil}
	check("router without AAAA")
	if got := hr.ownAAAA(router); len(got) != 0 {
		t.Fatalf("router AAAA %v", got)
	}
	if c := hr.streamOwn(t, cam.Name, "AAAA"); len(c.Records) != 0 {
		t.Fatalf("stream still holds %v for the camera", c.Records)
	}
	if e := hr.dir.hist(router); e[0].Via != "web" || e[0].Remote != "203.0.113.1" || e[0].AAAA == nil || len(e[0].AAAA) != 0 || e[0].A != nil {
		t.Fatalf("router history %+v", e[0])
	}
	hr.sameState(t, []string{router})
}

// TestPrefixLoop: two hosts that take their prefix from each other end.
func TestPrefixLoop(t *testing.T) {
	t.Parallel()
	a := gwstore.Host{Name: "a." + testZone, PrefixFrom: "b." + testZone, InterfaceID: "::a"}
	b := gwstore.Host{Name: "b." + testZone, PrefixFrom: "a." + testZone, InterfaceID: "::b"}
	hr := newHostRig(t, nil, a, b)
	if _, err := hr.g.SetAddresses(context.Background(), hr.dir.get(a.Name), nil, []string{"2001:db8:5:5::1"}, "web", ""); err != nil {
		t.Fatal(err)
	}
	if got := hr.ownAAAA(b.Name); !slices.Equal(got, []string{"2001:db8:5:5::b"}) {
		t.Fatalf("b %v", got)
	}
	if got := hr.ownAAAA(a.Name); !slices.Equal(got, []string{"2001:db8:5:5::1"}) {
		t.Fatalf("a %v: followed b back", got)
	}
}

// TestFollowPrefixAndWithdraw: a host added behind a router takes its
// prefix at once; a withdrawn router takes its records and those of the
// hosts behind it out of the stream.
func TestFollowPrefixAndWithdraw(t *testing.T) {
	t.Parallel()
	router := gwstore.Host{Name: "router." + testZone}
	hr := newHostRig(t, nil, router)
	ctx := context.Background()
	if _, err := hr.g.SetAddresses(ctx, hr.dir.get(router.Name), []string{"192.0.2.1"}, []string{"2001:db8:1:2::1"}, "web", ""); err != nil {
		t.Fatal(err)
	}
	nas := hr.dir.put(gwstore.Host{Name: "nas." + testZone, PrefixFrom: router.Name, InterfaceID: "::5", LeaseSeconds: 300})
	if err := hr.g.FollowPrefix(ctx, nas); err != nil {
		t.Fatal(err)
	}
	if got := hr.ownAAAA(nas.Name); !slices.Equal(got, []string{"2001:db8:1:2::5"}) {
		t.Fatalf("after FollowPrefix %v", got)
	}
	// Behind a router without a lease, a leased host is renewed by the
	// router's updates that change something.
	first := hr.streamSeq(t, nas.Name, "AAAA")
	if _, err := hr.g.SetAddresses(ctx, hr.dir.get(router.Name), []string{"192.0.2.2"}, nil, "web", ""); err != nil {
		t.Fatal(err)
	}
	if got := hr.streamSeq(t, nas.Name, "AAAA"); got <= first {
		t.Fatalf("the host behind not published again: stream sequence %d, was %d", got, first)
	}
	if n := len(hr.dir.hist(nas.Name)); n != 1 {
		t.Fatalf("%d history entries for a renewal", n)
	}
	if err := hr.g.FollowPrefix(ctx, router); err != nil {
		t.Fatalf("FollowPrefix of a host without PrefixFrom: %v", err)
	}
	if err := hr.g.Withdraw(ctx, hr.dir.get(router.Name)); err != nil {
		t.Fatal(err)
	}
	if a, aaaa, n := hr.ownA(router.Name), hr.ownAAAA(router.Name), hr.ownAAAA(nas.Name); len(a)+len(aaaa)+len(n) != 0 {
		t.Fatalf("after Withdraw: %v %v %v", a, aaaa, n)
	}
	if err := hr.g.Withdraw(ctx, hr.dir.get(router.Name)); err != nil {
		t.Fatalf("a second Withdraw: %v", err)
	}
	if c := hr.streamOwn(t, router.Name, "A"); len(c.Records) != 0 {
		t.Fatalf("stream still holds %v", c.Records)
	}
}

// TestSetAddressesInvalid: bad addresses, the wrong family, a host
// outside the zones: an error, nothing published.
func TestSetAddressesInvalid(t *testing.T) {
	t.Parallel()
	h := gwstore.Host{Name: "h." + testZone}
	hr := newHostRig(t, nil, h)
	h = hr.dir.get(h.Name)
	ctx := context.Background()
	many := make([]string, events.MaxRecords+1)
	for i := range many {
		many[i] = fmt.Sprintf("2001:db8::%x", i+1)
	}
	cases := map[string]struct {
		h      gwstore.Host
		v4, v6 []string
	}{
		"not an address": {h, []string{"<script>"}, nil},
		"v6 as v4":       {h, []string{"2001:db8::1"}, nil},
		"v4 as v6":       {h, nil, []string{"192.0.2.1"}},
		"zone id":        {h, nil, []string{"fe80::1%eth0"}},
		"too many":       {h, nil, many},
		"out of zone":    {gwstore.Host{Name: "h.elsewhere.test."}, []string{"192.0.2.1"}, nil},
	}
	for name, c := range cases {
		if _, err := hr.g.SetAddresses(ctx, c.h, c.v4, c.v6, "web", ""); !errors.Is(err, gwstore.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if len(hr.ownA(h.Name))+len(hr.ownAAAA(h.Name)) != 0 || len(hr.dir.hist(h.Name)) != 0 {
		t.Fatal("something published")
	}
	// Canonical forms: mapped, upper case, duplicates, spaces.
	if _, err := hr.g.SetAddresses(ctx, h, []string{" ::ffff:192.0.2.9", "192.0.2.9"}, []string{"2001:DB8:0::1"}, "web", ""); err != nil {
		t.Fatal(err)
	}
	if a, aaaa := hr.ownA(h.Name), hr.ownAAAA(h.Name); !slices.Equal(a, []string{"192.0.2.9"}) || !slices.Equal(aaaa, []string{"2001:db8::1"}) {
		t.Fatalf("A %v AAAA %v", a, aaaa)
	}
	if err := hr.g.FollowPrefix(ctx, gwstore.Host{Name: "n.elsewhere.test.", PrefixFrom: h.Name, InterfaceID: "::1"}); !errors.Is(err, gwstore.ErrInvalid) {
		t.Fatalf("FollowPrefix out of zone: %v", err)
	}
}

// TestHostState: the records and when the stream stored their last
// change; a lease renewal is no change.
func TestHostState(t *testing.T) {
	t.Parallel()
	h := gwstore.Host{Name: "state." + testZone, TTL: 90, LeaseSeconds: 3600}
	hr := newHostRig(t, nil, h)
	h = hr.dir.get(h.Name)
	ctx := context.Background()
	if s := hr.g.HostState(h); len(s.A)+len(s.AAAA) != 0 || !s.Changed.IsZero() {
		t.Fatalf("before any update %+v", s)
	}
	settled := func() HostState {
		t.Helper()
		_, seq := hr.streamState(t)
		hr.settle(t, seq)
		return hr.g.HostState(h)
	}
	before := time.Now()
	if _, err := hr.g.SetAddresses(ctx, h, []string{"192.0.2.1"}, []string{"2001:db8::1"}, "web", ""); err != nil {
		t.Fatal(err)
	}
	s := settled()
	if !slices.Equal(s.A, []string{"192.0.2.1"}) || !slices.Equal(s.AAAA, []string{"2001:db8::1"}) || s.TTL != 90 ||
		s.Changed.Before(before.Add(-time.Second)) || s.Changed.After(time.Now()) {
		t.Fatalf("after the first update %+v", s)
	}
	first := s.Changed
	if changed, err := hr.g.SetAddresses(ctx, h, []string{"192.0.2.1"}, nil, "web", ""); err != nil || changed {
		t.Fatalf("a renewal: changed %v %v", changed, err)
	}
	if s := settled(); !s.Changed.Equal(first) {
		t.Fatalf("a renewal moved Changed from %v to %v", first, s.Changed)
	}
	if _, err := hr.g.SetAddresses(ctx, h, []string{"192.0.2.2"}, nil, "web", ""); err != nil {
		t.Fatal(err)
	}
	if s := settled(); !s.Changed.After(first) || !slices.Equal(s.A, []string{"192.0.2.2"}) {
		t.Fatalf("a change: %+v, first change at %v", s, first)
	}
	// Another gateway following the same stream agrees.
	fresh, _ := hr.replay(t)
	if got, want := fresh.HostState(h), hr.g.HostState(h); !got.Changed.Equal(want.Changed) || !slices.Equal(got.A, want.A) {
		t.Fatalf("a fresh gateway sees %+v, this one %+v", got, want)
	}
}

// TestInUse: a name with records of any origin is in use; a dyndns host's
// own records, left behind, count too; withdrawn ones do not.
func TestInUse(t *testing.T) {
	t.Parallel()
	hr := newRig(t) // its directory has the TSIG key k1
	ctx := context.Background()
	if hr.g.InUse("www." + testZone) {
		t.Fatal("an empty state has www in use")
	}
	// A TSIG key's record (another origin), of a type a host never has.
	if rc := hr.update(t, func(m *dns.Msg) {
		rr, _ := dns.NewRR("www." + testZone + " 60 IN TXT \"hello\"")
		m.Insert([]dns.RR{rr})
	}); rc != dns.RcodeSuccess {
		t.Fatalf("update: rcode %d", rc)
	}
	if !hr.g.InUse("www." + testZone) {
		t.Fatal("a name with a TSIG key's TXT is not in use")
	}
	if hr.g.InUse("other." + testZone) {
		t.Fatal("another name is in use")
	}
	// A host's own records stay in use until withdrawn.
	h, _ := gwstore.Host{Name: "left." + testZone}.Validate()
	if _, err := hr.g.SetAddresses(ctx, h, []string{"192.0.2.1"}, nil, "web", ""); err != nil {
		t.Fatal(err)
	}
	if !hr.g.InUse(h.Name) {
		t.Fatal("a host's A does not count")
	}
	if err := hr.g.Withdraw(ctx, h); err != nil {
		t.Fatal(err)
	}
	if hr.g.InUse(h.Name) {
		t.Fatal("withdrawn records still count")
	}
}

// TestLeaseChangeRepublishes: the same addresses with the lease dropped,
// or added, are published again, so that the records stop (or start)
// expiring; no history entry, nothing changed in them.
func TestLeaseChangeRepublishes(t *testing.T) {
	t.Parallel()
	h := gwstore.Host{Name: "lease." + testZone, LeaseSeconds: 3600}
	router := gwstore.Host{Name: "router." + testZone}
	nas := gwstore.Host{Name: "nas." + testZone, PrefixFrom: router.Name, InterfaceID: "::5", LeaseSeconds: 3600}
	hr := newHostRig(t, nil, h, router, nas)
	h, router, nas = hr.dir.get(h.Name), hr.dir.get(router.Name), hr.dir.get(nas.Name)
	ctx := context.Background()
	if _, err := hr.g.SetAddresses(ctx, h, []string{"192.0.2.1"}, nil, "web", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := hr.g.SetAddresses(ctx, router, nil, []string{"2001:db8:1:2::1"}, "web", ""); err != nil {
		t.Fatal(err)
	}
	leased := func(name, typ string) bool {
		hr.g.mu.Lock()
		defer hr.g.mu.Unlock()
		return !hr.g.idx.LeaseEnd(rrset.Key{Name: name, Type: typ}, gwstore.Host{Name: name}.Origin()).IsZero()
	}
	if !leased(h.Name, "A") || !leased(nas.Name, "AAAA") {
		t.Fatal("no lease on the first publication")
	}
	seq, seqNAS := hr.streamSeq(t, h.Name, "A"), hr.streamSeq(t, nas.Name, "AAAA")
	h.LeaseSeconds, nas.LeaseSeconds = 0, 0
	hr.dir.put(nas)
	if changed, err := hr.g.SetAddresses(ctx, h, []string{"192.0.2.1"}, nil, "web", ""); err != nil || changed {
		t.Fatalf("the lease dropped: changed %v, %v", changed, err)
	}
	if err := hr.g.FollowPrefix(ctx, hr.dir.get(nas.Name)); err != nil {
		t.Fatal(err)
	}
	if leased(h.Name, "A") || hr.streamSeq(t, h.Name, "A") <= seq {
		t.Fatal("the A is not published again without its lease")
	}
	if leased(nas.Name, "AAAA") || hr.streamSeq(t, nas.Name, "AAAA") <= seqNAS {
		t.Fatal("the AAAA behind the router is not published again without its lease")
	}
	if n := len(hr.dir.hist(h.Name)); n != 1 {
		t.Fatalf("%d history entries, want the first only", n)
	}
	// Without a lease and without a change: nothing published.
	seq = hr.streamSeq(t, h.Name, "A")
	if _, err := hr.g.SetAddresses(ctx, h, []string{"192.0.2.1"}, nil, "web", ""); err != nil {
		t.Fatal(err)
	}
	if got := hr.streamSeq(t, h.Name, "A"); got != seq {
		t.Fatalf("an unchanged update without a lease was published (%d, was %d)", got, seq)
	}
}
