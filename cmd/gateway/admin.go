package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/zonecast/zonecast/internal/account"
	"github.com/zonecast/zonecast/internal/cli"
	"github.com/zonecast/zonecast/internal/config"
	"github.com/zonecast/zonecast/internal/gwstore"
	"github.com/zonecast/zonecast/internal/rrset"
)

// stdout is where secrets and listings go (tests replace it).
var stdout io.Writer = os.Stdout

// adminCommand is a key, host, token or user command: it runs against
// the bucket of keys, hosts and web users the gateways read.
type adminCommand struct {
	name, args, summary string
	nargs               int // positional arguments it needs at least
	// flags registers its own flags, beside the NATS ones and --bucket.
	flags func(fs *flag.FlagSet, o *adminOptions)
	run   adminRun
}

// adminRun runs an admin command with the bucket, its flags and its
// arguments (as many as it needs at least).
type adminRun func(ctx context.Context, st *gwstore.Store, o *adminOptions, args []string) error

// adminOptions are the values of the admin commands' own flags; each
// command registers those it takes.
type adminOptions struct {
	algorithm, secretFile string
	zones, names, types   config.List
	lease                 time.Duration
	ttl                   uint
	json                  bool
	// host add's prefix options (gwstore.Host) and owner
	owner, prefixFrom, interfaceID string
	prefixLen                      int
	// user add and passwd
	quota        int
	admin        bool
	passwordFile string
}

var adminCommands = []adminCommand{
	{name: "key add", args: "NAME --zone ZONE [flags]", nargs: 1, flags: keyAddFlags, run: keyAdd,
		summary: "add a TSIG key; prints alg:name:secret once when it generates the secret"},
	{name: "key list", args: "[flags]", flags: listFlags, run: keyList, summary: "list the keys, without their secrets"},
	{name: "key remove", args: "NAME [flags]", nargs: 1, run: remove("key", (*gwstore.Store).DeleteKey), summary: "remove a key"},
	{name: "host add", args: "HOSTNAME [flags]", nargs: 1, flags: hostAddFlags, run: hostAdd, summary: "add a dyndns host"},
	{name: "host list", args: "[flags]", flags: listFlags, run: hostList, summary: "list the hosts and the ids of their tokens"},
	{name: "host remove", args: "HOSTNAME [flags]", nargs: 1, run: remove("host", (*gwstore.Store).DeleteHost), summary: "remove a host and its tokens"},
	{name: "token issue", args: "HOSTNAME [flags]", nargs: 1, run: tokenIssue,
		summary: "issue a dyndns token for a host; prints it once, only its hash is stored"},
	{name: "token revoke", args: "HOSTNAME [ID] [flags]", nargs: 1, run: tokenRevoke,
		summary: "revoke a host's token ID, or all its tokens without one"},
	{name: "user add", args: "NAME [--zone ZONE]... [flags]", nargs: 1, flags: userAddFlags, run: userAdd,
		summary: "add a user of the web page; prints the password once when it generates one"},
	{name: "user list", args: "[flags]", flags: listFlags, run: userList, summary: "list the users, without their password hashes"},
	{name: "user remove", args: "NAME [flags]", nargs: 1, run: userRemove,
		summary: "remove a user and end its sessions (refused while it owns hosts)"},
	{name: "user passwd", args: "NAME --password-file FILE [flags]", nargs: 1, flags: passwordFlag, run: userPasswd,
		summary: "set a user's password, clear its lockout and end its sessions"},
	{name: "user totp-reset", args: "NAME [flags]", nargs: 1, run: userTOTPReset,
		summary: "remove a user's second factor (a lost phone)"},
}

