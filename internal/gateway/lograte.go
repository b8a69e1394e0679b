package gateway

import (
	"context"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// LogLimits bounds how many refused requests are logged one by one: a
// client sending garbage in a loop must not flood the log. Every refusal is
// still counted in the metrics; those not logged are summarised per source
// once a period.
type LogLimits struct {
	Rate  float64 // lines per second per source, default 2
	Burst int     // per source, default 5
	// TotalRate and TotalBurst bound the lines of all sources together,
	// so that a flood from many (spoofed) addresses is bounded too.
	TotalRate  float64 // default 10
	TotalBurst int     // default 20
	// Sources is how many sources are tracked (default 256); refusals
	// from further sources share one entry until idle ones are dropped.
	Sources int
	Summary time.Duration // how often a source's unlogged refusals are summarised, default 1 minute
}

func (l LogLimits) withDefaults() LogLimits {
	if l.Rate <= 0 {
		l.Rate = 2
	}
	if l.Burst <= 0 {
		l.Burst = 5
	}
	if l.TotalRate <= 0 {
		l.TotalRate = 10
	}
	if l.TotalBurst <= 0 {
		l.TotalBurst = 20
	}
	if l.Sources <= 0 {
		l.Sources = 256
	}
	if l.Summary <= 0 {
		l.Summary = time.Minute
	}
	return l
}

// bucket is a token bucket; the time is passed in.
type bucket struct {
	tokens float64
	last   time.Time
}

func (b *bucket) refill(now time.Time, rate float64, burst int) {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(float64(burst), b.tokens+d.Seconds()*rate)
		b.last = now
	}
}

// refusalSource is what is kept per source: its bucket and what it was not
// allowed to log since the start of its summary period.
type refusalSource struct {
	b        bucket
	since    time.Time
	unlogged map[string]int // by kind
}

// refusalSummary is one source's refusals not logged in a period.
type refusalSummary struct {
	Source    string // an IPv4 address or an IPv6 /64; "" if unknown
	Untracked bool   // the sources beyond LogLimits.Sources, together
	Since     time.Time
	Unlogged  map[string]int // by kind: an rcode, a TSIG error, a dyndns answer
	Total     int
}

// refusalLog decides which refusals are logged. A source is an IPv4
// address or an IPv6 /64, the smallest block one client is commonly given
// whole: keying by the full IPv6 address would give such a client a fresh
// bucket per address. It is pure: the time is passed in.
type refusalLog struct {
	lim LogLimits

	mu      sync.Mutex
	total   bucket
	sources map[netip.Prefix]*refusalSource
	other   *refusalSource // the sources beyond lim.Sources
}

func newRefusalLog(lim LogLimits) *refusalLog {
	lim = lim.withDefaults()
	return &refusalLog{lim: lim, sources: map[netip.Prefix]*refusalSource{}}
}

// sourceOf returns the source of a remote address: an IPv4 address or an
// IPv6 /64, the zero prefix when the address is unknown.
func sourceOf(a netip.Addr) netip.Prefix {
	if !a.IsValid() {
		return netip.Prefix{}
	}
	a = a.Unmap().WithZone("")
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// ipOf returns the IP address of a net.Addr (invalid if none).
func ipOf(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.AddrPort().Addr()
	case *net.TCPAddr:
		return a.AddrPort().Addr()
	case nil:
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr()
}

// allow reports whether a refusal of kind from addr, at now, is logged.
// If not, it is counted for the source's summary.
func (l *refusalLog) allow(addr netip.Addr, kind string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	key := sourceOf(addr)
	s := l.sources[key]
	if s == nil {
		s = &refusalSource{b: bucket{tokens: float64(l.lim.Burst), last: now}}
		if len(l.sources) < l.lim.Sources {
			l.sources[key] = s
		} else {
			if l.other == nil {
				l.other = s
			}
			s = l.other
		}
	}
	s.b.refill(now, l.lim.Rate, l.lim.Burst)
	l.total.refill(now, l.lim.TotalRate, l.lim.TotalBurst) // full on first use: the zero time is long ago
	if s.b.tokens >= 1 && l.total.tokens >= 1 {
		s.b.tokens--
		l.total.tokens--
		return true
	}
	if s.unlogged == nil {
		s.unlogged = map[string]int{}
	}
	if len(s.unlogged) == 0 {
		s.since = now
	}
	s.unlogged[kind]++
	return false
}

// flush returns the summaries of the sources whose period ended by now,
// and forgets sources that have nothing to report and a full bucket again
// (idle for Burst/Rate seconds), making room for others.
func (l *refusalLog) flush(now time.Time) []refusalSummary {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []refusalSummary
	take := func(source string, untracked bool, s *refusalSource) {
		if len(s.unlogged) == 0 || now.Sub(s.since) < l.lim.Summary {
			return
		}
		sum := refusalSummary{Source: source, Untracked: untracked, Since: s.since, Unlogged: maps.Clone(s.unlogged)}
		for _, n := range s.unlogged {
			sum.Total += n
		}
		out = append(out, sum)
		clear(s.unlogged)
	}
	for key, s := range l.sources {
		src := ""
		if key.IsValid() {
			src = key.String()
			if key.Addr().Is4() {
				src = key.Addr().String()
			}
		}
		take(src, false, s)
		s.b.refill(now, l.lim.Rate, l.lim.Burst)
		if len(s.unlogged) == 0 && s.b.tokens >= float64(l.lim.Burst) {
			delete(l.sources, key)
		}
	}
	if l.other != nil {
		take("", true, l.other)
	}
	slices.SortFunc(out, func(a, b refusalSummary) int {
		if a.Untracked != b.Untracked {
			if a.Untracked {
				return 1
			}
			return -1
		}
		return strings.Compare(a.Source, b.Source)
	})
	return out
}

// logSummaries writes the summaries of refusals not logged that are due at
// now, DNS and dyndns.
func (g *Gateway) logSummaries(now time.Time) {
	for _, s := range g.dnsRefusals.flush(now) {
		writeSummary(g.log, s)
	}
	for _, s := range g.dyndnsRefusals.flush(now) {
		writeSummary(g.ddlog, s)
	}
}

func writeSummary(log zerolog.Logger, s refusalSummary) {
	by := zerolog.Dict()
	for _, k := range slices.Sorted(maps.Keys(s.Unlogged)) {
		by.Int(k, s.Unlogged[k])
	}
	e := log.Warn()
	if s.Untracked {
		e = e.Bool("untracked", true)
	} else {
		e = e.Str("remote", s.Source)
	}
	e.Time("since", s.Since).Int("unlogged", s.Total).Dict("unlogged_by", by).Msg("refusals not logged")
}

// summarise writes the summaries due every interval until ctx is done.
func (g *Gateway) summarise(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.logSummaries(g.cfg.Now())
		}
	}
}
