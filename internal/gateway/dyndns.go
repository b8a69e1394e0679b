package gateway

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/rrset"
)

// dyndns2 return codes.
const (
	ddGood    = "good"
	ddNochg   = "nochg"
	ddBadauth = "badauth"
	ddNohost  = "nohost"
	ddNotfqdn = "notfqdn"
	ddAbuse   = "abuse"
	ddNumhost = "numhost"
	ddFail    = "911"
)

// maxDyndnsHosts is how many host names one request may update (the
// dyndns2 protocol's limit; more are answered "numhost").
const maxDyndnsHosts = 20

// DyndnsRequest is a parsed /nic/update request.
type DyndnsRequest struct {
	Hostnames []string // as sent
	V4, V6    []string // canonical addresses by family
}

// ParseDyndns reads the query of a /nic/update request: hostname (comma
// list), myip (comma list, IPv4 and IPv6 mixed), myipv6 (comma list). When
// neither myip nor myipv6 holds an address, the client's address is used.
// Each address goes to A or AAAA by its family.
func ParseDyndns(query map[string][]string, remote netip.Addr) (DyndnsRequest, error) {
	var r DyndnsRequest
	for _, v := range query["hostname"] {
		for _, h := range strings.Split(v, ",") {
			if h = strings.TrimSpace(h); h != "" {
				r.Hostnames = append(r.Hostnames, h)
			}
		}
	}
	var addrs []string
	for _, k := range []string{"myip", "myipv6"} {
		for _, v := range query[k] {
			for _, a := range strings.Split(v, ",") {
				if a = strings.TrimSpace(a); a != "" {
					addrs = append(addrs, a)
				}
			}
		}
	}
	if len(addrs) == 0 && remote.IsValid() {
		addrs = append(addrs, remote.Unmap().String())
	}
	for _, a := range addrs {
		ip, err := netip.ParseAddr(a)
		if err != nil || ip.Zone() != "" {
			return r, fmt.Errorf("address %q is not an IP address", a)
		}
		ip = ip.Unmap()
		if ip.Is4() {
			r.V4 = append(r.V4, ip.String())
		} else {
			r.V6 = append(r.V6, ip.String())
		}
	}
	slices.Sort(r.V4)
	r.V4 = slices.Compact(r.V4)
	slices.Sort(r.V6)
	r.V6 = slices.Compact(r.V6)
	if len(r.V4)+len(r.V6) > events.MaxRecords {
		return r, fmt.Errorf("too many addresses")
	}
	return r, nil
}

// ServeHTTP answers GET /nic/update (dyndns2). The answer has one line per
// host name: "good ADDRS", "nochg ADDRS", "nohost", "notfqdn", "badauth",
// "abuse" or "911".
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/nic/update" && r.URL.Path != "/update" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, token, ok := r.BasicAuth()
	if !ok || token == "" {
		w.Header().Set("WWW-Authenticate", `Basic realm="zonecast-gateway"`)
		w.WriteHeader(http.StatusUnauthorized)
		g.answer(w, ddBadauth)
		return
	}
	var remote netip.Addr
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		remote, _ = netip.ParseAddr(host)
	}
	req, err := ParseDyndns(r.URL.Query(), remote)
	if err != nil || len(req.Hostnames) == 0 {
		reason := "no host name"
		if err != nil {
			reason = err.Error()
		}
		g.dyndnsRefused(remote, r.RemoteAddr, ddNotfqdn).Str("reason", reason).Msg("dyndns update refused")
		g.answer(w, ddNotfqdn)
		return
	}
	if len(req.Hostnames) > maxDyndnsHosts {
		g.dyndnsRefused(remote, r.RemoteAddr, ddNumhost).Str("reason", fmt.Sprintf("%d host names", len(req.Hostnames))).
			Msg("dyndns update refused")
		g.answer(w, ddNumhost)
		return
	}
	var lines []string
	for _, h := range req.Hostnames {
		lines = append(lines, g.updateHost(r.Context(), h, token, req, remote, r.RemoteAddr))
	}
	fmt.Fprint(w, strings.Join(lines, "\n")+"\n")
}

// dyndnsRefused returns the warning of one refused request or host name
// (answer code), or nil (on which zerolog's methods do nothing) when the
// source's log limit is spent (lograte.go). The answer is counted in the
// metrics either way, by the caller.
func (g *Gateway) dyndnsRefused(remote netip.Addr, remoteAddr, code string) *zerolog.Event {
	if g.ddlog.GetLevel() > zerolog.WarnLevel || !g.dyndnsRefusals.allow(remote, code, g.cfg.Now()) {
		return nil
	}
	return g.ddlog.Warn().Str("remote", remoteAddr).Str("answer", code)
}

func (g *Gateway) answer(w http.ResponseWriter, code string) {
	g.m.dyndns.WithLabelValues(code).Inc()
	fmt.Fprintln(w, code)
}

// updateHost applies one host name of a request and returns its answer line.
func (g *Gateway) updateHost(ctx context.Context, hostname, token string, req DyndnsRequest, remote netip.Addr, remoteAddr string) string {
	ans := func(code, extra string) string {
		g.m.dyndns.WithLabelValues(code).Inc()
		if extra != "" {
			return code + " " + extra
		}
		return code
	}
	refuse := func(code, reason string) string {
		g.dyndnsRefused(remote, remoteAddr, code).Str("name", hostname).Str("reason", reason).Msg("dyndns update refused")
		return ans(code, "")
	}
	name, err := rrset.CanonicalName(hostname)
	if err != nil || !strings.Contains(strings.TrimSuffix(name, "."), ".") || strings.Contains(name, "*") {
		return refuse(ddNotfqdn, "not a fully qualified host name")
	}
	host, ok := g.cfg.Directory.Host(name)
	if _, inZone := g.zoneOf(name); !ok || !inZone {
		reason := "unknown host"
		if ok {
			if why := g.unlisted(name, "dyndns"); why != "" {
				reason = why
			}
		}
		return refuse(ddNohost, reason)
	}
	// Token first: a stranger must not spend the host's rate. Tokens are
	// 256 random bits, so guessing needs no rate limit.
	if !host.Check(token) {
		return refuse(ddBadauth, "bad token")
	}
	if !g.limiter(name).Allow() {
		return refuse(ddAbuse, "rate limit exceeded")
	}
	log := g.ddlog.With().Str("name", hostname).Str("remote", remoteAddr).Logger()
	origin := host.Origin()
	addrs := strings.Join(append(slices.Clone(req.V4), req.V6...), ",")
	var v4, v6 []string // nil: the family is left as it is
	if len(req.V4) > 0 {
		v4 = req.V4
	}
	if len(req.V6) > 0 {
		v6 = req.V6
	}
	from := ""
	if remote.IsValid() {
		from = remote.Unmap().String()
	}
	changed, err := g.SetAddresses(ctx, host, v4, v6, "dyndns", from)
	if err != nil {
		log.Error().Err(err).Msg("dyndns: publishing failed")
		return ans(ddFail, "")
	}
	if !changed && host.Lease() == 0 {
		return ans(ddNochg, addrs)
	}
	log.Info().Str("origin", origin).Str("addresses", addrs).Bool("changed", changed).Msg("dyndns update published")
	if !changed {
		return ans(ddNochg, addrs)
	}
	return ans(ddGood, addrs)
}
