package web

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zonecast/zonecast/internal/account"
	"github.com/zonecast/zonecast/internal/gateway"
	"github.com/zonecast/zonecast/internal/gwstore"
	"github.com/zonecast/zonecast/internal/rrset"
)

// hostRow is one line of a list of hosts.
type hostRow struct {
	Name    string // canonical
	Owner   string
	A, AAAA []string
	Changed time.Time
	Follows string // PrefixFrom
	Tokens  int
	// The user's list shows these as they are: worked out here once,
	// where a template function per cell would cost a reflected call
	// each, on the page loaded most.
	Key, Path, AText, AAAAText, FollowsKey string
	ChangedISO, ChangedText                string // empty: never changed
}

// option is one entry of a select.
type option struct {
	Value, Label string
	Selected     bool
}

// options returns the entries of a select of names (canonical), the one
// equal to selected selected.
func options(names []string, selected string) []option {
	out := make([]option, len(names))
	for i, n := range names {
		out[i] = option{Value: n, Label: strings.TrimSuffix(n, "."), Selected: n == selected}
	}
	return out
}

// hostForm holds the add form's values, shown again after a refusal.
type hostForm struct {
	Label, Zone, TTL, Lease, PrefixFrom, InterfaceID string
}

// hostsData is the user's page.
type hostsData struct {
	Hosts       []hostRow
	Used, Quota int
	Zones       []string // the user's zones this gateway serves
	Routers     []string // the user's hosts others may take their prefix from
	Form        hostForm
	// The add form's selects: Zones, Routers, the form's entry selected.
	ZoneOptions, RouterOptions []option
	Rows                       template.HTML // Hosts, written by hostRowsHTML
}

// ownHosts returns the user's hosts, sorted by name (the Directory's
// index by owner: a list costs the user's hosts, not the fleet's).
func (s *Server) ownHosts(user string) []gwstore.Host { return s.cfg.Directory.Owned(user) }

func (s *Server) row(h gwstore.Host) hostRow {
	st := s.cfg.Gateway.HostState(h)
	r := hostRow{Name: h.Name, Owner: h.Owner, A: st.A, AAAA: st.AAAA, Changed: st.Changed, Follows: h.PrefixFrom, Tokens: len(h.Tokens),
		Key: strings.TrimSuffix(h.Name, "."), Path: hostPath(h.Name), AText: strings.Join(st.A, ", "), AAAAText: strings.Join(st.AAAA, ", "),
		FollowsKey: strings.TrimSuffix(h.PrefixFrom, ".")}
	if !st.Changed.IsZero() {
		r.ChangedISO, r.ChangedText = st.Changed.UTC().Format(time.RFC3339), when(st.Changed)
	}
	return r
}

// routers are the hosts of own a host may take its prefix from: those
// that do not follow one themselves (no chains), but skip.
func routers(own []gwstore.Host, skip string) []string {
	var out []string
	for _, h := range own {
		if h.PrefixFrom == "" && h.Name != skip {
			out = append(out, h.Name)
		}
	}
	return out
}

// zonesOf are the zones u may add hosts in, this gateway serves and the
// fleet's zone list allows now.
func (s *Server) zonesOf(u account.User) []string {
	served := s.cfg.Gateway.Zones()
	var out []string
	for _, z := range u.Zones {
		if slices.Contains(served, z) && s.cfg.Gateway.Writable(z) {
			out = append(out, z)
		}
	}
	return out
}

func (s *Server) hostsView(rq *request, f hostForm) view {
	own := s.ownHosts(rq.user.Name)
	d := hostsData{Used: len(own), Quota: rq.user.Quota, Zones: s.zonesOf(rq.user), Routers: routers(own, ""), Form: f,
		Hosts: make([]hostRow, 0, len(own))}
	for _, h := range own {
		d.Hosts = append(d.Hosts, s.row(h))
	}
	if d.Form.TTL == "" {
		d.Form.TTL = "60"
	}
	if d.Form.Lease == "" {
		d.Form.Lease = "0"
	}
	d.ZoneOptions, d.RouterOptions = options(d.Zones, d.Form.Zone), options(d.Routers, d.Form.PrefixFrom)
	d.Rows = hostRowsHTML(d.Hosts)

	return view{Title: "Your hosts", Nav: "hosts", User: &rq.user, CSRF: rq.sess.CSRF, Data: d}
}

