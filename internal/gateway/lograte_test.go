package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func TestRefusalLogPerSource(t *testing.T) {
	t.Parallel()
	l := newRefusalLog(LogLimits{Rate: 2, Burst: 5, TotalRate: 100, TotalBurst: 100, Summary: time.Minute})
	a, b := netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("198.51.100.8")
	logged := func(addr netip.Addr, kind string, now time.Time, n int) int {
		got := 0
		for range n {
			if l.allow(addr, kind, now) {
				got++
			}
		}
		return got
	}
	if got := logged(a, "NOTAUTH", t0, 100); got != 5 {
		t.Fatalf("burst: %d lines logged, want 5", got)
	}
	if got := logged(b, "NOTAUTH", t0, 1); got != 1 {
		t.Fatalf("another source: %d lines, want its own budget", got)
	}
	if got := logged(a, "FORMERR", t0.Add(time.Second), 10); got != 2 {
		t.Fatalf("a second later: %d lines, want 2 (the rate)", got)
	}
	if s := l.flush(t0.Add(59 * time.Second)); len(s) != 0 {
		t.Fatalf("summaries before the period ended: %+v", s)
	}
	s := l.flush(t0.Add(time.Minute))
	if len(s) != 1 || s[0].Source != "198.51.100.7" || s[0].Total != 103 || !s[0].Since.Equal(t0) ||
		s[0].Unlogged["NOTAUTH"] != 95 || s[0].Unlogged["FORMERR"] != 8 {
		t.Fatalf("summary %+v, want 95 NOTAUTH and 8 FORMERR from 198.51.100.7", s)
	}
	if s := l.flush(t0.Add(2 * time.Minute)); len(s) != 0 {
		t.Fatalf("a summary reported twice: %+v", s)
	}
	if len(l.sources) != 0 {
		t.Fatalf("%d idle sources still tracked", len(l.sources))
	}
}

// One IPv6 /64 is one source; IPv4-mapped addresses are IPv4 ones.
func TestRefusalLogSources(t *testing.T) {
	t.Parallel()
	l := newRefusalLog(LogLimits{Rate: 1, Burst: 1, TotalRate: 100, TotalBurst: 100})
	for _, c := range []struct {
		addr string
		want bool
	}{
		{"2001:db8:1:2::1", true},
		{"2001:db8:1:2::2", false}, // same /64
		{"2001:db8:1:3::1", true},
		{"192.0.2.1", true},
		{"::ffff:192.0.2.1", false},
		{"", true}, // unknown
		{"", false},
	} {
		var a netip.Addr
		if c.addr != "" {
			a = netip.MustParseAddr(c.addr)
		}
		if got := l.allow(a, "REFUSED", t0); got != c.want {
			t.Errorf("%q: logged %v, want %v", c.addr, got, c.want)
		}
	}
	s := l.flush(t0.Add(time.Hour))
	if len(s) != 3 || s[0].Source != "" || s[1].Source != "192.0.2.1" || s[2].Source != "2001:db8:1:2::/64" {
		t.Fatalf("summaries %+v", s)
	}
}

// Past Sources, new sources share one entry; all together log at most
// TotalBurst, then TotalRate.
func TestRefusalLogBounds(t *testing.T) {
	t.Parallel()
	l := newRefusalLog(LogLimits{Rate: 10, Burst: 10, TotalRate: 1, TotalBurst: 3, Sources: 2})
	got := 0
	for i := range 10 {
		if l.allow(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), "BADSIG", t0) {
			got++
		}
	}
	if got != 3 {
		t.Fatalf("%d lines from 10 sources, want the total burst 3", got)
	}
	if !l.allow(netip.MustParseAddr("192.0.2.200"), "BADSIG", t0.Add(time.Second)) {
		t.Fatal("a second later, no line")
	}
	if len(l.sources) != 2 {
		t.Fatalf("%d sources tracked, want 2", len(l.sources))
	}
	s := l.flush(t0.Add(time.Hour))
	if len(s) != 1 || !s[0].Untracked || s[0].Total != 7 {
		t.Fatalf("summaries %+v", s)
	}
}

