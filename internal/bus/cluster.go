package bus

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
)

// DefaultClusterName is the cluster name of embedded servers unless set.
const DefaultClusterName = "zonecast"

// ClusterConfig joins an embedded server to a cluster of embedded servers
// (one per syncer): JetStream then replicates the record stream across
// them. Every node lists the others (or some of them) as routes; the
// cluster gossips the rest.
type ClusterConfig struct {
	// Name is the cluster name, the same on every node (default
	// DefaultClusterName).
	Name string
	// Listen is the route address of this node, e.g. "10.0.0.1:6222".
	Listen string
	// Advertise, if set, is the route address other nodes are told to use
	// (behind NAT); default: Listen.
	Advertise string
	// Routes are the other nodes' route URLs, nats-route://host:port (a
	// node's own address may be listed too: the server ignores it).
	// Credentials in the URLs are replaced by User and Password.
	Routes []string
	// User and Password authenticate routes in both directions: every node
	// of the cluster has the same pair. Empty means unauthenticated routes,
	// which is refused unless routes use mutual TLS.
	User, Password string
	// TLSCertFile, TLSKeyFile and TLSCAFile enable mutual TLS on routes:
	// every node presents its certificate and verifies its peers' against
	// the CA.
	TLSCertFile, TLSKeyFile, TLSCAFile string
}

// ParseRoutes validates route URLs: scheme nats-route (or nats), a host
// and a port. It returns them without credentials.
func ParseRoutes(routes []string) ([]*url.URL, error) {
	out := make([]*url.URL, 0, len(routes))
	for _, r := range routes {
		u, err := url.Parse(strings.TrimSpace(r))
		if err != nil {
			return nil, fmt.Errorf("parsing route %q: %w", r, err)
		}
		if u.Scheme != "nats-route" && u.Scheme != "nats" && u.Scheme != "tls" {
			return nil, fmt.Errorf("route %q: scheme must be nats-route", r)
		}
		host, port, err := net.SplitHostPort(u.Host)
		if err != nil || host == "" {
			return nil, fmt.Errorf("route %q: want nats-route://host:port", r)
		}
		if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
			return nil, fmt.Errorf("route %q: bad port", r)
		}
		u.User = nil
		u.Path, u.RawQuery, u.Fragment = "", "", ""
		out = append(out, u)
	}
	return out, nil
}

func applyCluster(opts *server.Options, c ClusterConfig) error {
	if c.Name == "" {
		c.Name = DefaultClusterName
	}
	if opts.ServerName == "" {
		return errors.New("a clustered server needs a name (the node id)")
	}
	if c.Listen == "" {
		return errors.New("a clustered server needs a route listen address")
	}
	if (c.User == "") != (c.Password == "") {
		return errors.New("cluster user and password go together")
	}
	tlsRoutes := c.TLSCertFile != ""
	if c.User == "" && !tlsRoutes {
		return errors.New("cluster routes must be authenticated: set a cluster password (or route TLS)")
	}
	host, portStr, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("parsing cluster listen address %q: %w", c.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 {
		return fmt.Errorf("bad port in cluster listen address %q", c.Listen)
	}
	routes, err := ParseRoutes(c.Routes)
	if err != nil {
		return err
	}
	for _, r := range routes {
		if c.User != "" {
			// Routes this node solicits authenticate with the shared pair;
			// routes learnt by gossip use opts.Cluster.Username/Password.
			r.User = url.UserPassword(c.User, c.Password)
		}
	}
	opts.Cluster = server.ClusterOpts{
		Name:           c.Name,
		Host:           host,
		Port:           port,
		Username:       c.User,
		Password:       c.Password, // plain: the server also sends it when it connects to gossiped peers
		Advertise:      c.Advertise,
		ConnectRetries: -1, // keep trying peers that are down (they restart)
		ConnectBackoff: true,
	}
	if tlsRoutes {
		if c.TLSKeyFile == "" || c.TLSCAFile == "" {
			return errors.New("route TLS needs a certificate, a key and a CA")
		}
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{
			CertFile: c.TLSCertFile, KeyFile: c.TLSKeyFile, CaFile: c.TLSCAFile, Verify: true,
		})
		if err != nil {
			return fmt.Errorf("loading route TLS files: %w", err)
		}
		opts.Cluster.TLSConfig = tc
		opts.Cluster.TLSTimeout = 5
	}
	opts.Routes = routes
	return nil
}

func applyClientTLS(opts *server.Options, cfg ServerConfig) error {
	if cfg.TLSCertFile == "" && cfg.TLSKeyFile == "" {
		if cfg.TLSCAFile != "" {
			return errors.New("client TLS CA given without a server certificate")
		}
		return nil
	}
	if cfg.TLSCertFile == "" || cfg.TLSKeyFile == "" {
		return errors.New("client TLS certificate and key go together")
	}
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{
		CertFile: cfg.TLSCertFile, KeyFile: cfg.TLSKeyFile, CaFile: cfg.TLSCAFile, Verify: cfg.TLSCAFile != "",
	})
	if err != nil {
		return fmt.Errorf("loading client TLS files: %w", err)
	}
	opts.TLSConfig = tc
	opts.TLS = true
	opts.TLSVerify = cfg.TLSCAFile != ""
	opts.TLSTimeout = 5
	return nil
}

// DefaultReplicas is the stream replica count a node picks when none is
// configured: 3 once the cluster has at least three nodes (this one and
// its routes), else 1.
func DefaultReplicas(routes int) int {
	if 1+routes >= 3 {
		return 3
	}
	return 1
}
