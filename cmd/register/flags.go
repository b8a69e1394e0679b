package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/zonecast/zonecast/internal/claim"
	"github.com/zonecast/zonecast/internal/cli"
	"github.com/zonecast/zonecast/internal/config"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/register"
	"github.com/zonecast/zonecast/internal/rrset"
)

// defaultGateway is a gateway's default --dns-listen.
const defaultGateway = "127.0.0.1:5353"

type registerConfig struct {
	zone       string // canonical
	label      string // the label claimed
	name       string // <label>.<zone>, canonical
	gateways   []string
	stateDir   string
	filter     register.Filter
	ttl        uint32
	lease      time.Duration
	keyLease   time.Duration
	keep       bool
	timeout    time.Duration
	tcp        bool
	httpListen string
	log        cli.LogFlags
}

// parseFlags parses args, then the ZONECAST_* variables lookup finds;
// usage and flag errors go to out.
func parseFlags(args []string, lookup func(string) (string, bool), out io.Writer) (*registerConfig, error) {
	return cli.ParseConfig("zonecast-register", registerFlags, args, lookup, out)
}

// registerFlags registers the flags on fs and returns what checks them
// once parsed, given the positional arguments.
func registerFlags(fs *flag.FlagSet) func(args []string) (*registerConfig, error) {
	c := &registerConfig{}
	var (
		gateways, interfaces, prefixes config.List
		ttl                            uint
		label                          string
	)
	fs.StringVar(&c.zone, "zone", "", "the claim zone, a --claim-zone of the gateways, e.g. lan.example.com (required)")
	fs.StringVar(&label, "name", hostLabel(), "the label to claim below --zone; the default is the host name's first label, lowercased")
	fs.Var(&gateways, "gateway", "a gateway's DNS address, host:port (repeatable; each is sent every update; default "+defaultGateway+")")
	fs.StringVar(&c.stateDir, "state-dir", "/var/lib/zonecast-register", "directory of the key (K<name>+013+<tag>.key and .private); made with mode 0700")
	fs.Var(&interfaces, "interface", "only addresses of this interface, e.g. eth0 (repeatable; default: all but loopback)")
	fs.Var(&prefixes, "prefix", "only addresses inside this prefix, e.g. 2001:db8:1::/64 (repeatable; default: any)")
	fs.BoolVar(&c.filter.Temporary, "temporary", false, "also register IPv6 temporary (privacy) addresses")
	fs.UintVar(&ttl, "ttl", 300, "TTL of the A and AAAA records (a gateway lowers it to its --claim-max-ttl)")
	fs.DurationVar(&c.lease, "lease", 2*time.Hour, "the records' lease asked for (EDNS Update Lease); they are refreshed every half lease the gateway grants")
	fs.DurationVar(&c.keyLease, "key-lease", 168*time.Hour, "the claim's key lease asked for: how long the name stays this host's after its last update")
	fs.BoolVar(&c.keep, "keep", false, "on a clean stop leave the records (until their lease ends); by default they are withdrawn")
	fs.DurationVar(&c.timeout, "timeout", 2*time.Second, "how long to wait for a gateway's answer to one update")
	fs.BoolVar(&c.tcp, "tcp", false, "send over TCP only (by default UDP, and TCP for an update over 512 bytes or an answer that is truncated)")
	fs.StringVar(&c.httpListen, "http-listen", "", "address of /healthz, /readyz and /metrics, e.g. 127.0.0.1:9474; empty disables")
	c.log.Register(fs)
	return func(args []string) (*registerConfig, error) {
		usage := func(format string, args ...any) error {
			return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
		}
		if len(args) > 0 {
			return nil, usage("unexpected argument %q", args[0])
		}
		if c.zone == "" {
			return nil, usage("--zone is required (or %s)", config.EnvName("zone"))
		}
		var err error
		if c.zone, err = rrset.CanonicalName(c.zone); err != nil {
			return nil, usage("--zone: %v", err)
		}
		c.label = strings.ToLower(strings.TrimSuffix(label, "."))
		if c.label == "" {
			return nil, usage("--name is empty and the host name gives none")
		}
		c.name = c.label + "." + c.zone
		if _, err := claim.Label(c.name, c.zone); err != nil {
			return nil, usage("--name %q: %v (a claimed name is one host name label: letters, digits, hyphens)", label, err)
		}
		if len(gateways) == 0 {
			gateways = config.List{defaultGateway}
		}
		for _, g := range gateways {
			g = strings.TrimSpace(g)
			host, port, err := net.SplitHostPort(g)
			if err != nil || host == "" {
				return nil, usage("--gateway %q: want host:port, e.g. %s or [2001:db8::53]:53", g, defaultGateway)
			}
			if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
				return nil, usage("--gateway %q: port %q", g, port)
			}
			c.gateways = append(c.gateways, g)
		}
		if c.stateDir == "" {
			return nil, usage("--state-dir is empty")
		}
		c.filter.Interfaces = interfaces
		for _, p := range prefixes {
			pp, err := netip.ParsePrefix(strings.TrimSpace(p))
			if err != nil {
				return nil, usage("--prefix %q: want a prefix such as 2001:db8:1::/64 or 192.0.2.0/24", p)
			}
			c.filter.Prefixes = append(c.filter.Prefixes, pp.Masked())
		}
		if ttl < events.MinTTL || ttl > events.MaxTTL {
			return nil, usage("--ttl %d outside [%d, %d]", ttl, events.MinTTL, events.MaxTTL)
		}
		c.ttl = uint32(ttl)
		// The Update Lease option counts whole seconds.
		if c.lease < time.Second || c.lease%time.Second != 0 || c.lease > math.MaxUint32*time.Second {
			return nil, usage("--lease %v: want whole seconds, at least 1s", c.lease)
		}
		if c.keyLease < c.lease || c.keyLease%time.Second != 0 || c.keyLease > math.MaxUint32*time.Second {
			return nil, usage("--key-lease %v: want whole seconds, at least --lease (%v)", c.keyLease, c.lease)
		}
		if c.timeout <= 0 {
			return nil, usage("--timeout %v: want a positive duration", c.timeout)
		}
		return c, nil
	}
}

// hostLabel is the host name's first label, lowercased.
func hostLabel() string {
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	first, _, _ := strings.Cut(h, ".")
	return strings.ToLower(first)
}
