package main

// Benchmarks of signed zones (issue 17), against real peers only:
// pdns_server (lmdb, as docs/dnssec.md advises for signed zones), the
// zonecast-syncer and zonecast-signer binaries, Debian's unbound as a
// validating resolver and BIND's dnssec-verify. Each benchmark runs its
// own rounds and reports medians, side by side in one run. Run with
// `make bench` (or BENCH_PKGS=./cmd/signer); method and figures are in
// docs/benchmarks.md, "Signed zones".

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/crypto/bcrypt"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/dnssec"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/pdnsapi"
	"github.com/zonecast/zonecast/internal/rrset"
	"github.com/zonecast/zonecast/internal/signer"
	"github.com/zonecast/zonecast/internal/testenv"
	"github.com/zonecast/zonecast/internal/testpdns"
	"github.com/zonecast/zonecast/internal/testunbound"
)

// signedConf is the pdns.conf of a node serving signed zones, as
// docs/dnssec.md sets one up: lmdb, and PowerDNS's query cache off
// (metadata read at once, for pdnsutil set-presigned).
const signedConf = "domain-metadata-cache-ttl=0\nquery-cache-ttl=0\nnegquery-cache-ttl=0"

// benchNS is the apex NS the signer publishes in every benchmark zone:
// outside them all, so one --ns serves several zones.
const benchNS = "ns1.bench.test."

// benchUsers writes a users file with a signer-role user (origin
// "signer") for zones, and returns it with the user's password file.
func benchUsers(tb testing.TB, zones []string) (usersFile, pwFile string) {
	tb.Helper()
	dir := tb.TempDir()
	pwFile = filepath.Join(dir, "signer-password")
	pw, err := bus.EnsurePassword(pwFile)
	if err != nil {
		tb.Fatal(err)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		tb.Fatal(err)
	}
	var quoted []string
	for _, z := range zones {
		quoted = append(quoted, strconv.Quote(z))
	}
	usersFile = filepath.Join(dir, "users.json")
	doc := fmt.Sprintf(`{"users":[{"user":"signer","password_hash":%q,"role":"signer","origin":"signer","zones":[%s]}]}`,
		h, strings.Join(quoted, ","))
	if err := os.WriteFile(usersFile, []byte(doc), 0o600); err != nil {
		tb.Fatal(err)
	}
	return usersFile, pwFile
}

