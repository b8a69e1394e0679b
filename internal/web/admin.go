package web

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zonecast/zonecast/internal/account"
	"github.com/zonecast/zonecast/internal/gwstore"
	"github.com/zonecast/zonecast/internal/rrset"
	"github.com/zonecast/zonecast/internal/status"
)

// userRow is one line of the users table.
type userRow struct {
	account.User
	Hosts  int
	Locked bool
	Self   bool
}

// newUserForm holds the add-user form's values, shown again after a
// refusal.
type newUserForm struct {
	Username, Zones, Quota string
	Admin                  bool
}

// adminData is the operator's page.
type adminData struct {
	Users    []userRow
	Keys     []gwstore.Key
	Hosts    []hostRow
	Fleet    []nodeRow
	FleetErr string
	NoFleet  bool
	Zones    []string // the gateway's
	Form     newUserForm
	// Created and Password: a user just added with a generated password,
	// shown this once.
	Created, Password string
}

func (s *Server) adminView(w http.ResponseWriter, r *http.Request, rq *request) (view, bool) {
	ctx := r.Context()
	users, err := s.cfg.Store.Users(ctx)
	if err != nil {
		s.internalError(w, r, rq, "list the users", err)
		return view{}, false
	}
	keys, err := s.cfg.Store.Keys(ctx)
	if err != nil {
		s.internalError(w, r, rq, "list the TSIG keys", err)
		return view{}, false
	}
	slices.SortFunc(users, func(a, b account.User) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(keys, func(a, b gwstore.Key) int { return strings.Compare(a.Name, b.Name) })
	hosts := s.cfg.Directory.Hosts()
	count := map[string]int{}
	d := adminData{Keys: keys, Zones: s.cfg.Gateway.Zones()}
	for _, h := range hosts {
		count[h.Owner]++
		d.Hosts = append(d.Hosts, s.row(h))
	}
	now := s.now()
	for _, u := range users {
		locked, _ := u.Locked(now)
		d.Users = append(d.Users, userRow{User: u, Hosts: count[u.Name], Locked: locked, Self: u.Name == rq.user.Name})
	}
	if s.cfg.Fleet == nil {
		d.NoFleet = true
	} else if nodes, rows, err := s.cfg.Fleet.Status(ctx, now); err != nil {
		s.log.Error().Err(err).Msg("reading the fleet's status")
		d.FleetErr = "The fleet's status could not be read."
	} else {
		d.Fleet = fleetRows(nodes, rows, now)
	}
	return view{Title: "Operator", Nav: "admin", User: &rq.user, CSRF: rq.sess.CSRF, Data: d}, true
}

func (s *Server) showAdmin(w http.ResponseWriter, r *http.Request, rq *request, code int, msg string, edit func(*adminData)) {
	v, ok := s.adminView(w, r, rq)
	if !ok {
		return
	}
	show(s, w, r, "admin", code, v, msg, edit)
}

func (s *Server) adminPage(w http.ResponseWriter, r *http.Request, rq *request) {
	s.showAdmin(w, r, rq, http.StatusOK, "", nil)
}

// userZones checks a comma-separated list of zones: each one this gateway
// serves.
func (s *Server) userZones(list string) ([]string, error) {
	served := s.cfg.Gateway.Zones()
	var out []string
	for _, z := range parseZones(list) {
		c, err := rrset.CanonicalName(z)
		if err != nil || !slices.Contains(served, c) {
			return nil, refuse(fmt.Sprintf("zone “%s”: not a zone of this gateway (%s)", z, strings.Join(served, ", ")))
		}
		out = append(out, c)
	}
	return out, nil
}

// maxQuota bounds a user's quota.
const maxQuota = 100000

func parseQuota(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return account.DefaultQuota, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxQuota {
		return 0, refuse(fmt.Sprintf("quota “%s”: want 1 to %d hosts", s, maxQuota))
	}
	return n, nil
}

// addUser creates a user; without a password, one is generated and
// shown once.
func (s *Server) addUser(w http.ResponseWriter, r *http.Request, rq *request) {
	ctx := r.Context()
	f := newUserForm{Username: r.PostForm.Get("username"), Zones: r.PostForm.Get("zones"), Quota: r.PostForm.Get("quota"),
		Admin: r.PostForm.Get("admin") != ""}
	pw, generated := r.PostForm.Get("password"), false
	if pw == "" {
		pw, generated = rand.Text(), true
	}
	u := account.User{Name: strings.ToLower(strings.TrimSpace(f.Username)), Admin: f.Admin, Created: s.now().UTC()}
	err := account.ValidName(u.Name)
	if err == nil {
		u.Zones, err = s.userZones(f.Zones)
	}
	if err == nil {
		u.Quota, err = parseQuota(f.Quota)
	}
	if err == nil {
		u.PasswordHash, err = s.hashPassword(ctx, pw)
	}
	if err == nil {
		u, err = u.Validate()
	}
	if err == nil {
		_, err = s.cfg.Store.PutUser(ctx, u, 0)
		if errors.Is(err, gwstore.ErrExists) {
			err = refuse(fmt.Sprintf("a user %s exists already", u.Name))
		}
	}
	if msg := shown(err); msg != "" {
		s.showAdmin(w, r, rq, http.StatusBadRequest, msg, func(d *adminData) { d.Form = f })
		return
	}
	if err != nil {
		s.internalError(w, r, rq, "add the user", err)
		return
	}
	s.log.Info().Str("user", u.Name).Str("by", rq.user.Name).Bool("admin", u.Admin).Strs("zones", u.Zones).Msg("user added")
	if !generated {
		seeOther(w, r, "/admin", "user")
		return
	}
	s.showAdmin(w, r, rq, http.StatusOK, "", func(d *adminData) { d.Created, d.Password = u.Name, pw })
}

// editUser changes a user's zones, quota and admin flag; optionally sets
// a password (which also clears a lockout), unlocks, or removes the TOTP
// secret. An admin cannot take their own admin flag.
func (s *Server) editUser(w http.ResponseWriter, r *http.Request, rq *request) {
	ctx := r.Context()
	name := r.PathValue("name")
	u, rev, err := s.cfg.Store.User(ctx, name)
	if errors.Is(err, gwstore.ErrNotFound) {
		s.notFoundAs(w, r, rq)
		return
	}
	if err != nil {
		s.internalError(w, r, rq, "read the user", err)
		return
	}
	zones, err := s.userZones(r.PostForm.Get("zones"))
	var quota int
	if err == nil {
		quota, err = parseQuota(r.PostForm.Get("quota"))
	}
	admin := r.PostForm.Get("admin") != ""
	if err == nil && u.Name == rq.user.Name && !admin {
		err = refuse("you cannot take your own admin rights: ask another admin")
	}
	var hash string
	if pw := r.PostForm.Get("password"); err == nil && pw != "" {
		hash, err = s.hashPassword(ctx, pw)
	}
	var owned []gwstore.Host
	if err == nil {
		owned, err = s.cfg.Store.OwnedHosts(ctx, u.Name)
	}
	if err == nil {
		err = s.updateUser(ctx, u, rev, func(u *account.User) error {
			if err := s.keepsHostZones(*u, zones, owned); err != nil {
				return err
			}
			u.Zones, u.Quota, u.Admin = zones, quota, admin
			if hash != "" {
				u.PasswordHash = hash
				*u = u.Succeeded()
			}
			if r.PostForm.Get("unlock") != "" {
				*u = u.Succeeded()
			}
			if r.PostForm.Get("totp_reset") != "" {
				u.TOTPSecret = ""
			}
			return nil
		})
	}
	if msg := shown(err); msg != "" {
		s.showAdmin(w, r, rq, http.StatusBadRequest, u.Name+": "+msg, nil)
		return
	}
	if err != nil {
		s.internalError(w, r, rq, "save the user", err)
		return
	}
	s.log.Info().Str("user", u.Name).Str("by", rq.user.Name).Bool("admin", admin).Strs("zones", zones).Int("quota", quota).
		Bool("password", hash != "").Msg("user changed")
	if hash != "" {
		// A new password ends the user's sessions (an admin's own: this
		// browser goes on in a new one).
		if err := s.cfg.Store.DeleteUserSessions(ctx, u.Name); err != nil {
			s.internalError(w, r, rq, "end the user's sessions", err)
			return
		}
		if u.Name == rq.user.Name {
			if _, err := s.startSession(ctx, w, r, u.Name, false); err != nil {
				s.internalError(w, r, rq, "start a session", err)
				return
			}
		}
	}
	seeOther(w, r, "/admin", "user")
}

// keepsHostZones refuses to take from u a zone they still own hosts in
// (owned): the page lets a user manage their hosts by owner alone, so a
// zone taken away must have none of them left.
func (s *Server) keepsHostZones(u account.User, zones []string, owned []gwstore.Host) error {
	all := slices.Concat(u.Zones, zones, s.cfg.Gateway.Zones())
	byZone := map[string][]string{}
	var dropped []string
	for _, h := range owned {
		z, ok := rrset.ZoneOf(h.Name, all)
		if !ok || !slices.Contains(u.Zones, z) || slices.Contains(zones, z) {
			continue
		}
		if byZone[z] == nil {
			dropped = append(dropped, z)
		}
		byZone[z] = append(byZone[z], strings.TrimSuffix(h.Name, "."))
	}
	if len(dropped) == 0 {
		return nil
	}
	slices.Sort(dropped)
	var parts []string
	for _, z := range dropped {
		parts = append(parts, fmt.Sprintf("%s (%s)", strings.TrimSuffix(z, "."), strings.Join(byZone[z], ", ")))
	}
	return refuse(fmt.Sprintf("hosts left in %s: they must go first (deleted by the user), or the zone stays", strings.Join(parts, "; ")))
}

// removeUser deletes a user. Their hosts stay, the operator's now (like
// those of `zonecast-gateway host add`): removing a user does not take
// names off the DNS. Their tokens go: the clients of a removed user
// cannot update the names any more.
func (s *Server) removeUser(w http.ResponseWriter, r *http.Request, rq *request) {
	ctx := r.Context()
	name := r.PathValue("name")
	if name == rq.user.Name {
		s.showAdmin(w, r, rq, http.StatusBadRequest, "You cannot remove yourself.", nil)
		return
	}
	if _, _, err := s.cfg.Store.User(ctx, name); errors.Is(err, gwstore.ErrNotFound) {
		s.notFoundAs(w, r, rq)
		return
	} else if err != nil {
		s.internalError(w, r, rq, "read the user", err)
		return
	}
	owned, err := s.cfg.Store.OwnedHosts(ctx, name)
	if err != nil {
		s.internalError(w, r, rq, "list the user's hosts", err)
		return
	}
	for _, c := range owned {
		_, err := gwstore.UpdateHost(ctx, s.cfg.Store, c.Name, func(h *gwstore.Host) error {
			if h.Owner != name {
				return errNotYours // handed over meanwhile
			}
			h.Owner, h.Tokens = "", nil
			return nil
		})
		if errors.Is(err, gwstore.ErrNotFound) || errors.Is(err, errNotYours) {
			continue // deleted or handed over meanwhile
		}
		if err != nil {
			s.internalError(w, r, rq, "hand the user's hosts to the operator", err)
			return
		}
		s.log.Info().Str("user", name).Str("by", rq.user.Name).Str("name", c.Name).Msg("host handed to the operator, its tokens revoked")
	}
	if err := s.cfg.Store.DeleteUser(ctx, name); err != nil && !errors.Is(err, gwstore.ErrNotFound) {
		s.internalError(w, r, rq, "remove the user", err)
		return
	}
	s.log.Info().Str("user", name).Str("by", rq.user.Name).Msg("user removed")
	s.settle(ctx, func() bool { return len(s.ownHosts(name)) == 0 })

	seeOther(w, r, "/admin", "removed")
}

// nodeRow is one node of the fleet table.
type nodeRow struct {
	Node  string
	Role  string // syncer or signer
	Ready bool
	State status.State // the worst of its zones'
	Zones []status.Row
	Age   time.Duration
}

// stateRank orders states from good to bad; unknown ones (undecodable)
// are the worst.
var stateRank = map[status.State]int{status.CaughtUp: 0, status.Mismatch: 1, status.Behind: 2, status.Held: 3,
	status.Unreachable: 4, status.NotReady: 5, status.Stale: 6}

func rank(s status.State) int {
	if r, ok := stateRank[s]; ok {
		return r
	}
	return len(stateRank)
}

// fleetRows sums up the classified rows per node (pure): ready when its
// replay is done and its status fresh, in the state of its worst zone.
func fleetRows(nodes []status.Node, rows []status.Row, now time.Time) []nodeRow {
	byNode := map[string]*nodeRow{}
	var out []*nodeRow
	get := func(name string) *nodeRow {
		if n, ok := byNode[name]; ok {
			return n
		}
		n := &nodeRow{Node: name, Role: "syncer", State: status.CaughtUp}
		byNode[name] = n
		out = append(out, n)
		return n
	}
	for _, n := range nodes {
		row := get(n.Node)
		row.Ready = n.Ready
		if !n.Time.IsZero() {
			row.Age = max(now.Sub(n.Time), 0)
		}
		if n.Signer != nil {
			row.Role = "signer"
		}
	}
	for _, r := range rows {
		n := get(r.Node)
		if r.Zone != "-" {
			n.Zones = append(n.Zones, r)
		}
		if rank(r.State) > rank(n.State) {
			n.State = r.State
		}
		if r.State == status.Stale || r.State == status.NotReady {
			n.Ready = false
		}
	}
	res := make([]nodeRow, 0, len(out))
	for _, n := range out {
		res = append(res, *n)
	}
	slices.SortFunc(res, func(a, b nodeRow) int { return strings.Compare(a.Node, b.Node) })
	return res
}