func (s *Server) hostsPage(w http.ResponseWriter, r *http.Request, rq *request) {
	v := s.hostsView(rq, hostForm{})
	v.Notice = notice(r)
	s.render(w, "hosts", http.StatusOK, v)
}

// addHost adds a host label.zone owned by the user, within their zones
// and quota.
func (s *Server) addHost(w http.ResponseWriter, r *http.Request, rq *request) {
	ctx := r.Context()
	f := hostForm{Label: r.PostForm.Get("label"), Zone: r.PostForm.Get("zone"), TTL: r.PostForm.Get("ttl"),
		Lease: r.PostForm.Get("lease"), PrefixFrom: r.PostForm.Get("prefix_from"), InterfaceID: r.PostForm.Get("interface_id")}
	h, err := s.newHost(rq, f)
	if err == nil {
		var created gwstore.Host
		created, _, err = s.cfg.Store.PutHost(ctx, h, 0)
		if errors.Is(err, gwstore.ErrExists) {
			err = taken(h.Name)
		}
		if err == nil {
			h = created
			err = s.withinQuota(ctx, rq, h)
		}
	}
	if msg := shown(err); msg != "" {
		v := s.hostsView(rq, f)
		v.Error = msg
		s.render(w, "hosts", http.StatusBadRequest, v)
		return
	}
	if err != nil {
		s.internalError(w, r, rq, "add the host", err)
		return
	}
	s.log.Info().Str("user", rq.user.Name).Str("name", h.Name).Msg("host added")
	if h.PrefixFrom != "" {
		if err := s.cfg.Gateway.FollowPrefix(ctx, h); err != nil {
			s.log.Error().Err(err).Str("user", rq.user.Name).Str("name", h.Name).Msg("publishing a new host's address from its prefix")
		}
	}
	s.settle(ctx, func() bool { _, ok := s.cfg.Directory.Host(h.Name); return ok })
	seeOther(w, r, hostPath(h.Name), "added")
}

func taken(name string) error {
	return refuse(fmt.Sprintf("%s is taken: choose another label", strings.TrimSuffix(name, ".")))
}

func overQuota(n int) error {
	return refuse(fmt.Sprintf("you have %d hosts, your quota: delete one first, or ask the operator for more", n))
}

// withinQuota counts the user's hosts in the store after h, just created,
// and deletes h again if they are over the quota. The count before the
// creation is read from the Directory, which another gateway's (or this
// one's) addition a moment ago may not be in yet: two additions at once
// each pass it. This one cannot be passed that way: of those at once,
// the last created sees all the others that stay.
func (s *Server) withinQuota(ctx context.Context, rq *request, h gwstore.Host) error {
	own, err := s.cfg.Store.OwnedHosts(ctx, rq.user.Name)
	if err == nil && len(own) <= rq.user.Quota {
		return nil
	}
	if derr := s.cfg.Store.DeleteHost(ctx, h.Name); derr != nil && !errors.Is(derr, gwstore.ErrNotFound) {
		return errors.Join(err, fmt.Errorf("deleting %s again, over the quota: %w", h.Name, derr))
	}
	if err != nil {
		return fmt.Errorf("counting the hosts of %s: %w", rq.user.Name, err)
	}
	return overQuota(len(own) - 1)
}

