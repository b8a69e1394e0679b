package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/cli"
	"github.com/zonecast/zonecast/internal/config"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/rrset"
	"github.com/zonecast/zonecast/internal/syncer"
	"github.com/zonecast/zonecast/internal/valve"
)

type syncerConfig struct {
	zones          []string
	nodeID         string
	pdnsURL        string
	pdnsKeyFile    string
	pdnsServerID   string
	pdnsTimeout    time.Duration
	nats           *bus.ClientConfig
	natsListen     string
	stateDir       string
	stream         string
	replicas       int
	prefix         string
	reconcile      time.Duration
	batchDelay     time.Duration
	soa            syncer.SOA
	ns             []string
	httpListen     string
	cluster        clusterFlags
	usersFile      string
	statusBucket   string
	snapshotBucket string
	snapshotEvery  time.Duration
	appliedPrefix  string
	statusEvery    time.Duration
	healEvery      time.Duration
	pprof          bool
	controlPrefix  string
	localWatcher   localUser
	localGateway   localUser
	deleteLimit    valve.Policy
	approveAtStart []string
	signedRaw      config.List // --signed-zone as given
	signed         []string    // canonical signed zones, also in zones
	signedPrefix   string
	zoneBucket     string // the fleet's zone list; empty: none
	dryRun         bool
	plan, planJSON bool // zonecast-syncer plan
	ignoredLocal   bool // --local-*-password-file given with --nats-url
	log            cli.LogFlags
}

