package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// BenchmarkNetlinkToDig measures zonecast-register's target: from the
// kernel's message of an address added in the client's namespace until
// both PowerDNS answer it, and from the message of its deletion until
// neither does. The setup is TestRegister's (newRegEnv): the client in a
// network namespace, following the kernel there; the gateway with the
// default leases on the host's end of the veth; two syncers and their
// PowerDNS (gsqlite3, lmdb).
//
// Each sample is one `ip addr add` of a new address, IPv6 and IPv4 in
// turn (IPv6 with nodad: no duplicate address detection, so the first
// message is of an address the client registers), then its `ip addr
// del`. The host keeps an IPv4 and an IPv6 address throughout, so each
// change adds a record to an RRset or removes one from it. The kernel's
// messages are stamped by a netlink subscription of the benchmark's own
// in the namespace, so the figures leave out ip's start-up; both PowerDNS
// are asked over UDP every millisecond until their answers hold (or no
// longer hold) the address. Reported: p50, p99 (nearest rank) and max of
// the additions and of the deletions.
//
// Then, with the lasting IPv6 address gone, rrsetSamples more in which
// the address added is the name's only AAAA: its deletion deletes the
// RRset, which the syncers hold back while more deletions may follow,
// and count against their delete limit (50 RRsets in 10 minutes in a
// zone this small: this part stays below it). Reported as rrset-*.
//
// Both PowerDNS run with their query cache off (query-cache-ttl=0,
// negquery-cache-ttl=0), as docs/dnssec.md sets up a node.
// ZONECAST_BENCH_QUERY_CACHE=1 keeps 4.7's defaults: an answer put back in
// a cache by a query during a write is then served until the syncer's late
// flush of the zone's caches (internal/syncer/cacheflush.go); samples are
// waited for up to 30 s, beyond the caches' 20 s.
//
//	go test -run '^$' -bench NetlinkToDig -benchtime 1x -v ./cmd/register
func BenchmarkNetlinkToDig(b *testing.B) {
	const (
		warmup       = 10
		samples      = 200
		rrsetSamples = 30
		gap          = 50 * time.Millisecond // between a change being served and the next
		lasting      = "2001:db8:78:ffff::1"
	)
	conf := "query-cache-ttl=0\nnegquery-cache-ttl=0"
	if os.Getenv("ZONECAST_BENCH_QUERY_CACHE") != "" {
		conf = "" // PowerDNS's defaults
	}
	e := newRegEnvConf(b, conf)
	name := "bench." + claimZone
	peer := e.link.PeerIP.String()
	e.ipNS(b, "addr", "add", lasting+"/64", "dev", nsIf, "nodad")
	c := e.start(b, "bench", b.TempDir(), "--name", "bench", "--gateway", e.gw, "--log-level", "info")
	e.waitDig(b, name, "A", peer)
	e.waitDig(b, name, "AAAA", lasting)
	c.waitMetric(b, 10*time.Second, "zonecast_register_addresses", 2)
	msgs := addrMessages(b, e.link.ServerNS)

	// change adds prefix's address and deletes it, and returns how long
	// after the kernel's message of each both PowerDNS showed it, and
	// how long after ip started the kernel sent the addition's message.
	change := func(prefix string) (add, del, exec float64) {
		b.Helper()
		p := netip.MustParsePrefix(prefix)
		ip, typ, extra := p.Addr(), dns.TypeA, []string(nil)
		if ip.Is6() {
			typ, extra = dns.TypeAAAA, []string{"nodad"}
		}
		start := time.Now()
		e.ipNS(b, append([]string{"addr", "add", prefix, "dev", nsIf}, extra...)...)
		added := msgs.wait(b, ip, true, start)
		served := e.answeredBy(b, name, typ, ip.String(), true)
		time.Sleep(gap)
		delStart := time.Now()
		e.ipNS(b, "addr", "del", prefix, "dev", nsIf)
		deleted := msgs.wait(b, ip, false, delStart)
		gone := e.answeredBy(b, name, typ, ip.String(), false)
		time.Sleep(gap)
		return e.last(b, "add "+p.String(), added, served), e.last(b, "del "+p.String(), deleted, gone), ms(added.Sub(start))
	}

	var add, del, add4, add6, execs, rrAdd, rrDel []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range warmup + samples {
			prefix := fmt.Sprintf("2001:db8:78:%x::%x/64", i, j+1)
			if j%2 == 1 {
				prefix = fmt.Sprintf("192.0.2.%d/32", j/2+1)
			}
			a, d, x := change(prefix)
			if j < warmup {
				continue
			}
			add, del, execs = append(add, a), append(del, d), append(execs, x)
			if j%2 == 1 {
				add4 = append(add4, a)
			} else {
				add6 = append(add6, a)
			}
		}
	}
	// The RRset deletions, once: more would reach the delete limit.
	e.ipNS(b, "addr", "del", lasting+"/64", "dev", nsIf)
	e.answeredBy(b, name, dns.TypeAAAA, lasting, false)
	time.Sleep(gap)
	for j := range rrsetSamples {
		a, d, _ := change(fmt.Sprintf("2001:db8:78:fffe::%x/64", j+1))
		rrAdd, rrDel = append(rrAdd, a), append(rrDel, d)
	}
	b.StopTimer()

	for _, s := range []struct {
		what string
		xs   []float64
	}{{"add", add}, {"del", del}, {"rrset-add", rrAdd}, {"rrset-del", rrDel}} {
		b.Logf("netlink %s -> both PowerDNS, %d samples: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms",
			s.what, len(s.xs), median(s.xs), percentile(s.xs, 0.90), percentile(s.xs, 0.99), percentile(s.xs, 1))
		b.ReportMetric(median(s.xs), s.what+"-p50-ms")
		b.ReportMetric(percentile(s.xs, 0.99), s.what+"-p99-ms")
		b.ReportMetric(percentile(s.xs, 1), s.what+"-max-ms")
	}
	slow := 0
	for _, x := range slices.Concat(add, del, rrAdd, rrDel) {
		if x > 1000 {
			slow++
		}
	}
	b.Logf("samples over 1 s: %d of %d", slow, len(add)+len(del)+len(rrAdd)+len(rrDel))
	b.Logf("add p50 by family: A %.1f ms, AAAA %.1f ms; ip addr add -> the kernel's message: p50 %.1f ms (not counted)",
		median(add4), median(add6), median(execs))
}

