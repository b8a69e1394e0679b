package gateway

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecast/zonecast/internal/claim"
	"github.com/zonecast/zonecast/internal/dnsupdate"
	"github.com/zonecast/zonecast/internal/gwstore"
	"github.com/zonecast/zonecast/internal/sig0"
)

// ClaimStore keeps the fleet's claims (gwstore.Store): every gateway
// decides on what the bucket holds, and the bucket's revisions decide
// between two that claim one name at once.
type ClaimStore interface {
	Claim(ctx context.Context, name string) (claim.Claim, uint64, error)
	PutClaim(ctx context.Context, c claim.Claim, rev uint64) (uint64, error)
	DeleteClaim(ctx context.Context, name string, rev uint64) error
}

// ClaimCache is the gateway's copy of the claims (gwstore.Cache): what
// an update is first decided on, and the live claims per subnet.
type ClaimCache interface {
	CachedClaim(name string) (claim.Claim, uint64, bool)
	SubnetClaims(subnet netip.Prefix, name string, now time.Time) int
}

// claimAttempts bounds the reads and decisions again after another
// gateway wrote the same claim first.
const claimAttempts = 3

// handleClaim answers a SIG(0)-signed UPDATE: a first-come claim of a
// name in a claim zone, or an update by the key that holds it
// (internal/claim). The claim is stored before the records are published,
// so that no other key can take the name in between; an update that the
// policy would refuse is refused before either.
func (g *Gateway) handleClaim(ctx context.Context, req, resp *dns.Msg, remote net.Addr, sig *dns.SIG, log *updateLog) *dns.Msg {
	zone := dns.CanonicalName(req.Question[0].Name)
	signer := dns.CanonicalName(sig.SignerName)
	log.key = signer
	refuse := func(rcode int, result, reason string) *dns.Msg {
		resp.Rcode = rcode
		g.m.claims.WithLabelValues(result).Inc()
		g.count(log, rcode, "", reason, 0)
		return resp
	}
	if g.cfg.Claims == nil || !g.cfg.Claims.Zone(zone) {
		return refuse(dns.RcodeRefused, "refused", "SIG(0) is accepted only in claim zones (--claim-zone)")
	}
	if reason := g.unlistedUpdate(req, "dns"); reason != "" {
		return refuse(dns.RcodeNotAuth, "refused", reason)
	}
	raw, ok := g.capture.Take(remote, req)
	if !ok {
		return refuse(dns.RcodeServerFailure, "error", "the message's bytes were not captured: its SIG(0) cannot be checked")
	}
	from := ipOf(remote)
	for attempt := 1; ; attempt++ {
		// First on the cache, which saves a round trip per update; the
		// write below is over the revision read, so a cache behind the
		// bucket makes it conflict, and the next attempt reads the bucket.
		var current *claim.Claim
		cur, rev, ok := g.cfg.ClaimCount.CachedClaim(signer)
		if attempt > 1 {
			var err error
			cur, rev, err = g.cfg.ClaimStore.Claim(ctx, signer)
			switch {
			case errors.Is(err, gwstore.ErrNotFound):
				ok = false
			case err != nil:
				return refuse(dns.RcodeServerFailure, "error", err.Error())
			default:
				ok = true
			}
		}
		if ok {
			current = &cur
		} else {
			rev = 0
		}
		now := g.cfg.Now()
		d := claim.Decide(*g.cfg.Claims, claim.Request{Msg: req, Zone: zone, Signer: signer, From: from, Current: current,
			SubnetClaims: func() int { return g.cfg.ClaimCount.SubnetClaims(claim.Subnet(from), signer, now) }, Now: now,
			Verify: func(k *dns.KEY) error { return sig0.Verify(raw, req, k, now, Fudge*time.Second) }})
		if d.Rcode != dns.RcodeSuccess {
			return refuse(d.Rcode, claimResult(d.Rcode), d.Reason)
		}
		ureq := dnsupdate.Request{Msg: d.Update, Zones: g.cfg.Zones, Policy: d.Policy, Origin: d.Claim.Origin()}
		log.origin = ureq.Origin
		if res := g.evaluate(ureq); res.Rcode != dns.RcodeSuccess {
			return refuse(res.Rcode, claimResult(res.Rcode), res.Reason)
		}
		nrev, err := g.cfg.ClaimStore.PutClaim(ctx, d.Claim, rev)
		if errors.Is(err, gwstore.ErrConflict) && attempt < claimAttempts {
			continue
		}
		if err != nil {
			return refuse(dns.RcodeServerFailure, "error", err.Error())
		}
		res, err := g.apply(ctx, ureq, d.Lease)
		if err != nil {
			res.Rcode, res.Reason = dns.RcodeServerFailure, err.Error()
		}
		if res.Rcode == dns.RcodeSuccess && d.Release {
			if err := g.cfg.ClaimStore.DeleteClaim(ctx, signer, nrev); err != nil {
				res.Rcode, res.Reason = dns.RcodeServerFailure, err.Error()
			}
		}
		resp.Rcode = res.Rcode
		if res.Rcode != dns.RcodeSuccess {
			g.m.claims.WithLabelValues("error").Inc()
			g.count(log, res.Rcode, "", res.Reason, 0)
			return resp
		}
		switch {
		case d.Release:
			g.m.claims.WithLabelValues("released").Inc()
		case d.New:
			g.m.claims.WithLabelValues("claimed").Inc()
			l := log.logger()
			l.Info().Str("key_data", d.Claim.Key).Time("expires", d.Claim.Expires()).Msg("name claimed")
		default:
			g.m.claims.WithLabelValues("updated").Inc()
		}
		resp.Ns = d.Echo
		if d.EchoLease != nil {
			resp.SetEdns0(dns.DefaultMsgSize, false)
			o := resp.IsEdns0()
			o.Option = append(o.Option, d.EchoLease)
		}
		g.count(log, res.Rcode, "", res.Reason, len(res.Messages))
		return resp
	}
}

// evaluate checks req against the state without publishing anything.
func (g *Gateway) evaluate(req dnsupdate.Request) dnsupdate.Result {
	g.mu.Lock()
	defer g.mu.Unlock()
	v := pendingView{g: g}
	return dnsupdate.Evaluate(&v, req)
}

// claimResult is the claims metric's result of a refusal's rcode.
func claimResult(rcode int) string {
	switch rcode {
	case dns.RcodeNotAuth:
		return "bad_signature"
	case dns.RcodeServerFailure:
		return "error"
	}
	return "refused"
}
