package testenv

// Helpers for tests with third-party clients and daemons (kea, ddclient,
// udhcpc): finding their binaries, running them with files in the test's
// own directories, and a private network link in a namespace of its own.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zonecast/zonecast/internal/testport"
)

// Strict reports whether missing tools fail tests instead of skipping them
// (ZONECAST_TEST_STRICT, set by `make test`).
func Strict() bool { return os.Getenv("ZONECAST_TEST_STRICT") != "" }

// Tool returns the path of an executable (looked up in PATH, then in
// /usr/sbin and /sbin). A missing one skips the test, or fails it under
// ZONECAST_TEST_STRICT; pkg names the Debian package that ships it.
func Tool(t testing.TB, name, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		p := dir + "/" + name
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p
		}
	}
	requireOrSkip(t, fmt.Sprintf("%s not found (Debian package %s; `scripts/deps.sh gateway` installs it)", name, pkg))
	return ""
}

// RequireRoot skips the test when not run as root, or fails it under
// ZONECAST_TEST_STRICT.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		requireOrSkip(t, "needs root: "+why)
	}
}

// RequireUDPPort skips the test when UDP port on the host is taken, or
// fails it under ZONECAST_TEST_STRICT; why says who needs it.
func RequireUDPPort(t testing.TB, port int, why string) {
	t.Helper()
	c, err := net.ListenPacket("udp4", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		requireOrSkip(t, fmt.Sprintf("UDP port %d is taken (%v): %s", port, err, why))
		return
	}
	c.Close()
}

func requireOrSkip(t testing.TB, msg string) {
	t.Helper()
	if Strict() {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// FreeUDPPort returns a port free for both UDP and TCP on 127.0.0.1 (a
// DNS listener needs both), reserved for this test binary (see
// internal/testport).
func FreeUDPPort(t testing.TB) int {
	t.Helper()
	port, err := testport.TCPUDP()
	if err != nil {
		t.Fatalf("finding a free udp port: %v", err)
	}
	return port
}

// Daemon is a third-party process a test started (kea-dhcp-ddns,
// kea-dhcp4, udhcpc): its output goes to LogPath, and it is stopped by its
// PID with SIGTERM when the test ends.
type Daemon struct {
	proc // LogPath; Running, Stop, Kill, Signal, PID, LogTail
}

// StartDaemon starts bin with args (env added to the test's environment),
// its standard output and error appended to logPath.
func StartDaemon(t testing.TB, label, logPath, bin string, args []string, env ...string) *Daemon {
	t.Helper()
	d := &Daemon{}
	d.label, d.LogPath = label, logPath
	d.spawn(t, bin, args, env...)
	d.stopAtCleanup(t, 60)
	return d
}

// WaitLog waits until the log contains substr, failing the test when the
// process exits first or timeout passes.
func (d *Daemon) WaitLog(t testing.TB, timeout time.Duration, substr string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if b, _ := os.ReadFile(d.LogPath); strings.Contains(string(b), substr) {
			return
		}
		select {
		case <-d.done:
			t.Fatalf("%s exited before logging %q:\n%s", d.label, substr, d.LogTail(40))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not log %q within %s:\n%s", d.label, substr, timeout, d.LogTail(40))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Exited waits up to timeout for the process to exit by itself.
func (d *Daemon) Exited(timeout time.Duration) bool {
	select {
	case <-d.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// Interrupt sends SIGTERM without waiting.
func (d *Daemon) Interrupt(t testing.TB) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("signalling %s: %v", d.label, err)
	}
}

// Link is a veth pair between the host's network namespace and a private
// namespace of its own: a DHCP server listens on HostIf, a client runs in
// NS on NSIf. Nothing on it is routed anywhere else.
type Link struct {
	NS     string       // network namespace name
	HostIf string       // interface in the host namespace, with HostIP
	NSIf   string       // interface in NS, up, without an address
	HostIP netip.Prefix // e.g. 198.18.7.1/24
	ip     string       // path of ip(8)
}

// PrivateLink creates a namespace and a veth pair, the host end addressed
// with the first address of a free /24 in 198.18.0.0/16 (RFC 2544, for
// benchmarking networks; never routed). Both are removed when the test
// ends. Needs root and iproute2.
func PrivateLink(t testing.TB) *Link {
	t.Helper()
	RequireRoot(t, "creates a network namespace and a veth pair")
	ip := Tool(t, "ip", "iproute2")
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatal(err)
	}
	id := hex.EncodeToString(rnd[:3])
	l := &Link{NS: "zc-" + id, HostIf: "zc" + id + "h", NSIf: "zc" + id + "c", ip: ip}
	subnet, err := freeSubnet(int(rnd[3]))
	if err != nil {
		t.Fatal(err)
	}
	l.HostIP = netip.PrefixFrom(subnet.Addr().Next(), 24)

	run := func(args ...string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if out, err := exec.CommandContext(ctx, ip, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := run("netns", "add", l.NS); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Deleting the host end deletes its peer; the namespace goes last.
		_ = run("link", "del", l.HostIf)
		if err := run("netns", "del", l.NS); err != nil {
			t.Errorf("removing namespace: %v", err)
		}
	})
	for _, args := range [][]string{
		{"link", "add", l.HostIf, "type", "veth", "peer", "name", l.NSIf, "netns", l.NS},
		{"addr", "add", l.HostIP.String(), "dev", l.HostIf},
		{"link", "set", l.HostIf, "up"},
		{"-n", l.NS, "link", "set", "lo", "up"},
		{"-n", l.NS, "link", "set", l.NSIf, "up"},
	} {
		if err := run(args...); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// freeSubnet returns a /24 of 198.18.0.0/16 that no local address is in,
// trying from the start-th one.
func freeSubnet(start int) (netip.Prefix, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("listing local addresses: %w", err)
	}
	for i := 0; i < 256; i++ {
		n := (start + i) % 256
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(n), 0}), 24)
		used := false
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				if ad, ok := netip.AddrFromSlice(ipn.IP); ok && p.Contains(ad.Unmap()) {
					used = true
				}
			}
		}
		if !used {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("no free /24 in 198.18.0.0/16")
}

// InNS returns the binary and arguments that run bin with args inside the
// namespace: `ip netns exec NS bin args...`, which execs bin, so the PID
// of the started process is bin's.
func (l *Link) InNS(bin string, args ...string) (string, []string) {
	return l.ip, append([]string{"netns", "exec", l.NS, bin}, args...)
}
