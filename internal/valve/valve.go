// Package valve is the safety valve between the desired state and
// PowerDNS: it holds back deletions that would remove a large share of a
// zone at once, until an operator approves them. An emptied or purged
// stream, a snapshot that holds nothing, or a publisher's mass tombstones
// then leave the nameservers as they are, and say so, instead of emptying
// them. It is pure: the caller passes the time in.
//
// The rule, per zone: deletions are held when, together with those
// written in the last Policy.Window and those already known to follow,
// they are more than Policy.Min RRsets and more than Policy.Share of the
// RRsets the syncer owns there (counted before the window's deletions).
// A plan is held whole: a mass deletion never leaves PowerDNS half-way.
// Once a zone holds deletions, every further deletion there joins the
// hold until an operator approves it, or until what is held is desired
// again (the stream restored).
package valve

import (
	"fmt"
	"time"
)

// Policy is when deletions are held.
type Policy struct {
	Share  float64       // of the zone's owned RRsets; 1 or more: never held
	Min    int           // deletions up to this many always pass
	Window time.Duration // how long written deletions count
}

// Default is the policy a syncer starts with.
var Default = Policy{Share: 0.3, Min: 50, Window: 10 * time.Minute}

// Check reports a policy that cannot work.
func (p Policy) Check() error {
	switch {
	case p.Share <= 0:
		return fmt.Errorf("delete limit share %v: must be above 0 (1 turns the limit off)", p.Share)
	case p.Min < 0:
		return fmt.Errorf("delete limit minimum %d: must not be negative", p.Min)
	case p.Window < 0:
		return fmt.Errorf("delete limit window %v: must not be negative", p.Window)
	}
	return nil
}

// Gate applies a policy, zone by zone. It is not safe for concurrent use.
type Gate struct {
	p     Policy
	zones map[string]*zone
}

type zone struct {
	written []deletion // within the window, oldest first
}

type deletion struct {
	at time.Time
	n  int
}

// New returns a gate with policy p.
func New(p Policy) *Gate { return &Gate{p: p, zones: map[string]*zone{}} }

// Policy returns the gate's policy.
func (g *Gate) Policy() Policy { return g.p }

// Plan is what Admit is asked about: n deletions in one zone.
type Plan struct {
	Zone    string
	N       int  // deletions in this plan
	Backlog int  // further deletions already known to follow (not yet planned)
	Owned   int  // RRsets the syncer owns in the zone before these deletions
	Holding bool // the zone already holds deletions
}

// Admit reports whether the plan's deletions may be written at now (all
// of them, or none), and counts them in the window if so. Deletions an
// operator approved are not asked about (the caller knows them).
func (g *Gate) Admit(now time.Time, p Plan) bool {
	if p.N <= 0 {
		return true
	}
	z := g.zone(p.Zone)
	z.expire(now, g.p.Window)
	if p.Holding || g.over(z.sum(), p) {
		return false
	}
	z.written = append(z.written, deletion{at: now, n: p.N})
	return true
}

// Uncount takes back n deletions of zone that Admit counted but that were
// not written (PowerDNS failed): they are planned, and counted, again.
func (g *Gate) Uncount(zone string, n int) {
	z := g.zone(zone)
	for i := len(z.written) - 1; i >= 0 && n > 0; i-- {
		k := min(n, z.written[i].n)
		z.written[i].n -= k
		n -= k
	}
}

// over reports whether the plan, after recent written deletions, passes
// the limit.
func (g *Gate) over(recent int, p Plan) bool {
	if g.p.Share >= 1 {
		return false
	}
	total := recent + p.N + p.Backlog
	base := p.Owned + recent
	return total > g.p.Min && float64(total) > g.p.Share*float64(base)
}

// Approve forgets the deletions written in zone: an operator approved
// what it held, and the limit counts afresh from there.
func (g *Gate) Approve(zone string) {
	g.zone(zone).written = nil
}

func (g *Gate) zone(name string) *zone {
	z := g.zones[name]
	if z == nil {
		z = &zone{}
		g.zones[name] = z
	}
	return z
}

func (z *zone) expire(now time.Time, window time.Duration) {
	i := 0
	for i < len(z.written) && now.Sub(z.written[i].at) >= window {
		i++
	}
	z.written = z.written[i:]
}

func (z *zone) sum() int {
	n := 0
	for _, d := range z.written {
		n += d.n
	}
	return n
}
