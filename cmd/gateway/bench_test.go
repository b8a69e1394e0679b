package main

import (
	"bytes"
	"crypto"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecast/zonecast/internal/sig0"
	"github.com/zonecast/zonecast/internal/testenv"
	"github.com/zonecast/zonecast/internal/testpdns"
)

// Shape of BenchmarkTSIGUpdates.
const (
	benchClients = 16   // concurrent UDP clients
	benchRounds  = 7    // rounds per target, alternating
	benchUpdates = 4000 // acknowledged updates measured per round and target
	benchWarmup  = 300  // updates per target before the first round, not measured
)

// loadResult is one round against one target.
type loadResult struct {
	rate     float64 // acknowledged updates/s
	p50, p99 time.Duration
	failed   int
}

// tsigLoad sends n single-record adds (A records at <prefix>-<i>.zone),
// signed with the key, from benchClients concurrent UDP clients to addr,
// and measures the NOERROR answers.
func tsigLoad(addr, prefix string, n int, keyName, alg, secret string) loadResult {
	c := &dns.Client{Net: "udp", Timeout: 5 * time.Second, TsigSecret: map[string]string{keyName: secret}}
	return udpLoad(addr, n, func(co *dns.Conn, i int64) (*dns.Msg, error) {
		m := new(dns.Msg)
		m.SetUpdate(zone)
		m.Insert([]dns.RR{benchA(fmt.Sprintf("%s-%d.%s", prefix, i, zone), i)})
		m.SetTsig(keyName, alg, 300, time.Now().Unix())
		r, _, err := c.ExchangeWithConn(m, co)
		return r, err
	})
}

// benchA is an A record of name with an address made of i.
func benchA(name string, i int64) *dns.A {
	return &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
		A: net.IPv4(10, byte(i>>16), byte(i>>8), byte(i))}
}

// udpLoad runs n exchanges (exchange(conn, i), i from 1) from benchClients
// concurrent UDP clients to addr, and measures those answered NOERROR.
func udpLoad(addr string, n int, exchange func(co *dns.Conn, i int64) (*dns.Msg, error)) loadResult {
	var next, failed atomic.Int64
	lat := make([][]time.Duration, benchClients)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < benchClients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One socket per client for the whole load, the same for
			// every target: a new socket per update cost the clients
			// almost as much CPU as the gateway, on the two cores all
			// processes share. A dns.Conn per update over it, since a
			// dns.Conn keeps the previous request's TSIG MAC and would
			// sign the next request with it. After an error the next
			// update takes a new socket.
			var sock net.Conn
			defer func() {
				if sock != nil {
					sock.Close()
				}
			}()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				if sock == nil {
					var err error
					if sock, err = net.Dial("udp", addr); err != nil {
						failed.Add(1)
						sock = nil
						continue
					}
				}
				t0 := time.Now()
				r, err := exchange(&dns.Conn{Conn: sock}, i)
				d := time.Since(t0)
				if err != nil {
					sock.Close()
					sock = nil
				}
				if err != nil || r.Rcode != dns.RcodeSuccess {
					failed.Add(1)
					continue
				}
				lat[w] = append(lat[w], d)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	res := loadResult{failed: int(failed.Load())}
	if len(all) == 0 {
		return res
	}
	slices.Sort(all)
	res.rate = float64(len(all)) / elapsed.Seconds()
	res.p50, res.p99 = all[len(all)/2], all[len(all)*99/100]
	return res
}

// cpuTime returns the CPU time (user + system) process pid has used.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command (which may hold spaces): state is field 3,
	// utime and stime fields 14 and 15, in clock ticks (100 per second).
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond
}