// answeredBy asks every PowerDNS for name typ every millisecond until its
// answer holds addr (present) or no longer does, and returns when each
// did, in the order of e.pdns.
func (e *regEnv) answeredBy(b *testing.B, name string, typ uint16, addr string, present bool) []time.Time {
	b.Helper()
	const timeout = 30 * time.Second // past the query cache's 20 s, when it is on
	at := make([]time.Time, len(e.pdns))
	errs := make([]error, len(e.pdns))
	var wg sync.WaitGroup
	for i, p := range e.pdns {
		wg.Go(func() {
			c := &dns.Client{Timeout: time.Second}
			q := new(dns.Msg)
			q.SetQuestion(name, typ)
			deadline := time.Now().Add(timeout)
			for {
				r, _, err := c.Exchange(q, p.DNSAddr)
				if err == nil && holds(r, addr) == present {
					at[i] = time.Now()
					return
				}
				if time.Now().After(deadline) {
					errs[i] = fmt.Errorf("pdns %d (%s): %s %s with %s present %v: not after %v (last error %v)",
						i, p.Backend, name, dns.TypeToString[typ], addr, present, timeout, err)
					return
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	return at
}

// last returns how long after from the last PowerDNS answered (at, as
// answeredBy returns it), and logs a sample over a second with each
// PowerDNS's figure.
func (e *regEnv) last(b *testing.B, what string, from time.Time, at []time.Time) float64 {
	b.Helper()
	d := ms(slices.MaxFunc(at, time.Time.Compare).Sub(from))
	if d > 1000 {
		var each []string
		for i, p := range e.pdns {
			each = append(each, fmt.Sprintf("%s %.1f ms", p.Backend, ms(at[i].Sub(from))))
		}
		b.Logf("slow sample, %s: %s", what, strings.Join(each, ", "))
	}
	return d
}

// holds reports whether r answers with addr.
func holds(r *dns.Msg, addr string) bool {
	for _, rr := range r.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			if rr.A.String() == addr {
				return true
			}
		case *dns.AAAA:
			if rr.AAAA.String() == addr {
				return true
			}
		}
	}
	return false
}

// addrStamp is one of the kernel's address messages, stamped when read.
type addrStamp struct {
	addr    netip.Addr
	present bool // RTM_NEWADDR
	at      time.Time
}

// addrFeed is the kernel's address messages of one namespace.
type addrFeed struct {
	ch  <-chan addrStamp
	err atomic.Value // the subscription's first error
}

// addrMessages subscribes to the address messages of namespace ns until
// the benchmark ends.
func addrMessages(b *testing.B, ns string) *addrFeed {
	b.Helper()
	done := make(chan struct{})
	updates := make(chan netlink.AddrUpdate, 256)
	f := &addrFeed{}
	err := inNetns(ns, func() error {
		return netlink.AddrSubscribeWithOptions(updates, done, netlink.AddrSubscribeOptions{
			ReceiveBufferSize: 1 << 20,
			ErrorCallback: func(err error) {
				select {
				case <-done:
				default:
					f.err.CompareAndSwap(nil, err)
				}
			}})
	})
	if err != nil {
		b.Fatalf("subscribing to the addresses of %s: %v", ns, err)
	}
	b.Cleanup(func() { close(done) })
	out := make(chan addrStamp, 4096)
	go func() {
		for u := range updates {
			at := time.Now()
			if ip, ok := netip.AddrFromSlice(u.LinkAddress.IP); ok {
				select {
				case out <- addrStamp{addr: ip.Unmap(), present: u.NewAddr, at: at}:
				default: // never block netlink's reader; wait reports the loss
					f.err.CompareAndSwap(nil, fmt.Errorf("address message of %v dropped", ip))
				}
			}
		}
	}()
	f.ch = out
	return f
}

// wait returns the stamp of the first message since start that addr was
// added (present) or deleted.
func (f *addrFeed) wait(b *testing.B, addr netip.Addr, present bool, start time.Time) time.Time {
	b.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case m, ok := <-f.ch:
			if !ok {
				b.Fatalf("the namespace's address messages ended (%v)", f.err.Load())
			}
			if m.addr == addr && m.present == present && !m.at.Before(start) {
				return m.at
			}
		case <-timeout:
			b.Fatalf("no message of %v present %v within 5s (subscription error: %v)", addr, present, f.err.Load())
		}
	}
}

// inNetns runs f on a thread moved into namespace ns: a socket belongs to
// the namespace of the thread that creates it. The thread is moved back
// before it is released; if that fails it stays locked, and dies with its
// goroutine, so no other goroutine ever runs in ns.
func inNetns(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		target, err := os.Open(filepath.Join("/run/netns", ns))
		if err != nil {
			errc <- err
			return
		}
		defer target.Close()
		runtime.LockOSThread()
		self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer self.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("entering network namespace %s: %w", ns, err)
			return
		}
		ferr := f()
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("leaving network namespace %s: %w (%v)", ns, err, ferr)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// percentile is the nearest-rank percentile (p in 0..1).
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(float64(len(s))*p+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}