// command makes a the row of the program's table: its flags are the NATS
// ones, --bucket and its own; it runs once connected to the bucket, after
// its arguments are checked.
func (a adminCommand) command() cli.Command {
	return cli.Command{Name: a.name, Args: a.args, Summary: a.summary, Interspersed: true,
		Flags: func(fs *flag.FlagSet) cli.Func {
			nc := cli.NATSFlags(fs, "nats://127.0.0.1:4222", "NATS server URL(s)")
			bucket := fs.String("bucket", gwstore.DefaultBucket, "key-value bucket of keys and hosts")
			o := &adminOptions{}
			if a.flags != nil {
				a.flags(fs, o)
			}
			return func(ctx context.Context, args []string) error {
				if len(args) < a.nargs {
					return fmt.Errorf("%w: %s needs %d argument(s)", cli.ErrUsage, a.name, a.nargs)
				}
				if o.lease != 0 && o.lease < time.Second {
					return fmt.Errorf("%w: --lease under 1s", cli.ErrUsage)
				}
				conn, js, _, err := cli.ConnectCommand(ctx, nc, "zonecast-gateway-admin")
				if err != nil {
					return err
				}
				defer conn.Close()
				st, err := gwstore.Open(ctx, js, *bucket, 1)
				if err != nil {
					return err
				}
				return a.run(ctx, st, o, args)
			}
		}}
}

func keyAddFlags(fs *flag.FlagSet, o *adminOptions) {
	fs.StringVar(&o.algorithm, "algorithm", "hmac-sha256", "hmac-sha256, hmac-sha384 or hmac-sha512")
	fs.Var(&o.zones, "zone", "zone the key may update (repeatable; at least one)")
	fs.Var(&o.names, "name", "name the key may update, or *.sub.zone for every name below (repeatable; default: any)")
	fs.Var(&o.types, "type", "record type the key may update (repeatable; default: any)")
	fs.StringVar(&o.secretFile, "secret-file", "", "file holding the base64 secret (default: generate one and print it once)")
	fs.DurationVar(&o.lease, "lease", 0, "records published with the key expire this long after their last update (0: never)")
}

func hostAddFlags(fs *flag.FlagSet, o *adminOptions) {
	fs.UintVar(&o.ttl, "ttl", 60, "TTL of the host's A and AAAA records")
	fs.DurationVar(&o.lease, "lease", 0, "the host's records expire this long after its last update (0: never)")
	fs.StringVar(&o.owner, "owner", "", "user of the web page who manages the host (default: none, the operator's)")
	fs.StringVar(&o.prefixFrom, "prefix-from", "", "host whose IPv6 prefix this host follows: its AAAA is that prefix and --interface-id")
	fs.IntVar(&o.prefixLen, "prefix-len", 0, "length of the prefix taken from --prefix-from, 1 to 127 (default 64)")
	fs.StringVar(&o.interfaceID, "interface-id", "", "the host's fixed IPv6 interface id behind --prefix-from, such as ::1234:5678")
}

func userAddFlags(fs *flag.FlagSet, o *adminOptions) {
	fs.Var(&o.zones, "zone", "zone the user may add hosts in (repeatable)")
	fs.IntVar(&o.quota, "quota", account.DefaultQuota, "most hosts the user may own")
	fs.BoolVar(&o.admin, "admin", false, "the user may manage users, keys and every host on the web page")
	passwordFlag(fs, o)
}

func passwordFlag(fs *flag.FlagSet, o *adminOptions) {
	fs.StringVar(&o.passwordFile, "password-file", "", "file holding the password, surrounding whitespace trimmed (user add without it: generate one and print it once)")
}

func listFlags(fs *flag.FlagSet, o *adminOptions) {
	fs.BoolVar(&o.json, "json", false, "print JSON (secrets and token hashes left out)")
}

