package main

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecast/zonecast/internal/testenv"
	"github.com/zonecast/zonecast/internal/testpdns"
)

// BenchmarkTSIGUpdates measures acknowledged (JetStream-stored) TSIG-signed
// single-record adds through the real gateway binary, from 16 concurrent
// clients over UDP, and reports updates/s and the p99 latency.
//
//	go test -run XXX -bench TSIGUpdates -benchtime 5000x ./cmd/gateway
func BenchmarkTSIGUpdates(b *testing.B) {
	p := testpdns.Start(b, "gsqlite3")
	s := testenv.StartSyncer(b, testenv.SyncerOptions{Zones: []string{zone}, PDNS: p})
	gw := testenv.StartGateway(b, testenv.GatewayOptions{Syncer: s, Zones: []string{zone}, Extra: []string{"--log-level", "warn"}})
	out := strings.TrimSpace(gw.Admin(b, "key", "add", "bench", "--zone", zone))
	parts := strings.SplitN(out, ":", 3)
	name, alg, secret := dns.Fqdn(parts[1]), dns.Fqdn(parts[0]), parts[2]

	const workers = 16
	var next atomic.Int64
	lat := make([][]time.Duration, workers)
	var failed atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &dns.Client{Net: "udp", Timeout: 5 * time.Second, TsigSecret: map[string]string{name: secret}}
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				m := new(dns.Msg)
				m.SetUpdate(zone)
				m.Insert([]dns.RR{&dns.A{Hdr: dns.RR_Header{Name: fmt.Sprintf("h%d.%s", i, zone), Rrtype: dns.TypeA,
					Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(10, byte(i>>16), byte(i>>8), byte(i))}})
				m.SetTsig(name, alg, 300, time.Now().Unix())
				t0 := time.Now()
				r, _, err := c.Exchange(m, gw.DNSAddr)
				d := time.Since(t0)
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
	b.StopTimer()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	if len(all) == 0 {
		b.Fatalf("no update succeeded (%d failed)", failed.Load())
	}
	slices.Sort(all)
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "updates/s")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99_ms")
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(failed.Load()), "failed")
}
