package main

// Benchmarks of the watcher's targets (issue 3), side by side in one run
// against a real LXD (scripts/lxd.sh up), the real zonecast-watcher and
// zonecast-syncer binaries and real pdns_servers. Run with `make bench`;
// results and method are in docs/benchmarks.md.
//
// Both benchmarks hold the LXD test lock exclusively. Everything they create
// in LXD is named zc-bench-* (instances, the bridge) or lives under
// zc-bench.test (the network zone), is deleted when the benchmark ends, and
// is swept at the start in case an earlier run was killed.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	lxd "github.com/canonical/lxd/client"
	"github.com/canonical/lxd/shared/api"
	"github.com/miekg/dns"

	"github.com/zonecast/zonecast/internal/lxdwatch"
	"github.com/zonecast/zonecast/internal/testenv"
	"github.com/zonecast/zonecast/internal/testpdns"
)

const (
	benchZone   = "lxd.zc-bench.test." // published by the watcher
	benchNZone  = "nz.zc-bench.test"   // LXD's network zone (no trailing dot in LXD)
	benchBridge = "zc-bench-br"
	benchPrefix = "zc-bench-"
)

// benchLXD is the LXD side of a benchmark: a client and a bridge of its own
// (10.99.252.0/22, fd42:99:1:fb00::/64), so lxdbr0 is left alone and 200
// containers fit in its DHCP range.
type benchLXD struct {
	srv lxd.InstanceServer
	mu  sync.Mutex
	// instances to delete at the end
	made []string
}

func newBenchLXD(b *testing.B, bridgeConfig map[string]string) *benchLXD {
	b.Helper()
	testenv.LockLXD(b, true)
	srv, err := lxdwatch.Connect(context.Background(), lxdwatch.ConnectConfig{})
	if err == nil {
		_, _, err = srv.GetServer()
	}
	if err != nil {
		b.Fatalf("LXD is not running (%v): run `scripts/lxd.sh up` first", err)
	}
	l := &benchLXD{srv: srv}
	l.sweep(b)
	cfg := map[string]string{
		"ipv4.address": "10.99.252.1/22", "ipv4.nat": "true",
		"ipv6.address": "fd42:99:1:fb00::1/64", "ipv6.nat": "true",
	}
	for k, v := range bridgeConfig {
		cfg[k] = v
	}
	if err := l.srv.CreateNetwork(api.NetworksPost{Name: benchBridge, Type: "bridge",
		NetworkPut: api.NetworkPut{Config: cfg}}); err != nil {
		b.Fatalf("creating bridge %s: %v", benchBridge, err)
	}
	b.Cleanup(func() {
		if err := l.srv.DeleteNetwork(benchBridge); err != nil {
			b.Logf("deleting bridge %s: %v", benchBridge, err)
		}
	})
	// Registered after the bridge: runs before it.
	b.Cleanup(func() { l.deleteAll(b) })
	return l
}

// sweep deletes what an earlier, killed run may have left.
func (l *benchLXD) sweep(b *testing.B) {
	b.Helper()
	names, err := l.srv.GetInstanceNames(api.InstanceTypeAny)
	if err != nil {
		b.Fatalf("listing instances: %v", err)
	}
	var old []string
	for _, n := range names {
		if strings.HasPrefix(n, benchPrefix) {
			old = append(old, n)
		}
	}
	if len(old) > 0 {
		b.Logf("deleting %d instances left by an earlier run", len(old))
		l.deleteParallel(b, old)
	}
	if _, _, err := l.srv.GetNetwork(benchBridge); err == nil {
		if err := l.srv.DeleteNetwork(benchBridge); err != nil {
			b.Fatalf("deleting bridge %s left by an earlier run: %v", benchBridge, err)
		}
	}
	if _, _, err := l.srv.GetNetworkZone(benchNZone); err == nil {
		if err := l.srv.DeleteNetworkZone(benchNZone); err != nil {
			b.Fatalf("deleting network zone %s left by an earlier run: %v", benchNZone, err)
		}
	}
}

