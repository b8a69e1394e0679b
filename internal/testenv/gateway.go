package testenv

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// GatewayOptions configures a zonecast-gateway process.
type GatewayOptions struct {
	// Syncer whose NATS (embedded, or the one it joined) the gateway uses.
	Syncer *Syncer
	Zones  []string
	Dyndns bool     // serve dyndns2 on a free port
	Dir    string   // log directory, default a new temp dir
	Extra  []string // further flags
}

// Gateway is a running zonecast-gateway process.
type Gateway struct {
	proc       // HTTPAddr, LogPath; Ready, Running, Stop, Kill, Signal, PID, LogTail, Metric
	Opts       GatewayOptions
	DNSAddr    string // 127.0.0.1:PORT, UDP and TCP
	DyndnsAddr string // 127.0.0.1:PORT or ""
	natsURL    string
	pwFile     string
}

// StartGateway starts zonecast-gateway against the syncer's NATS and waits
// until /readyz answers. It is stopped with SIGTERM when the test ends.
func StartGateway(t testing.TB, opts GatewayOptions) *Gateway {
	t.Helper()
	if opts.Syncer == nil {
		t.Fatal("StartGateway: no syncer")
	}
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	g := &Gateway{Opts: opts}
	g.label = "zonecast-gateway"
	g.LogPath = filepath.Join(opts.Dir, "gateway.log")
	g.natsURL, g.pwFile = opts.Syncer.natsClient()
	g.DNSAddr = fmt.Sprintf("127.0.0.1:%d", FreeUDPPort(t))
	g.HTTPAddr = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	if opts.Dyndns {
		g.DyndnsAddr = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	}
	g.Start(t)
	g.stopAtCleanup(t, 80)
	return g
}

func (g *Gateway) natsArgs() []string {
	return []string{"--nats-url", g.natsURL, "--nats-password-file", g.pwFile}
}

// Start (re)starts the process with the same options and ports.
func (g *Gateway) Start(t testing.TB) {
	t.Helper()
	args := append(g.natsArgs(), "--dns-listen", g.DNSAddr, "--http-listen", g.HTTPAddr,
		"--node-id", "test-gateway", "--log-level", "debug")
	if g.DyndnsAddr != "" {
		args = append(args, "--dyndns-listen", g.DyndnsAddr)
	}
	for _, z := range g.Opts.Zones {
		args = append(args, "--zone", z)
	}
	args = append(args, g.Opts.Extra...)
	g.start(t, Binary(t, "gateway"), args)
}

// Admin runs `zonecast-gateway ARGS...` (key, host, token commands)
// against the same NATS and returns its standard output.
func (g *Gateway) Admin(t testing.TB, args ...string) string {
	t.Helper()
	out, err := g.TryAdmin(args...)
	if err != nil {
		t.Fatalf("zonecast-gateway %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// TryAdmin is Admin returning the error (with standard error) instead.
func (g *Gateway) TryAdmin(args ...string) (string, error) {
	all := append(append([]string{}, args...), g.natsArgs()...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, g.binary(), all...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w: %s", err, stderr.String())
	}
	return stdout.String(), nil
}

func (g *Gateway) binary() string { return g.cmd.Path }