func medianOf(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkTSIGUpdates measures TSIG-signed (hmac-sha256) single-record adds
// from 16 concurrent UDP clients, side by side in one run on one machine:
//
//   - zonecast: the real gateway binary; an update counts when it is
//     answered NOERROR, which the gateway does once JetStream has stored it.
//     The syncer (with the embedded NATS) and its PowerDNS run alongside and
//     write every update to PowerDNS while the gateway is measured.
//   - pdns: PowerDNS's own RFC 2136 (dnsupdate=yes, the same TSIG key in its
//     backend, gsqlite3 as the syncer's), answered once stored in its
//     database.
//
// The same client code loads both, in alternating rounds (the order flips
// every round); between rounds the syncer catches up, so that its writes do
// not fall into PowerDNS's round. Reported: medians over the rounds of each
// target's rate, p50 and p99, and the median of the per-round ratios.
//
//	go test -run '^$' -bench TSIGUpdates -benchtime 1x ./cmd/gateway
func BenchmarkTSIGUpdates(b *testing.B) {
	p := testpdns.Start(b, "gsqlite3")
	s := testenv.StartSyncer(b, testenv.SyncerOptions{Zones: []string{zone}, PDNS: p})
	gw := testenv.StartGateway(b, testenv.GatewayOptions{Syncer: s, Zones: []string{zone}, Extra: []string{"--log-level", "warn"}})
	out := strings.TrimSpace(gw.Admin(b, "key", "add", "bench", "--zone", zone))
	parts := strings.SplitN(out, ":", 3)
	keyName, alg, secret := dns.Fqdn(parts[1]), dns.Fqdn(parts[0]), parts[2]

	pd := testpdns.StartWith(b, "gsqlite3", testpdns.DNSUpdateConf)
	pd.EnableDNSUpdate(b, zone, keyName, alg, secret)

	caughtUp := func() {
		b.Helper()
		last, err := s.StreamLastSeq(b)
		if err != nil {
			b.Fatal(err)
		}
		testenv.Eventually(b, 60*time.Second, "syncer caught up", func() bool {
			return s.Metric(b, `zonecast_syncer_zone_stream_seq{zone="`+zone+`"}`) >= float64(last)
		})
	}
	targets := []struct {
		name, addr string
		after      func()
		procs      map[string]int // process -> pid, for CPU time per update
	}{
		{"zonecast", gw.DNSAddr, caughtUp, map[string]int{"gateway": gw.PID(), "syncer+nats": s.PID(),
			"syncer's pdns": p.PID(), "clients": os.Getpid()}},
		{"pdns", pd.DNSAddr, func() {}, map[string]int{"pdns": pd.PID(), "clients": os.Getpid()}},
	}
	for _, tg := range targets {
		if r := tsigLoad(tg.addr, "warm-"+tg.name, benchWarmup, keyName, alg, secret); r.failed > 0 {
			b.Fatalf("%s: %d of %d warm-up updates failed", tg.name, r.failed, benchWarmup)
		}
		tg.after()
	}

	b.ResetTimer()
	rates := map[string][]float64{}
	p50s := map[string][]float64{}
	p99s := map[string][]float64{}
	var ratios []float64
	failed := 0
	for round := 0; round < benchRounds; round++ {
		order := []int{0, 1}
		if round%2 == 1 {
			order = []int{1, 0}
		}
		got := map[string]loadResult{}
		for _, i := range order {
			tg := targets[i]
			cpu0 := map[string]time.Duration{}
			for n, pid := range tg.procs {
				cpu0[n] = cpuTime(pid)
			}
			r := tsigLoad(tg.addr, fmt.Sprintf("r%d-%s", round, tg.name), benchUpdates, keyName, alg, secret)
			tg.after()
			var cpu []string
			for n, pid := range tg.procs {
				per := (cpuTime(pid) - cpu0[n]) / time.Duration(benchUpdates)
				cpu = append(cpu, fmt.Sprintf("%s %d", n, per.Microseconds()))
			}
			slices.Sort(cpu)
			if r.rate == 0 {
				b.Fatalf("round %d: no %s update succeeded (%d failed)", round, tg.name, r.failed)
			}
			got[tg.name] = r
			failed += r.failed
			rates[tg.name] = append(rates[tg.name], r.rate)
			p50s[tg.name] = append(p50s[tg.name], ms(r.p50))
			p99s[tg.name] = append(p99s[tg.name], ms(r.p99))
			b.Logf("round %d %-8s %6.0f updates/s  p50 %6.2f ms  p99 %6.2f ms  failed %d  cpu µs/update: %s",
				round, tg.name, r.rate, ms(r.p50), ms(r.p99), r.failed, strings.Join(cpu, ", "))
		}
		ratios = append(ratios, got["zonecast"].rate/got["pdns"].rate)
	}
	b.StopTimer()
	b.ReportMetric(medianOf(rates["zonecast"]), "zonecast-updates/s")
	b.ReportMetric(medianOf(p50s["zonecast"]), "zonecast-p50-ms")
	b.ReportMetric(medianOf(p99s["zonecast"]), "zonecast-p99-ms")
	b.ReportMetric(medianOf(rates["pdns"]), "pdns-updates/s")
	b.ReportMetric(medianOf(p50s["pdns"]), "pdns-p50-ms")
	b.ReportMetric(medianOf(p99s["pdns"]), "pdns-p99-ms")
	b.ReportMetric(medianOf(ratios), "ratio")
	b.ReportMetric(float64(failed), "failed")
}

// sig0Keys are the ECDSAP256SHA256 keys of n names <prefix>-<i>.<claimZone>,
// made before a load so that their making is not measured.
type sig0Keys struct {
	names []string
	keys  []*dns.KEY
	privs []crypto.Signer
}

func makeSIG0Keys(b *testing.B, prefix string, n int) sig0Keys {
	b.Helper()
	var ks sig0Keys
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("%s-%d.%s", prefix, i, claimZone)
		k, priv := sig0KeyPair(b, name)
		ks.names, ks.keys, ks.privs = append(ks.names, name), append(ks.keys, k), append(ks.privs, priv)
	}
	return ks
}