// newHost checks the add form into a host of rq's user.
func (s *Server) newHost(rq *request, f hostForm) (gwstore.Host, error) {
	label, err := parseLabel(f.Label)
	if err != nil {
		return gwstore.Host{}, err
	}
	zone, err := rrset.CanonicalName(f.Zone)
	if err != nil || !slices.Contains(s.zonesOf(rq.user), zone) {
		return gwstore.Host{}, refuse(fmt.Sprintf("zone “%s”: not one of your zones", f.Zone))
	}
	name := label + "." + zone
	// With zones inside zones (example.org and dyn.example.org), the
	// records of a name go to the most specific zone served: a label of
	// example.org must not reach the apex of dyn.example.org.
	if z, _ := rrset.ZoneOf(name, s.cfg.Gateway.Zones()); z != zone {
		return gwstore.Host{}, refuse(fmt.Sprintf("%s is a zone of its own: choose another label", strings.TrimSuffix(name, ".")))
	}
	own := s.ownHosts(rq.user.Name)
	if len(own) >= rq.user.Quota {
		return gwstore.Host{}, overQuota(len(own))
	}
	// Records of another source there (a TSIG key's, a watcher's, a
	// claim's, a removed host's): the host would publish beside them.
	if s.cfg.Gateway.InUse(name) {
		return gwstore.Host{}, taken(name)
	}
	h := gwstore.Host{Name: name, Owner: rq.user.Name, Created: s.now().UTC()}
	if h.TTL, err = parseTTL(f.TTL, 60); err != nil {
		return gwstore.Host{}, err
	}
	if h.LeaseSeconds, err = parseLease(f.Lease); err != nil {
		return gwstore.Host{}, err
	}
	if err := s.setPrefix(&h, own, f.PrefixFrom, "", f.InterfaceID); err != nil {
		return gwstore.Host{}, err
	}
	return h.Validate()
}

// setPrefix sets h's prefix options: from (empty: none), one of own that
// follows no prefix itself; the prefix length; the interface ID.
func (s *Server) setPrefix(h *gwstore.Host, own []gwstore.Host, from, plen, iid string) error {
	from = strings.TrimSpace(from)
	if from == "" {
		if strings.TrimSpace(iid) != "" {
			return refuse("an interface ID needs a host to take the prefix from")
		}
		h.PrefixFrom, h.PrefixLen, h.InterfaceID = "", 0, ""
		return nil
	}
	name, err := rrset.CanonicalName(from)
	if err != nil || !slices.Contains(routers(own, h.Name), name) {
		return refuse(fmt.Sprintf("prefix from “%s”: not one of your hosts that has its own address", from))
	}
	for _, o := range own {
		if o.PrefixFrom == h.Name {
			return refuse(fmt.Sprintf("%s takes its prefix from this host: a host others follow cannot follow one itself",
				strings.TrimSuffix(o.Name, ".")))
		}
	}
	if h.PrefixLen, err = parsePrefixLen(plen); err != nil {
		return err
	}
	if h.InterfaceID, err = parseInterfaceID(iid); err != nil {
		return err
	}
	h.PrefixFrom = name
	return nil
}

// hostData is a host's page.
type hostData struct {
	Host     gwstore.Host
	Path     string
	State    gateway.HostState
	History  []gwstore.HistoryEntry
	Routers  []string
	NewToken string // just issued: shown this once
	Configs  clientConfigs
	A, AAAA  string // the address form's values
	Options  optionsForm
}

// optionsForm holds the options form's values.
type optionsForm struct {
	TTL, Lease, PrefixFrom, PrefixLen, InterfaceID string
}

func formOf(h gwstore.Host) optionsForm {
	f := optionsForm{TTL: strconv.FormatUint(uint64(h.TTL), 10), Lease: strconv.FormatInt(h.LeaseSeconds, 10),
		PrefixFrom: h.PrefixFrom, InterfaceID: h.InterfaceID, PrefixLen: "64"}
	if h.PrefixLen > 0 {
		f.PrefixLen = strconv.Itoa(h.PrefixLen)
	}
	return f
}

var errNotYours = errors.New("no host of the user's by that name")

// ownedHost reads the host of the URL from the store; errNotYours when it
// is missing or another user's: both answer 404.
func (s *Server) ownedHost(ctx context.Context, r *http.Request, rq *request) (gwstore.Host, error) {
	name, err := rrset.CanonicalName(r.PathValue("name"))
	if err != nil {
		return gwstore.Host{}, errNotYours
	}
	h, _, err := s.cfg.Store.Host(ctx, name)
	if errors.Is(err, gwstore.ErrNotFound) || err == nil && h.Owner != rq.user.Name {
		return gwstore.Host{}, errNotYours
	}
	return h, err
}

