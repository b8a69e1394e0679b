package bus

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
	"golang.org/x/crypto/bcrypt"

	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/rrset"
)

// Roles of users file entries.
const (
	RoleAdmin  = "admin"  // everything (operators, the publish command)
	RoleSyncer = "syncer" // reads the record stream, writes its own status and applied reports
	RoleSource = "source" // publishes records of its origin in its zones
	RoleReader = "reader" // reads records, status and applied reports (zonecast-syncer status)
	// RoleGateway publishes records of any origin (its TSIG keys and
	// dyndns hosts) in its zones, follows the record stream, owns its
	// key-value bucket and reads the syncers' status and applied reports.
	RoleGateway = "gateway"
	// RoleSigner (zonecast-signer) follows the record stream and publishes
	// the signed zones of its zones under the signed prefix, as its origin;
	// it writes its own status.
	RoleSigner = "signer"
)

// DefaultGatewayBucket is the gateway's key-value bucket (TSIG keys and
// dyndns hosts); gwstore.DefaultBucket names the same.
const DefaultGatewayBucket = "zonecast_gateway"

// DefaultStatusBucket is the KV bucket holding every node's status.
const DefaultStatusBucket = "zonecast_status"

// DefaultZoneBucket is the KV bucket of the fleet's zone list, which
// admins edit and syncers follow; zonestore.DefaultBucket names the same.
const DefaultZoneBucket = "zonecast_zones"

// UserSpec is one entry of a users file: who, how they authenticate and
// what role they play.
//
//	{"users": [
//	  {"user": "watcher-h1", "password_hash": "$2a$11$...", "role": "source",
//	   "origin": "h1", "zones": ["lxd.example.com"]},
//	  {"nkey": "UD...", "role": "syncer", "node": "ns2"},
//	  {"user": "ops", "password_hash": "$2a$...", "role": "reader"}
//	]}
type UserSpec struct {
	User         string `json:"user,omitempty"`
	PasswordHash string `json:"password_hash,omitempty"` // bcrypt
	Nkey         string `json:"nkey,omitempty"`          // public user nkey (U...), instead of user + password
	Role         string `json:"role"`
	Origin       string `json:"origin,omitempty"` // roles source and signer: the origin id it publishes as
	// Zones: roles source, gateway and signer, the zones it may publish
	// into (a signer: their signed subjects);
	// role syncer, optional, the zones whose ended leases it may record as
	// tombstones (internal/reap).
	Zones []string `json:"zones,omitempty"`
	Node  string   `json:"node,omitempty"` // role syncer: its node id (its status key)
	// Password is the plain password of a user the syncer defines itself
	// for the daemons on its host (LocalUser); never in a users file.
	Password string `json:"-"`
}

// LocalUser returns the user of a daemon on the syncer's own host, with
// the password read from a file: role source (the watcher, publishing as
// origin) or gateway, in zones (canonical).
func LocalUser(name, role, origin, password string, zones []string) (UserSpec, error) {
	u := UserSpec{User: name, Role: role, Origin: origin, Zones: slices.Clone(zones), Password: password}
	if password == "" {
		return UserSpec{}, fmt.Errorf("local user %s: empty password", name)
	}
	if err := checkUser(&u); err != nil {
		return UserSpec{}, fmt.Errorf("local user %s: %w", name, err)
	}
	return u, nil
}

// usersFile is the document ParseUsers reads.
type usersFile struct {
	Users []UserSpec `json:"users"`
}

// ReadUsersFile reads and checks a users file.
func ReadUsersFile(path string) ([]UserSpec, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading users file: %w", err)
	}
	defer f.Close()
	users, err := ParseUsers(f)
	if err != nil {
		return nil, fmt.Errorf("users file %s: %w", path, err)
	}
	return users, nil
}

// ParseUsers decodes and checks a users file (JSON, unknown fields
// refused). Names, origins and zones are canonicalised.
func ParseUsers(r io.Reader) ([]UserSpec, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading users: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var doc usersFile
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("decoding users: %w", err)
	}
	seen := map[string]bool{}
	for i := range doc.Users {
		u := &doc.Users[i]
		id := u.User
		if id == "" {
			id = u.Nkey
		}
		if err := checkUser(u); err != nil {
			return nil, fmt.Errorf("user %d (%s): %w", i+1, id, err)
		}
		if seen[id] {
			return nil, fmt.Errorf("user %d: %s listed twice", i+1, id)
		}
		seen[id] = true
	}
	return doc.Users, nil
}

