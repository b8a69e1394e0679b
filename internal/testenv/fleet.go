package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/testpdns"
)

// FleetOptions configures a fleet of syncers whose embedded nats-servers
// form one cluster on loopback.
type FleetOptions struct {
	Nodes   int      // default 3
	Zones   []string // managed zones of every node
	Backend string   // PowerDNS backend, default gsqlite3
	Extra   []string // further flags of every syncer
}

// Fleet is a running fleet: one PowerDNS and one syncer (with its
// clustered embedded NATS) per node.
type Fleet struct {
	Nodes               []*FleetNode
	ClusterPasswordFile string
}

// FleetNode is one node of a fleet.
type FleetNode struct {
	*Syncer
	ID        string
	RoutePort int
	args      []string
}

// StartFleet starts PowerDNS and a clustered syncer on every node, all at
// once (a JetStream cluster needs a quorum before any node is ready), and
// waits until every syncer is ready.
func StartFleet(t testing.TB, opts FleetOptions) *Fleet {
	t.Helper()
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	if opts.Backend == "" {
		opts.Backend = "gsqlite3"
	}
	dir := t.TempDir()
	f := &Fleet{ClusterPasswordFile: filepath.Join(dir, "cluster-password")}
	if _, err := bus.EnsurePassword(f.ClusterPasswordFile); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < opts.Nodes; i++ {
		p := testpdns.Start(t, opts.Backend)
		stateDir := t.TempDir()
		n := &FleetNode{ID: fmt.Sprintf("n%d", i+1), RoutePort: FreePort(t)}
		n.Syncer = &Syncer{Opts: SyncerOptions{Zones: opts.Zones, PDNS: p, StateDir: stateDir, Extra: opts.Extra},
			NATSPort: FreePort(t), PasswordFile: filepath.Join(stateDir, "nats-password"),
			proc: proc{label: "zonecast-syncer " + n.ID, HTTPAddr: fmt.Sprintf("127.0.0.1:%d", FreePort(t)),
				LogPath: filepath.Join(stateDir, "syncer.log")}}
		f.Nodes = append(f.Nodes, n)
	}
	for _, n := range f.Nodes {
		keyFile := filepath.Join(n.Opts.StateDir, "pdns-api-key")
		if err := os.WriteFile(keyFile, []byte(n.Opts.PDNS.APIKey+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		n.args = []string{
			"--pdns-url", n.Opts.PDNS.APIURL, "--pdns-api-key-file", keyFile,
			"--state-dir", n.Opts.StateDir, "--http-listen", n.HTTPAddr,
			"--nats-listen", fmt.Sprintf("127.0.0.1:%d", n.NATSPort),
			"--node-id", n.ID, "--log-level", "debug",
			"--nats-cluster-listen", fmt.Sprintf("127.0.0.1:%d", n.RoutePort),
			"--nats-cluster-password-file", f.ClusterPasswordFile,
		}
		for _, o := range f.Nodes {
			if o != n {
				n.args = append(n.args, "--nats-routes", fmt.Sprintf("nats-route://127.0.0.1:%d", o.RoutePort))
			}
		}
		for _, z := range opts.Zones {
			n.args = append(n.args, "--zone", z)
		}
		n.args = append(n.args, opts.Extra...)
	}
	for _, n := range f.Nodes {
		n.launch(t)
		n.stopAtCleanup(t, 60)
	}
	for _, n := range f.Nodes {
		n.WaitReady(t, 90*time.Second)
	}
	return f
}

// launch starts the node's syncer process without waiting.
func (n *FleetNode) launch(t testing.TB) {
	t.Helper()
	n.spawn(t, Binary(t, "syncer"), n.args, "ZONECAST_RECONCILE_INTERVAL=1h")
	if n.nc != nil {
		n.nc.Close()
		n.nc, n.js = nil, nil
	}
}

// WaitReady waits until the node's /readyz answers 200.
func (n *FleetNode) WaitReady(t testing.TB, timeout time.Duration) {
	t.Helper()
	n.waitReady(t, timeout)
}

// Launch starts the node again (after Kill or Stop) without waiting.
func (n *FleetNode) Launch(t testing.TB) { t.Helper(); n.launch(t) }

// Node returns the fleet node whose id is id.
func (f *Fleet) Node(id string) *FleetNode {
	for _, n := range f.Nodes {
		if n.ID == id {
			return n
		}
	}
	return nil
}

// StreamInfo reads the record stream's info through any node that
// answers (node order), with its cluster leader and replicas.
func (f *Fleet) StreamInfo(t testing.TB, skip ...*FleetNode) (*jetstream.StreamInfo, error) {
	t.Helper()
	var lastErr error
	for _, n := range f.Nodes {
		if contains(skip, n) || !n.Running() {
			continue
		}
		_, js := n.NATS(t)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := js.Stream(ctx, bus.DefaultStreamName)
		if err == nil {
			var info *jetstream.StreamInfo
			info, err = st.Info(ctx)
			if err == nil {
				cancel()
				return info, nil
			}
		}
		cancel()
		lastErr = err
	}
	return nil, fmt.Errorf("no node answered stream info: %w", lastErr)
}

func contains(list []*FleetNode, n *FleetNode) bool {
	for _, x := range list {
		if x == n {
			return true
		}
	}
	return false
}