// changeHost applies change to the user's host name as stored now,
// compare-and-set (gwstore.UpdateHost): a token issued or revoked at the
// same moment elsewhere is kept, a host deleted meanwhile is not made
// again. errNotYours when the host is gone or is no longer the user's.
func (s *Server) changeHost(ctx context.Context, rq *request, name string, change func(*gwstore.Host) error) (gwstore.Host, error) {
	h, err := gwstore.UpdateHost(ctx, s.cfg.Store, name, func(h *gwstore.Host) error {
		if h.Owner != rq.user.Name {
			return errNotYours
		}
		return change(h)
	})
	if errors.Is(err, gwstore.ErrNotFound) {
		return gwstore.Host{}, errNotYours
	}
	return h, err
}

// withHost serves h with the URL's host, if the user owns it.
func (s *Server) withHost(w http.ResponseWriter, r *http.Request, rq *request, h func(gwstore.Host)) {
	host, err := s.ownedHost(r.Context(), r, rq)
	if errors.Is(err, errNotYours) {
		s.notFoundAs(w, r, rq)
		return
	}
	if err != nil {
		s.internalError(w, r, rq, "read the host", err)
		return
	}
	h(host)
}

func (s *Server) hostView(ctx context.Context, rq *request, h gwstore.Host, token string) (view, error) {
	st := s.cfg.Gateway.HostState(h)
	hist, err := s.cfg.Store.History(ctx, h.Name)
	if err != nil && !errors.Is(err, gwstore.ErrNotFound) {
		return view{}, err
	}
	ep, _ := parseEndpoint(s.cfg.DyndnsURL) // checked by New's caller; a bad one shows placeholders
	d := hostData{Host: h, Path: hostPath(h.Name), State: st, History: hist, Routers: routers(s.ownHosts(rq.user.Name), h.Name),
		NewToken: token, Configs: configs(ep, strings.TrimSuffix(h.Name, "."), token),
		A: strings.Join(st.A, ", "), AAAA: strings.Join(st.AAAA, ", "), Options: formOf(h)}
	return view{Title: strings.TrimSuffix(h.Name, "."), Nav: "hosts", User: &rq.user, CSRF: rq.sess.CSRF, Data: d}, nil
}

// showHost renders the host's page, with msg as its error (code 400) or
// none.
func (s *Server) showHost(w http.ResponseWriter, r *http.Request, rq *request, h gwstore.Host, code int, msg, token string, edit func(*hostData)) {
	v, err := s.hostView(r.Context(), rq, h, token)
	if err != nil {
		s.internalError(w, r, rq, "read the host's history", err)
		return
	}
	show(s, w, r, "host", code, v, msg, edit)
}

func (s *Server) hostPage(w http.ResponseWriter, r *http.Request, rq *request) {
	s.withHost(w, r, rq, func(h gwstore.Host) { s.showHost(w, r, rq, h, http.StatusOK, "", "", nil) })
}

// maxTokens bounds a host's tokens.
const maxTokens = 10

// issueToken adds a token to the host and shows it, this once.
func (s *Server) issueToken(w http.ResponseWriter, r *http.Request, rq *request) {
	s.withHost(w, r, rq, func(h gwstore.Host) {
		tok, t, err := gwstore.NewToken(s.now())
		if err != nil {
			s.internalError(w, r, rq, "issue a token", err)
			return
		}
		stored, err := s.changeHost(r.Context(), rq, h.Name, func(h *gwstore.Host) error {
			if len(h.Tokens) >= maxTokens {
				return refuse(fmt.Sprintf("A host has at most %d tokens: revoke one first.", maxTokens))
			}
			h.Tokens = append(h.Tokens, t)
			return nil
		})
		if s.hostChangeFailed(w, r, rq, h, "issue a token", err) {
			return
		}
		s.log.Info().Str("user", rq.user.Name).Str("name", h.Name).Str("token", t.ID).Msg("token issued")
		s.showHost(w, r, rq, stored, http.StatusOK, "", tok, nil)
	})
}