func checkUser(u *UserSpec) error {
	switch {
	case u.User != "" && u.Nkey != "":
		return errors.New("either user + password_hash or nkey, not both")
	case u.User == "" && u.Nkey == "":
		return errors.New("no user and no nkey")
	case u.User != "" && u.PasswordHash == "" && u.Password == "":
		return errors.New("user without password_hash")
	case u.Nkey != "" && u.PasswordHash != "":
		return errors.New("an nkey user has no password")
	}
	if u.PasswordHash != "" {
		if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
			return fmt.Errorf("password_hash is not a bcrypt hash: %w", err)
		}
	}
	if u.Nkey != "" && !nkeys.IsValidPublicUserKey(u.Nkey) {
		return errors.New("nkey is not a public user key (U...)")
	}
	switch u.Role {
	case RoleAdmin, RoleReader:
	case RoleSyncer:
		if err := events.CheckOrigin(u.Node); err != nil {
			return fmt.Errorf("role syncer needs its node id: %w", err)
		}
		if err := canonicalZones(u.Zones); err != nil {
			return err
		}
	case RoleSource, "watcher", RoleGateway, RoleSigner:
		if u.Role == "watcher" {
			u.Role = RoleSource
		}
		if u.Role != RoleGateway {
			if err := events.CheckOrigin(u.Origin); err != nil {
				return fmt.Errorf("role %s needs its origin: %w", u.Role, err)
			}
		} else if u.Origin != "" {
			return errors.New("role gateway publishes as its keys and hosts: no origin")
		}
		if len(u.Zones) == 0 {
			return fmt.Errorf("role %s needs at least one zone", u.Role)
		}
		if err := canonicalZones(u.Zones); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown role %q (want admin, syncer, source, gateway, signer or reader)", u.Role)
	}
	return nil
}

// canonicalZones checks zones and writes them in canonical form.
func canonicalZones(zones []string) error {
	for i, z := range zones {
		cz, err := rrset.CanonicalName(z)
		if err != nil {
			return fmt.Errorf("zone %q: %w", z, err)
		}
		zones[i] = cz
	}
	return nil
}

// Scope names what role permissions refer to. Zero values take defaults.
type Scope struct {
	Prefix        string // record subject prefix, default events.DefaultSubjectPrefix
	SignedPrefix  string // signers' subject prefix, default events.DefaultSignedPrefix
	Stream        string // record stream, default DefaultStreamName
	StatusBucket  string // status KV bucket, default DefaultStatusBucket
	Applied       string // applied reports' subject prefix, default events.DefaultAppliedPrefix
	GatewayBucket string // the gateway's KV bucket, default DefaultGatewayBucket
	Snapshots     string // the snapshot object store, default DefaultSnapshotBucket
	Control       string // operators' control subjects' prefix, default DefaultControlPrefix
	Zones         string // the zone list's KV bucket, default DefaultZoneBucket
}

func (s Scope) withDefaults() Scope {
	if s.Prefix == "" {
		s.Prefix = events.DefaultSubjectPrefix
	}
	if s.SignedPrefix == "" {
		s.SignedPrefix = events.DefaultSignedPrefix
	}
	if s.Stream == "" {
		s.Stream = DefaultStreamName
	}
	if s.StatusBucket == "" {
		s.StatusBucket = DefaultStatusBucket
	}
	if s.Applied == "" {
		s.Applied = events.DefaultAppliedPrefix
	}
	if s.GatewayBucket == "" {
		s.GatewayBucket = DefaultGatewayBucket
	}
	if s.Snapshots == "" {
		s.Snapshots = DefaultSnapshotBucket
	}
	if s.Control == "" {
		s.Control = DefaultControlPrefix
	}
	if s.Zones == "" {
		s.Zones = DefaultZoneBucket
	}
	return s
}

// readStream is what following a stream with an ordered consumer (and
// looking up its last messages) needs.
func readStream(stream string) []string {
	return []string{
		"$JS.API.INFO",
		"$JS.API.STREAM.INFO." + stream,
		"$JS.API.STREAM.MSG.GET." + stream,
		"$JS.API.DIRECT.GET." + stream,
		"$JS.API.DIRECT.GET." + stream + ".>",
		"$JS.API.CONSUMER.CREATE." + stream,
		"$JS.API.CONSUMER.CREATE." + stream + ".>",
		"$JS.API.CONSUMER.INFO." + stream + ".>",
		"$JS.API.CONSUMER.DELETE." + stream + ".>",
		"$JS.API.CONSUMER.MSG.NEXT." + stream + ".>",
	}
}