// logLines returns the JSON lines written to buf.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(buf)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func counterValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// A flood of refused updates from one address: every one counted, a few
// logged, the rest in one summary line.
func TestUpdateRefusalsLogged(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	now := t0
	reg := prometheus.NewRegistry()
	g := New(Config{Zones: []string{testZone}, Directory: keys{}, Metrics: NewMetrics(reg), Log: zerolog.New(&buf),
		Now: func() time.Time { return now }})
	remote := &net.UDPAddr{IP: net.ParseIP("198.51.100.7"), Port: 40000}
	m := new(dns.Msg)
	m.SetUpdate(testZone) // unsigned: REFUSED
	const n = 1000
	for i := range n {
		now = t0.Add(time.Duration(i/100) * time.Second) // 100 a second
		if rc := g.Handle(context.Background(), m, nil, remote).Rcode; rc != dns.RcodeRefused {
			t.Fatalf("rcode %s", dns.RcodeToString[rc])
		}
	}
	lines := logLines(t, &buf)
	if want := 5 + 2*9; len(lines) != want { // burst, then 2 a second for 9 s
		t.Fatalf("%d lines logged, want %d", len(lines), want)
	}
	if l := lines[0]; l["component"] != "gateway" || l["remote"] != remote.String() || l["rcode"] != "REFUSED" ||
		l["zone"] != testZone || l["message"] != "update refused" {
		t.Fatalf("line %v", l)
	}
	if got := counterValue(t, reg, "zonecast_gateway_updates_total", "rcode", "REFUSED"); got != n {
		t.Fatalf("updates_total{REFUSED} %v, want %d", got, n)
	}
	g.logSummaries(now.Add(time.Minute))
	sum := logLines(t, &buf)
	if len(sum) != 1 || sum[0]["message"] != "refusals not logged" || sum[0]["remote"] != "198.51.100.7" ||
		sum[0]["unlogged"] != float64(n-len(lines)) || sum[0]["unlogged_by"].(map[string]any)["UNSIGNED"] != float64(n-len(lines)) {
		t.Fatalf("summary %v", sum)
	}
}

func TestDyndnsRefusalsLogged(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	reg := prometheus.NewRegistry()
	g := New(Config{Zones: []string{testZone}, Directory: keys{}, Metrics: NewMetrics(reg), Log: zerolog.New(&buf),
		Now: func() time.Time { return t0 }})
	const n = 50
	for range n {
		r := httptest.NewRequest("GET", "/nic/update?hostname=h."+testZone+"&myip=192.0.2.1", nil)
		r.RemoteAddr = "[2001:db8::7]:40000"
		r.SetBasicAuth("h", "token")
		w := httptest.NewRecorder()
		g.ServeHTTP(w, r)
		if w.Body.String() != "nohost\n" {
			t.Fatalf("answer %q", w.Body.String())
		}
	}
	lines := logLines(t, &buf)
	if len(lines) != 5 {
		t.Fatalf("%d lines logged, want 5", len(lines))
	}
	if l := lines[0]; l["component"] != "dyndns" || l["answer"] != "nohost" || l["remote"] != "[2001:db8::7]:40000" ||
		l["name"] != "h."+testZone || l["reason"] != "unknown host" {
		t.Fatalf("line %v", l)
	}
	if got := counterValue(t, reg, "zonecast_gateway_dyndns_answers_total", "answer", "nohost"); got != n {
		t.Fatalf("dyndns_answers_total{nohost} %v, want %d", got, n)
	}
	g.logSummaries(t0.Add(time.Minute))
	sum := logLines(t, &buf)
	if len(sum) != 1 || sum[0]["component"] != "dyndns" || sum[0]["remote"] != "2001:db8::/64" || sum[0]["unlogged"] != float64(n-5) {
		t.Fatalf("summary %v", sum)
	}
}