// launch creates and starts a busybox container on the bench bridge.
func (l *benchLXD) launch(name string) error {
	l.mu.Lock()
	l.made = append(l.made, name)
	l.mu.Unlock()
	op, err := l.srv.CreateInstance(api.InstancesPost{
		Name:   name,
		Source: api.InstanceSource{Type: "image", Alias: "busybox"},
		Type:   api.InstanceTypeContainer,
		InstancePut: api.InstancePut{Devices: map[string]map[string]string{
			"eth0": {"type": "nic", "name": "eth0", "network": benchBridge},
		}},
	})
	if err == nil {
		err = op.Wait()
	}
	if err != nil {
		return fmt.Errorf("creating %s: %w", name, err)
	}
	// LXD 5.0 ignores InstancesPost.Start (a later API extension).
	op, err = l.srv.UpdateInstanceState(name, api.InstanceStatePut{Action: "start", Timeout: -1}, "")
	if err == nil {
		err = op.Wait()
	}
	if err != nil {
		return fmt.Errorf("starting %s: %w", name, err)
	}
	return nil
}

func (l *benchLXD) deleteAll(b *testing.B) {
	l.mu.Lock()
	names := slices.Clone(l.made)
	l.made = nil
	l.mu.Unlock()
	start := time.Now()
	l.deleteParallel(b, names)
	if len(names) > 0 {
		b.Logf("deleted %d containers in %v", len(names), time.Since(start).Round(time.Second))
	}
}

// deleteParallel force-stops and deletes instances, 8 at a time.
func (l *benchLXD) deleteParallel(b *testing.B, names []string) {
	work := make(chan string)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range work {
				if err := l.delete(n); err != nil {
					b.Logf("deleting %s: %v", n, err)
				}
			}
		}()
	}
	for _, n := range names {
		work <- n
	}
	close(work)
	wg.Wait()
}

func (l *benchLXD) delete(name string) error {
	op, err := l.srv.UpdateInstanceState(name, api.InstanceStatePut{Action: "stop", Force: true, Timeout: -1}, "")
	if err == nil {
		err = op.Wait()
	}
	if err != nil && !api.StatusErrorCheck(err, http.StatusNotFound) && !strings.Contains(err.Error(), "already stopped") {
		return fmt.Errorf("stopping: %w", err)
	}
	op, err = l.srv.DeleteInstance(name)
	if err == nil {
		err = op.Wait()
	}
	if err != nil && !api.StatusErrorCheck(err, http.StatusNotFound) {
		return err
	}
	return nil
}

// globalAddrs returns the first global IPv4 and IPv6 address in an
// instance's state ("" when none yet).
func globalAddrs(st *api.InstanceState) (v4, v6 string) {
	all4, all6 := testenv.GlobalAddrs(st)
	if len(all4) > 0 {
		v4 = all4[0]
	}
	if len(all6) > 0 {
		v6 = all6[0]
	}
	return v4, v6
}

// lookup asks server for name/qtype over UDP and returns the addresses.
func lookup(c *dns.Client, server, name string, qtype uint16) []string {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	r, _, err := c.Exchange(m, server)
	if err != nil || r.Rcode != dns.RcodeSuccess {
		return nil
	}
	var out []string
	for _, rr := range r.Answer {
		switch v := rr.(type) {
		case *dns.A:
			out = append(out, v.A.String())
		case *dns.AAAA:
			out = append(out, v.AAAA.String())
		}
	}
	return out
}

// family is one address family of one container: when LXD's API first
// showed the address, when zonecast's PowerDNS and the network zone's
// secondary first answered it.
type family struct {
	addr      string
	api       time.Time
	zonecast  time.Time
	zcAnswer  []string
	secondary time.Time
}

type sample struct {
	name     string
	launched time.Time
	v4, v6   family
}

