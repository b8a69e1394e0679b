package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/zonecast/zonecast/internal/account"
	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/claim"
	"github.com/zonecast/zonecast/internal/cli"
	"github.com/zonecast/zonecast/internal/config"
	"github.com/zonecast/zonecast/internal/confirm"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/gwstore"
	"github.com/zonecast/zonecast/internal/rrset"
)

type gatewayConfig struct {
	zones                   []string
	nodeID                  string
	nats                    *bus.ClientConfig
	stream, prefix, bucket  string
	zoneBucket              string // the fleet's zone list; empty: none
	kvReplicas              int
	dnsListen, dyndnsListen string
	dyndnsCert, dyndnsKey   string
	dyndnsRate              float64
	dyndnsBurst             int
	httpListen              string
	pprof                   bool
	confirm                 confirm.Mode
	confirmTimeout          time.Duration
	publishTimeout          time.Duration
	confirmStale            time.Duration
	statusBucket            string
	appliedPrefix           string
	claims                  *claim.Policy // nil: no --claim-zone
	web                     webFlags
	log                     cli.LogFlags
}

// webFlags are the flags of the web page (--web-listen, internal/web).
type webFlags struct {
	listen         string
	cert, key      string
	sessionTTL     time.Duration
	signup         bool
	signupZones    []string // canonical
	signupQuota    int
	dyndnsURL      string // checked; derived from --dyndns-listen when not given
	signupZoneList config.List
}

// claimFlags are the flags of --claim-zone, checked into a claim.Policy.
type claimFlags struct {
	zones, from, reserved, types config.List
	anywhere                     bool
	maxTTL                       uint
	lease, keyLease              time.Duration
	perSubnet                    int
}

// parseFlags parses args, then the ZONECAST_* variables lookup finds;
// usage and flag errors go to out.
func parseFlags(args []string, lookup func(string) (string, bool), out io.Writer) (*gatewayConfig, error) {
	return cli.ParseConfig("zonecast-gateway", registerFlags, args, lookup, out)
}

