package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
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
			NATSPort: FreePort(t), HTTPAddr: fmt.Sprintf("127.0.0.1:%d", FreePort(t)),
			PasswordFile: filepath.Join(stateDir, "nats-password"), LogPath: filepath.Join(stateDir, "syncer.log")}
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
		t.Cleanup(func() {
			n.stop(syscall.SIGTERM)
			if t.Failed() {
				t.Logf("zonecast-syncer %s log (%s):\n%s", n.ID, n.LogPath, n.LogTail(60))
			}
		})
	}
	for _, n := range f.Nodes {
		n.WaitReady(t, 90*time.Second)
	}
	return f
}

// launch starts the node's syncer process without waiting.
func (n *FleetNode) launch(t testing.TB) {
	t.Helper()
	logf, err := os.OpenFile(n.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(Binary(t, "syncer"), n.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "ZONECAST_RECONCILE_INTERVAL=1h")
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting zonecast-syncer %s: %v", n.ID, err)
	}
	n.cmd = cmd
	n.done = make(chan struct{})
	done := n.done
	go func() { _ = cmd.Wait(); close(done) }()
	if n.nc != nil {
		n.nc.Close()
		n.nc, n.js = nil, nil
	}
}

// WaitReady waits until the node's /readyz answers 200.
func (n *FleetNode) WaitReady(t testing.TB, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !n.ready() {
		select {
		case <-n.done:
			t.Fatalf("zonecast-syncer %s exited during start:\n%s", n.ID, n.LogTail(40))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("zonecast-syncer %s not ready after %s:\n%s", n.ID, timeout, n.LogTail(40))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Launch starts the node again (after Kill or Stop) without waiting.
func (n *FleetNode) Launch(t testing.TB) { t.Helper(); n.launch(t) }

// PID is the syncer's process id (0 if not started).
func (n *FleetNode) PID() int {
	if n.cmd == nil || n.cmd.Process == nil {
		return 0
	}
	return n.cmd.Process.Pid
}

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
		if contains(skip, n) || !n.running() {
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

func (n *FleetNode) running() bool {
	if n.done == nil {
		return false
	}
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

func contains(list []*FleetNode, n *FleetNode) bool {
	for _, x := range list {
		if x == n {
			return true
		}
	}
	return false
}