// registerFlags registers the syncer's flags on fs (with plan, those of
// plan) and returns what checks and completes them once parsed, given the
// positional arguments.
func registerFlags(fs *flag.FlagSet, plan bool) func(args []string) (*syncerConfig, error) {
	c := &syncerConfig{plan: plan, dryRun: plan}
	var zones, ns, approve, watcherZones, gatewayZones config.List
	var refresh, retry, expire, minimum, soaTTL uint
	fs.Var(&zones, "zone", "managed zone, e.g. lxd.example.com (repeatable; created in PowerDNS if missing); besides those of the zone list")
	fs.StringVar(&c.zoneBucket, "zone-bucket", bus.DefaultZoneBucket,
		"JetStream KV bucket of the fleet's zone list (zonecast-syncer zone add): its zones are managed too, and those removed from it withdrawn from; empty: no list")
	fs.Var(&c.signedRaw, "signed-zone", "managed zone served as presigned: its data, signatures and SOA come from zonecast-signer "+
		"(repeatable; PowerDNS must mark it presigned, see docs/dnssec.md)")
	fs.StringVar(&c.signedPrefix, "signed-prefix", "", "subject prefix of zonecast-signer's signed records "+
		"(default "+events.DefaultSignedPrefix+", or <--subject-prefix>-signed with another --subject-prefix, so that two fleets' streams do not overlap)")
	fs.StringVar(&c.nodeID, "node-id", hostname(), "this node's id (default: the hostname)")
	fs.StringVar(&c.pdnsURL, "pdns-url", "http://127.0.0.1:8081", "PowerDNS API base URL")
	fs.StringVar(&c.pdnsKeyFile, "pdns-api-key-file", "/etc/zonecast/pdns-api-key", "file holding the PowerDNS API key")
	fs.StringVar(&c.pdnsServerID, "pdns-server-id", "localhost", "PowerDNS server id in the API path")
	fs.DurationVar(&c.pdnsTimeout, "pdns-timeout", 30*time.Second, "timeout of one PowerDNS API request")
	c.nats = cli.NATSFlags(fs, "", "NATS server URL(s) to join; empty starts an embedded nats-server with JetStream")
	fs.StringVar(&c.natsListen, "nats-listen", "127.0.0.1:4222",
		"client address of the embedded nats-server; empty: in-process only (ignored with --nats-url)")
	fs.StringVar(&c.stateDir, "state-dir", "/var/lib/zonecast", "state directory (embedded JetStream files, generated NATS password, the claim log)")
	fs.StringVar(&c.stream, "stream", "ZONECAST", "JetStream stream name")
	fs.IntVar(&c.replicas, "stream-replicas", 0,
		"stream replicas when the syncer creates the stream (0: 3 when the embedded cluster has 3 or more nodes, else 1)")
	fs.StringVar(&c.prefix, "subject-prefix", events.DefaultSubjectPrefix, "subject prefix of record events")
	fs.DurationVar(&c.reconcile, "reconcile-interval", 5*time.Minute, "full reconciliation period (also on SIGHUP); 0 disables")
	fs.DurationVar(&c.batchDelay, "batch-delay", 2*time.Millisecond, "time to gather changes after the first one of a batch")
	fs.StringVar(&c.soa.MName, "soa-mname", "", "SOA primary name server (default: the first --ns, else ns1.<zone>)")
	fs.StringVar(&c.soa.RName, "soa-rname", "", "SOA responsible mailbox (default hostmaster.<zone>)")
	fs.UintVar(&refresh, "soa-refresh", 10800, "SOA refresh seconds")
	fs.UintVar(&retry, "soa-retry", 3600, "SOA retry seconds")
	fs.UintVar(&expire, "soa-expire", 604800, "SOA expire seconds")
	fs.UintVar(&minimum, "soa-minimum", 60, "SOA minimum (negative caching TTL) seconds")
	fs.UintVar(&soaTTL, "soa-ttl", 3600, "TTL of the SOA RRset")
	fs.Var(&ns, "ns", "apex NS of zones the syncer creates (repeatable; default: the SOA primary name server)")
	fs.StringVar(&c.httpListen, "http-listen", "127.0.0.1:9470", "address of /healthz, /readyz and /metrics; empty disables")
	fs.BoolVar(&c.pprof, "pprof", false, "also serve Go's profiler under /debug/pprof/ on --http-listen")
	c.cluster.register(fs)
	fs.StringVar(&c.usersFile, "nats-users-file", "",
		"JSON file of further NATS users of the embedded server, each confined to a role (see docs/fleet.md)")
	fs.StringVar(&c.localWatcher.passwordFile, "local-watcher-password-file", "",
		"file holding the password of user \"watcher\" of the embedded server: role source for this host's zonecast-watcher (origin: --node-id)")
	fs.Var(&watcherZones, "local-watcher-zones", "zones user \"watcher\" may publish into (repeatable; default: every --zone)")
	fs.StringVar(&c.localGateway.passwordFile, "local-gateway-password-file", "",
		"file holding the password of user \"gateway\" of the embedded server: role gateway for this host's zonecast-gateway")
	fs.Var(&gatewayZones, "local-gateway-zones", "zones user \"gateway\" may publish into (repeatable; default: every --zone)")
	fs.StringVar(&c.statusBucket, "status-bucket", "zonecast_status", "JetStream KV bucket where every syncer publishes its status")
	fs.StringVar(&c.snapshotBucket, "snapshot-bucket", bus.DefaultSnapshotBucket,
		"JetStream object store of zone snapshots: loaded at start so that only the stream after them is replayed, and stored while running; empty: no snapshots")
	fs.DurationVar(&c.snapshotEvery, "snapshot-interval", 15*time.Minute,
		"replace a zone's stored snapshot when it is this old and behind this node; 0: load snapshots but never store any")
	fs.StringVar(&c.appliedPrefix, "applied-prefix", events.DefaultAppliedPrefix, "subject prefix of the applied reports (<prefix>.<stream>.<node-id>) that gateways with --confirm wait for")
	fs.DurationVar(&c.statusEvery, "status-interval", 5*time.Second, "period of status publication (also after every applied round)")
	fs.DurationVar(&c.healEvery, "heal-interval", 10*time.Second,
		"period of the PowerDNS data-loss check (zone missing or SOA serial not the one written -> full reconciliation); 0 disables")
	fs.Float64Var(&c.deleteLimit.Share, "delete-limit-share", valve.Default.Share,
		"hold a zone's deletions when they would remove more than this share of the RRsets the syncer owns there (with --delete-limit-min and --delete-limit-window); 1 turns the limit off")
	fs.IntVar(&c.deleteLimit.Min, "delete-limit-min", valve.Default.Min,
		"deletions up to this many per zone and window are not held (unless the zone holds deletions already)")
	fs.DurationVar(&c.deleteLimit.Window, "delete-limit-window", valve.Default.Window,
		"how long written deletions count towards the delete limit")
	fs.Var(&approve, "approve-deletions", "zone whose deletions held by the start-up convergence are written anyway (repeatable; at every start: remove it once used); later ones need zonecast-syncer approve")
	if plan {
		fs.BoolVar(&c.planJSON, "json", false, "print the plan as JSON")
	} else {
		fs.BoolVar(&c.dryRun, "dry-run", false,
			"write nothing to PowerDNS (nor to the stream, the status bucket or the snapshots): log what would be created, changed and deleted")
	}
	fs.StringVar(&c.controlPrefix, "control-prefix", bus.DefaultControlPrefix,
		"subject prefix of operators' requests (<prefix>.<stream>.approve), which only admin users may send")
	c.log.Register(fs)
	return func(args []string) (*syncerConfig, error) {
		if plan {
			c.httpListen = "" // beside the running syncer, whose port it is
		}
		c.localWatcher.zones, c.localGateway.zones = watcherZones, gatewayZones
		return c.finish(fs, args, zones, ns, approve, [5]uint{refresh, retry, expire, minimum, soaTTL})
	}
}