// registerFlags registers the gateway's flags on fs and returns what
// checks and completes them once parsed, given the positional arguments.
func registerFlags(fs *flag.FlagSet) func(args []string) (*gatewayConfig, error) {
	c := &gatewayConfig{}
	var zones config.List
	fs.Var(&zones, "zone", "zone the gateway accepts updates for, e.g. dyn.example.com (repeatable; at least one)")
	fs.StringVar(&c.nodeID, "node-id", hostname(), "this gateway's id, for logs")
	c.nats = cli.NATSFlags(fs, "nats://127.0.0.1:4222", "NATS server URL(s), comma separated")
	fs.StringVar(&c.stream, "stream", bus.DefaultStreamName, "JetStream stream name (created by zonecast-syncer, never by the gateway)")
	fs.StringVar(&c.prefix, "subject-prefix", events.DefaultSubjectPrefix, "subject prefix of record events")
	fs.StringVar(&c.zoneBucket, "zone-bucket", bus.DefaultZoneBucket,
		"JetStream KV bucket of the fleet's zone list (zonecast-syncer zone add): once it holds entries, updates go only into the --zone zones it lists (NOTAUTH for the others, docs/zones.md); empty: no list")
	fs.StringVar(&c.bucket, "bucket", gwstore.DefaultBucket, "JetStream key-value bucket of TSIG keys and dyndns hosts (created if missing)")
	fs.IntVar(&c.kvReplicas, "bucket-replicas", 1, "replicas of the bucket when the gateway creates it")
	fs.StringVar(&c.dnsListen, "dns-listen", "127.0.0.1:5353", "address for DNS UPDATE, UDP and TCP")
	fs.StringVar(&c.dyndnsListen, "dyndns-listen", "", "address of the dyndns2 HTTP endpoint /nic/update, e.g. 127.0.0.1:8245; empty disables")
	fs.StringVar(&c.dyndnsCert, "dyndns-tls-cert", "", "certificate (PEM) to serve dyndns2 over HTTPS")
	fs.StringVar(&c.dyndnsKey, "dyndns-tls-key", "", "key (PEM) of --dyndns-tls-cert")
	fs.Float64Var(&c.dyndnsRate, "dyndns-rate", 0.1, "dyndns updates per second allowed per host name (sustained)")
	fs.IntVar(&c.dyndnsBurst, "dyndns-burst", 3, "dyndns updates per host name allowed in a burst")
	fs.StringVar(&c.httpListen, "http-listen", "127.0.0.1:9472", "address of /healthz, /readyz and /metrics; empty disables")
	fs.BoolVar(&c.pprof, "pprof", false, "also serve Go's profiler under /debug/pprof/ on --http-listen")
	var mode string
	fs.StringVar(&mode, "confirm", "none", "when to answer NOERROR: none = once JetStream stored the change; all = once every live syncer of the zone applied it too; any = once one did")
	fs.DurationVar(&c.publishTimeout, "publish-timeout", 5*time.Second, "longest wait for JetStream to store an update, sending it again through a leader election of the stream; then the answer is SERVFAIL (dyndns: 911), nothing stored")
	fs.DurationVar(&c.confirmTimeout, "confirm-timeout", confirm.DefaultTimeout, "with --confirm all|any: longest wait for the syncers; then the answer is SERVFAIL (dyndns: 911), the change staying stored")
	fs.DurationVar(&c.confirmStale, "confirm-stale", confirm.DefaultStaleAfter, "with --confirm all|any: a syncer not heard from for this long is not waited for")
	fs.StringVar(&c.statusBucket, "status-bucket", bus.DefaultStatusBucket, "JetStream KV bucket of the syncers' status (with --confirm all|any)")
	fs.StringVar(&c.appliedPrefix, "applied-prefix", events.DefaultAppliedPrefix, "subject prefix of the syncers' applied reports (zonecast-syncer --applied-prefix; with --confirm all|any)")
	var cf claimFlags
	fs.Var(&cf.zones, "claim-zone", "zone whose names machines claim for themselves, first come, with SIG(0)-signed updates that add their KEY (repeatable; also a --zone); see docs/register.md")
	fs.Var(&cf.from, "claim-from", "with --claim-zone: subnet claims are accepted from, e.g. 192.0.2.0/24 (repeatable; default: anywhere)")
	fs.BoolVar(&cf.anywhere, "claim-updates-from-anywhere", false, "with --claim-from: accept the updates of a name already claimed from any address")
	fs.Var(&cf.reserved, "claim-reserved", "with --claim-zone: a label nobody may claim, e.g. www (repeatable)")
	fs.Var(&cf.types, "claim-types", "with --claim-zone: the record types a claimed name may publish (repeatable; default A and AAAA)")
	fs.UintVar(&cf.maxTTL, "claim-max-ttl", uint(claim.DefaultMaxTTL), "with --claim-zone: TTLs above this are lowered to it, and the reply says so")
	fs.DurationVar(&cf.lease, "claim-lease", claim.DefaultLease, "with --claim-zone: a claimed name's records expire this long after its last update (or sooner, if the update's EDNS Update Lease asks)")
	fs.DurationVar(&cf.keyLease, "claim-key-lease", claim.DefaultKeyLease, "with --claim-zone: a claim lapses this long after its last update, and the name is free again (at least --claim-lease)")
	fs.IntVar(&cf.perSubnet, "claim-per-subnet", 0, "with --claim-zone: the most live claims made from one /24 or /64 (0: no limit)")
	fs.StringVar(&c.web.listen, "web-listen", "", "address of the web page where users manage their dyndns hosts, e.g. 127.0.0.1:8080; empty disables (docs/web.md)")
	fs.StringVar(&c.web.cert, "web-cert-file", "", "certificate (PEM) to serve the web page over HTTPS")
	fs.StringVar(&c.web.key, "web-key-file", "", "key (PEM) of --web-cert-file")
	fs.DurationVar(&c.web.sessionTTL, "web-session-ttl", 12*time.Hour, "how long a login to the web page lasts")
	fs.BoolVar(&c.web.signup, "web-signup", false, "let people make their own account on the web page (off: the operator makes them)")
	fs.Var(&c.web.signupZoneList, "web-signup-zones", "with --web-signup: the zones a new account may add hosts in (repeatable; each a --zone)")
	fs.IntVar(&c.web.signupQuota, "web-signup-quota", account.DefaultQuota, "with --web-signup: the most hosts a new account may own")
	fs.StringVar(&c.web.dyndnsURL, "web-dyndns-url", "", "public URL of the dyndns2 endpoint, for the web page's client configurations, e.g. https://dyn.example.net (default: from --dyndns-listen)")
	c.log.Register(fs)
	return func(args []string) (*gatewayConfig, error) {
		c, err := c.check(args, append(zones, cf.zones...), mode)
		if err != nil {
			return nil, err
		}
		if c.claims, err = cf.policy(); err != nil {
			return nil, fmt.Errorf("%w: %v", cli.ErrUsage, err)
		}
		return c, nil
	}
}

