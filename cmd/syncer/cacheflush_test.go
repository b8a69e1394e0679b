package main

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestChangesVisibleWithCaches: with PowerDNS's default caches on
// (query-cache-ttl=20, negquery-cache-ttl=60, cache-ttl=20) and the name
// being changed asked every millisecond, every change the syncer writes is
// answered within a second, and stays answered. PowerDNS purges a zone's
// caches when a PATCH ends, but a query answered across that purge can
// put the old answer back in its packet cache for cache-ttl; the syncer's
// late flush (internal/syncer/cacheflush.go) takes it out again.
//
// 200 changes, one after another, on 40 names, in passes of 40: each name
// is created (NXDOMAIN -> AAAA), changed three times (AAAA -> another
// AAAA), then deleted (AAAA -> NXDOMAIN); 40 deletions stay under the
// delete limit. A change counts as visible from the first new answer after
// the last old one, until the name's next change. The next change comes
// once this one has been answered for `settle` (or after `within`): a
// PATCH purges the zone's caches, and would hide a stale answer of the
// change before. (The syncer's rectify, a second after the last write
// that added or removed a name, flushes them too, and would end a stale
// answer just after `within`.)
func TestChangesVisibleWithCaches(t *testing.T) {
	const (
		changes = 200
		names   = 40
		within  = time.Second
		pollers = 3
		watch   = 4                     // the current change and the 3 before it are asked
		settle  = 20 * time.Millisecond // answered this long before the next change
		linger  = 25 * time.Second      // a late change is followed this long, for the figure
	)
	forBackends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, false)
		var (
			mu      sync.Mutex
			watched []*seen // the last `watch` changes, newest last
			done    atomic.Bool
			wg      sync.WaitGroup
		)
		for range pollers {
			wg.Go(func() {
				c := &dns.Client{Timeout: time.Second}
				for i := 0; !done.Load(); i++ {
					mu.Lock()
					var cur, prev *seen
					if n := len(watched); n > 0 {
						cur = watched[n-1]
						if n > 1 {
							prev = watched[i%(n-1)]
						}
					}
					mu.Unlock()
					for _, s := range []*seen{cur, prev} {
						if s != nil {
							s.ask(c, e.pdns.DNSAddr)
						}
					}
					time.Sleep(time.Millisecond)
				}
			})
		}
		// A change no longer watched, and not answered, is followed by a
		// goroutine of its own until it is.
		var late sync.WaitGroup
		follow := func(s *seen) {
			if s.current() {
				return
			}
			late.Go(func() {
				c := &dns.Client{Timeout: time.Second}
				for !s.current() && time.Since(s.at) < linger {
					s.ask(c, e.pdns.DNSAddr)
					time.Sleep(10 * time.Millisecond)
				}
			})
		}
		all := make([]*seen, 0, changes)
		last := map[string]*seen{} // the previous change of each name
		c := &dns.Client{Timeout: time.Second}
		for i := range changes {
			k, pass := i%names, i/names
			name := fmt.Sprintf("c%d.%s", k, zone)
			var want string // "" is NXDOMAIN
			if pass < changes/names-1 {
				want = netip.MustParseAddr(fmt.Sprintf("2001:db8::%x:%x", k, 1+pass)).String()
			}
			s := &seen{name: name, want: want}
			if p := last[name]; p != nil {
				p.supersede()
			}
			last[name] = s
			// The caches hold the old answer before the change.
			if r, _, err := c.Exchange(query(name), e.pdns.DNSAddr); err != nil || s.answers(r) {
				t.Fatalf("change %d: %s before the change: %v %v", i, name, r, err)
			}
			s.at = time.Now()
			mu.Lock()
			watched = append(watched, s)
			if len(watched) > watch {
				follow(watched[0])
				watched = watched[1:]
			}
			mu.Unlock()
			all = append(all, s)
			if want == "" {
				e.publish(t, name, "AAAA", "node1", 0)
			} else {
				e.publish(t, name, "AAAA", "node1", 60, want)
			}
			for deadline := s.at.Add(within); !s.settled(settle) && time.Now().Before(deadline); {
				s.ask(c, e.pdns.DNSAddr)
				time.Sleep(time.Millisecond)
			}
		}
		time.Sleep(300 * time.Millisecond) // the last changes stay asked a while
		done.Store(true)
		wg.Wait()
		for _, s := range watched {
			follow(s)
		}
		late.Wait()

		var took []time.Duration
		late50, slow := 0, 0
		for i, s := range all {
			d, ok := s.visible()
			took = append(took, d)
			if d > 50*time.Millisecond {
				late50++ // mostly an old answer put back, until the late flush
			}
			if !ok || d > within {
				slow++
				t.Errorf("change %d (%s AAAA -> %q): answered after %v (answered before its next change or the end: %v)",
					i, s.name, s.want, d.Round(time.Millisecond), ok)
			}
		}
		slices.Sort(took)
		ok := e.sync.Metric(t, `zonecast_syncer_cache_flushes_total{result="ok"}`)
		failed := e.sync.Metric(t, `zonecast_syncer_cache_flushes_total{result="failed"}`)
		t.Logf("%s: %d changes answered after p50 %v, p99 %v, max %v; %d over 50 ms, %d over %v; late cache flushes: %v done, %v failed",
			backend, len(took), took[len(took)/2].Round(time.Microsecond), took[len(took)*99/100-1].Round(time.Microsecond),
			took[len(took)-1].Round(time.Microsecond), late50, slow, within, ok, failed)
		if ok < 1 || failed != 0 {
			t.Errorf("late cache flushes: %v done, %v failed; want at least the one after the last change, and no failure", ok, failed)
		}
	})
}

// seen is what was answered for one change since it was published.
type seen struct {
	name string
	want string    // the AAAA after the change; "" for NXDOMAIN
	at   time.Time // published

	mu       sync.Mutex
	firstNew time.Time // first new answer
	lastOld  time.Time // last old answer
	isNew    bool      // the last answer was new
	done     bool      // the name's next change is being published
}

func query(name string) *dns.Msg {
	q := new(dns.Msg)
	q.SetQuestion(name, dns.TypeAAAA)
	return q
}

// answers reports whether r is the answer after the change.
func (s *seen) answers(r *dns.Msg) bool {
	if s.want == "" {
		return r.Rcode == dns.RcodeNameError
	}
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		return false
	}
	a, ok := r.Answer[0].(*dns.AAAA)
	return ok && a.AAAA.String() == s.want
}

// ask queries the name once and records the answer.
func (s *seen) ask(c *dns.Client, server string) {
	r, _, err := c.Exchange(query(s.name), server)
	if err != nil {
		return
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return
	}
	s.isNew = s.answers(r)
	if s.isNew && s.firstNew.IsZero() {
		s.firstNew = now
	}
	if !s.isNew {
		s.lastOld = now
	}
}

// current reports whether the last answer was the new one, or the name's
// next change is on its way.
func (s *seen) current() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.isNew || s.done
}

// settled reports whether the change has been answered, and nothing
// else, for d.
func (s *seen) settled(d time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.isNew && time.Since(s.firstNew) >= d && time.Since(s.lastOld) >= d
}

// supersede ends the record: the name's next change is being published.
func (s *seen) supersede() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done = true
}

// visible returns how long after its publication the change was answered
// for good; ok is false if the last answer was still the old one.
func (s *seen) visible() (d time.Duration, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	at := s.firstNew
	if s.lastOld.After(at) {
		at = s.lastOld
	}
	return at.Sub(s.at), s.isNew
}
