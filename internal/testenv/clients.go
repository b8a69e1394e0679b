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

// Link is a private network of two namespaces of its own, for a DHCP
// server and its client: a veth pair between them (the server's end
// ServerIf addressed ServerIP, the client's NSIf up without an address),
// and a second pair between the server's namespace and the host's, for
// what the server sends to the host (kea's NameChangeRequests to D2):
// HostIP on the host's end HostIf, PeerIP on the server's. Nothing on
// either is routed anywhere else. The DHCP server's sockets, port 67
// among them, live in its own namespace: a DHCP server of the host's
// (LXD's dnsmasq) is no obstacle.
type Link struct {
	NS       string       // the client's network namespace
	NSIf     string       // interface in NS, up, without an address
	ServerNS string       // the server's network namespace
	ServerIf string       // interface in ServerNS, with ServerIP
	ServerIP netip.Prefix // e.g. 198.18.7.1/24
	HostIf   string       // interface in the host namespace, with HostIP
	HostIP   netip.Addr   // e.g. 198.19.7.1 (a /30)
	PeerIP   netip.Addr   // the server namespace's end, e.g. 198.19.7.2
	ip       string       // path of ip(8)
}

// PrivateLink creates the two namespaces and the veth pairs: the DHCP
// network is a free /24 in 198.18.0.0/16, the host link a /30 of the
// same number in 198.19.0.0/16 (RFC 2544, for benchmarking networks;
// never routed). All is removed when the test ends. Needs root and
// iproute2.
func PrivateLink(t testing.TB) *Link {
	t.Helper()
	RequireRoot(t, "creates network namespaces and veth pairs")
	ip := Tool(t, "ip", "iproute2")
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatal(err)
	}
	id := hex.EncodeToString(rnd[:3])
	l := &Link{NS: "zc-" + id + "-c", ServerNS: "zc-" + id + "-s", NSIf: "zc" + id + "c", ServerIf: "zc" + id + "s",
		HostIf: "zc" + id + "h", ip: ip}
	subnet, err := freeSubnet(int(rnd[3]))
	if err != nil {
		t.Fatal(err)
	}
	l.ServerIP = netip.PrefixFrom(subnet.Addr().Next(), 24)
	third := subnet.Addr().As4()[2]
	l.HostIP = netip.AddrFrom4([4]byte{198, 19, third, 1})
	l.PeerIP = l.HostIP.Next()

	run := func(args ...string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if out, err := exec.CommandContext(ctx, ip, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	for _, ns := range []string{l.NS, l.ServerNS} {
		if err := run("netns", "add", ns); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		// Deleting the host end deletes its peer; the namespaces, with
		// the pair between them, go last.
		_ = run("link", "del", l.HostIf)
		for _, ns := range []string{l.NS, l.ServerNS} {
			if err := run("netns", "del", ns); err != nil {
				t.Errorf("removing namespace %s: %v", ns, err)
			}
		}
	})
	peerIf := "zc" + id + "p"
	for _, args := range [][]string{
		{"link", "add", l.ServerIf, "netns", l.ServerNS, "type", "veth", "peer", "name", l.NSIf, "netns", l.NS},
		{"link", "add", l.HostIf, "type", "veth", "peer", "name", peerIf, "netns", l.ServerNS},
		{"addr", "add", netip.PrefixFrom(l.HostIP, 30).String(), "dev", l.HostIf},
		{"link", "set", l.HostIf, "up"},
		{"-n", l.ServerNS, "addr", "add", netip.PrefixFrom(l.PeerIP, 30).String(), "dev", peerIf},
		{"-n", l.ServerNS, "addr", "add", l.ServerIP.String(), "dev", l.ServerIf},
		{"-n", l.ServerNS, "link", "set", "lo", "up"},
		{"-n", l.ServerNS, "link", "set", peerIf, "up"},
		{"-n", l.ServerNS, "link", "set", l.ServerIf, "up"},
		{"-n", l.NS, "link", "set", "lo", "up"},
		{"-n", l.NS, "link", "set", l.NSIf, "up"},
	} {
		if err := run(args...); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// freeSubnet returns a /24 of 198.18.0.0/16 such that no local address
// is in it nor in the /24 of the same number in 198.19.0.0/16 (the host
// link's), trying from the start-th one.
func freeSubnet(start int) (netip.Prefix, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("listing local addresses: %w", err)
	}
	used := func(p netip.Prefix) bool {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				if ad, ok := netip.AddrFromSlice(ipn.IP); ok && p.Contains(ad.Unmap()) {
					return true
				}
			}
		}
		return false
	}
	for i := 0; i < 256; i++ {
		n := byte((start + i) % 256)
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, n, 0}), 24)
		if !used(p) && !used(netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 19, n, 0}), 24)) {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("no free /24 in 198.18.0.0/16")
}

// InNS returns the binary and arguments that run bin with args inside the
// client's namespace: `ip netns exec NS bin args...`, which execs bin, so
// the PID of the started process is bin's.
func (l *Link) InNS(bin string, args ...string) (string, []string) {
	return l.ip, append([]string{"netns", "exec", l.NS, bin}, args...)
}

// InServerNS is InNS for the server's namespace.
func (l *Link) InServerNS(bin string, args ...string) (string, []string) {
	return l.ip, append([]string{"netns", "exec", l.ServerNS, bin}, args...)
}
