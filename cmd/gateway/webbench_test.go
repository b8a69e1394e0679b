package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecast/zonecast/internal/testenv"
	"github.com/zonecast/zonecast/internal/testpdns"
)

// Shape of BenchmarkWebHostList.
const (
	webUsers        = 100 // logged-in users loading their host list at once
	webHostsPerUser = 5   // the default quota, each with an A record
	webRounds       = 5
	webPacedLoads   = 10                     // paced host list loads per user and round
	webPace         = 500 * time.Millisecond // a paced user's time from one load to the next
	webLoadsPerUser = 40                     // back-to-back host list loads per user and round
	webChanges      = 30                     // address changes per round, one at a time
	// webStale is how long a change may take before it counts as stale.
	webStale = time.Second
)

// webUser is a logged-in user of the benchmark: an HTTP client with its
// own cookie jar, which holds the session.
type webUser struct {
	name  string
	c     *http.Client
	base  string
	csrf  string
	hosts []string
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// get fetches path and returns the status and body.
func (u *webUser) get(path string) (int, string, error) {
	resp, err := u.c.Get(u.base + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// post submits a form (with the session's CSRF token) to path, without
// following the redirect that answers it, and returns the status.
func (u *webUser) post(path string, form url.Values) (int, error) {
	form.Set("csrf", u.csrf)
	resp, err := u.c.PostForm(u.base+path, form)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// webLogin logs name in at base: GET /login for the form's double-submit
// token, POST /login; it returns the user with the session's CSRF token.
func webLogin(b *testing.B, base, name, password string) *webUser {
	b.Helper()
	jar, _ := cookiejar.New(nil)
	u := &webUser{name: name, base: base, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     &http.Transport{MaxIdleConnsPerHost: 2}}}
	st, body, err := u.get("/login")
	m := csrfField.FindStringSubmatch(body)
	if err != nil || st != http.StatusOK || m == nil {
		b.Fatalf("GET /login: %d %v", st, err)
	}
	u.csrf = m[1]
	st, err = u.post("/login", url.Values{"username": {name}, "password": {password}})
	if err != nil || st != http.StatusSeeOther {
		b.Fatalf("logging in %s: status %d %v", name, st, err)
	}
	st, body, err = u.get("/")
	m = csrfField.FindStringSubmatch(body)
	if err != nil || st != http.StatusOK || m == nil || !strings.Contains(body, `id="hosts"`) {
		b.Fatalf("GET / after login of %s: %d %v", name, st, err)
	}
	u.csrf = m[1]
	return u
}

// hostListLoad has every user load their host list n times, all users at
// once: back to back when pace is 0, otherwise one load every pace, the
// users' first loads spread over one pace. It returns every load's
// latency, sorted, and the failures.
func hostListLoad(users []*webUser, n int, pace time.Duration) ([]time.Duration, int) {
	var mu sync.Mutex
	var all []time.Duration
	failed := 0
	var wg sync.WaitGroup
	start := time.Now().Add(10 * time.Millisecond)
	for i, u := range users {
		wg.Go(func() {
			next := start.Add(pace * time.Duration(i) / time.Duration(len(users)))
			lat := make([]time.Duration, 0, n)
			bad := 0
			for range n {
				if pace > 0 {
					time.Sleep(time.Until(next)) // the load's shape, not a wait for something
					next = next.Add(pace)
				}
				t0 := time.Now()
				st, body, err := u.get("/")
				d := time.Since(t0)
				if err != nil || st != http.StatusOK || !strings.Contains(body, u.hosts[0]) {
					bad++
					continue
				}
				lat = append(lat, d)
			}
			mu.Lock()
			all = append(all, lat...)
			failed += bad
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(all)
	return all, failed
}

// answers reports whether the PowerDNS at addr answers name A with addr4
// only.
func answers(c *dns.Client, server, name, addr4 string) bool {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	m.RecursionDesired = false
	r, _, err := c.Exchange(m, server)
	if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		return false
	}
	a, ok := r.Answer[0].(*dns.A)
	return ok && a.A.String() == addr4
}

// changeToDig posts a new address on the host page's address form and
// waits until every PowerDNS answers it; it returns how long that took.
func changeToDig(b *testing.B, u *webUser, host, addr4 string, servers []string) time.Duration {
	b.Helper()
	c := &dns.Client{Net: "udp", Timeout: time.Second}
	t0 := time.Now()
	st, err := u.post("/hosts/"+hostKey(host)+"/address", url.Values{"a": {addr4}, "aaaa": {""}})
	if err != nil || st != http.StatusSeeOther {
		b.Fatalf("POST address of %s: status %d %v", host, st, err)
	}
	deadline := t0.Add(30 * time.Second) // beyond PowerDNS's cache-ttl: a stale cached answer shows as a figure
	for _, s := range servers {
		for !answers(c, s, host, addr4) {
			if time.Now().After(deadline) {
				m := new(dns.Msg)
				m.SetQuestion(host, dns.TypeA)
				var got []string
				for _, s := range servers {
					r, _, err := c.Exchange(m, s)
					got = append(got, fmt.Sprintf("%s: %v %v", s, r, err))
				}
				b.Fatalf("%s A %s not served by %s after 30 s; answers:\n%s", host, addr4, s, strings.Join(got, "\n"))
			}
			time.Sleep(time.Millisecond)
		}
	}
	return time.Since(t0)
}

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, len(sorted)*p/100)]
}

// BenchmarkWebHostList measures the web page (issue 19) on one real
// zonecast-gateway (--web-listen, --log-level warn) beside two real
// zonecast-syncers (the first embeds NATS, the second joins it) and their
// PowerDNS (gsqlite3 and lmdb), all on one machine. 100 users, made with
// `zonecast-gateway user add` and logged in through POST /login, each
// with its own session and 5 hosts with an A record. Each round:
//
//   - paced: every user loads GET / (their host list, with the records
//     from the stream) once every 500 ms, 10 times, the users spread over
//     the 500 ms: 100 users at once, each as a person reloading the page;
//   - back to back: every user loads GET / 40 times without a pause, all
//     100 at once (100 requests always in flight): the gateway's
//     throughput, and the latency it gives at saturation;
//   - change -> dig: a user posts a new address on a host page's address
//     form (what the browser sends), and the time until both PowerDNS
//     answer it (polled every millisecond; PowerDNS's query cache off,
//     see pdnsNoQueryCache), 30 changes one at a time.
//
// Reported: p50 and p99 of each, medians over 5 rounds, the back-to-back
// loads per second and the gateway's CPU per load. The load tool is this
// benchmark's own HTTP client (net/http, one connection and cookie jar
// per user), on the same two cores as everything else.
//
//	go test -run '^$' -bench WebHostList -benchtime 1x -v ./cmd/gateway
func BenchmarkWebHostList(b *testing.B) {
	// PowerDNS's query cache off (pdnsNoQueryCache): this benchmark polls
	// every millisecond and would hit its stale answers now and then; it
	// counts them (stale). ZONECAST_BENCH_PDNS_CONF replaces that
	// configuration, lines separated by ";" (empty: PowerDNS's defaults).
	conf := pdnsNoQueryCache
	if v, ok := os.LookupEnv("ZONECAST_BENCH_PDNS_CONF"); ok {
		conf = strings.ReplaceAll(v, ";", "\n")
	}
	var first *testenv.Syncer
	var servers []string
	for _, backend := range []string{"gsqlite3", "lmdb"} {
		p := testpdns.StartWith(b, backend, conf)
		opts := testenv.SyncerOptions{Zones: []string{zone}, PDNS: p, Extra: []string{"--log-level", "warn", "--node-id", backend}}
		if first != nil {
			opts.NATS = &testenv.NATS{URL: fmt.Sprintf("nats://127.0.0.1:%d", first.NATSPort), PasswordFile: first.PasswordFile}
		}
		s := testenv.StartSyncer(b, opts)
		servers = append(servers, p.DNSAddr)
		if first == nil {
			first = s
		}
	}
	webAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(b))
	gw := testenv.StartGateway(b, testenv.GatewayOptions{Syncer: first, Zones: []string{zone},
		Extra: []string{"--log-level", "warn", "--web-listen", webAddr}})
	base := "http://" + webAddr

	// The users, made with the CLI, four at a time (each hashes its
	// password), then logged in and given their hosts.
	pwFile := filepath.Join(b.TempDir(), "password")
	const password = "bench-password-0123456789"
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	names := make([]string, webUsers)
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i := range names {
		names[i] = fmt.Sprintf("user%03d", i)
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if _, err := gw.TryAdmin("user", "add", names[i], "--zone", zone, "--quota", fmt.Sprint(webHostsPerUser),
				"--password-file", pwFile); err != nil {
				b.Errorf("user add %s: %v", names[i], err)
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	users := make([]*webUser, webUsers)
	for i, n := range names {
		u := webLogin(b, base, n, password)
		for j := range webHostsPerUser {
			label := fmt.Sprintf("h%d-%s", j, n)
			if st, err := u.post("/hosts", url.Values{"label": {label}, "zone": {zone}, "ttl": {"60"}, "lease": {"0"}}); err != nil || st != http.StatusSeeOther {
				b.Fatalf("adding host %s: status %d %v", label, st, err)
			}
			host := label + "." + zone
			u.hosts = append(u.hosts, hostKey(host))
			if st, err := u.post("/hosts/"+hostKey(host)+"/address", url.Values{"a": {fmt.Sprintf("10.%d.%d.1", i, j)}, "aaaa": {""}}); err != nil || st != http.StatusSeeOther {
				b.Fatalf("setting the address of %s: status %d %v", host, st, err)
			}
		}
		users[i] = u
	}
	// Every host served, so the lists show every record.
	c := &dns.Client{Net: "udp", Timeout: time.Second}
	last := users[webUsers-1]
	for _, s := range servers {
		testenv.Eventually(b, 60*time.Second, "the last host served", func() bool {
			return answers(c, s, last.hosts[webHostsPerUser-1]+".", fmt.Sprintf("10.%d.%d.1", webUsers-1, webHostsPerUser-1))
		})
	}
	if _, failed := hostListLoad(users, 2, 0); failed > 0 { // warm-up
		b.Fatalf("warm-up: %d host list loads failed", failed)
	}

	b.ResetTimer()
	m := map[string][]float64{}
	stales := 0
	add := func(k string, v float64) { m[k] = append(m[k], v) }
	for round := range webRounds {
		paced, failed := hostListLoad(users, webPacedLoads, webPace)
		if failed > 0 {
			b.Fatalf("round %d: %d of %d paced host list loads failed", round, failed, webUsers*webPacedLoads)
		}
		cpu0, t0 := cpuTime(gw.PID()), time.Now()
		lat, failed := hostListLoad(users, webLoadsPerUser, 0)
		elapsed, cpu := time.Since(t0), cpuTime(gw.PID())-cpu0
		if failed > 0 {
			b.Fatalf("round %d: %d of %d host list loads failed", round, failed, webUsers*webLoadsPerUser)
		}
		rate := float64(len(lat)) / elapsed.Seconds()
		perLoad := float64(cpu.Microseconds()) / float64(len(lat))

		var ch []time.Duration
		for i := range webChanges {
			u := users[(round*webChanges+i)%webUsers]
			host := u.hosts[i%webHostsPerUser] + "."
			ch = append(ch, changeToDig(b, u, host, fmt.Sprintf("10.200.%d.%d", round, i+1), servers))
		}
		slices.Sort(ch)
		stale := len(ch) - sort.Search(len(ch), func(i int) bool { return ch[i] > webStale })
		stales += stale
		add("paced-p50", ms(pct(paced, 50)))
		add("paced-p99", ms(pct(paced, 99)))
		add("b2b-p50", ms(pct(lat, 50)))
		add("b2b-p99", ms(pct(lat, 99)))
		add("b2b-rate", rate)
		add("cpu", perLoad)
		add("dig-p50", ms(pct(ch, 50)))
		add("dig-p99", ms(pct(ch, 99)))
		b.Logf("round %d: host list paced p50 %5.2f ms p99 %6.2f ms | back to back p50 %6.2f ms p99 %6.2f ms, %4.0f loads/s, "+
			"gateway cpu %3.0f µs/load | change -> dig on both p50 %5.2f ms p99 %6.2f ms max %6.2f ms, stale %d",
			round, ms(pct(paced, 50)), ms(pct(paced, 99)), ms(pct(lat, 50)), ms(pct(lat, 99)), rate, perLoad,
			ms(pct(ch, 50)), ms(pct(ch, 99)), ms(ch[len(ch)-1]), stale)
	}
	b.StopTimer()
	b.Logf("host list, 100 users paced: p50 %.2f ms (%s), p99 %.2f ms (%s)", medianOf(m["paced-p50"]), fmtRates(m["paced-p50"]),
		medianOf(m["paced-p99"]), fmtRates(m["paced-p99"]))
	b.Logf("host list, 100 users back to back: p50 %.2f ms (%s), p99 %.2f ms (%s), %.0f loads/s (%s), gateway cpu %.0f µs/load",
		medianOf(m["b2b-p50"]), fmtRates(m["b2b-p50"]), medianOf(m["b2b-p99"]), fmtRates(m["b2b-p99"]),
		medianOf(m["b2b-rate"]), fmtRates(m["b2b-rate"]), medianOf(m["cpu"]))
	b.Logf("change -> dig on both: p50 %.2f ms (%s), p99 %.2f ms (%s); %d of %d over %v (PowerDNS: %q)",
		medianOf(m["dig-p50"]), fmtRates(m["dig-p50"]), medianOf(m["dig-p99"]), fmtRates(m["dig-p99"]),
		stales, webRounds*webChanges, webStale, conf)
	b.ReportMetric(medianOf(m["paced-p50"]), "list-p50-ms")
	b.ReportMetric(medianOf(m["paced-p99"]), "list-p99-ms")
	b.ReportMetric(medianOf(m["b2b-p99"]), "list-b2b-p99-ms")
	b.ReportMetric(medianOf(m["b2b-rate"]), "list-b2b-loads/s")
	b.ReportMetric(medianOf(m["dig-p50"]), "change-dig-p50-ms")
	b.ReportMetric(medianOf(m["dig-p99"]), "change-dig-p99-ms")
	b.ReportMetric(float64(stales), "change-dig-stale")
}
