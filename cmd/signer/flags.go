package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/cli"
	"github.com/zonecast/zonecast/internal/config"
	"github.com/zonecast/zonecast/internal/dnssec"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/rrset"
	"github.com/zonecast/zonecast/internal/signer"
)

// DefaultKeyDir is where the Debian package keeps the keys.
const DefaultKeyDir = "/var/lib/zonecast-signer/keys"

type signerConfig struct {
	zones        []string
	keyDir       string
	algorithm    uint8
	nsec3        *dnssec.NSEC3Params
	template     signer.Config // all but Zone and the keys
	zskLifetime  time.Duration
	origin       string
	nats         *bus.ClientConfig
	stream       string
	prefix       string
	signedPrefix string
	statusBucket string
	httpListen   string
	pprof        bool
	log          cli.LogFlags
}

// parseFlags parses args, then the ZONECAST_* variables lookup finds; usage
// and flag errors go to out.
func parseFlags(args []string, lookup func(string) (string, bool), out io.Writer) (*signerConfig, error) {
	return cli.ParseConfig("zonecast-signer", registerFlags, args, lookup, out)
}

// registerFlags registers the signer's flags on fs and returns what checks
// and completes them once parsed, given the positional arguments.
func registerFlags(fs *flag.FlagSet) func(args []string) (*signerConfig, error) {
	c := &signerConfig{}
	var (
		zones, ns                                      config.List
		alg, salt                                      string
		nsec3                                          bool
		iterations                                     uint
		refresh, retry, expire, minimum, soaTTL, nsTTL uint
		keyTTL                                         uint
		validity, resign, jitter                       time.Duration
	)
	fs.Var(&zones, "zone", "signed zone, e.g. example.com (repeatable; at least one)")
	fs.StringVar(&c.keyDir, "key-dir", DefaultKeyDir, "directory of the zones' keys, BIND's K<zone>+<alg>+<tag>.key and .private files (mode 0700, private files 0600)")
	fs.StringVar(&alg, "algorithm", "ECDSAP256SHA256", "algorithm of the keys made for a zone without keys: ECDSAP256SHA256 or ED25519")
	fs.BoolVar(&nsec3, "nsec3", false, "deny existence with NSEC3 instead of NSEC (PowerDNS 4.7 serves only NSEC presigned zones well, see docs/dnssec.md)")
	fs.UintVar(&iterations, "nsec3-iterations", 0, "NSEC3 extra iterations (RFC 9276: 0)")
	fs.StringVar(&salt, "nsec3-salt", "", "NSEC3 salt in hex (RFC 9276: none)")
	fs.Var(&ns, "ns", "apex NS of the zones, which the signer publishes and signs (repeatable; at least one)")
	fs.UintVar(&nsTTL, "ns-ttl", 3600, "TTL of the apex NS RRset")
	fs.StringVar(&c.template.SOA.MName, "soa-mname", "", "SOA primary name server (default: the first --ns)")
	fs.StringVar(&c.template.SOA.RName, "soa-rname", "", "SOA responsible mailbox (default hostmaster.<zone>)")
	fs.UintVar(&refresh, "soa-refresh", 10800, "SOA refresh seconds")
	fs.UintVar(&retry, "soa-retry", 3600, "SOA retry seconds")
	fs.UintVar(&expire, "soa-expire", 604800, "SOA expire seconds")
	fs.UintVar(&minimum, "soa-minimum", 60, "SOA minimum (negative caching TTL) seconds, also the TTL of the NSEC or NSEC3 records")
	fs.UintVar(&soaTTL, "soa-ttl", 3600, "TTL of the SOA RRset")
	fs.UintVar(&keyTTL, "dnskey-ttl", 3600, "TTL of the DNSKEY RRset")
	fs.DurationVar(&validity, "validity", 14*24*time.Hour, "how long a new signature is valid")
	fs.DurationVar(&resign, "refresh", 3*24*time.Hour, "make a signature again this long before it expires")
	fs.DurationVar(&jitter, "jitter", 24*time.Hour, "spread of the expiries: each RRset's signatures expire up to this much earlier than --validity, so they are not all made again at once")
	fs.DurationVar(&c.zskLifetime, "zsk-lifetime", 0, "start a ZSK rollover by pre-publication once the active ZSK has signed this long (0: only by zonecast-signer rollover)")
	fs.StringVar(&c.origin, "origin", "signer", "the signer's origin id: its subjects, and its NATS user's origin")
	c.nats = cli.NATSFlags(fs, "nats://127.0.0.1:4222", "NATS server URL(s), comma separated")
	// Its own user, of role signer: never the syncer's, which may do
	// everything.
	user := fs.Lookup("nats-user")
	user.DefValue, user.Usage = "signer", "NATS user name, of role signer (with --nats-password-file)"
	c.nats.User = "signer"
	fs.Lookup("nats-password-file").Usage = "file holding the NATS password of --nats-user (one of it, --nats-creds-file or --nats-nkey-seed-file is required)"
	fs.StringVar(&c.stream, "stream", bus.DefaultStreamName, "JetStream stream name (created by zonecast-syncer, never by the signer)")
	fs.StringVar(&c.prefix, "subject-prefix", events.DefaultSubjectPrefix, "subject prefix of record events")
	fs.StringVar(&c.signedPrefix, "signed-prefix", "", "subject prefix of the signed records (default "+events.DefaultSignedPrefix+
		", or <--subject-prefix>-signed with another --subject-prefix, as the syncers')")
	fs.StringVar(&c.statusBucket, "status-bucket", bus.DefaultStatusBucket, "key-value bucket of the fleet's status, where the signer's goes under its origin (made by the syncers); empty: none")
	fs.StringVar(&c.httpListen, "http-listen", "127.0.0.1:9473", "address of /healthz, /readyz and /metrics; empty disables")
	fs.BoolVar(&c.pprof, "pprof", false, "also serve Go's profiler under /debug/pprof/ on --http-listen")
	c.log.Register(fs)
	return func(args []string) (*signerConfig, error) {
		usage := func(format string, args ...any) error {
			return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
		}
		if len(args) > 0 {
			return nil, usage("unexpected argument %q", args[0])
		}
		if len(zones) == 0 {
			return nil, usage("at least one --zone is required (or %s)", config.EnvName("zone"))
		}
		for _, z := range zones {
			cz, err := rrset.CanonicalName(z)
			if err != nil {
				return nil, usage("--zone: %v", err)
			}
			c.zones = append(c.zones, cz)
		}
		if len(ns) == 0 {
			return nil, usage("at least one --ns is required: the zones' apex NS, which the signer signs (or %s)", config.EnvName("ns"))
		}
		for _, n := range ns {
			cn, err := rrset.CanonicalName(n)
			if err != nil {
				return nil, usage("--ns: %v", err)
			}
			c.template.NS = append(c.template.NS, cn)
		}
		for _, p := range []*string{&c.template.SOA.MName, &c.template.SOA.RName} {
			if *p == "" {
				continue
			}
			cn, err := rrset.CanonicalName(*p)
			if err != nil {
				return nil, usage("SOA name: %v", err)
			}
			*p = cn
		}
		var err error
		if c.algorithm, err = dnssec.ParseAlgorithm(alg); err != nil {
			return nil, usage("--algorithm: %v", err)
		}
		if nsec3 {
			p := dnssec.NSEC3Params{Iterations: uint16(iterations), Salt: strings.ToLower(salt)}
			if iterations > 65535 {
				return nil, usage("--nsec3-iterations %d is over 65535", iterations)
			}
			if err := p.Check(); err != nil {
				return nil, usage("%v", err)
			}
			c.nsec3 = &p
		} else if iterations != 0 || salt != "" {
			return nil, usage("--nsec3-iterations and --nsec3-salt go with --nsec3")
		}
		for name, v := range map[string]uint{"--soa-ttl": soaTTL, "--ns-ttl": nsTTL, "--dnskey-ttl": keyTTL, "--soa-minimum": minimum} {
			if v == 0 || v > events.MaxTTL {
				return nil, usage("%s %d outside [%d, %d]", name, v, events.MinTTL, events.MaxTTL)
			}
		}
		if resign <= 0 || jitter < 0 || resign+jitter >= validity {
			return nil, usage("want --refresh > 0, --jitter >= 0 and --refresh + --jitter < --validity (%v + %v, %v)", resign, jitter, validity)
		}
		if c.zskLifetime < 0 {
			return nil, usage("--zsk-lifetime %v is negative", c.zskLifetime)
		}
		if validity < time.Hour {
			return nil, usage("--validity %v is under 1h", validity)
		}
		t := &c.template
		t.SOA.Refresh, t.SOA.Retry, t.SOA.Expire = uint32(refresh), uint32(retry), uint32(expire)
		t.SOA.Minimum, t.SOA.TTL = uint32(minimum), uint32(soaTTL)
		t.NSTTL, t.KeyTTL = uint32(nsTTL), uint32(keyTTL)
		t.NSEC3 = c.nsec3
		t.Validity, t.Refresh, t.Jitter = validity, resign, jitter
		if err := events.CheckOrigin(c.origin); err != nil {
			return nil, usage("--origin: %v", err)
		}
		if c.stream == "" {
			return nil, usage("--stream is empty")
		}
		if c.signedPrefix == "" {
			c.signedPrefix = events.SignedPrefixFor(c.prefix)
		}
		if err := events.CheckSignedPrefix(c.prefix, c.signedPrefix); err != nil {
			return nil, usage("--signed-prefix: %v", err)
		}
		if c.nats.PasswordFile == "" && c.nats.CredsFile == "" && c.nats.NkeySeedFile == "" {
			return nil, usage("the signer's NATS user needs --nats-password-file, --nats-creds-file or --nats-nkey-seed-file (or %s)",
				config.EnvName("nats-password-file"))
		}
		c.nats.Name = "zonecast-signer/" + c.origin
		return c, nil
	}
}