// planArgs and planHelp are plan's usage line and help.
const (
	planArgs = "[the syncer's flags] [--json]"
	planHelp = `Writes nothing to PowerDNS, the stream or the status bucket. Takes the
syncer's own flags (or ZONECAST_* variables, e.g. from
/etc/zonecast/syncer.env): it replays the stream (from the zones'
snapshots) into the desired state, reads each zone and its ownership
record from PowerDNS, plans the full pass the syncer runs at start and at
each reconciliation, prints it, and exits. Deletions the delete limit
would hold are listed as held. Without --nats-url it joins the local
syncer's embedded server (--nats-listen, with <state-dir>/nats-password).`
)

// finish checks and completes the parsed flags of fs; args are the
// positional arguments.
func (c *syncerConfig) finish(fs *flag.FlagSet, args []string, zones, ns, approve config.List, soaNums [5]uint) (*syncerConfig, error) {
	refresh, retry, expire, minimum, soaTTL := soaNums[0], soaNums[1], soaNums[2], soaNums[3], soaNums[4]
	if len(args) > 0 {
		fs.Usage()
		return nil, fmt.Errorf("%w: unexpected argument %q", errUsage, args[0])
	}
	if len(zones) == 0 && len(c.signedRaw) == 0 && c.zoneBucket == "" {
		return nil, fmt.Errorf("%w: at least one --zone or --signed-zone is required (or ZONECAST_ZONE), or a zone list (--zone-bucket)", errUsage)
	}
	for _, z := range zones {
		cz, err := rrset.CanonicalName(z)
		if err != nil {
			return nil, fmt.Errorf("%w: --zone: %w", errUsage, err)
		}
		c.zones = append(c.zones, cz)
	}
	for _, z := range c.signedRaw {
		cz, err := rrset.CanonicalName(z)
		if err != nil {
			return nil, fmt.Errorf("%w: --signed-zone: %w", errUsage, err)
		}
		if slices.Contains(c.zones, cz) {
			return nil, fmt.Errorf("%w: zone %s given as --zone and --signed-zone", errUsage, cz)
		}
		c.zones = append(c.zones, cz)
		c.signed = append(c.signed, cz)
	}
	if c.signedPrefix == "" {
		c.signedPrefix = events.SignedPrefixFor(c.prefix)
	}
	if err := events.CheckSignedPrefix(c.prefix, c.signedPrefix); err != nil {
		return nil, fmt.Errorf("%w: --signed-prefix: %w", errUsage, err)
	}
	for _, n := range ns {
		cn, err := rrset.CanonicalName(n)
		if err != nil {
			return nil, fmt.Errorf("%w: --ns: %w", errUsage, err)
		}
		c.ns = append(c.ns, cn)
	}
	for _, p := range []*string{&c.soa.MName, &c.soa.RName} {
		if *p == "" {
			continue
		}
		cn, err := rrset.CanonicalName(*p)
		if err != nil {
			return nil, fmt.Errorf("%w: SOA name: %w", errUsage, err)
		}
		*p = cn
	}
	c.soa.Refresh, c.soa.Retry, c.soa.Expire = uint32(refresh), uint32(retry), uint32(expire)
	c.soa.Minimum, c.soa.TTL = uint32(minimum), uint32(soaTTL)
	c.nodeID = sanitizeNode(c.nodeID)
	if err := events.CheckOrigin(c.nodeID); err != nil {
		return nil, fmt.Errorf("%w: --node-id: %w", errUsage, err)
	}
	if c.replicas < 0 || c.replicas > 5 {
		return nil, fmt.Errorf("%w: --stream-replicas must be 1 to 5 (0: automatic)", errUsage)
	}
	if c.snapshotEvery < 0 {
		return nil, fmt.Errorf("%w: --snapshot-interval may not be negative", errUsage)
	}
	if c.appliedPrefix == "" {
		return nil, fmt.Errorf("%w: --applied-prefix may not be empty", errUsage)
	}
	if err := c.deleteLimit.Check(); err != nil {
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	for _, z := range approve {
		// A zone of the zone list is checked once the list is read.
		cz, err := rrset.CanonicalName(z)
		if err != nil || (c.zoneBucket == "" && !slices.Contains(c.zones, cz)) {
			return nil, fmt.Errorf("%w: --approve-deletions %s: not one of the --zone zones", errUsage, z)
		}
		c.approveAtStart = append(c.approveAtStart, cz)
	}
	if c.controlPrefix == "" {
		return nil, fmt.Errorf("%w: --control-prefix may not be empty", errUsage)
	}
	for _, lu := range []*localUser{&c.localWatcher, &c.localGateway} {
		if lu.passwordFile == "" {
			if len(lu.zones) > 0 {
				return nil, fmt.Errorf("%w: --local-*-zones without its --local-*-password-file", errUsage)
			}
			continue
		}
		if c.nats.URL != "" {
			// Users of the embedded server, which does not run: the
			// packaged unit sets them for every syncer.
			lu.passwordFile, lu.zones, c.ignoredLocal = "", nil, true
			continue
		}
		zs := lu.zones
		lu.zones = nil
		for _, z := range zs {
			cz, err := rrset.CanonicalName(z)
			if err != nil {
				return nil, fmt.Errorf("%w: --local-*-zones: %w", errUsage, err)
			}
			lu.zones = append(lu.zones, cz)
		}
		if len(lu.zones) == 0 {
			lu.zones = c.zones
		}
	}
	if err := c.cluster.check(c.nats.URL != ""); err != nil {
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	if c.replicas == 0 {
		c.replicas = 1
		if c.nats.URL == "" && c.cluster.listen != "" {
			c.replicas = bus.DefaultReplicas(len(c.cluster.routes))
		}
	}
	return c, nil
}

// isEmptyFile reports whether path is a file holding nothing but blanks.
func isEmptyFile(path string) bool {
	b, err := os.ReadFile(path)
	return err == nil && len(strings.TrimSpace(string(b))) == 0
}

// localUser is a user of the embedded server for a daemon of this host.
type localUser struct {
	passwordFile string
	zones        []string
}

// sanitizeNode maps a host name to the token form node ids take:
// lowercase, dots as dashes.
func sanitizeNode(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), ".", "-")
}

