package gateway

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/gwstore"
	"github.com/zonecast/zonecast/internal/rrset"
)

// HistoryStore keeps the last changes of each host (gwstore.Store).
type HistoryStore interface {
	AppendHistory(ctx context.Context, host string, e gwstore.HistoryEntry) error
}

// HostState is what the stream holds of a host's own records.
type HostState struct {
	A, AAAA []string
	TTL     uint32
	// Changed is when the stream stored the last change of the host's
	// records, as this gateway followed it; zero if none. After a
	// restart only the last message of each record is replayed: a lease
	// renewal then counts as the change.
	Changed time.Time
}

// dyndnsOrigin starts the origin of every host's records (gwstore.Host.Origin):
// the gateway follows when those change.
const dyndnsOrigin = "dyndns-"

// seenRecords is a host's record as the stream last delivered it.
type seenRecords struct {
	records []string
	expires time.Time // zero: no lease
}

// noteChangeLocked records when the stream stored a change of a host's A
// or AAAA (d is a delivery on key and origin). Caller holds g.mu.
func (g *Gateway) noteChangeLocked(d events.Delivery, key rrset.Key, origin string) {
	if !strings.HasPrefix(origin, dyndnsOrigin) || (key.Type != "A" && key.Type != "AAAA") {
		return
	}
	var recs []string
	if !d.Removed && (d.Expires.IsZero() || d.Expires.After(g.cfg.Now())) {
		if m, err := events.DecodeWithSubject(g.cfg.Prefix, d.Subject, d.Data); err == nil {
			recs = m.Records
		}
	}
	sub := subject{key: key, origin: origin}
	prev, ok := g.seen[sub]
	if ok && !prev.expires.IsZero() && !prev.expires.After(d.Stored) {
		prev = seenRecords{} // its lease ended before: the records came back
	}
	if !slices.Equal(prev.records, recs) {
		g.changed[origin] = d.Stored
	}
	if len(recs) == 0 {
		delete(g.seen, sub)
		return
	}
	g.seen[sub] = seenRecords{records: recs, expires: d.Expires}
}

// HostState returns h's own A and AAAA records as the gateway knows them,
// its own changes in flight included.
func (g *Gateway) HostState(h gwstore.Host) HostState {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.idx.ExpireDue(g.cfg.Now())
	origin := h.Origin()
	a := g.ownLocked(rrset.Key{Name: h.Name, Type: "A"}, origin)
	aaaa := g.ownLocked(rrset.Key{Name: h.Name, Type: "AAAA"}, origin)
	s := HostState{A: slices.Clone(a.Records), AAAA: slices.Clone(aaaa.Records), TTL: a.TTL, Changed: g.changed[origin]}
	if len(a.Records) == 0 {
		s.TTL = aaaa.TTL
	}
	return s
}

// InUse reports whether name has records of any type from any origin in
// the gateway's desired state (its own changes in flight included): a
// TSIG key's, an LXD watcher's, a SIG(0) claim's, or a dyndns host's,
// also one left behind by a host removed without withdrawing. Served
// RRsets merge every origin, so a new host there would publish beside
// them.
func (g *Gateway) InUse(name string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.idx.ExpireDue(g.cfg.Now())
	return len(g.idx.Types(name)) > 0 // changes in flight are folded in when sent
}

