package main

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/cli"
	"github.com/zonecast/zonecast/internal/config"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/rrset"
	"github.com/zonecast/zonecast/internal/syncer"
)

type syncerConfig struct {
	zones        []string
	nodeID       string
	pdnsURL      string
	pdnsKeyFile  string
	pdnsServerID string
	pdnsTimeout  time.Duration
	nats         *bus.ClientConfig
	natsListen   string
	stateDir     string
	stream       string
	replicas     int
	prefix       string
	reconcile    time.Duration
	batchDelay   time.Duration
	soa          syncer.SOA
	ns           []string
	httpListen   string
	pprof        bool
	log          cli.LogFlags
}

func parseSyncerFlags(args []string) (*syncerConfig, error) {
	fs := flag.NewFlagSet("zonecast-syncer", flag.ContinueOnError)
	c := &syncerConfig{}
	var zones, ns config.List
	var refresh, retry, expire, minimum, soaTTL uint
	fs.Var(&zones, "zone", "managed zone, e.g. lxd.example.com (repeatable; created in PowerDNS if missing)")
	fs.StringVar(&c.nodeID, "node-id", hostname(), "this node's id (default: the hostname)")
	fs.StringVar(&c.pdnsURL, "pdns-url", "http://127.0.0.1:8081", "PowerDNS API base URL")
	fs.StringVar(&c.pdnsKeyFile, "pdns-api-key-file", "/etc/zonecast/pdns-api-key", "file holding the PowerDNS API key")
	fs.StringVar(&c.pdnsServerID, "pdns-server-id", "localhost", "PowerDNS server id in the API path")
	fs.DurationVar(&c.pdnsTimeout, "pdns-timeout", 30*time.Second, "timeout of one PowerDNS API request")
	c.nats = cli.NATSFlags(fs, "", "NATS server URL(s) to join; empty starts an embedded nats-server with JetStream")
	fs.StringVar(&c.natsListen, "nats-listen", "127.0.0.1:4222",
		"client address of the embedded nats-server; empty: in-process only (ignored with --nats-url)")
	fs.StringVar(&c.stateDir, "state-dir", "/var/lib/zonecast", "state directory (embedded JetStream files, generated NATS password)")
	fs.StringVar(&c.stream, "stream", "ZONECAST", "JetStream stream name")
	fs.IntVar(&c.replicas, "stream-replicas", 1, "stream replicas when the syncer creates the stream")
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
	c.log.Register(fs)
	fs.Usage = config.Usage(fs, `zonecast-syncer: replay the zonecast record stream into the local PowerDNS and follow it.

Usage:
  zonecast-syncer [flags]            run the syncer
  zonecast-syncer publish [flags]    put a record event on the stream (see publish --help)
  zonecast-syncer --version`)
	if err := config.Parse(fs, args); err != nil {
		if err == flag.ErrHelp {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return nil, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if len(zones) == 0 {
		return nil, fmt.Errorf("%w: at least one --zone is required (or ZONECAST_ZONE)", errUsage)
	}
	for _, z := range zones {
		cz, err := rrset.CanonicalName(z)
		if err != nil {
			return nil, fmt.Errorf("%w: --zone: %v", errUsage, err)
		}
		c.zones = append(c.zones, cz)
	}
	for _, n := range ns {
		cn, err := rrset.CanonicalName(n)
		if err != nil {
			return nil, fmt.Errorf("%w: --ns: %v", errUsage, err)
		}
		c.ns = append(c.ns, cn)
	}
	for _, p := range []*string{&c.soa.MName, &c.soa.RName} {
		if *p == "" {
			continue
		}
		cn, err := rrset.CanonicalName(*p)
		if err != nil {
			return nil, fmt.Errorf("%w: SOA name: %v", errUsage, err)
		}
		*p = cn
	}
	c.soa.Refresh, c.soa.Retry, c.soa.Expire = uint32(refresh), uint32(retry), uint32(expire)
	c.soa.Minimum, c.soa.TTL = uint32(minimum), uint32(soaTTL)
	c.nodeID = sanitizeNode(c.nodeID)
	if err := events.CheckOrigin(c.nodeID); err != nil {
		return nil, fmt.Errorf("%w: --node-id: %v", errUsage, err)
	}
	if c.replicas < 1 || c.replicas > 5 {
		return nil, fmt.Errorf("%w: --stream-replicas must be 1 to 5", errUsage)
	}
	return c, nil
}

// sanitizeNode maps a host name to the token form node ids take:
// lowercase, dots as dashes.
func sanitizeNode(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), ".", "-")
}
