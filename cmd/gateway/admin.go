package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/zonecast/zonecast/internal/cli"
	"github.com/zonecast/zonecast/internal/config"
	"github.com/zonecast/zonecast/internal/gwstore"
	"github.com/zonecast/zonecast/internal/rrset"
)

// stdout is where secrets and listings go (tests replace it).
var stdout io.Writer = os.Stdout

// adminCommand is a key, host or token command: it runs against the
// bucket of keys and hosts the gateways read.
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
	h, err := st.PutHost(ctx, gwstore.Host{Name: args[0], TTL: uint32(o.ttl), LeaseSeconds: int64(o.lease / time.Second),
		Created: time.Now().UTC()}, true)
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
			b, _ := json.Marshal(map[string]any{"name": h.Name, "ttl": h.TTL, "lease_seconds": h.LeaseSeconds, "tokens": ids})
			fmt.Fprintln(stdout, string(b))
			continue
		}
		fmt.Fprintf(stdout, "%s\tttl=%d\tlease=%s\ttokens=%s\n", h.Name, h.TTL, h.Lease(), strings.Join(ids, ","))
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

func tokenIssue(ctx context.Context, st *gwstore.Store, _ *adminOptions, args []string) error {
	h, err := readHost(ctx, st, args[0])
	if err != nil {
		return err
	}
	tok, rec, err := gwstore.NewToken(time.Now())
	if err != nil {
		return err
	}
	h.Tokens = append(h.Tokens, rec)
	if _, err := st.PutHost(ctx, h, false); err != nil {
		return fmt.Errorf("storing token: %w", err)
	}
	fmt.Fprintf(os.Stderr, "issued token %s for %s (shown once; only its hash is stored)\n", rec.ID, h.Name)
	fmt.Fprintln(stdout, tok)
	return nil
}

func tokenRevoke(ctx context.Context, st *gwstore.Store, _ *adminOptions, args []string) error {
	h, err := readHost(ctx, st, args[0])
	if err != nil {
		return err
	}
	n := len(h.Tokens)
	if len(args) > 1 {
		h.Tokens = slices.DeleteFunc(h.Tokens, func(t gwstore.Token) bool { return t.ID == args[1] })
	} else {
		h.Tokens = nil
	}
	if len(h.Tokens) == n {
		return fmt.Errorf("revoking token: no token to revoke for %s", h.Name)
	}
	if _, err := st.PutHost(ctx, h, false); err != nil {
		return fmt.Errorf("revoking token: %w", err)
	}
	fmt.Fprintf(os.Stderr, "revoked %d token(s) of %s\n", n-len(h.Tokens), h.Name)
	return nil
}

func readHost(ctx context.Context, st *gwstore.Store, arg string) (gwstore.Host, error) {
	name, err := canonicalArg(arg)
	if err != nil {
		return gwstore.Host{}, err
	}
	h, err := st.Host(ctx, name)
	if err != nil {
		return gwstore.Host{}, fmt.Errorf("reading host: %w", err)
	}
	return h, nil
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