// sig0Load sends n SIG(0)-signed updates from benchClients concurrent UDP
// clients: with claim set, each claims its name (the KEY and an A
// record); without, each changes the A record of a name claimed before,
// signed by the key that holds it.
func sig0Load(addr string, ks sig0Keys, n int, claim bool, round int) loadResult {
	return udpLoad(addr, n, func(co *dns.Conn, i int64) (*dns.Msg, error) {
		j := i - 1
		m := new(dns.Msg)
		m.SetUpdate(claimZone)
		a := benchA(ks.names[j], i+int64(round)<<20)
		if claim {
			m.Ns = []dns.RR{ks.keys[j], a}
		} else {
			m.Ns = []dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: ks.names[j], Rrtype: dns.TypeA, Class: dns.ClassANY}}, a}
		}
		now := time.Now()
		raw, err := sig0.Sign(m, ks.keys[j], ks.privs[j], now.Add(-5*time.Minute), now.Add(5*time.Minute))
		if err != nil {
			return nil, err
		}
		_ = co.SetDeadline(now.Add(5 * time.Second))
		if _, err := co.Write(raw); err != nil {
			return nil, err
		}
		return co.ReadMsg()
	})
}

// BenchmarkSIG0Updates measures, on one gateway in one run, SIG(0)-signed
// (ECDSAP256SHA256) claims of new names and updates of claimed names
// against TSIG-signed (hmac-sha256) updates, each load a single A record
// per update from 16 concurrent UDP clients, answered once JetStream
// stored it. A claim also reads and creates the claim in the gateway's
// bucket, an update reads it and writes it refreshed. The loads alternate
// within each round (the TSIG load first or last); the syncer catches up
// after each. Reported: medians over the rounds, the ratios of the TSIG
// rate to each SIG(0) rate, and the gateway's CPU per update.
//
//	go test -run '^$' -bench SIG0Updates -benchtime 1x ./cmd/gateway
func BenchmarkSIG0Updates(b *testing.B) {
	const rounds, n = 5, 2000
	p := testpdns.Start(b, "gsqlite3")
	s := testenv.StartSyncer(b, testenv.SyncerOptions{Zones: []string{zone, claimZone}, PDNS: p})
	gw := testenv.StartGateway(b, testenv.GatewayOptions{Syncer: s, Zones: []string{zone},
		Extra: []string{"--log-level", "warn", "--claim-zone", claimZone, "--claim-lease", "1h", "--claim-key-lease", "2h"}})
	out := strings.TrimSpace(gw.Admin(b, "key", "add", "bench", "--zone", zone))
	parts := strings.SplitN(out, ":", 3)
	keyName, alg, secret := dns.Fqdn(parts[1]), dns.Fqdn(parts[0]), parts[2]
	caughtUp := func() {
		b.Helper()
		last, err := s.StreamLastSeq(b)
		if err != nil {
			b.Fatal(err)
		}
		seq := func(z string) float64 { return s.Metric(b, `zonecast_syncer_zone_stream_seq{zone="`+z+`"}`) }
		testenv.Eventually(b, 60*time.Second, "syncer caught up", func() bool {
			return max(seq(zone), seq(claimZone)) >= float64(last)
		})
	}
	warm := makeSIG0Keys(b, "warm", benchWarmup)
	for _, r := range []loadResult{tsigLoad(gw.DNSAddr, "warm", benchWarmup, keyName, alg, secret),
		sig0Load(gw.DNSAddr, warm, benchWarmup, true, 0), sig0Load(gw.DNSAddr, warm, benchWarmup, false, 1)} {
		if r.failed > 0 {
			b.Fatalf("%d of %d warm-up updates failed", r.failed, benchWarmup)
		}
	}
	caughtUp()

	b.ResetTimer()
	rates := map[string][]float64{}
	p99s := map[string][]float64{}
	cpus := map[string][]float64{}
	var claimRatios, updateRatios []float64
	for round := 0; round < rounds; round++ {
		ks := makeSIG0Keys(b, fmt.Sprintf("r%d", round), n)
		loads := []struct {
			name string
			run  func() loadResult
		}{
			{"tsig", func() loadResult {
				return tsigLoad(gw.DNSAddr, fmt.Sprintf("r%d-tsig", round), n, keyName, alg, secret)
			}},
			{"sig0-claim", func() loadResult { return sig0Load(gw.DNSAddr, ks, n, true, round) }},
			{"sig0-update", func() loadResult { return sig0Load(gw.DNSAddr, ks, n, false, round+100) }},
		}
		if round%2 == 1 { // TSIG last: the claims come before their updates either way
			loads = append(loads[1:], loads[0])
		}
		got := map[string]float64{}
		for _, l := range loads {
			cpu0 := cpuTime(gw.PID())
			r := l.run()
			cpu := float64((cpuTime(gw.PID()) - cpu0).Microseconds()) / float64(n)
			caughtUp()
			if r.failed > 0 || r.rate == 0 {
				b.Fatalf("round %d %s: %d of %d failed", round, l.name, r.failed, n)
			}
			got[l.name] = r.rate
			rates[l.name] = append(rates[l.name], r.rate)
			p99s[l.name] = append(p99s[l.name], ms(r.p99))
			cpus[l.name] = append(cpus[l.name], cpu)
			b.Logf("round %d %-11s %6.0f updates/s  p50 %6.2f ms  p99 %6.2f ms  gateway cpu %4.0f µs/update",
				round, l.name, r.rate, ms(r.p50), ms(r.p99), cpu)
		}
		claimRatios = append(claimRatios, got["tsig"]/got["sig0-claim"])
		updateRatios = append(updateRatios, got["tsig"]/got["sig0-update"])
	}
	b.StopTimer()
	for _, l := range []string{"tsig", "sig0-claim", "sig0-update"} {
		b.Logf("%-11s median %6.0f updates/s (%s), p99 %.2f ms, gateway cpu %.0f µs/update", l, medianOf(rates[l]),
			fmtRates(rates[l]), medianOf(p99s[l]), medianOf(cpus[l]))
		b.ReportMetric(medianOf(rates[l]), l+"-updates/s")
	}
	b.Logf("TSIG rate / SIG(0) rate: claims %.2f (%s), updates %.2f (%s)", medianOf(claimRatios), fmtRates(claimRatios),
		medianOf(updateRatios), fmtRates(updateRatios))
	b.ReportMetric(medianOf(claimRatios), "tsig/claim")
	b.ReportMetric(medianOf(updateRatios), "tsig/update")
}

func fmtRates(xs []float64) string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = strconv.FormatFloat(x, 'f', 2, 64)
	}
	return strings.Join(out, " ")
}