// pdnsutil runs pdnsutil on p's configuration.
func pdnsutil(tb testing.TB, p *testpdns.Server, args ...string) string {
	tb.Helper()
	out, err := exec.Command("pdnsutil", append([]string{"--config-dir=" + p.Dir}, args...)...).CombinedOutput()
	if err != nil {
		tb.Fatalf("pdnsutil %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// presignZones waits until the syncer has created each signed zone (and
// reports it not presigned), then marks it presigned with pdnsutil; the
// syncer sees the mark within 10 s.
func presignZones(tb testing.TB, s *testenv.Syncer, p *testpdns.Server, zones []string) {
	tb.Helper()
	for _, z := range zones {
		testenv.Eventually(tb, 30*time.Second, z+" created and reported as not presigned", func() bool {
			return s.Metric(tb, fmt.Sprintf(`zonecast_syncer_zone_not_presigned{zone=%q}`, z)) == 1
		})
		pdnsutil(tb, p, "set-presigned", z)
	}
}

// startBenchSigner starts zonecast-signer for zones on s's NATS (at
// benchLevel) and returns it with the DS of the first zone.
func startBenchSigner(tb testing.TB, s *testenv.Syncer, pwFile string, zones []string, extra ...string) (*testenv.Signer, string) {
	tb.Helper()
	sg := testenv.StartSigner(tb, testenv.SignerOptions{Syncer: s, Zones: zones, NS: []string{benchNS},
		User: "signer", PasswordFile: pwFile, Extra: append([]string{"--log-level", benchLevel()}, extra...)})
	ds := strings.TrimSpace(sg.Run(tb, "ds", "--zone", zones[0], "--key-dir", sg.Opts.KeyDir))
	if !strings.Contains(ds, "\tDS\t") {
		tb.Fatalf("zonecast-signer ds printed %q", ds)
	}
	return sg, ds
}

// publishOne publishes one AAAA record event as origin ops and returns
// its stream sequence.
func publishOne(tb testing.TB, pub *bus.Publisher, name, addr string) uint64 {
	tb.Helper()
	seq, err := pub.Publish(context.Background(), events.Message{Version: 1, Name: name, Type: "AAAA", Origin: "ops",
		TTL: 60, Records: []string{addr}}, 0)
	if err != nil {
		tb.Fatalf("publishing %s: %v", name, err)
	}
	return seq
}

// publishBurst publishes n AAAA record events h<j>.<zone> (addresses in
// 2001:db8:<r+1>::/48) as origin ops, all but the last asynchronously,
// and returns the stream sequence of the last, which is the zone's last
// record event: its SOA serial, unsigned (the syncer's) or signed (the
// signer's).
func publishBurst(tb testing.TB, pub *bus.Publisher, zone string, n, r int) uint64 {
	tb.Helper()
	ctx := context.Background()
	msg := func(j int) events.Message {
		return events.Message{Version: 1, Name: fmt.Sprintf("h%d.%s", j, zone), Type: "AAAA", Origin: "ops", TTL: 60,
			Records: []string{fmt.Sprintf("2001:db8:%x::%x", r+1, j+1)}}
	}
	for j := 0; j < n-1; j++ {
		if err := pub.PublishAsync(ctx, msg(j), 0); err != nil {
			tb.Fatal(err)
		}
	}
	fctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if _, err := pub.Flush(fctx); err != nil {
		tb.Fatal(err)
	}
	seq, err := pub.Publish(ctx, msg(n-1), 0)
	if err != nil {
		tb.Fatal(err)
	}
	return seq
}

// soaSerial asks addr for zone's SOA serial over UDP.
func soaSerial(c *dns.Client, addr, zone string) (uint32, bool) {
	m := new(dns.Msg)
	m.SetQuestion(zone, dns.TypeSOA)
	r, _, err := c.Exchange(m, addr)
	if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
		return 0, false
	}
	soa, ok := r.Answer[0].(*dns.SOA)
	if !ok {
		return 0, false
	}
	return soa.Serial, true
}

// waitSerial asks addr for zone's SOA every 2 ms until its serial is
// want, failing after limit.
func waitSerial(tb testing.TB, addr, zone string, want uint32, limit time.Duration) {
	tb.Helper()
	waitServed(tb, addr, nil, zone, want, limit)
}

// waitServed is waitSerial that, with api, also reads the SOA PowerDNS
// stores (every 100 ms once a second has passed), and returns, when it
// stored want before it served it, how long before (0 otherwise): the
// time a stale answer spent in PowerDNS's caches.
func waitServed(tb testing.TB, addr string, api *pdnsapi.Client, zone string, want uint32, limit time.Duration) time.Duration {
	tb.Helper()
	c := &dns.Client{Timeout: time.Second}
	start := time.Now()
	var storedAt, checked time.Time
	for {
		if serial, ok := soaSerial(c, addr, zone); ok && serial == want {
			if storedAt.IsZero() {
				return 0
			}
			return time.Since(storedAt)
		}
		if now := time.Now(); api != nil && storedAt.IsZero() && now.Sub(start) > time.Second && now.Sub(checked) > 100*time.Millisecond {
			checked = now
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			set, found, err := api.RRset(ctx, zone, rrset.Key{Name: zone, Type: "SOA"})
			cancel()
			if f := strings.Fields(strings.Join(set.Records, " ")); err == nil && found && len(f) == 7 && f[2] == strconv.FormatUint(uint64(want), 10) {
				storedAt = now
			}
		}
		if time.Since(start) > limit {
			serial, _ := soaSerial(c, addr, zone)
			tb.Fatalf("%s: SOA serial %d after %s, want %d", zone, serial, limit, want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// answers reports whether addr answers name AAAA with exactly want.
func answers(c *dns.Client, addr, name, want string) bool {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeAAAA)
	r, _, err := c.Exchange(m, addr)
	return err == nil && hasAAAA(r.Answer, want)
}

// answersSigned reports whether addr answers name's AAAA with want and
// an RRSIG over it (DO set).
func answersSigned(c *dns.Client, addr, name, want string) bool {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeAAAA)
	m.SetEdns0(1232, true)
	r, _, err := c.Exchange(m, addr)
	if err != nil || !hasAAAA(r.Answer, want) {
		return false
	}
	for _, rr := range r.Answer {
		if sig, ok := rr.(*dns.RRSIG); ok && sig.TypeCovered == dns.TypeAAAA {
			return true
		}
	}
	return false
}

func hasAAAA(rrs []dns.RR, want string) bool {
	for _, rr := range rrs {
		if a, ok := rr.(*dns.AAAA); ok && a.AAAA.String() == want {
			return true
		}
	}
	return false
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// percentile is nearest-rank below: p 0.99 of 120 samples is the 119th.
func percentile(xs []float64, p float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[int(float64(len(s)-1)*p)]
}

func fmtNums(xs []float64, prec int) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.FormatFloat(x, 'f', prec, 64)
	}
	return strings.Join(parts, " ")
}

// benchLevel is the log level of the benchmarks' daemons: info, as in
// production, or debug with ZONECAST_BENCH_TRACE=DIR, which keeps their
// logs (the syncer's trace of every write, the signer's of every
// published change) in DIR at the end.
func benchLevel() string {
	if os.Getenv("ZONECAST_BENCH_TRACE") != "" {
		return "debug"
	}
	return "info"
}

// keepLogs copies the daemons' logs (name -> path) into
// ZONECAST_BENCH_TRACE's directory, if it is set.
func keepLogs(logs map[string]string) {
	dir := os.Getenv("ZONECAST_BENCH_TRACE")
	if dir == "" {
		return
	}
	time.Sleep(100 * time.Millisecond) // let the last lines reach the logs
	for name, from := range logs {
		data, _ := os.ReadFile(from)
		_ = os.WriteFile(filepath.Join(dir, name), data, 0o600)
	}
}

// fetchProfile saves a CPU profile of secs seconds of the process serving
// /debug/pprof at addr (ZONECAST_BENCH_PROFILE).
func fetchProfile(addr string, secs int, path string) {
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs))
	if err != nil {
		return
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	_ = os.WriteFile(path, data, 0o600)
}

// cpuTime returns the user+system CPU time a process has used so far,
// from /proc/PID/stat (clock ticks of 10 ms).
func cpuTime(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// diagnose returns what PowerDNS answers for name (AAAA and NSEC, with
// DO, and as a resolver asks), the lines of the zone's transfer at and
// around name, and what r got, for a benchmark's log.
func diagnose(tb testing.TB, p *testpdns.Server, r *testunbound.Resolver, zone, name string) string {
	tb.Helper()
	host, port, _ := strings.Cut(p.DNSAddr, ":")
	var out strings.Builder
	for _, typ := range []string{"AAAA", "NSEC"} {
		o, _ := exec.Command("dig", "@"+host, "-p", port, "+dnssec", "+norec", "+multiline", name, typ).CombinedOutput()
		fmt.Fprintf(&out, "dig %s %s +dnssec:\n%s\n", name, typ, o)
	}
	label, _, _ := strings.Cut(name, ".")
	out.WriteString("transfer, lines naming " + label + ":\n")
	for _, line := range strings.Split(p.AXFR(tb, zone), "\n") {
		if strings.Contains(line, label+".") {
			out.WriteString(line + "\n")
		}
	}
	// What a resolver gets: PowerDNS asked as unbound asks (DO, no
	// cookie), and unbound's own unvalidated answer (CD).
	ask := func(addr string, rd, cd bool) string {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeAAAA)
		m.RecursionDesired, m.CheckingDisabled = rd, cd
		m.SetEdns0(1232, true)
		resp, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, addr)
		if err != nil {
			return err.Error()
		}
		return resp.String()
	}
	fmt.Fprintf(&out, "PowerDNS asked as a resolver asks:\n%s\n", ask(p.DNSAddr, false, false))
	if r != nil {
		fmt.Fprintf(&out, "unbound with CD (what it got):\n%s\n", ask(r.Addr(), true, true))
	}
	return out.String()
}

// BenchmarkPublishToValidated measures, at low load, the time from
// publishing one record event for a new name in a signed zone until a
// validating unbound (stub to the node's PowerDNS, nothing cached)
// answers it NOERROR with AD, polled every 2 ms; on the way it stamps
// when PowerDNS itself first answers the name. Side by side, alternating,
// the same publish into an unsigned zone of the same syncer, until
// PowerDNS answers it (publish -> dig, polled every 2 ms).
func BenchmarkPublishToValidated(b *testing.B) {
	const samples = 120
	const signed, plain = "validated.bench.test.", "plain.bench.test."
	usersFile, pwFile := benchUsers(b, []string{signed})
	p := testpdns.StartWith(b, "lmdb", signedConf)
	s := testenv.StartSyncer(b, testenv.SyncerOptions{PDNS: p, Zones: []string{plain},
		Extra: []string{"--signed-zone", signed, "--nats-users-file", usersFile, "--log-level", benchLevel()}})
	pub := s.Publisher(b)
	presignZones(b, s, p, []string{signed})
	last := publishOne(b, pub, "www."+signed, "2001:db8::80")
	profDir := os.Getenv("ZONECAST_BENCH_PROFILE")
	var signerExtra []string
	if profDir != "" {
		signerExtra = []string{"--pprof"}
	}
	sg, ds := startBenchSigner(b, s, pwFile, []string{signed}, signerExtra...)
	defer keepLogs(map[string]string{"syncer.log": s.LogPath, "signer.log": sg.LogPath})
	waitSerial(b, p.DNSAddr, signed, uint32(last), 30*time.Second)
	r := testunbound.Start(b, testunbound.Config{Zone: signed, Stub: p.DNSAddr, Anchors: []string{ds}})
	if a := r.Query(b, "www."+signed, "AAAA"); a.Status() != "NOERROR" || !a.AD {
		b.Fatalf("unbound answers www AAAA with %s, AD %v; want NOERROR with AD", a.Status(), a.AD)
	}
	c := &dns.Client{Timeout: time.Second}

	var validated, served, unsigned []float64
	servfails := 0
	var stuck []string // samples not validated within a second
	signedSample := func(name, want string) {
		start := time.Now()
		publishOne(b, pub, name, want)
		seen, logged := false, false
		for {
			if !seen && answers(c, p.DNSAddr, name, want) {
				served = append(served, time.Since(start).Seconds()*1000)
				seen = true
			}
			a, err := r.TryQuery(name, "AAAA")
			if err == nil && a.Rcode == dns.RcodeSuccess && a.AD && hasAAAA(a.Answer, want) {
				break
			}
			if err == nil && a.Rcode == dns.RcodeServerFailure {
				servfails++
			}
			if !logged && time.Since(start) > time.Second {
				b.Logf("%s not validated after 1 s (last: %s, AD %v, %v)\n%s", name, a.Status(), a.AD, err, diagnose(b, p, r, signed, name))
				logged = true
			}
			if time.Since(start) > 2*time.Minute {
				b.Fatalf("%s not validated after 2 minutes (last: %s, AD %v, %v)", name, a.Status(), a.AD, err)
			}
			time.Sleep(2 * time.Millisecond)
		}
		validated = append(validated, time.Since(start).Seconds()*1000)
		if logged {
			stuck = append(stuck, fmt.Sprintf("%s %.1f s", name, validated[len(validated)-1]/1000))
		}
		if os.Getenv("ZONECAST_BENCH_TRACE") != "" {
			b.Logf("%s published at %s, validated after %.1f ms", name, start.UTC().Format("15:04:05.000"), validated[len(validated)-1])
		}
		if !seen { // served and validated between two polls
			served = append(served, validated[len(validated)-1])
		}
	}
	plainSample := func(name, want string) {
		start := time.Now()
		publishOne(b, pub, name, want)
		for !answers(c, p.DNSAddr, name, want) {
			if time.Since(start) > 2*time.Minute {
				b.Fatalf("%s not answered after 2 minutes", name)
			}
			time.Sleep(2 * time.Millisecond)
		}
		unsigned = append(unsigned, time.Since(start).Seconds()*1000)
		if ms := unsigned[len(unsigned)-1]; ms > 1000 {
			stuck = append(stuck, fmt.Sprintf("%s %.1f s", name, ms/1000))
		}
	}
	cpu0 := cpuTime(sg.PID())
	if profDir != "" {
		go fetchProfile(sg.HTTPAddr, 10, filepath.Join(profDir, "signer-latency.pprof"))
	}
	for i := 0; i < b.N; i++ {
		for j := 0; j < samples; j++ {
			want := fmt.Sprintf("2001:db8:1::%x", j+1)
			sName, pName := fmt.Sprintf("v%d-%d.%s", i, j, signed), fmt.Sprintf("v%d-%d.%s", i, j, plain)
			if j%2 == 0 {
				signedSample(sName, want)
				time.Sleep(20 * time.Millisecond)
				plainSample(pName, want)
			} else {
				plainSample(pName, want)
				time.Sleep(20 * time.Millisecond)
				signedSample(sName, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	signerCPU := (cpuTime(sg.PID()) - cpu0).Seconds()
	if axfr, err := p.VerifyDNSSEC(b, signed); err != nil {
		b.Fatalf("%v\n%s", err, axfr)
	}
	b.ReportMetric(median(validated), "p50-ms")
	b.ReportMetric(percentile(validated, 0.99), "p99-ms")
	b.ReportMetric(median(served), "served-p50-ms")
	b.ReportMetric(median(unsigned), "unsigned-p50-ms")
	b.Logf("publish -> validated AD answer through unbound, %d samples: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms",
		len(validated), median(validated), percentile(validated, 0.9), percentile(validated, 0.99), percentile(validated, 1))
	b.Logf("  of which publish -> PowerDNS answers the signed name: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms",
		median(served), percentile(served, 0.9), percentile(served, 0.99), percentile(served, 1))
	b.Logf("unsigned zone, same syncer, publish -> dig, %d samples: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms",
		len(unsigned), median(unsigned), percentile(unsigned, 0.9), percentile(unsigned, 0.99), percentile(unsigned, 1))
	b.Logf("SERVFAIL answers seen while polling: %d; samples validated (or, unsigned, answered) only after more than 1 s: %d %v", servfails, len(stuck), stuck)
	b.Logf("signer CPU %.2f s for %d changes", signerCPU, len(validated))
}

// BenchmarkSignedBurst20k: a burst of 20,000 AAAA record events (20,000
// new RRsets, each round into a fresh zone) three ways, side by side in
// rounds whose order rotates, each timed from the first publish until the
// node's SOA serial is the one of the burst's last event:
//
//   - unsigned: into an unsigned zone of node A (the baseline);
//   - signed: into a signed zone of node A, through zonecast-signer: A
//     serves the signer's SOA serial (the last event's sequence);
//   - online: into an unsigned-style zone of node B (its own PowerDNS and
//     syncer, on A's NATS) that PowerDNS signs online (pdnsutil
//     secure-zone): the keys are on the node.
//
// After the rounds, the last signed zone and the last online-signed zone
// are checked once with dnssec-verify.
func BenchmarkSignedBurst20k(b *testing.B) {
	const n = 20000
	rounds := 5
	if v, err := strconv.Atoi(os.Getenv("ZONECAST_BENCH_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	level, trace := benchLevel(), os.Getenv("ZONECAST_BENCH_TRACE") != ""
	const settle = 3 * time.Second // the syncer's rectify of unsigned zones runs 1 s after a burst
	var unsignedZones, signedZones, onlineZones []string
	for r := 0; r < rounds; r++ {
		unsignedZones = append(unsignedZones, fmt.Sprintf("burst-u%d.bench.test.", r))
		signedZones = append(signedZones, fmt.Sprintf("burst-s%d.bench.test.", r))
		onlineZones = append(onlineZones, fmt.Sprintf("burst-o%d.bench.test.", r))
	}
	usersFile, pwFile := benchUsers(b, signedZones)
	pa := testpdns.StartWith(b, "lmdb", signedConf)
	extra := []string{"--nats-users-file", usersFile, "--log-level", level}
	for _, z := range signedZones {
		extra = append(extra, "--signed-zone", z)
	}
	profDir := os.Getenv("ZONECAST_BENCH_PROFILE")
	if profDir != "" {
		extra = append(extra, "--pprof")
	}
	sa := testenv.StartSyncer(b, testenv.SyncerOptions{PDNS: pa, Zones: unsignedZones, Extra: extra})
	// A KSK and a ZSK, as zonecast-signer makes them (4.7's default is
	// one combined key).
	pb := testpdns.StartWith(b, "lmdb", "domain-metadata-cache-ttl=0\ndnssec-key-cache-ttl=0\n"+
		"default-ksk-algorithm=ecdsa256\ndefault-zsk-algorithm=ecdsa256")
	sb := testenv.StartSyncer(b, testenv.SyncerOptions{PDNS: pb, Zones: onlineZones,
		NATS:  &testenv.NATS{URL: fmt.Sprintf("nats://127.0.0.1:%d", sa.NATSPort), PasswordFile: sa.PasswordFile},
		Extra: []string{"--node-id", "online", "--log-level", level}})
	pub := sa.Publisher(b)

	presignZones(b, sa, pa, signedZones)
	var last uint64
	for _, z := range signedZones {
		last = publishOne(b, pub, "www."+z, "2001:db8::80")
	}
	var signerExtra []string
	if profDir != "" {
		signerExtra = append(signerExtra, "--pprof")
	}
	sg, _ := startBenchSigner(b, sa, pwFile, signedZones, signerExtra...)
	defer keepLogs(map[string]string{"syncer.log": sa.LogPath, "signer.log": sg.LogPath, "online-syncer.log": sb.LogPath})
	waitSerial(b, pa.DNSAddr, signedZones[rounds-1], uint32(last), 30*time.Second)
	for _, z := range onlineZones {
		pdnsutil(b, pb, "secure-zone", z)
	}
	for _, z := range onlineZones {
		testenv.Eventually(b, 30*time.Second, z+" served with a DNSKEY (online signing)", func() bool {
			return len(pb.Dig(b, z, "DNSKEY")) > 0
		})
	}

	apiA := pdnsapi.New(pa.APIURL, pa.APIKey, "localhost", 5*time.Minute)
	apiB := pdnsapi.New(pb.APIURL, pb.APIKey, "localhost", 5*time.Minute)
	var unsignedS, signedS, onlineS, signerS, ratios, onlineRatios []float64
	var signerCPU, syncerCPU, unsignedCPU, onlineCPU, published []float64
	load := func(kind string, r int) {
		time.Sleep(settle)
		var zone, addr string
		api := apiA
		switch kind {
		case "unsigned":
			zone, addr = unsignedZones[r], pa.DNSAddr
		case "signed":
			zone, addr = signedZones[r], pa.DNSAddr
		case "online":
			zone, addr, api = onlineZones[r], pb.DNSAddr, apiB
		}
		sgCPU0, saCPU0, sbCPU0 := cpuTime(sg.PID()), cpuTime(sa.PID()), cpuTime(sb.PID())
		pub0 := sg.Metric(b, "zonecast_signer_published_total")
		var signerDone atomic.Int64 // ns after start when the signer published the last change
		stop := make(chan struct{})
		start := time.Now()
		var seq atomic.Uint64 // the burst's last sequence, once known
		if kind == "signed" {
			watched := make(chan struct{})
			go func() {
				defer close(watched)
				for {
					select {
					case <-stop:
						return
					default:
					}
					if v, err := sg.TryMetric(fmt.Sprintf(`zonecast_signer_serial{zone=%q}`, zone)); err == nil && seq.Load() != 0 &&
						uint32(v) == uint32(seq.Load()) {
						signerDone.Store(int64(time.Since(start)))
						return
					}
					time.Sleep(20 * time.Millisecond) // a scrape costs the signer ~1 ms of CPU
				}
			}()
			defer func() { close(stop); <-watched }()
		}
		if profDir != "" && kind == "signed" && r == 1 {
			go fetchProfile(sg.HTTPAddr, 5, filepath.Join(profDir, "signer.pprof"))
			go fetchProfile(sa.HTTPAddr, 5, filepath.Join(profDir, "syncer.pprof"))
		}
		if trace {
			b.Logf("round %d: %s burst into %s from %s", r, kind, zone, start.UTC().Format("15:04:05.000"))
		}
		s := publishBurst(b, pub, zone, n, r)
		seq.Store(s)
		if stale := waitServed(b, addr, api, zone, uint32(s), 5*time.Minute); stale > 500*time.Millisecond {
			b.Logf("round %d, %s: PowerDNS stored serial %d but answered an older one for %.1f s more", r, kind, uint32(s), stale.Seconds())
		}
		took := time.Since(start).Seconds()
		switch kind {
		case "unsigned":
			unsignedS = append(unsignedS, took)
			unsignedCPU = append(unsignedCPU, (cpuTime(sa.PID()) - saCPU0).Seconds())
		case "signed":
			signedS = append(signedS, took)
			signerCPU = append(signerCPU, (cpuTime(sg.PID()) - sgCPU0).Seconds())
			syncerCPU = append(syncerCPU, (cpuTime(sa.PID()) - saCPU0).Seconds())
			published = append(published, sg.Metric(b, "zonecast_signer_published_total")-pub0)
			if d := signerDone.Load(); d > 0 {
				signerS = append(signerS, time.Duration(d).Seconds())
			}
		case "online":
			onlineS = append(onlineS, took)
			onlineCPU = append(onlineCPU, (cpuTime(sb.PID()) - sbCPU0).Seconds())
		}
	}
	kinds := []string{"unsigned", "signed", "online"}
	for i := 0; i < b.N; i++ {
		for r := 0; r < rounds; r++ {
			for k := range kinds {
				load(kinds[(k+r)%len(kinds)], r)
			}
			ratios = append(ratios, unsignedS[len(unsignedS)-1]/signedS[len(signedS)-1])
			onlineRatios = append(onlineRatios, onlineS[len(onlineS)-1]/signedS[len(signedS)-1])
		}
	}
	time.Sleep(settle) // the online zone's rectify: its NSEC chain is built from it
	start := time.Now()
	if axfr, err := pa.VerifyDNSSEC(b, signedZones[rounds-1]); err != nil {
		b.Fatalf("the signed burst's zone: %v\n%.2000s", err, axfr)
	}
	verifyTook := time.Since(start)
	if axfr, err := pb.VerifyDNSSEC(b, onlineZones[rounds-1]); err != nil {
		b.Errorf("the online-signed burst's zone: %v\n%.2000s", err, axfr)
	}

	// Single new names in the 20,000-name zones the last round left.
	// The name is served signed at once; the SOA is signed at most once
	// a second under a stream of changes, so its serial may come later.
	var bigServed, bigSigned, bigUnsigned []float64
	if profDir != "" {
		go fetchProfile(sg.HTTPAddr, 4, filepath.Join(profDir, "signer-single.pprof"))
	}
	dc := &dns.Client{Timeout: time.Second}
	for j := 0; j < 10; j++ {
		for _, z := range []string{signedZones[rounds-1], unsignedZones[rounds-1]} {
			start := time.Now()
			name := fmt.Sprintf("single%d.%s", j, z)
			seq := publishOne(b, pub, name, "2001:db8:ffff::1")
			if z == signedZones[rounds-1] {
				for !answersSigned(dc, pa.DNSAddr, name, "2001:db8:ffff::1") {
					if time.Since(start) > time.Minute {
						b.Fatalf("%s not served signed after a minute", name)
					}
					time.Sleep(2 * time.Millisecond)
				}
				bigServed = append(bigServed, time.Since(start).Seconds()*1000)
			}
			waitSerial(b, pa.DNSAddr, z, uint32(seq), time.Minute)
			if z == signedZones[rounds-1] {
				bigSigned = append(bigSigned, time.Since(start).Seconds()*1000)
			} else {
				bigUnsigned = append(bigUnsigned, time.Since(start).Seconds()*1000)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// pdns-distribute's cost per change at this size: one transfer of
	// the signed zone (BenchmarkAXFRSigned100k for 100,000 RRsets).
	var axfrSecs []float64
	axfrRecords := 0
	for k := 0; k < 3; k++ {
		took, data := timeAXFR(b, pa, signedZones[rounds-1])
		axfrSecs, axfrRecords = append(axfrSecs, took.Seconds()), strings.Count(data, "\n")
	}

	// PowerDNS alone: the same 20,000 RRsets signed (in process, by
	// internal/signer) and unsigned, written straight through the API into
	// fresh zones of node A's PowerDNS, as the syncer writes them.
	api := apiA
	var floorSigned, floorUnsigned []float64
	var floorSets int
	for k := 0; k < 3; k++ {
		fs, fu := fmt.Sprintf("floor-s%d.bench.test.", k), fmt.Sprintf("floor-u%d.bench.test.", k)
		createZone(b, api, fs)
		createZone(b, api, fu)
		pdnsutil(b, pa, "set-presigned", fs)
		sets := signZone(b, fs, aaaaSets(fs, n, k), n+1)
		floorSets = len(sets)
		writeSigned := func() { floorSigned = append(floorSigned, writeSets(b, api, fs, sets).Seconds()) }
		writeUnsigned := func() {
			floorUnsigned = append(floorUnsigned, writeSets(b, api, fu, append(aaaaSets(fu, n, k), soaSet(fu, n+1))).Seconds())
		}
		time.Sleep(time.Second)
		if k%2 == 0 {
			writeSigned()
			writeUnsigned()
		} else {
			writeUnsigned()
			writeSigned()
		}
	}

	mu, ms, mo := median(unsignedS), median(signedS), median(onlineS)
	b.ReportMetric(n/mu, "unsigned-rrsets/s")
	b.ReportMetric(n/ms, "signed-rrsets/s")
	b.ReportMetric(n/mo, "online-rrsets/s")
	b.ReportMetric(median(ratios), "ratio")
	b.ReportMetric(median(onlineRatios), "signed/online")
	b.Logf("burst of %d AAAA record events, from the first publish, medians of %d rounds:", n, len(signedS))
	b.Logf("  unsigned zone, node A            %.3fs (%s)  syncer CPU %.2fs", mu, fmtNums(unsignedS, 3), median(unsignedCPU))
	b.Logf("  signed zone, node A via signer   %.3fs (%s)", ms, fmtNums(signedS, 3))
	b.Logf("    signer published the last change at %.3fs (%s)", median(signerS), fmtNums(signerS, 3))
	b.Logf("    signer CPU %.2fs (%s), syncer CPU %.2fs (%s), signed RRsets published %s",
		median(signerCPU), fmtNums(signerCPU, 2), median(syncerCPU), fmtNums(syncerCPU, 2), fmtNums(published, 0))
	b.Logf("  online-signed zone, node B       %.3fs (%s)  syncer CPU %.2fs", mo, fmtNums(onlineS, 3), median(onlineCPU))
	b.Logf("  rate ratio signed/unsigned %.2f (%s), signed/online %.2f (%s)",
		median(ratios), fmtNums(ratios, 2), median(onlineRatios), fmtNums(onlineRatios, 2))
	b.Logf("  dnssec-verify of the last signed zone (transfer and check): %.1fs", verifyTook.Seconds())
	b.Logf("one new name into the 20,000-name zones, medians of %d: publish -> AAAA served with its RRSIG %.1f ms (%s)",
		len(bigServed), median(bigServed), fmtNums(bigServed, 1))
	b.Logf("  publish -> SOA serial: signed %.1f ms (%s), unsigned %.1f ms (%s)",
		median(bigSigned), fmtNums(bigSigned, 1), median(bigUnsigned), fmtNums(bigUnsigned, 1))
	b.Logf("dig AXFR of the last signed zone (%d records), medians of %d: %.3fs (%s)",
		axfrRecords, len(axfrSecs), median(axfrSecs), fmtNums(axfrSecs, 3))
	b.Logf("PowerDNS alone, PATCHes through the API into fresh zones, medians of %d: %d signed RRsets %.3fs (%s), %d unsigned %.3fs (%s), rate ratio %.2f",
		len(floorSigned), floorSets, median(floorSigned), fmtNums(floorSigned, 3), n+1, median(floorUnsigned), fmtNums(floorUnsigned, 3),
		median(floorUnsigned)/median(floorSigned))
	b.ReportMetric(median(floorUnsigned)/median(floorSigned), "pdns-ratio")
}

// createZone creates zone in PowerDNS through the API, with an SOA of
// serial 1 and benchNS as its NS.
func createZone(tb testing.TB, api *pdnsapi.Client, zone string) {
	tb.Helper()
	if err := api.CreateZone(context.Background(), pdnsapi.ZoneSpec{Name: zone, SOA: soaSet(zone, 1), NS: []string{benchNS}}); err != nil {
		tb.Fatal(err)
	}
}

// soaSet is zone's SOA RRset with serial, as the syncer writes it.
func soaSet(zone string, serial int) rrset.Set {
	return rrset.Set{Key: rrset.Key{Name: zone, Type: "SOA"}, TTL: 3600,
		Records: []string{fmt.Sprintf("%s hostmaster.%s %d 10800 3600 604800 60", benchNS, zone, serial)}}
}

// aaaaSets returns n AAAA RRsets h<j>.<zone>, their addresses in
// 2001:db8:<r+1>::/48 as publishBurst makes them for up to 65,535.
func aaaaSets(zone string, n, r int) []rrset.Set {
	sets := make([]rrset.Set, n)
	for j := range sets {
		sets[j] = rrset.Set{Key: rrset.Key{Name: fmt.Sprintf("h%d.%s", j, zone), Type: "AAAA"}, TTL: 60,
			Records: []string{fmt.Sprintf("2001:db8:%x:%x::%x", r+1, j/50000, j%50000+1)}}
	}
	return sets
}

// signZone signs sets as zone with new keys, in process, with
// internal/signer's core and zonecast-signer's defaults, at serial, and
// returns the whole signed zone: what the signer first publishes.
func signZone(tb testing.TB, zone string, sets []rrset.Set, serial uint64) []rrset.Set {
	tb.Helper()
	ksk, err := dnssec.Generate(zone, dnssec.ECDSAP256SHA256, true, 3600)
	if err != nil {
		tb.Fatal(err)
	}
	zsk, err := dnssec.Generate(zone, dnssec.ECDSAP256SHA256, false, 3600)
	if err != nil {
		tb.Fatal(err)
	}
	sg := signer.New(signer.Config{Zone: zone, KSK: ksk, ZSK: zsk,
		SOA: signer.SOA{Refresh: 10800, Retry: 3600, Expire: 604800, Minimum: 60, TTL: 3600},
		NS:  []string{benchNS}, NSTTL: 3600, KeyTTL: 3600,
		Validity: 14 * 24 * time.Hour, Refresh: 3 * 24 * time.Hour, Jitter: 24 * time.Hour})
	ch, err := sg.Apply(sets, serial, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	return ch.Upserts
}

// writeSets writes sets into zone through the API as the syncer does
// (pdnsapi.Apply: PATCHes of up to 2,000 RRsets and 1 MiB) and returns
// how long it took.
func writeSets(tb testing.TB, api *pdnsapi.Client, zone string, sets []rrset.Set) time.Duration {
	tb.Helper()
	changes := make([]pdnsapi.Change, len(sets))
	for i, s := range sets {
		changes[i] = pdnsapi.Change{Set: s}
	}
	start := time.Now()
	rejected, err := api.Apply(context.Background(), zone, changes, nil)
	if err != nil {
		tb.Fatalf("writing %d RRsets into %s: %v", len(sets), zone, err)
	}
	if len(rejected) > 0 {
		tb.Fatalf("PowerDNS refused %d RRsets of %s, the first %s: %s", len(rejected), zone,
			rejected[0].Change.Set.Key, rejected[0].Reason)
	}
	return time.Since(start)
}

// timeAXFR transfers zone from p with dig, its output to a file (as a
// secondary would store it), and returns how long the dig process ran
// and what it printed.
func timeAXFR(tb testing.TB, p *testpdns.Server, zone string) (time.Duration, string) {
	tb.Helper()
	host, port, _ := strings.Cut(p.DNSAddr, ":")
	file := filepath.Join(tb.TempDir(), "axfr.txt")
	out, err := os.Create(file)
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command("dig", "@"+host, "-p", port, "+nocmd", "+nostats", "+nocomments", "+noquestion", zone, "AXFR")
	cmd.Stdout = out
	start := time.Now()
	err = cmd.Run()
	took := time.Since(start)
	out.Close()
	if err != nil {
		tb.Fatalf("dig AXFR %s: %v", zone, err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	if strings.Contains(string(data), "Transfer failed") {
		tb.Fatalf("AXFR of %s failed:\n%.2000s", zone, data)
	}
	return took, string(data)
}

// BenchmarkAXFRSigned100k: pdns-distribute's way of getting a change to a
// node is a full transfer of the zone. A signed zone of 100,000 AAAA
// RRsets (signed by internal/signer's core in process, written through
// the API into a presigned zone) and the same zone unsigned, on one
// PowerDNS (lmdb); each is transferred with `dig AXFR` (output to a file)
// in alternating rounds, timed from the dig process's start to its exit.
func BenchmarkAXFRSigned100k(b *testing.B) {
	const n, rounds = 100000, 5
	const signed, plain = "axfr-signed.bench.test.", "axfr-plain.bench.test."
	ctx := context.Background()
	p := testpdns.StartWith(b, "lmdb", signedConf)
	api := pdnsapi.New(p.APIURL, p.APIKey, "localhost", 5*time.Minute)
	createZone(b, api, signed)
	createZone(b, api, plain)
	pdnsutil(b, p, "set-presigned", signed)
	start := time.Now()
	signedSets := signZone(b, signed, aaaaSets(signed, n, 0), n+1)
	signTook := time.Since(start)
	write := func(zone string, sets []rrset.Set) time.Duration { return writeSets(b, api, zone, sets) }
	signedLoad := write(signed, signedSets)
	plainLoad := write(plain, append(aaaaSets(plain, n, 0), soaSet(plain, n+1)))
	if err := api.Rectify(ctx, plain); err != nil {
		b.Fatal(err)
	}

	type result struct {
		secs    []float64
		bytes   int64
		records int
		types   map[string]int // records by type, of the first transfer
	}
	res := map[string]*result{signed: {}, plain: {}}
	axfr := func(zone string) {
		took, data := timeAXFR(b, p, zone)
		r := res[zone]
		r.secs = append(r.secs, took.Seconds())
		r.bytes, r.records = int64(len(data)), strings.Count(data, "\n")
		if r.records < n {
			b.Fatalf("AXFR of %s: %d lines\n%.2000s", zone, r.records, data)
		}
		if r.types == nil {
			r.types = map[string]int{}
			for _, line := range strings.Split(data, "\n") {
				if f := strings.Fields(line); len(f) > 4 {
					r.types[f[3]]++
				}
			}
		}
	}
	for i := 0; i < b.N; i++ {
		for r := 0; r < rounds; r++ {
			if r%2 == 0 {
				axfr(signed)
				axfr(plain)
			} else {
				axfr(plain)
				axfr(signed)
			}
		}
	}
	start = time.Now()
	if out, err := p.VerifyDNSSEC(b, signed); err != nil {
		b.Fatalf("%v\n%.2000s", err, out)
	}
	verifyTook := time.Since(start)
	ms, mp := median(res[signed].secs), median(res[plain].secs)
	b.ReportMetric(ms*1000, "signed-axfr-ms")
	b.ReportMetric(mp*1000, "unsigned-axfr-ms")
	b.Logf("signed zone of %d AAAA RRsets: %d RRsets with RRSIG and NSEC, signed in %.2fs (internal/signer, one core), written through the API in %.2fs",
		n, len(signedSets), signTook.Seconds(), signedLoad.Seconds())
	b.Logf("  unsigned, the same %d RRsets written in %.2fs", n, plainLoad.Seconds())
	b.Logf("dig AXFR, medians of %d: signed %.3fs (%s), %d records, %.1f MB; unsigned %.3fs (%s), %d records, %.1f MB; signed/unsigned %.2f",
		len(res[signed].secs), ms, fmtNums(res[signed].secs, 3), res[signed].records, float64(res[signed].bytes)/1e6,
		mp, fmtNums(res[plain].secs, 3), res[plain].records, float64(res[plain].bytes)/1e6, ms/mp)
	b.Logf("  records by type: signed %v; unsigned %v", res[signed].types, res[plain].types)
	b.Logf("dnssec-verify of the signed zone (transfer and check): %.1fs", verifyTook.Seconds())
}