func keyAdd(ctx context.Context, st *gwstore.Store, o *adminOptions, args []string) error {
	alg, err := gwstore.CanonicalAlgorithm(o.algorithm)
	if err != nil {
		return fmt.Errorf("%w: %w", cli.ErrUsage, err)
	}
	secret, generated := "", false
	if o.secretFile != "" {
		if secret, err = config.ReadSecret(o.secretFile); err != nil {
			return err
		}
	} else if secret, err = gwstore.NewSecret(alg); err != nil {
		return err
	} else {
		generated = true
	}
	k, err := st.PutKey(ctx, gwstore.Key{Name: args[0], Algorithm: alg, Secret: secret, Zones: o.zones, Names: o.names,
		Types: o.types, LeaseSeconds: int64(o.lease / time.Second), Created: time.Now().UTC()}, true)
	if err != nil {
		return fmt.Errorf("adding key: %w", err)
	}
	fmt.Fprintf(os.Stderr, "added key %s (%s), origin %s, zones %s\n", k.Name, strings.TrimSuffix(k.Algorithm, "."),
		k.Origin(), strings.Join(k.Zones, " "))
	if generated {
		// The only time the secret is shown; nsupdate -y takes alg:name:secret.
		fmt.Fprintf(stdout, "%s:%s:%s\n", strings.TrimSuffix(k.Algorithm, "."), strings.TrimSuffix(k.Name, "."), k.Secret)
	}
	return nil
}

func keyList(ctx context.Context, st *gwstore.Store, o *adminOptions, _ []string) error {
	keys, err := st.Keys(ctx)
	if err != nil {
		return err
	}
	slices.SortFunc(keys, func(a, b gwstore.Key) int { return strings.Compare(a.Name, b.Name) })
	for _, k := range keys {
		k.Secret = ""
		if o.json {
			b, _ := json.Marshal(k)
			fmt.Fprintln(stdout, string(b))
			continue
		}
		fmt.Fprintf(stdout, "%s\t%s\torigin=%s\tzones=%s\tnames=%s\ttypes=%s\tlease=%s\n", k.Name,
			strings.TrimSuffix(k.Algorithm, "."), k.Origin(), strings.Join(k.Zones, ","), strings.Join(k.Names, ","),
			strings.Join(k.Types, ","), k.Lease())
	}
	return nil
}

func hostAdd(ctx context.Context, st *gwstore.Store, o *adminOptions, args []string) error {
	if o.owner != "" {
		if _, _, err := st.User(ctx, o.owner); err != nil {
			return fmt.Errorf("adding host: owner: %w", err)
		}
	}
	h, _, err := st.PutHost(ctx, gwstore.Host{Name: args[0], TTL: uint32(o.ttl), LeaseSeconds: int64(o.lease / time.Second),
		Owner: o.owner, PrefixFrom: o.prefixFrom, PrefixLen: o.prefixLen, InterfaceID: o.interfaceID,
		Created: time.Now().UTC()}, 0)
	if err != nil {
		return fmt.Errorf("adding host: %w", err)
	}
	fmt.Fprintf(os.Stderr, "added host %s, origin %s; issue a token with: zonecast-gateway token issue %s\n",
		h.Name, h.Origin(), strings.TrimSuffix(h.Name, "."))
	return nil
}

func hostList(ctx context.Context, st *gwstore.Store, o *adminOptions, _ []string) error {
	hosts, err := st.Hosts(ctx)
	if err != nil {
		return err
	}
	for _, h := range hosts {
		ids := make([]string, 0, len(h.Tokens))
		for _, t := range h.Tokens {
			ids = append(ids, t.ID)
		}
		if o.json {
			v := map[string]any{"name": h.Name, "ttl": h.TTL, "lease_seconds": h.LeaseSeconds, "tokens": ids}
			if h.Owner != "" {
				v["owner"] = h.Owner
			}
			if h.PrefixFrom != "" {
				v["prefix_from"], v["prefix_len"], v["interface_id"] = h.PrefixFrom, h.PrefixLen, h.InterfaceID
			}
			b, _ := json.Marshal(v)
			fmt.Fprintln(stdout, string(b))
			continue
		}
		// The options a host lacks are left out: the line of a plain host
		// reads as before they existed.
		var extra string
		if h.Owner != "" {
			extra += "\towner=" + h.Owner
		}
		if h.PrefixFrom != "" {
			extra += fmt.Sprintf("\tprefix=%s/%d\tinterface_id=%s", h.PrefixFrom, h.PrefixLen, h.InterfaceID)
		}
		fmt.Fprintf(stdout, "%s\tttl=%d\tlease=%s\ttokens=%s%s\n", h.Name, h.TTL, h.Lease(), strings.Join(ids, ","), extra)
	}
	return nil
}