// watchKV is what following a key-value bucket with a watch
// (FollowKV: the gateway's and the watcher's view of the zone list) needs,
// and no more: the stream's info (opening the bucket), an ordered push
// consumer on it (created, and created again and the old one deleted
// after a gap) and the flow control replies of its deliveries. No direct
// or stream get, no pull, no $KV.<bucket> publish (a write), no purge.
func watchKV(bucket string) []string {
	s := "KV_" + bucket
	return []string{
		"$JS.API.STREAM.INFO." + s,
		"$JS.API.CONSUMER.CREATE." + s,
		"$JS.API.CONSUMER.CREATE." + s + ".>",
		"$JS.API.CONSUMER.DELETE." + s + ".>",
		"$JS.FC." + s + ".>",
	}
}

// snapshotAccess is what reading and writing the snapshot object store
// needs: its stream, its objects, flow control of the push consumer that
// reads an object, and the purge of a replaced object's chunks.
func snapshotAccess(bucket string) []string {
	obj := "OBJ_" + bucket
	return append(readStream(obj),
		"$JS.API.STREAM.CREATE."+obj, "$JS.API.STREAM.PURGE."+obj,
		"$O."+bucket+".>", "$JS.FC."+obj+".>")
}

// inboxes is where JetStream answers u (API replies, publish
// acknowledgements, consumer deliveries): its own inbox prefix only.
func inboxes(u UserSpec) []string {
	id := u.User
	if id == "" {
		id = u.Nkey
	}
	return []string{InboxPrefix(id) + ".>"}
}

// RolePermissions returns the NATS permissions of a role; nil for admin
// (no restriction). No role but admin may change the record stream's
// configuration, purge it or delete its messages; and since the stream
// refuses roll-ups (see StreamConfig), a publisher replaces at most the
// messages of the subjects it may publish.
//
//   - syncer: follows the record stream (ordered consumers), may create it
//     when it is missing (not update it), and writes only its own key of
//     the status bucket (which it may create), reads the others; publishes
//     its own applied reports (events.AppliedSubject); reads and writes zone
//     snapshots (the object store, which it may create); publishes in the
//     zones its entry lists, if any, but not as a source's origin (it is
//     for the tombstones of ended leases; NATS cannot tell a tombstone);
//     receives operators' approve requests (ApproveSubject) and may
//     answer them; reads the zone list (which it may create), and writes
//     nothing there;
//   - source: publishes only subjects of its origin in its zones
//     (events.OriginFilter), and may look the stream up; follows the zone
//     list with a watch (watchKV), and writes nothing there;
//   - reader: reads the record stream, the status bucket and the zone
//     list, and subscribes to every node's applied reports;
//   - gateway: publishes subjects of any origin in its zones
//     (events.ZoneFilter) except the origins of the sources in sources
//     (whose records only they may replace), follows the record stream,
//     reads and writes its own bucket (which it may create), reads the
//     status bucket and the applied reports (--confirm all|any); follows
//     the zone list with a watch (watchKV), and writes nothing there. No other
//     role but admin may read the gateway's bucket: it holds the TSIG
//     secrets;
//   - signer: follows the record stream, publishes only the signed
//     subjects of its origin in its zones (events.OriginFilter with the
//     signed prefix), atomic batches included, and no record; writes only
//     its own key (its origin) of the status bucket and reads the others.
//
// Only the signers (and admin) publish under the signed prefix: the other
// roles' permissions deny it outright, whatever their zones. Only admin
// edits the zone list; sources and gateways follow it (they write only
// into listed zones, internal/zonegate), signers do not read it.
//
// Every role subscribes to its own inboxes (InboxPrefix) for replies and
// deliveries, and to no one else's.
func RolePermissions(u UserSpec, scope Scope, sources []string) *server.Permissions {
	sc := scope.withDefaults()
	kv := "KV_" + sc.StatusBucket
	readStatus := readStream(kv) // reading a bucket needs no $KV.<bucket> publish: that is a write
	zoneList := "KV_" + sc.Zones
	var pub, sub, deny []string
	var resp *server.ResponsePermission
	switch u.Role {
	case RoleAdmin:
		return nil
	case RoleSyncer:
		pub = append(pub, readStream(sc.Stream)...)
		pub = append(pub, "$JS.API.STREAM.CREATE."+sc.Stream)
		for _, z := range u.Zones {
			pub = append(pub, events.ZoneFilter(sc.Prefix, z))
		}
		if len(u.Zones) > 0 {
			for _, o := range sources {
				deny = append(deny, sc.Prefix+"."+o+".>")
			}
		}
		deny = append(deny, sc.SignedPrefix+".>")
		pub = append(pub, readStream(kv)...)
		pub = append(pub, "$JS.API.STREAM.CREATE."+kv, "$KV."+sc.StatusBucket+"."+u.Node)
		pub = append(pub, events.AppliedSubject(sc.Applied, sc.Stream, u.Node))
		pub = append(pub, snapshotAccess(sc.Snapshots)...)
		// The zone list is followed with a watch: its deliveries' flow
		// control is answered, or a big list stalls the watch.
		pub = append(pub, readStream(zoneList)...)
		pub = append(pub, "$JS.API.STREAM.CREATE."+zoneList, "$JS.FC."+zoneList+".>")
		sub = append(sub, inboxes(u)...)
		sub = append(sub, ApproveSubject(sc.Control, sc.Stream))
		resp = &server.ResponsePermission{MaxMsgs: 1, Expires: time.Minute}
	case RoleSource:
		pub = append(pub, "$JS.API.INFO", "$JS.API.STREAM.INFO."+sc.Stream)
		for _, z := range u.Zones {
			pub = append(pub, events.OriginFilter(sc.Prefix, u.Origin, z))
		}
		deny = append(deny, sc.SignedPrefix+".>")
		pub = append(pub, watchKV(sc.Zones)...)
		sub = append(sub, inboxes(u)...)
	case RoleReader:
		pub = append(pub, readStream(sc.Stream)...)
		pub = append(pub, readStatus...)
		pub = append(pub, readStream(zoneList)...)
		pub = append(pub, "$JS.FC."+zoneList+".>")
		sub = append(sub, inboxes(u)...)
		sub = append(sub, events.AppliedFilter(sc.Applied, sc.Stream))
	case RoleGateway:
		gw := "KV_" + sc.GatewayBucket
		pub = append(pub, readStream(sc.Stream)...)
		for _, z := range u.Zones {
			pub = append(pub, events.ZoneFilter(sc.Prefix, z))
		}
		for _, o := range sources {
			deny = append(deny, sc.Prefix+"."+o+".>")
		}
		deny = append(deny, sc.SignedPrefix+".>")
		pub = append(pub, readStream(gw)...)
		pub = append(pub, "$JS.API.STREAM.CREATE."+gw, "$KV."+sc.GatewayBucket+".>")
		pub = append(pub, readStatus...)
		pub = append(pub, watchKV(sc.Zones)...)
		sub = append(sub, inboxes(u)...)
		sub = append(sub, events.AppliedFilter(sc.Applied, sc.Stream))
	case RoleSigner:
		pub = append(pub, readStream(sc.Stream)...)
		for _, z := range u.Zones {
			pub = append(pub, events.OriginFilter(sc.SignedPrefix, u.Origin, z))
		}
		pub = append(pub, readStatus...)
		pub = append(pub, "$JS.API.STREAM.CREATE."+kv, "$KV."+sc.StatusBucket+"."+u.Origin)
		sub = append(sub, inboxes(u)...)
	default:
		// Unknown roles never get here (ParseUsers), but deny everything.
		pub, sub = []string{}, []string{}
	}
	slices.Sort(pub)
	pub = slices.Compact(pub)
	slices.Sort(deny)
	deny = slices.Compact(deny)
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: pub, Deny: deny},
		Subscribe: &server.SubjectPermission{Allow: sub},
		Response:  resp,
	}
}