// probeAPI stamps, every 20 ms, the first moment LXD reports each family.
func probeAPI(ctx context.Context, srv lxd.InstanceServer, s *sample, mu *sync.Mutex) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		st, _, err := srv.GetInstanceState(s.name)
		now := time.Now()
		if err == nil {
			v4, v6 := globalAddrs(st)
			mu.Lock()
			if v4 != "" && s.v4.addr == "" {
				s.v4.addr, s.v4.api = v4, now
			}
			if v6 != "" && s.v6.addr == "" {
				s.v6.addr, s.v6.api = v6, now
			}
			done := s.v4.addr != "" && s.v6.addr != ""
			mu.Unlock()
			if done {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// probeDNS stamps, every 3 ms, the first moment server answers each family.
func probeDNS(ctx context.Context, server, name string, s *sample, mu *sync.Mutex) {
	c := &dns.Client{Timeout: 500 * time.Millisecond}
	for {
		done := true
		for _, f := range []struct {
			qtype uint16
			fam   *family
		}{{dns.TypeA, &s.v4}, {dns.TypeAAAA, &s.v6}} {
			mu.Lock()
			have := !f.fam.zonecast.IsZero()
			mu.Unlock()
			if have {
				continue
			}
			done = false
			if got := lookup(c, server, name, f.qtype); len(got) > 0 {
				now := time.Now()
				mu.Lock()
				f.fam.zonecast, f.fam.zcAnswer = now, got
				mu.Unlock()
			}
		}
		if done {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(3 * time.Millisecond):
		}
	}
}

// probeSecondary stamps, every 200 ms, the first moment the secondary
// answers the address the API showed, for each family.
func probeSecondary(ctx context.Context, server, name string, s *sample, mu *sync.Mutex) {
	c := &dns.Client{Timeout: time.Second}
	for {
		done := true
		for _, f := range []struct {
			qtype uint16
			fam   *family
		}{{dns.TypeA, &s.v4}, {dns.TypeAAAA, &s.v6}} {
			mu.Lock()
			have, want := !f.fam.secondary.IsZero(), f.fam.addr
			mu.Unlock()
			if have || want == "" { // no address in LXD: nothing to wait for
				continue
			}
			done = false
			if got := lookup(c, server, name, f.qtype); want != "" && slices.Contains(got, want) {
				now := time.Now()
				mu.Lock()
				f.fam.secondary = now
				mu.Unlock()
			}
		}
		if done {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// percentile is the nearest-rank percentile (p in 0..1).
func percentile(xs []float64, p float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	i := int(float64(len(s))*p+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}

func fmtMs(xs []float64) string {
	s := slices.Clone(xs)
	slices.Sort(s)
	var parts []string
	for _, x := range s {
		parts = append(parts, fmt.Sprintf("%.0f", x))
	}
	return strings.Join(parts, " ")
}

func uptime() string {
	out, err := exec.Command("uptime").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}

// setDNSAddress sets LXD's core.dns_address and restores the old value
// when the benchmark ends.
func setDNSAddress(b *testing.B, srv lxd.InstanceServer, addr string) {
	b.Helper()
	set := func(v string) error {
		s, etag, err := srv.GetServer()
		if err != nil {
			return err
		}
		put := s.Writable()
		if v == "" {
			delete(put.Config, "core.dns_address")
		} else {
			put.Config["core.dns_address"] = v
		}
		return srv.UpdateServer(put, etag)
	}
	s, _, err := srv.GetServer()
	if err != nil {
		b.Fatalf("reading LXD's server config: %v", err)
	}
	old, _ := s.Config["core.dns_address"].(string)
	if err := set(addr); err != nil {
		b.Fatalf("setting core.dns_address: %v", err)
	}
	b.Cleanup(func() {
		if err := set(old); err != nil {
			b.Logf("restoring core.dns_address=%q: %v", old, err)
		}
	})
}

// startSecondary starts a PowerDNS secondary of LXD's network zone (AXFR
// from LXD's DNS at lxdDNS; LXD sends no NOTIFY, so it follows the SOA
// refresh of 120 s, checked every xfr-cycle-interval, default 60 s). Its
// caches are off, which can only make it answer sooner.
func startSecondary(b *testing.B, lxdDNS string) *testpdns.Server {
	b.Helper()
	p := testpdns.StartWith(b, "gsqlite3", "secondary=yes\ncache-ttl=0\nnegquery-cache-ttl=0\nquery-cache-ttl=0")
	zone := benchNZone + "."
	do := func(method, path, body string) {
		req, err := http.NewRequest(method, p.APIURL+"/api/v1/servers/localhost"+path, strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("X-API-Key", p.APIKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatalf("%s %s: %v", method, path, err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			b.Fatalf("%s %s: HTTP %d", method, path, resp.StatusCode)
		}
	}
	do("POST", "/zones", fmt.Sprintf(`{"name":%q,"kind":"Slave","masters":[%q]}`, zone, lxdDNS))
	do("PUT", "/zones/"+zone+"/axfr-retrieve", "")
	c := &dns.Client{Timeout: time.Second}
	testenv.Eventually(b, 30*time.Second, "the secondary has "+zone+" by AXFR", func() bool {
		m := new(dns.Msg)
		m.SetQuestion(zone, dns.TypeSOA)
		r, _, err := c.Exchange(m, p.DNSAddr)
		return err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) == 1
	})
	return p
}

// networkZone creates LXD's network zone (AXFR allowed to 127.0.0.1), makes
// the bench bridge feed it, and undoes both when the benchmark ends.
func (l *benchLXD) networkZone(b *testing.B) {
	b.Helper()
	if err := l.srv.CreateNetworkZone(api.NetworkZonesPost{Name: benchNZone,
		NetworkZonePut: api.NetworkZonePut{Config: map[string]string{"peers.bench.address": "127.0.0.1"}}}); err != nil {
		b.Fatalf("creating network zone %s: %v", benchNZone, err)
	}
	setForward := func(v string) error {
		n, etag, err := l.srv.GetNetwork(benchBridge)
		if err != nil {
			return err
		}
		put := n.Writable()
		if v == "" {
			delete(put.Config, "dns.zone.forward")
		} else {
			put.Config["dns.zone.forward"] = v
		}
		return l.srv.UpdateNetwork(benchBridge, put, etag)
	}
	b.Cleanup(func() {
		if err := setForward(""); err != nil {
			b.Logf("unsetting dns.zone.forward: %v", err)
		}
		if err := l.srv.DeleteNetworkZone(benchNZone); err != nil {
			b.Logf("deleting network zone %s: %v", benchNZone, err)
		}
	})
	if err := setForward(benchNZone); err != nil {
		b.Fatalf("setting dns.zone.forward on %s: %v", benchBridge, err)
	}
}

// startNode starts this node's PowerDNS, syncer (embedded NATS) and watcher
// with default settings but for the zone and the log level.
// With ZONECAST_BENCH_TRACE=DIR both log at debug level and their logs are
// copied to DIR when the benchmark ends.
func startNode(b *testing.B) (*testpdns.Server, *testenv.Watcher) {
	b.Helper()
	level := "info"
	trace := os.Getenv("ZONECAST_BENCH_TRACE")
	if trace != "" {
		level = "debug"
	}
	p := testpdns.Start(b, "gsqlite3")
	s := testenv.StartSyncer(b, testenv.SyncerOptions{Zones: []string{benchZone}, PDNS: p,
		Extra: []string{"--log-level", level}})
	w := testenv.StartWatcher(b, testenv.WatcherOptions{Syncer: s, Zones: []string{benchZone}, NodeID: "bench",
		Extra: []string{"--log-level", level}})
	if trace != "" {
		b.Cleanup(func() {
			for _, f := range []string{s.LogPath, w.LogPath} {
				if data, err := os.ReadFile(f); err == nil {
					_ = os.WriteFile(filepath.Join(trace, b.Name()+"-"+filepath.Base(f)), data, 0o600)
				}
			}
		})
	}
	return p, w
}

// BenchmarkAddressToDig measures, for new busybox containers, the time from
// the moment LXD's API first reports an address (probed every 20 ms) to the
// moment a DNS query (every 3 ms) to the node's PowerDNS, fed by
// zonecast-watcher -> NATS -> zonecast-syncer, answers it; and side by
// side, for the same containers and addresses, the time until a PowerDNS
// secondary of LXD's own network zone (AXFR, no NOTIFY) answers it.
func BenchmarkAddressToDig(b *testing.B) {
	const n, perBatch = 20, 2
	// A batch starts every 18 s: the launches spread over one refresh
	// period of the secondary (LXD's SOA refresh of 120 s, noticed within
	// xfr-cycle-interval, 60 s: 120-180 s), so the network-zone samples see
	// every phase of it rather than the one right after its first AXFR.
	const batchEvery = 18 * time.Second
	const nzDeadline = 300 * time.Second
	b.Logf("load before: %s", uptime())
	l := newBenchLXD(b, nil)
	lxdDNS := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(b))
	setDNSAddress(b, l.srv, lxdDNS)
	l.networkZone(b)
	sec := startSecondary(b, lxdDNS)
	p, w := startNode(b)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var samples []*sample
	var secWG sync.WaitGroup
	begin := time.Now()
	for i := 0; i < n; i += perBatch {
		slot := begin.Add(time.Duration(i/perBatch) * batchEvery)
		time.Sleep(time.Until(slot))
		var wg sync.WaitGroup
		errs := make(chan error, perBatch)
		for j := i; j < min(i+perBatch, n); j++ {
			s := &sample{name: fmt.Sprintf("%slat-%02d", benchPrefix, j)}
			samples = append(samples, s)
			wg.Add(1)
			go func() {
				defer wg.Done()
				pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
				defer pcancel()
				var pw sync.WaitGroup
				pw.Add(2)
				go func() { defer pw.Done(); probeAPI(pctx, l.srv, s, &mu) }()
				go func() { defer pw.Done(); probeDNS(pctx, p.DNSAddr, s.name+"."+benchZone, s, &mu) }()
				mu.Lock()
				s.launched = time.Now()
				mu.Unlock()
				if err := l.launch(s.name); err != nil {
					errs <- err
					pcancel()
				}
				pw.Wait()
				secWG.Add(1)
				go func() {
					defer secWG.Done()
					sctx, scancel := context.WithTimeout(ctx, nzDeadline)
					defer scancel()
					probeSecondary(sctx, sec.DNSAddr, s.name+"."+benchNZone+".", s, &mu)
				}()
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
	}
	zcDone := time.Now()
	secWG.Wait()
	b.Logf("zonecast phase %v, network zones waited %v more", zcDone.Sub(begin).Round(time.Second),
		time.Since(zcDone).Round(time.Second))

	mu.Lock()
	defer mu.Unlock()
	var zc, zc4, zc6, nz, nz4, nz6, addrAfterLaunch []float64
	var missing []string
	for _, s := range samples {
		for _, f := range []struct {
			typ      string
			fam      *family
			zcs, nzs *[]float64
		}{{"A", &s.v4, &zc4, &nz4}, {"AAAA", &s.v6, &zc6, &nz6}} {
			fam := f.fam
			if fam.addr == "" {
				missing = append(missing, s.name+" "+f.typ+": LXD never reported the address")
				continue
			}
			addrAfterLaunch = append(addrAfterLaunch, ms(fam.api.Sub(s.launched)))
			switch {
			case fam.zonecast.IsZero():
				missing = append(missing, s.name+" "+f.typ+": zonecast's PowerDNS never answered")
			case !slices.Contains(fam.zcAnswer, fam.addr):
				missing = append(missing, fmt.Sprintf("%s %s: zonecast's PowerDNS answered %v, LXD reports %s",
					s.name, f.typ, fam.zcAnswer, fam.addr))
			default:
				d := ms(fam.zonecast.Sub(fam.api))
				if d > 500 {
					b.Logf("slow sample %s %s: LXD API %s, zonecast's PowerDNS %s (UTC)", s.name, f.typ,
						fam.api.UTC().Format("15:04:05.000"), fam.zonecast.UTC().Format("15:04:05.000"))
				}
				*f.zcs = append(*f.zcs, d)
				zc = append(zc, d)
			}
			if fam.secondary.IsZero() {
				missing = append(missing, fmt.Sprintf("%s %s: the network zone's secondary did not answer %s within %v",
					s.name, f.typ, fam.addr, nzDeadline))
			} else {
				d := ms(fam.secondary.Sub(fam.api))
				*f.nzs = append(*f.nzs, d)
				nz = append(nz, d)
			}
		}
	}
	for _, m := range missing {
		b.Log("missing: " + m)
	}
	b.Logf("load after: %s", uptime())
	b.Logf("launch -> address in LXD's API: p50 %.0f ms (A and AAAA, %d samples)", median(addrAfterLaunch), len(addrAfterLaunch))
	b.Logf("zonecast, address in API -> dig answers, %d samples (A+AAAA): p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms",
		len(zc), median(zc), percentile(zc, 0.9), percentile(zc, 0.99), percentile(zc, 1))
	b.Logf("  A    p50 %.1f ms p99 %.1f ms: %s", median(zc4), percentile(zc4, 0.99), fmtMs(zc4))
	b.Logf("  AAAA p50 %.1f ms p99 %.1f ms: %s", median(zc6), percentile(zc6, 0.99), fmtMs(zc6))
	b.Logf("network zones + AXFR secondary, %d samples (A+AAAA): p50 %.1f s, p90 %.1f s, max %.1f s",
		len(nz), median(nz)/1000, percentile(nz, 0.9)/1000, percentile(nz, 1)/1000)
	b.Logf("  A    p50 %.1f s: %s ms", median(nz4)/1000, fmtMs(nz4))
	b.Logf("  AAAA p50 %.1f s: %s ms", median(nz6)/1000, fmtMs(nz6))
	if len(zc) > 0 && len(nz) > 0 {
		b.Logf("ratio of medians, network zones / zonecast: %.0fx", median(nz)/median(zc))
		b.ReportMetric(median(nz)/median(zc), "nz/zc-ratio")
	}
	b.ReportMetric(median(zc), "p50-ms")
	b.ReportMetric(percentile(zc, 0.99), "p99-ms")
	b.ReportMetric(median(nz)/1000, "nz-p50-s")
	if n := w.Metric(b, "zonecast_watcher_publish_errors_total"); n != 0 {
		b.Errorf("watcher publish errors: %v", n)
	}
	if len(zc) < 2*n*9/10 {
		b.Fatalf("only %d of %d zonecast samples", len(zc), 2*n)
	}
}

// keysLeft returns how many more kernel keys the container root (uid
// 100000, /etc/subuid) may hold: every container's init gets a session
// keyring, and kernel.keys.maxkeys (default 200) caps them per uid.
func keysLeft() (int, error) {
	b, err := os.ReadFile("/proc/key-users")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && f[0] == "100000:" {
			var used, max int
			if _, err := fmt.Sscanf(f[3], "%d/%d", &used, &max); err != nil {
				return 0, err
			}
			return max - used, nil
		}
	}
	m, err := os.ReadFile("/proc/sys/kernel/keys/maxkeys")
	if err != nil {
		return 0, err
	}
	var max int
	_, err = fmt.Sscanf(string(m), "%d", &max)
	return max, err
}

// BenchmarkWatcherRSS200 launches 200 busybox containers, waits until the
// node's PowerDNS answers A and AAAA for all of them, and reads the
// watcher's resident memory.
func BenchmarkWatcherRSS200(b *testing.B) {
	const n, workers = 200, 6
	b.Logf("load before: %s", uptime())
	l := newBenchLXD(b, nil)
	if left, err := keysLeft(); err == nil && left < n {
		b.Fatalf("the kernel lets container root hold %d more keys, %d containers need %d: raise kernel.keys.maxkeys "+
			"(LXD's production setting is 2000) or delete other containers", left, n, n)
	}
	p, w := startNode(b)
	pid := w.PID()
	idle := testenv.ProcStatus(pid, "VmRSS")

	start := time.Now()
	names := make([]string, n)
	work := make(chan int)
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var errs []error
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := l.launch(names[i]); err != nil {
					errMu.Lock()
					errs = append(errs, err)
					errMu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		names[i] = fmt.Sprintf("%srss-%03d", benchPrefix, i)
		work <- i
	}
	close(work)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		b.Fatalf("%d launches failed: %v", len(errs), err)
	}
	launched := time.Since(start)
	b.Logf("launched %d containers in %v (%d at a time)", n, launched.Round(time.Second), workers)

	c := &dns.Client{Timeout: time.Second}
	pending := slices.Clone(names)
	testenv.Eventually(b, 3*time.Minute, fmt.Sprintf("PowerDNS answers A and AAAA of all %d containers", n), func() bool {
		pending = slices.DeleteFunc(pending, func(name string) bool {
			fq := name + "." + benchZone
			return len(lookup(c, p.DNSAddr, fq, dns.TypeA)) > 0 && len(lookup(c, p.DNSAddr, fq, dns.TypeAAAA)) > 0
		})
		if len(pending) > 0 {
			time.Sleep(500 * time.Millisecond)
		}
		return len(pending) == 0
	})
	published := time.Since(start)
	rssPublished := testenv.ProcStatus(pid, "VmRSS")
	// One more full poll of all 200 (every 30 s by default) with nothing
	// to publish: the steady state.
	since := float64(time.Now().UnixNano()) / 1e9
	testenv.Eventually(b, 45*time.Second, "a full sync after all were published", func() bool {
		return w.Metric(b, "zonecast_watcher_last_full_sync_timestamp_seconds") > since
	})
	rssSteady := testenv.ProcStatus(pid, "VmRSS")
	hwm := testenv.ProcStatus(pid, "VmHWM")
	inst := w.Metric(b, "zonecast_watcher_instances")
	b.Logf("load after: %s", uptime())
	b.Logf("all %d published %v after the first launch; watcher sees %v instances", n, published.Round(time.Second), inst)
	b.Logf("watcher VmRSS: idle %.1f MB, all published %.1f MB, after the next full poll %.1f MB, peak (VmHWM) %.1f MB",
		float64(idle)/1024, float64(rssPublished)/1024, float64(rssSteady)/1024, float64(hwm)/1024)
	b.ReportMetric(float64(rssSteady)/1024, "rss-MB")
	b.ReportMetric(float64(hwm)/1024, "hwm-MB")
	if inst < n {
		b.Errorf("watcher instances metric %v, want >= %d", inst, n)
	}
}