// remove returns the run function of `key remove` or `host remove`: del
// removes the key or host its argument names.
func remove(what string, del func(st *gwstore.Store, ctx context.Context, name string) error) adminRun {
	return func(ctx context.Context, st *gwstore.Store, _ *adminOptions, args []string) error {
		name, err := canonicalArg(args[0])
		if err != nil {
			return err
		}
		if err := del(st, ctx, name); err != nil {
			return fmt.Errorf("removing %s: %w", what, err)
		}
		return nil
	}
}

// tokenIssue adds a token to the host, compare-and-set (gwstore.UpdateHost):
// tokens issued or revoked at once, here or on the web page, all count.
func tokenIssue(ctx context.Context, st *gwstore.Store, _ *adminOptions, args []string) error {
	name, err := canonicalArg(args[0])
	if err != nil {
		return err
	}
	tok, rec, err := gwstore.NewToken(time.Now())
	if err != nil {
		return err
	}
	h, err := gwstore.UpdateHost(ctx, st, name, func(h *gwstore.Host) error { h.Tokens = append(h.Tokens, rec); return nil })
	if err != nil {
		return fmt.Errorf("storing token: %w", err)
	}
	fmt.Fprintf(os.Stderr, "issued token %s for %s (shown once; only its hash is stored)\n", rec.ID, h.Name)
	fmt.Fprintln(stdout, tok)
	return nil
}

// errNoToken: the host has no token to revoke (by that id).
var errNoToken = errors.New("no token to revoke")

func tokenRevoke(ctx context.Context, st *gwstore.Store, _ *adminOptions, args []string) error {
	name, err := canonicalArg(args[0])
	if err != nil {
		return err
	}
	revoked := 0
	_, err = gwstore.UpdateHost(ctx, st, name, func(h *gwstore.Host) error {
		n := len(h.Tokens)
		if len(args) > 1 {
			h.Tokens = slices.DeleteFunc(h.Tokens, func(t gwstore.Token) bool { return t.ID == args[1] })
		} else {
			h.Tokens = nil
		}
		if revoked = n - len(h.Tokens); revoked == 0 {
			return errNoToken
		}
		return nil
	})
	if errors.Is(err, errNoToken) {
		return fmt.Errorf("revoking token: no token to revoke for %s", name)
	}
	if err != nil {
		return fmt.Errorf("revoking token: %w", err)
	}
	fmt.Fprintf(os.Stderr, "revoked %d token(s) of %s\n", revoked, name)
	return nil
}

// canonicalArg returns the canonical form of a name given as an
// argument; a bad one is a usage error.
func canonicalArg(s string) (string, error) {
	c, err := rrset.CanonicalName(s)
	if err != nil {
		return "", fmt.Errorf("%w: %w", cli.ErrUsage, err)
	}
	return c, nil
}

func userAdd(ctx context.Context, st *gwstore.Store, o *adminOptions, args []string) error {
	name, err := userArg(args[0])
	if err != nil {
		return err
	}
	if o.quota < 1 {
		// The record reads 0 as the default; a user without --zone adds
		// no hosts.
		return fmt.Errorf("%w: --quota under 1 (a user without --zone adds no hosts)", cli.ErrUsage)
	}
	pw, generated, err := readPassword(o.passwordFile, true)
	if err != nil {
		return err
	}
	hash, err := account.HashPassword(pw)
	if err != nil {
		return fmt.Errorf("adding user: %w", err)
	}
	u := account.User{Name: name, PasswordHash: hash, Admin: o.admin, Zones: o.zones, Quota: o.quota, Created: time.Now().UTC()}
	if _, err := st.PutUser(ctx, u, 0); err != nil {
		return fmt.Errorf("adding user: %w", err)
	}
	fmt.Fprintf(os.Stderr, "added user %s\n", name)
	if generated {
		fmt.Fprintln(stdout, pw) // the only time it is shown
	}
	return nil
}