// clusterFlags configure the embedded server's cluster and TLS.
type clusterFlags struct {
	listen, name, advertise, user, passwordFile string
	routes                                      config.List
	tlsCert, tlsKey, tlsCA                      string
	srvCert, srvKey, srvCA                      string
}

func (c *clusterFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.listen, "nats-cluster-listen", "",
		"route address of the embedded nats-server, e.g. 10.0.0.1:6222; empty: no cluster")
	fs.Var(&c.routes, "nats-routes", "route URL of another fleet node, nats-route://host:6222 (repeatable)")
	fs.StringVar(&c.name, "nats-cluster-name", bus.DefaultClusterName, "cluster name, the same on every node")
	fs.StringVar(&c.advertise, "nats-cluster-advertise", "", "route address advertised to peers (default: --nats-cluster-listen)")
	fs.StringVar(&c.user, "nats-cluster-user", "zonecast-route", "user name of cluster routes (the same on every node)")
	fs.StringVar(&c.passwordFile, "nats-cluster-password-file", "",
		"file holding the cluster route password, the same on every node (required with --nats-cluster-listen unless route TLS is set)")
	fs.StringVar(&c.tlsCert, "nats-cluster-tls-cert", "", "certificate of this node for mutual TLS on routes")
	fs.StringVar(&c.tlsKey, "nats-cluster-tls-key", "", "key of --nats-cluster-tls-cert")
	fs.StringVar(&c.tlsCA, "nats-cluster-tls-ca", "", "CA that signed every node's route certificate")
	fs.StringVar(&c.srvCert, "nats-server-tls-cert", "", "certificate of the embedded server's client listener (enables TLS)")
	fs.StringVar(&c.srvKey, "nats-server-tls-key", "", "key of --nats-server-tls-cert")
	fs.StringVar(&c.srvCA, "nats-server-tls-ca", "", "CA of client certificates: clients must then present one")
}

func (c *clusterFlags) check(external bool) error {
	if c.listen == "" {
		if len(c.routes) > 0 {
			return errors.New("--nats-routes needs --nats-cluster-listen")
		}
		return nil
	}
	if external {
		return errors.New("--nats-cluster-listen is for the embedded server; it cannot go with --nats-url")
	}
	if c.passwordFile == "" && c.tlsCert == "" {
		return errors.New("--nats-cluster-listen needs --nats-cluster-password-file (or route TLS)")
	}
	if _, err := bus.ParseRoutes(c.routes); err != nil {
		return fmt.Errorf("--nats-routes: %v", err)
	}
	return nil
}

// config returns the bus cluster configuration, reading the password.
func (c *clusterFlags) config() (*bus.ClusterConfig, error) {
	if c.listen == "" {
		return nil, nil
	}
	cc := &bus.ClusterConfig{Name: c.name, Listen: c.listen, Advertise: c.advertise, Routes: c.routes,
		TLSCertFile: c.tlsCert, TLSKeyFile: c.tlsKey, TLSCAFile: c.tlsCA}
	if c.passwordFile != "" {
		pw, err := config.ReadSecret(c.passwordFile)
		switch {
		case err != nil && c.tlsCert != "" && isEmptyFile(c.passwordFile):
			// Routes authenticated by TLS alone: the packaged unit
			// passes the (empty) password file anyway.
		case err != nil:
			return nil, fmt.Errorf("reading the cluster password: %w", err)
		default:
			cc.User, cc.Password = c.user, pw
		}
	}
	return cc, nil
}
