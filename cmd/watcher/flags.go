package main

import (
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/cli"
	"github.com/zonecast/zonecast/internal/config"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/instance"
	"github.com/zonecast/zonecast/internal/lxdwatch"
)

type watcherConfig struct {
	mapping    instance.Config
	follow     lxdwatch.Options
	lxd        lxdwatch.ConnectConfig
	nats       *bus.ClientConfig
	stream     string
	prefix     string
	zoneBucket string // the fleet's zone list; empty: none
	httpListen string
	pprof      bool
	log        cli.LogFlags
}

// parseFlags parses args, then the ZONECAST_* variables lookup finds; usage
// and flag errors go to out.
func parseFlags(args []string, lookup func(string) (string, bool), out io.Writer) (*watcherConfig, error) {
	return cli.ParseConfig("zonecast-watcher", registerFlags, args, lookup, out)
}

// registerFlags registers the watcher's flags on fs and returns what
// checks and completes them once parsed, given the positional arguments.
func registerFlags(fs *flag.FlagSet) func(args []string) (*watcherConfig, error) {
	c := &watcherConfig{}
	var (
		zones, projects, nics, allow, deny, reverse config.List
		ipv4, ipv6, acme, dryRun                    bool
		ttl                                         uint
		nodeID                                      string
	)
	fs.Var(&zones, "zone", "zone the instances are published in, e.g. lxd.example.com (repeatable; at least one)")
	fs.StringVar(&nodeID, "node-id", hostname(), "this host's id, the origin of its records; the default is the hostname, lowercased, dots as dashes")
	c.nats = cli.NATSFlags(fs, "nats://127.0.0.1:4222", "NATS server URL(s), comma separated")
	fs.Lookup("nats-password-file").Usage = "file holding the NATS password (default: " + cli.DefaultPasswordFile +
		" if it exists, which a local zonecast-syncer generates)"
	fs.StringVar(&c.stream, "stream", bus.DefaultStreamName, "JetStream stream name (created by zonecast-syncer, never by the watcher)")
	fs.StringVar(&c.prefix, "subject-prefix", events.DefaultSubjectPrefix, "subject prefix of record events")
	fs.StringVar(&c.zoneBucket, "zone-bucket", bus.DefaultZoneBucket,
		"JetStream KV bucket of the fleet's zone list (zonecast-syncer zone add): once it holds entries, records go only into the --zone and --reverse-zone zones it lists, the others are skipped (docs/zones.md); empty: no list")
	fs.StringVar(&c.lxd.Socket, "lxd-socket", "", "LXD unix socket (default: $LXD_SOCKET, else $LXD_DIR/unix.socket, else the first of "+strings.Join(lxdwatch.SocketPaths, ", ")+" that exists)")
	fs.StringVar(&c.lxd.URL, "lxd-url", "", "remote LXD over HTTPS, e.g. https://lxd1.example.com:8443 (instead of the socket)")
	fs.StringVar(&c.lxd.CertFile, "lxd-cert", "", "client certificate (PEM) for --lxd-url, trusted by that LXD")
	fs.StringVar(&c.lxd.KeyFile, "lxd-key", "", "client key (PEM) for --lxd-url")
	fs.StringVar(&c.lxd.ServerCertFile, "lxd-server-cert", "", "the LXD server's certificate (PEM) for --lxd-url (default: trust the system CAs)")
	fs.Var(&projects, "project", "LXD project to follow (repeatable; default: all projects)")
	fs.StringVar(&c.mapping.ProjectTemplate, "name-template", instance.DefaultProjectTemplate,
		"name of instances of projects other than default, before .<zone>: {instance}, {project} and fixed labels;\n\"{instance}\" maps every project flat")
	fs.BoolVar(&ipv4, "ipv4", true, "publish A records of IPv4 addresses (--ipv4=false: none)")
	fs.BoolVar(&ipv6, "ipv6", true, "publish AAAA records of global IPv6 addresses (--ipv6=false: none)")
	fs.Var(&nics, "nic", "only addresses of this interface, as named inside the instance, e.g. eth0 (repeatable; default: all but lo)")
	fs.Var(&allow, "allow-cidr", "only addresses inside this prefix, e.g. 2001:db8:1::/64 (repeatable; default: all)")
	fs.Var(&deny, "deny-cidr", "never addresses inside this prefix, e.g. 10.0.0.0/8 (repeatable; wins over --allow-cidr)")
	fs.UintVar(&ttl, "ttl", instance.DefaultTTL, "TTL of the records (an instance may override it with user.zonecast.ttl)")
	fs.BoolVar(&acme, "acme-challenge-ns", false, "also publish _acme-challenge.<name> NS <name> for every name with addresses")
	fs.Var(&reverse, "reverse-zone", "ip6.arpa or in-addr.arpa zone: publish a PTR for each address inside it (repeatable)")
	fs.DurationVar(&c.follow.PollInterval, "poll-interval", lxdwatch.DefaultPollInterval,
		"period of the full poll of all instances (catches address changes, which LXD sends no event for)")
	fs.DurationVar(&c.follow.Lease, "lease", lxdwatch.DefaultLease,
		"records expire this long after the watcher last refreshed them (it refreshes every lease/3)")
	fs.StringVar(&c.httpListen, "http-listen", "127.0.0.1:9471", "address of /healthz, /readyz and /metrics; empty disables")
	fs.BoolVar(&c.pprof, "pprof", false, "also serve Go's profiler under /debug/pprof/ on --http-listen")
	c.log.Register(fs)
	fs.BoolVar(&dryRun, "dry-run", false, "log what would be published and publish nothing (no NATS connection)")
	return func(args []string) (*watcherConfig, error) {
		if len(args) > 0 {
			return nil, fmt.Errorf("%w: unexpected argument %q", errUsage, args[0])
		}
		usage := func(format string, args ...any) error {
			return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
		}
		if len(zones) == 0 {
			return nil, usage("at least one --zone is required (or %s)", config.EnvName("zone"))
		}
		m := &c.mapping
		m.Zones = zones
		m.Origin = sanitizeNode(nodeID)
		m.NoA, m.NoAAAA = !ipv4, !ipv6
		m.NICs = nics
		m.TTL = uint32(ttl)
		if ttl == 0 || ttl > events.MaxTTL {
			return nil, usage("--ttl %d outside [%d, %d]", ttl, events.MinTTL, events.MaxTTL)
		}
		m.ACMEChallengeNS = acme
		m.ReverseZones = reverse
		var err error
		if m.Allow, err = parsePrefixes("--allow-cidr", allow); err != nil {
			return nil, usage("%v", err)
		}
		if m.Deny, err = parsePrefixes("--deny-cidr", deny); err != nil {
			return nil, usage("%v", err)
		}
		checked, err := m.Check()
		if err != nil {
			return nil, usage("%v", err)
		}
		c.mapping = checked

		c.follow.Projects = projects
		c.follow.DryRun = dryRun
		if c.follow.PollInterval < 100*time.Millisecond {
			return nil, usage("--poll-interval %v is under 100ms", c.follow.PollInterval)
		}
		if c.follow.Lease < time.Second {
			return nil, usage("--lease %v is under 1s (JetStream message TTLs are whole seconds)", c.follow.Lease)
		}
		if c.lxd.URL == "" && (c.lxd.CertFile != "" || c.lxd.KeyFile != "" || c.lxd.ServerCertFile != "") {
			return nil, usage("--lxd-cert, --lxd-key and --lxd-server-cert go with --lxd-url")
		}
		if c.lxd.URL != "" {
			if c.lxd.Socket != "" {
				return nil, usage("give --lxd-socket or --lxd-url, not both")
			}
			if c.lxd.CertFile == "" || c.lxd.KeyFile == "" {
				return nil, usage("--lxd-url needs --lxd-cert and --lxd-key")
			}
		}
		c.lxd.UserAgent = "zonecast-watcher/" + version
		if c.stream == "" {
			return nil, usage("--stream is empty")
		}
		cli.LocalAuthDefaults(c.nats)
		c.nats.Name = "zonecast-watcher/" + m.Origin
		return c, nil
	}
}

func parsePrefixes(flagName string, vs []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(vs))
	for _, v := range vs {
		p, err := netip.ParsePrefix(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("%s %q: want a prefix such as 2001:db8::/64 or 10.0.0.0/8", flagName, v)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}

// sanitizeNode maps a host name to the token form node ids take:
// lowercase, dots as dashes.
func sanitizeNode(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), ".", "-")
}
