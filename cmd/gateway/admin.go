package main

import (
	"context"
	"encoding/json"
	"errors"
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
	"github.com/zonecast/zonecast/internal/logging"
	"github.com/zonecast/zonecast/internal/rrset"
)

// stdout is where secrets and listings go (tests replace it).
var stdout io.Writer = os.Stdout

// adminMain runs `key`, `host` and `token` commands against the bucket.
func adminMain(ctx context.Context, group string, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: %s needs a command (see --help)", errUsage, group)
	}
	verb, args := args[0], args[1:]
	fs := flag.NewFlagSet("zonecast-gateway "+group+" "+verb, flag.ContinueOnError)
	nc := cli.NATSFlags(fs, "nats://127.0.0.1:4222", "NATS server URL(s)")
	bucket := fs.String("bucket", gwstore.DefaultBucket, "key-value bucket of keys and hosts")
	var zones, names, types config.List
	var (
		algorithm, secretFile string
		lease                 time.Duration
		ttl                   uint
		jsonOut               bool
	)
	switch group + " " + verb {
	case "key add":
		fs.StringVar(&algorithm, "algorithm", "hmac-sha256", "hmac-sha256, hmac-sha384 or hmac-sha512")
		fs.Var(&zones, "zone", "zone the key may update (repeatable; at least one)")
		fs.Var(&names, "name", "name the key may update, or *.sub.zone for every name below (repeatable; default: any)")
		fs.Var(&types, "type", "record type the key may update (repeatable; default: any)")
		fs.StringVar(&secretFile, "secret-file", "", "file holding the base64 secret (default: generate one and print it once)")
		fs.DurationVar(&lease, "lease", 0, "records published with the key expire this long after their last update (0: never)")
	case "host add":
		fs.UintVar(&ttl, "ttl", 60, "TTL of the host's A and AAAA records")
		fs.DurationVar(&lease, "lease", 0, "the host's records expire this long after its last update (0: never)")
	case "key list", "host list":
		fs.BoolVar(&jsonOut, "json", false, "print JSON (secrets and token hashes left out)")
	case "key remove", "host remove", "token issue", "token revoke":
	default:
		return fmt.Errorf("%w: unknown command %q %q", errUsage, group, verb)
	}
	fs.Usage = config.Usage(fs, synopsis)
	// Flags may come after the positional argument: "key add NAME --zone Z".
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if err := config.ApplyEnv(fs, os.LookupEnv); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if lease != 0 && lease < time.Second {
		return fmt.Errorf("%w: --lease under 1s", errUsage)
	}
	natsDefaults(nc)
	nc.Name = "zonecast-gateway-admin"
	log, _ := logging.New(os.Stderr, "warn", "console")
	conn, js, err := cli.ConnectJetStream(ctx, *nc, log)
	if err != nil {
		return err
	}
	defer conn.Close()
	st, err := gwstore.Open(ctx, js, *bucket, 1)
	if err != nil {
		return err
	}
	arg := func(n int) ([]string, error) {
		if len(pos) < n {
			return nil, fmt.Errorf("%w: %s %s needs %d argument(s)", errUsage, group, verb, n)
		}
		return pos, nil
	}
	canon := func(s string) (string, error) {
		c, err := rrset.CanonicalName(s)
		if err != nil {
			return "", fmt.Errorf("%w: %w", errUsage, err)
		}
		return c, nil
	}
	switch group + " " + verb {
	case "key add":
		p, err := arg(1)
		if err != nil {
			return err
		}
		alg, err := gwstore.CanonicalAlgorithm(algorithm)
		if err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		secret, generated := "", false
		if secretFile != "" {
			if secret, err = config.ReadSecret(secretFile); err != nil {
				return err
			}
		} else if secret, err = gwstore.NewSecret(alg); err != nil {
			return err
		} else {
			generated = true
		}
		k, err := st.PutKey(ctx, gwstore.Key{Name: p[0], Algorithm: alg, Secret: secret, Zones: zones, Names: names,
			Types: types, LeaseSeconds: int64(lease / time.Second), Created: time.Now().UTC()}, true)
		if err != nil {
			return fmt.Errorf("adding key: %w", err)
		}
		fmt.Fprintf(os.Stderr, "added key %s (%s), origin %s, zones %s\n", k.Name, strings.TrimSuffix(k.Algorithm, "."),
			k.Origin(), strings.Join(k.Zones, " "))
		if generated {
			// The only time the secret is shown; nsupdate -y takes alg:name:secret.
			fmt.Fprintf(stdout, "%s:%s:%s\n", strings.TrimSuffix(k.Algorithm, "."), strings.TrimSuffix(k.Name, "."), k.Secret)
		}
	case "key list":
		keys, err := st.Keys(ctx)
		if err != nil {
			return err
		}
		slices.SortFunc(keys, func(a, b gwstore.Key) int { return strings.Compare(a.Name, b.Name) })
		for _, k := range keys {
			k.Secret = ""
			if jsonOut {
				b, _ := json.Marshal(k)
				fmt.Fprintln(stdout, string(b))
				continue
			}
			fmt.Fprintf(stdout, "%s\t%s\torigin=%s\tzones=%s\tnames=%s\ttypes=%s\tlease=%s\n", k.Name,
				strings.TrimSuffix(k.Algorithm, "."), k.Origin(), strings.Join(k.Zones, ","), strings.Join(k.Names, ","),
				strings.Join(k.Types, ","), k.Lease())
		}
	case "key remove":
		p, err := arg(1)
		if err != nil {
			return err
		}
		name, err := canon(p[0])
		if err != nil {
			return err
		}
		if err := st.DeleteKey(ctx, name); err != nil {
			return fmt.Errorf("removing key: %w", err)
		}
	case "host add":
		p, err := arg(1)
		if err != nil {
			return err
		}
		h, err := st.PutHost(ctx, gwstore.Host{Name: p[0], TTL: uint32(ttl), LeaseSeconds: int64(lease / time.Second),
			Created: time.Now().UTC()}, true)
		if err != nil {
			return fmt.Errorf("adding host: %w", err)
		}
		fmt.Fprintf(os.Stderr, "added host %s, origin %s; issue a token with: zonecast-gateway token issue %s\n",
			h.Name, h.Origin(), strings.TrimSuffix(h.Name, "."))
	case "host list":
		hosts, err := st.Hosts(ctx)
		if err != nil {
			return err
		}
		for _, h := range hosts {
			ids := make([]string, 0, len(h.Tokens))
			for _, t := range h.Tokens {
				ids = append(ids, t.ID)
			}
			if jsonOut {
				b, _ := json.Marshal(map[string]any{"name": h.Name, "ttl": h.TTL, "lease_seconds": h.LeaseSeconds, "tokens": ids})
				fmt.Fprintln(stdout, string(b))
				continue
			}
			fmt.Fprintf(stdout, "%s\tttl=%d\tlease=%s\ttokens=%s\n", h.Name, h.TTL, h.Lease(), strings.Join(ids, ","))
		}
	case "host remove":
		p, err := arg(1)
		if err != nil {
			return err
		}
		name, err := canon(p[0])
		if err != nil {
			return err
		}
		if err := st.DeleteHost(ctx, name); err != nil {
			return fmt.Errorf("removing host: %w", err)
		}
	case "token issue", "token revoke":
		p, err := arg(1)
		if err != nil {
			return err
		}
		name, err := canon(p[0])
		if err != nil {
			return err
		}
		h, err := st.Host(ctx, name)
		if err != nil {
			return fmt.Errorf("reading host: %w", err)
		}
		if verb == "issue" {
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
		n := len(h.Tokens)
		if len(p) > 1 {
			h.Tokens = slices.DeleteFunc(h.Tokens, func(t gwstore.Token) bool { return t.ID == p[1] })
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
	}
	return nil
}