// canonicalAddrs checks addrs, all of one family (v4 or not), and
// returns them canonical, sorted and unique; nil stays nil (the family is
// left alone), empty stays empty (its records go).
func canonicalAddrs(addrs []string, v4 bool) ([]string, error) {
	if addrs == nil {
		return nil, nil
	}
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		ip, err := netip.ParseAddr(strings.TrimSpace(a))
		if err != nil || ip.Zone() != "" {
			return nil, gwstore.Invalidf("%q is not an IP address", a)
		}
		ip = ip.Unmap()
		if ip.Is4() != v4 {
			fam := "IPv6"
			if v4 {
				fam = "IPv4"
			}
			return nil, gwstore.Invalidf("%s is not an %s address", ip, fam)
		}
		out = append(out, ip.String())
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// SetAddresses publishes h's A (v4 non-nil) and AAAA (v6 non-nil)
// records as a dyndns2 update does: with h's TTL and lease, as h's origin;
// an empty non-nil list removes that family. With a lease an unchanged
// update is published too: it renews the lease. What changed goes into
// the history (Config.History) as coming via from remote. Then every host
// that takes its prefix from h (Directory.Dependents), and the hosts
// behind those, follow (FollowPrefix); their failures are logged, h's own
// update stands. It returns whether h's records changed.
func (g *Gateway) SetAddresses(ctx context.Context, h gwstore.Host, v4, v6 []string, via, remote string) (bool, error) {
	if _, ok := g.zoneOf(h.Name); !ok {
		if why := g.unlisted(h.Name, via); why != "" {
			return false, gwstore.Invalidf("%s: %s", h.Name, why)
		}
		return false, gwstore.Invalidf("%s is in none of the gateway's zones", h.Name)
	}
	v4, err := canonicalAddrs(v4, true)
	if err != nil {
		return false, err
	}
	if v6, err = canonicalAddrs(v6, false); err != nil {
		return false, err
	}
	if len(v4)+len(v6) > events.MaxRecords {
		return false, gwstore.Invalidf("more than %d addresses", events.MaxRecords)
	}
	want := map[string][]string{}
	if v4 != nil {
		want["A"] = v4
	}
	if v6 != nil {
		want["AAAA"] = v6
	}
	origin := h.Origin()
	var changedTypes map[string]bool
	_, err = g.commit(ctx, h.Lease(), func() ([]events.Message, bool) {
		var msgs []events.Message
		changedTypes = map[string]bool{}
		relet := false
		for _, typ := range []string{"A", "AAAA"} {
			recs, ok := want[typ]
			if !ok {
				continue // the other family is left as it is
			}
			key := rrset.Key{Name: h.Name, Type: typ}
			have := g.ownLocked(key, origin)
			if len(recs) == 0 && len(have.Records) == 0 {
				continue // nothing to remove
			}
			if !slices.Equal(have.Records, recs) || have.TTL != h.TTL {
				changedTypes[typ] = true
			}
			relet = relet || len(recs) > 0 && g.leaseDiffersLocked(key, origin, h.Lease())
			msgs = append(msgs, events.Message{Version: events.Version, Name: h.Name, Type: typ, Origin: origin, TTL: h.TTL, Records: recs})
		}
		// With a lease, an unchanged update is published again: it renews
		// it; so is one whose records lose or gain a lease.
		return msgs, len(changedTypes) > 0 || h.Lease() > 0 || relet
	})
	if err != nil {
		return false, err
	}
	changed := len(changedTypes) > 0
	if changed {
		e := gwstore.HistoryEntry{Time: g.cfg.Now().UTC(), Remote: remote, Via: via}
		if changedTypes["A"] {
			e.A = v4
		}
		if changedTypes["AAAA"] {
			e.AAAA = v6
		}
		g.appendHistory(ctx, h.Name, e)
	}
	if changed || h.Lease() > 0 {
		g.followDependents(ctx, h, map[string]bool{h.Name: true}, remote)
	}
	return changed, nil
}

// Withdraw removes h's records from the stream, before h is deleted. The
// hosts behind it lose their AAAA, having no prefix to follow.
func (g *Gateway) Withdraw(ctx context.Context, h gwstore.Host) error {
	origin := h.Origin()
	withdrawn := false
	_, err := g.commit(ctx, 0, func() ([]events.Message, bool) {
		var msgs []events.Message
		for _, typ := range []string{"A", "AAAA"} {
			if have := g.ownLocked(rrset.Key{Name: h.Name, Type: typ}, origin); len(have.Records) > 0 {
				msgs = append(msgs, events.Message{Version: events.Version, Name: h.Name, Type: typ, Origin: origin, TTL: h.TTL, Records: []string{}})
			}
		}
		withdrawn = len(msgs) > 0
		return msgs, withdrawn
	})
	if err != nil {
		return fmt.Errorf("withdrawing %s: %w", h.Name, err)
	}
	if withdrawn {
		g.followDependents(ctx, h, map[string]bool{h.Name: true}, "")
	}
	return nil
}

// FollowPrefix publishes the AAAA of h, a host with PrefixFrom, from its
// router's current AAAA (after h is added or its options changed), then
// has the hosts behind h follow. A host without PrefixFrom is left alone.
func (g *Gateway) FollowPrefix(ctx context.Context, h gwstore.Host) error {
	if h.PrefixFrom == "" {
		return nil
	}
	if _, ok := g.zoneOf(h.Name); !ok {
		if why := g.unlisted(h.Name, "web"); why != "" {
			return gwstore.Invalidf("%s: %s", h.Name, why)
		}
		return gwstore.Invalidf("%s is in none of the gateway's zones", h.Name)
	}
	published, err := g.follow(ctx, h, "")
	if err != nil {
		return err
	}
	if published {
		g.followDependents(ctx, h, map[string]bool{h.Name: true}, "")
	}
	return nil
}

// followDependents has every host behind router follow its AAAA, then
// the hosts behind those; seen holds the hosts done, so a loop of
// PrefixFrom ends.
func (g *Gateway) followDependents(ctx context.Context, router gwstore.Host, seen map[string]bool, remote string) {
	if g.cfg.Directory == nil {
		return
	}
	for _, dep := range g.cfg.Directory.Dependents(router.Name) {
		if seen[dep.Name] {
			continue
		}
		seen[dep.Name] = true
		if _, ok := g.zoneOf(dep.Name); !ok {
			continue
		}
		published, err := g.follow(ctx, dep, remote)
		if err != nil {
			g.ddlog.Error().Err(err).Str("name", dep.Name).Str("origin", dep.Origin()).Msg("publishing a host behind a router failed")
			continue
		}
		if published {
			g.followDependents(ctx, dep, seen, remote)
		}
	}
}

// follow publishes dep's AAAA from its router's AAAA (gwstore.Host.Follow)
// with dep's TTL and lease, when it changed, or always with a lease (a
// renewal, as the router's own update). It returns whether it published.
func (g *Gateway) follow(ctx context.Context, dep gwstore.Host, remote string) (bool, error) {
	origin := dep.Origin()
	routerKey := rrset.Key{Name: dep.PrefixFrom, Type: "AAAA"}
	routerOrigin := gwstore.Host{Name: dep.PrefixFrom}.Origin()
	key := rrset.Key{Name: dep.Name, Type: "AAAA"}
	var changed, send bool
	var want []string
	_, err := g.commit(ctx, dep.Lease(), func() ([]events.Message, bool) {
		want = dep.Follow(g.ownLocked(routerKey, routerOrigin).Records)
		have := g.ownLocked(key, origin)
		changed = !slices.Equal(have.Records, want) || (len(want) > 0 && have.TTL != dep.TTL)
		send = changed || len(want) > 0 && (dep.Lease() > 0 || g.leaseDiffersLocked(key, origin, dep.Lease()))
		return []events.Message{{Version: events.Version, Name: dep.Name, Type: "AAAA", Origin: origin, TTL: dep.TTL, Records: want}}, send
	})
	if err != nil {
		return false, fmt.Errorf("publishing %s behind %s: %w", dep.Name, dep.PrefixFrom, err)
	}
	if changed {
		g.ddlog.Info().Str("name", dep.Name).Str("origin", origin).Str("addresses", strings.Join(want, ",")).
			Str("router", dep.PrefixFrom).Msg("prefix host published")
		g.appendHistory(ctx, dep.Name, gwstore.HistoryEntry{Time: g.cfg.Now().UTC(), Remote: remote, Via: "prefix", AAAA: want})
	}
	return send, nil
}

// leaseDiffersLocked reports whether the origin's records at key have a
// lease and lease is none, or the other way round: a host's lease changed
// on the page, the records must be published again with it even if they
// are the same. Caller holds g.mu.
func (g *Gateway) leaseDiffersLocked(key rrset.Key, origin string, lease time.Duration) bool {
	return g.idx.LeaseEnd(key, origin).IsZero() != (lease == 0)
}

// appendHistory records a change of host, if there is a history. A failure
// is logged: the records are stored, the history is a courtesy.
func (g *Gateway) appendHistory(ctx context.Context, host string, e gwstore.HistoryEntry) {
	if g.cfg.History == nil {
		return
	}
	if err := g.cfg.History.AppendHistory(ctx, host, e); err != nil {
		g.log.Warn().Err(err).Str("name", host).Msg("storing the history of a host failed")
	}
}