// policy checks the claim flags; nil without --claim-zone.
func (cf claimFlags) policy() (*claim.Policy, error) {
	if len(cf.zones) == 0 {
		if len(cf.from) > 0 || len(cf.reserved) > 0 || len(cf.types) > 0 || cf.anywhere {
			return nil, errors.New("--claim-from, --claim-reserved, --claim-types and --claim-updates-from-anywhere need a --claim-zone")
		}
		return nil, nil
	}
	p := claim.Policy{Zones: slices.Clone(cf.zones), Reserved: slices.Clone(cf.reserved), Types: slices.Clone(cf.types),
		UpdatesFromAnywhere: cf.anywhere, Lease: cf.lease, KeyLease: cf.keyLease, PerSubnet: cf.perSubnet}
	if cf.maxTTL < 1 || cf.maxTTL > events.MaxTTL {
		return nil, fmt.Errorf("--claim-max-ttl %d: want 1 to %d", cf.maxTTL, events.MaxTTL)
	}
	p.MaxTTL = uint32(cf.maxTTL)
	for _, s := range cf.from {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("--claim-from %q: want a subnet such as 192.0.2.0/24", s)
		}
		p.Subnets = append(p.Subnets, pfx.Masked())
	}
	if cf.anywhere && len(p.Subnets) == 0 {
		return nil, errors.New("--claim-updates-from-anywhere needs --claim-from")
	}
	if cf.lease <= 0 || cf.keyLease <= 0 {
		return nil, errors.New("--claim-lease and --claim-key-lease must be positive")
	}
	v, err := p.Validate()
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// check checks and completes the parsed flags; zones and mode are those
// of --zone and --confirm.
func (c *gatewayConfig) check(args, zones []string, mode string) (*gatewayConfig, error) {
	usage := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", cli.ErrUsage, fmt.Sprintf(format, args...))
	}
	if len(args) > 0 {
		return nil, usage("unexpected argument %q", args[0])
	}
	if len(zones) == 0 {
		return nil, usage("at least one --zone or --claim-zone is required (or %s)", config.EnvName("zone"))
	}
	for _, z := range zones {
		cz, err := rrset.CanonicalName(z)
		if err != nil || strings.Contains(cz, "*") {
			return nil, usage("--zone %q: not a zone name", z)
		}
		if !slices.Contains(c.zones, cz) { // a --claim-zone may be a --zone too
			c.zones = append(c.zones, cz)
		}
	}
	m, err := confirm.ParseMode(mode)
	if err != nil {
		return nil, usage("%v", err)
	}
	c.confirm = m
	if c.publishTimeout <= 0 {
		return nil, usage("--publish-timeout must be positive")
	}
	if c.confirmTimeout <= 0 || c.confirmStale <= 0 {
		return nil, usage("--confirm-timeout and --confirm-stale must be positive")
	}
	if (c.dyndnsCert == "") != (c.dyndnsKey == "") {
		return nil, usage("--dyndns-tls-cert and --dyndns-tls-key go together")
	}
	if c.dyndnsRate <= 0 || c.dyndnsBurst <= 0 {
		return nil, usage("--dyndns-rate and --dyndns-burst must be positive")
	}
	if c.stream == "" || c.dnsListen == "" || c.appliedPrefix == "" {
		return nil, usage("--stream, --dns-listen and --applied-prefix may not be empty")
	}
	if err := c.checkWeb(); err != nil {
		return nil, usage("%v", err)
	}
	cli.LocalAuthDefaults(c.nats)
	c.nats.Name = "zonecast-gateway/" + c.nodeID
	return c, nil
}

// checkWeb checks the web page's flags and derives --web-dyndns-url.
func (c *gatewayConfig) checkWeb() error {
	w := &c.web
	if (w.cert == "") != (w.key == "") {
		return errors.New("--web-cert-file and --web-key-file go together")
	}
	if w.sessionTTL < time.Minute {
		return errors.New("--web-session-ttl must be at least 1m")
	}
	if w.signupQuota < 1 {
		return errors.New("--web-signup-quota must be at least 1")
	}
	for _, z := range w.signupZoneList {
		cz, err := rrset.CanonicalName(z)
		if err != nil || !slices.Contains(c.zones, cz) {
			return fmt.Errorf("--web-signup-zones %q: not a --zone of the gateway", z)
		}
		w.signupZones = append(w.signupZones, cz)
	}
	if len(w.signupZones) > 0 && !w.signup {
		return errors.New("--web-signup-zones needs --web-signup")
	}
	if w.dyndnsURL == "" {
		w.dyndnsURL = dyndnsURL(c.dyndnsListen, c.dyndnsCert != "")
	} else {
		u, err := url.Parse(w.dyndnsURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.User != nil {
			return fmt.Errorf("--web-dyndns-url %q: want http(s)://host[:port][/path]", w.dyndnsURL)
		}
	}
	return nil
}

// dyndnsURL is the URL of the dyndns2 endpoint a gateway listening on
// listen serves: the clients reach an unspecified address (0.0.0.0, [::])
// under the host's name. Empty without --dyndns-listen.
func dyndnsURL(listen string, tls bool) string {
	if listen == "" {
		return ""
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return ""
	}
	if ip, err := netip.ParseAddr(host); host == "" || err == nil && ip.IsUnspecified() {
		if host, err = os.Hostname(); err != nil || host == "" {
			host = "localhost"
		}
	}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	if port == "80" && !tls || port == "443" && tls {
		return scheme + "://" + hostPort(host, "")
	}
	return scheme + "://" + hostPort(host, port)
}

func hostPort(host, port string) string {
	if port == "" {
		if strings.Contains(host, ":") {
			return "[" + host + "]"
		}
		return host
	}
	return net.JoinHostPort(host, port)
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return strings.ReplaceAll(strings.ToLower(h), ".", "-")
}