// readPassword reads the password file, or with none generates a
// password when generate is set.
func readPassword(file string, generate bool) (pw string, generated bool, err error) {
	if file != "" {
		pw, err := config.ReadSecret(file)
		return pw, false, err
	}
	if !generate {
		return "", false, fmt.Errorf("%w: --password-file is required", cli.ErrUsage)
	}
	// 128 random bits, in letters and digits one can type.
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", false, fmt.Errorf("generating a password: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), true, nil
}

func userList(ctx context.Context, st *gwstore.Store, o *adminOptions, _ []string) error {
	users, err := st.Users(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	for _, u := range users {
		locked, left := u.Locked(now)
		if o.json {
			b, _ := json.Marshal(map[string]any{"name": u.Name, "admin": u.Admin, "zones": u.Zones, "quota": u.Quota,
				"totp": u.TOTPSecret != "", "failed_logins": u.FailedLogins, "locked": locked, "created": u.Created})
			fmt.Fprintln(stdout, string(b))
			continue
		}
		lock := "no"
		if locked {
			lock = left.Round(time.Second).String()
		}
		fmt.Fprintf(stdout, "%s\tadmin=%v\tquota=%d\tzones=%s\ttotp=%v\tlocked=%s\n", u.Name, u.Admin, u.Quota,
			strings.Join(u.Zones, ","), u.TOTPSecret != "", lock)
	}
	return nil
}

func userRemove(ctx context.Context, st *gwstore.Store, _ *adminOptions, args []string) error {
	name, err := userArg(args[0])
	if err != nil {
		return err
	}
	if err := st.DeleteUser(ctx, name); err != nil {
		return fmt.Errorf("removing user: %w", err)
	}
	return nil
}

func userPasswd(ctx context.Context, st *gwstore.Store, o *adminOptions, args []string) error {
	name, err := userArg(args[0])
	if err != nil {
		return err
	}
	pw, _, err := readPassword(o.passwordFile, false)
	if err != nil {
		return err
	}
	hash, err := account.HashPassword(pw)
	if err != nil {
		return fmt.Errorf("setting the password: %w", err)
	}
	if err := updateUser(ctx, st, name, func(u account.User) account.User {
		u.PasswordHash = hash
		return u.Succeeded()
	}); err != nil {
		return fmt.Errorf("setting the password: %w", err)
	}
	// Whoever logged in with the old password is out.
	if err := st.DeleteUserSessions(ctx, name); err != nil {
		return fmt.Errorf("ending the sessions of %s: %w", name, err)
	}
	fmt.Fprintf(os.Stderr, "set the password of %s; its sessions ended\n", name)
	return nil
}

func userTOTPReset(ctx context.Context, st *gwstore.Store, _ *adminOptions, args []string) error {
	name, err := userArg(args[0])
	if err != nil {
		return err
	}
	if err := updateUser(ctx, st, name, func(u account.User) account.User { u.TOTPSecret = ""; return u }); err != nil {
		return fmt.Errorf("resetting the second factor: %w", err)
	}
	fmt.Fprintf(os.Stderr, "removed the second factor of %s\n", name)
	return nil
}

// updateUser applies change to the stored user, again on what is stored
// when a gateway wrote the user meanwhile (a login counted).
func updateUser(ctx context.Context, st *gwstore.Store, name string, change func(account.User) account.User) error {
	for attempt := 1; ; attempt++ {
		u, rev, err := st.User(ctx, name)
		if err != nil {
			return err
		}
		_, err = st.PutUser(ctx, change(u), rev)
		if err == nil || !errors.Is(err, gwstore.ErrConflict) || attempt == 5 {
			return err
		}
	}
}

// userArg checks a user name given as an argument; a bad one is a usage
// error.
func userArg(s string) (string, error) {
	name := strings.ToLower(s)
	if err := account.ValidName(name); err != nil {
		return "", fmt.Errorf("%w: %w", cli.ErrUsage, err)
	}
	return name, nil
}