// sourceOrigins returns the origins of the source users.
func sourceOrigins(users []UserSpec) []string {
	var out []string
	for _, u := range users {
		if u.Role == RoleSource {
			out = append(out, u.Origin)
		}
	}
	return out
}

// applyUsers configures authentication: the unrestricted user of the
// syncer (User/Password) alone, or together with the users of a users
// file, each confined to its role.
func applyUsers(opts *server.Options, cfg ServerConfig) error {
	if len(cfg.Users) == 0 {
		return nil // opts.Username/Password as set by StartEmbedded
	}
	if cfg.User == "" {
		return errors.New("a users file needs the syncer's own user and password too")
	}
	users := []*server.User{{Username: opts.Username, Password: opts.Password}}
	var nks []*server.NkeyUser
	sources := sourceOrigins(cfg.Users)
	seen := map[string]bool{}
	for _, u := range cfg.Users {
		if strings.EqualFold(u.User, cfg.User) {
			return fmt.Errorf("users file: user %s is the syncer's own user", u.User)
		}
		if id := strings.ToLower(u.User + u.Nkey); seen[id] {
			return fmt.Errorf("user %s defined twice (users file and local users)", u.User+u.Nkey)
		} else {
			seen[id] = true
		}
		perms := RolePermissions(u, cfg.Scope, sources)
		if u.Nkey != "" {
			nks = append(nks, &server.NkeyUser{Nkey: u.Nkey, Permissions: perms})
			continue
		}
		pw := u.PasswordHash
		if pw == "" {
			pw = u.Password // a local user's, read from its file
		}
		users = append(users, &server.User{Username: u.User, Password: pw, Permissions: perms})
	}
	opts.Username, opts.Password = "", ""
	opts.Users, opts.Nkeys = users, nks
	return nil
}
