package testenv

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
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
	Opts       GatewayOptions
	DNSAddr    string // 127.0.0.1:PORT, UDP and TCP
	DyndnsAddr string // 127.0.0.1:PORT or ""
	HTTPAddr   string
	LogPath    string
	natsURL    string
	pwFile     string
	cmd        *exec.Cmd
	done       chan struct{}
}

// freeUDPTCP returns a port free for both UDP and TCP on 127.0.0.1.
func freeUDPTCP(t testing.TB) int {
	t.Helper()
	for i := 0; i < 50; i++ {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		pc.Close()
		if err == nil {
			ln.Close()
			return port
		}
	}
	t.Fatal("no free udp+tcp port")
	return 0
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
	s := opts.Syncer
	g := &Gateway{Opts: opts, LogPath: filepath.Join(opts.Dir, "gateway.log")}
	g.natsURL, g.pwFile = fmt.Sprintf("nats://127.0.0.1:%d", s.NATSPort), s.PasswordFile
	if s.Opts.NATS != nil {
		g.natsURL, g.pwFile = s.Opts.NATS.URL, s.Opts.NATS.PasswordFile
	}
	g.DNSAddr = fmt.Sprintf("127.0.0.1:%d", freeUDPTCP(t))
	g.HTTPAddr = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	if opts.Dyndns {
		g.DyndnsAddr = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	}
	g.Start(t)
	t.Cleanup(func() {
		g.stop(syscall.SIGTERM)
		if t.Failed() {
			t.Logf("zonecast-gateway log (%s):\n%s", g.LogPath, g.LogTail(80))
		}
	})
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
	logf, err := os.OpenFile(g.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(Binary(t, "gateway"), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting zonecast-gateway: %v", err)
	}
	g.cmd = cmd
	g.done = make(chan struct{})
	go func() { _ = cmd.Wait(); close(g.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if g.Ready() {
			return
		}
		select {
		case <-g.done:
			t.Fatalf("zonecast-gateway exited during start:\n%s", g.LogTail(40))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("zonecast-gateway not ready after 30s:\n%s", g.LogTail(40))
		}
		time.Sleep(20 * time.Millisecond)
	}
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

// Ready reports whether /readyz answers 200.
func (g *Gateway) Ready() bool {
	resp, err := http.Get("http://" + g.HTTPAddr + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Running reports whether the process is still running.
func (g *Gateway) Running() bool {
	select {
	case <-g.done:
		return false
	default:
		return true
	}
}

// Stop sends SIGTERM and waits for the process to exit.
func (g *Gateway) Stop(t testing.TB) {
	t.Helper()
	if !g.stop(syscall.SIGTERM) {
		t.Fatalf("zonecast-gateway did not stop on SIGTERM:\n%s", g.LogTail(20))
	}
}

func (g *Gateway) stop(sig syscall.Signal) bool {
	if g.cmd == nil {
		return true
	}
	select {
	case <-g.done:
		return true
	default:
	}
	_ = g.cmd.Process.Signal(sig)
	select {
	case <-g.done:
		return true
	case <-time.After(20 * time.Second):
		_ = g.cmd.Process.Kill()
		<-g.done
		return false
	}
}

// LogTail returns the last n lines of the process log.
func (g *Gateway) LogTail(n int) string {
	b, _ := os.ReadFile(g.LogPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Metric returns one sample of the gateway's /metrics (0 when missing).
func (g *Gateway) Metric(t testing.TB, sample string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + g.HTTPAddr + "/metrics")
	if err != nil {
		t.Fatalf("reading gateway metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("metric %s: %v", sample, err)
			}
			return f
		}
	}
	return 0
}