// hostChangeFailed answers a failed changeHost, if it failed: 404 for a
// host no longer the user's, the page with the refusal, or an error.
func (s *Server) hostChangeFailed(w http.ResponseWriter, r *http.Request, rq *request, h gwstore.Host, what string, err error) bool {
	switch msg := shown(err); {
	case err == nil:
		return false
	case errors.Is(err, errNotYours):
		s.notFoundAs(w, r, rq)
	case msg != "":
		s.showHost(w, r, rq, h, http.StatusBadRequest, msg, "", nil)
	default:
		s.internalError(w, r, rq, what, err)
	}
	return true
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, rq *request) {
	s.withHost(w, r, rq, func(h gwstore.Host) {
		id := r.PathValue("id")
		_, err := s.changeHost(r.Context(), rq, h.Name, func(h *gwstore.Host) error {
			i := slices.IndexFunc(h.Tokens, func(t gwstore.Token) bool { return t.ID == id })
			if i < 0 {
				return errNotYours // no such token: 404, as a host that is not there
			}
			h.Tokens = slices.Delete(h.Tokens, i, i+1)
			return nil
		})
		if s.hostChangeFailed(w, r, rq, h, "revoke the token", err) {
			return
		}
		s.log.Info().Str("user", rq.user.Name).Str("name", h.Name).Str("token", id).Msg("token revoked")
		seeOther(w, r, hostPath(h.Name), "revoked")
	})
}

// setAddress publishes the addresses of the form, the path of a dyndns2
// update: an empty field removes that family. A host that takes its
// prefix from another keeps the AAAA computed from it.
func (s *Server) setAddress(w http.ResponseWriter, r *http.Request, rq *request) {
	s.withHost(w, r, rq, func(h gwstore.Host) {
		a, aaaa := r.PostForm.Get("a"), r.PostForm.Get("aaaa")
		v4, err := parseAddrs(a, true)
		var v6 []string
		if err == nil && h.PrefixFrom == "" {
			v6, err = parseAddrs(aaaa, false)
		}
		if msg := shown(err); msg != "" {
			s.showHost(w, r, rq, h, http.StatusBadRequest, msg, "", func(d *hostData) { d.A, d.AAAA = a, aaaa })
			return
		}
		_, err = s.cfg.Gateway.SetAddresses(r.Context(), h, v4, v6, "web", remoteIP(r))
		if msg := shown(err); msg != "" {
			// Such as a host of a zone this gateway does not serve.
			s.showHost(w, r, rq, h, http.StatusBadRequest, msg, "", func(d *hostData) { d.A, d.AAAA = a, aaaa })
			return
		}
		if err != nil {
			s.internalError(w, r, rq, "publish the addresses", err)
			return
		}
		s.log.Info().Str("user", rq.user.Name).Str("name", h.Name).Strs("a", v4).Strs("aaaa", v6).Msg("addresses set on the page")
		seeOther(w, r, hostPath(h.Name), "address")
	})
}

// saveOptions changes TTL, lease and prefix options, then publishes the
// host again with them.
func (s *Server) saveOptions(w http.ResponseWriter, r *http.Request, rq *request) {
	s.withHost(w, r, rq, func(old gwstore.Host) {
		ctx := r.Context()
		f := optionsForm{TTL: r.PostForm.Get("ttl"), Lease: r.PostForm.Get("lease"), PrefixFrom: r.PostForm.Get("prefix_from"),
			PrefixLen: r.PostForm.Get("prefix_len"), InterfaceID: r.PostForm.Get("interface_id")}
		h := old
		var err error
		h.TTL, err = parseTTL(f.TTL, old.TTL)
		if err == nil {
			h.LeaseSeconds, err = parseLease(f.Lease)
		}
		if err == nil {
			err = s.setPrefix(&h, s.ownHosts(rq.user.Name), f.PrefixFrom, f.PrefixLen, f.InterfaceID)
		}
		if err == nil {
			h, err = h.Validate()
		}
		if msg := shown(err); msg != "" {
			s.showHost(w, r, rq, old, http.StatusBadRequest, msg, "", func(d *hostData) { d.Options = f })
			return
		}
		if err != nil {
			s.internalError(w, r, rq, "save the options", err)
			return
		}
		// Only the options go onto the host as stored now: its tokens
		// may have changed since it was read.
		var before gwstore.Host
		h, err = s.changeHost(ctx, rq, h.Name, func(c *gwstore.Host) error {
			before = *c
			c.TTL, c.LeaseSeconds = h.TTL, h.LeaseSeconds
			c.PrefixFrom, c.PrefixLen, c.InterfaceID = h.PrefixFrom, h.PrefixLen, h.InterfaceID
			return nil
		})
		if s.hostChangeFailed(w, r, rq, old, "save the options", err) {
			return
		}
		s.log.Info().Str("user", rq.user.Name).Str("name", h.Name).Msg("host options saved")
		if err := s.republish(ctx, before, h, remoteIP(r)); err != nil {
			s.internalError(w, r, rq, "publish the host with its new options", err)
			return
		}
		seeOther(w, r, hostPath(h.Name), "options")
	})
}

// republish publishes h after its options changed from old: its current
// addresses again with its TTL and lease if they changed; a host behind a
// router takes its AAAA from the router's (FollowPrefix), its A is its
// own.
func (s *Server) republish(ctx context.Context, old, h gwstore.Host, remote string) error {
	if h.PrefixFrom != "" {
		if err := s.cfg.Gateway.FollowPrefix(ctx, h); err != nil {
			return err
		}
	}
	if h.TTL == old.TTL && h.LeaseSeconds == old.LeaseSeconds {
		return nil
	}
	st := s.cfg.Gateway.HostState(old)
	var v4, v6 []string // nil: the family is left as it is
	if len(st.A) > 0 {
		v4 = st.A
	}
	if len(st.AAAA) > 0 && h.PrefixFrom == "" {
		v6 = st.AAAA
	}
	if v4 == nil && v6 == nil {
		return nil
	}
	_, err := s.cfg.Gateway.SetAddresses(ctx, h, v4, v6, "web", remote)
	return err
}

// deleteHost deletes the host and withdraws its records, unless other
// hosts take their prefix from it. The host goes first, and its records
// once the Directory no longer has it: a dyndns update in between, which
// the gateway checks against the Directory, would otherwise publish them
// again with no host left to own them.
func (s *Server) deleteHost(w http.ResponseWriter, r *http.Request, rq *request) {
	s.withHost(w, r, rq, func(h gwstore.Host) {
		ctx := r.Context()
		var followers []string
		for _, o := range s.cfg.Directory.Dependents(h.Name) {
			followers = append(followers, strings.TrimSuffix(o.Name, "."))
		}
		if len(followers) > 0 {
			s.showHost(w, r, rq, h, http.StatusBadRequest, fmt.Sprintf("%s take their prefix from this host: change or delete them first.",
				strings.Join(followers, ", ")), "", nil)
			return
		}
		if err := s.cfg.Store.DeleteHost(ctx, h.Name); err != nil && !errors.Is(err, gwstore.ErrNotFound) {
			s.internalError(w, r, rq, "delete the host", err)
			return
		}
		if !s.settle(ctx, func() bool { _, ok := s.cfg.Directory.Host(h.Name); return !ok }) {
			s.log.Warn().Str("user", rq.user.Name).Str("name", h.Name).Dur("waited", s.cfg.Settle).
				Msg("the deleted host is still cached: withdrawing its records anyway")
		}
		if err := s.cfg.Gateway.Withdraw(ctx, h); err != nil {
			s.internalError(w, r, rq, "withdraw the host's records", err)
			return
		}
		s.log.Info().Str("user", rq.user.Name).Str("name", h.Name).Msg("host deleted")
		seeOther(w, r, "/", "deleted")
	})
}

// settle waits, at most cfg.Settle, until the Directory shows a change
// just written (done), and reports whether it did. The Directory follows
// the bucket within milliseconds.
func (s *Server) settle(ctx context.Context, done func() bool) bool {
	if done() {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Settle)
	defer cancel()
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return done()
		case <-t.C:
			if done() {
				return true
			}
		}
	}
}

// hostPath is the URL of a host's page.
func hostPath(name string) string { return "/hosts/" + url.PathEscape(strings.TrimSuffix(name, ".")) }
