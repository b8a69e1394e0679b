package testenv

// Helpers for tests with third-party clients and daemons (kea, ddclient,
// udhcpc): finding their binaries, running them with files in the test's
// own directories, and a private network link in a namespace of its own.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/zonecast/zonecast/internal/bus"
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
	requireOrSkip(t, fmt.Sprintf("%s not found (Debian package %s; `scripts/deps.sh all` installs it)", name, pkg))
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

// Link is a private network of namespaces of its own, for a DHCP server
// and its clients: the server's namespace holds a bridge (ServerIf,
// addressed ServerIP) with a veth pair to each client's namespace (the
// client's end up without an address), and a second pair to the host's
// namespace, for what the server sends to the host (kea's
// NameChangeRequests to D2): HostIP on the host's end HostIf, PeerIP on
// the server's. Nothing on it is routed anywhere else. The DHCP server's
// sockets, port 67 among them, live in its own namespace: a DHCP server
// of the host's (LXD's dnsmasq) is no obstacle.
type Link struct {
	ServerNS string       // the server's network namespace
	ServerIf string       // the bridge in ServerNS, with ServerIP
	ServerIP netip.Prefix // e.g. 198.18.7.1/24
	HostIf   string       // interface in the host namespace, with HostIP
	HostIP   netip.Addr   // e.g. 198.19.7.1 (a /30)
	PeerIP   netip.Addr   // the server namespace's end, e.g. 198.19.7.2
	id       string
	clients  int
	t        testing.TB
	ip       string // path of ip(8)
}

// DHCPClient is one client's namespace on a Link: its interface If is up,
// without an address, on the server's bridge.
type DHCPClient struct {
	NS string
	If string
	ip string
}

// PrivateLink creates the server's namespace, its bridge and its link to
// the host: the DHCP network is a free /24 in 198.18.0.0/16, the host
// link a /30 of the same number in 198.19.0.0/16 (RFC 2544, for
// benchmarking networks; never routed). All is removed when the test
// ends. Needs root and iproute2.
func PrivateLink(t testing.TB) *Link {
	t.Helper()
	RequireRoot(t, "creates network namespaces and veth pairs")
	ip := Tool(t, "ip", "iproute2")
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatal(err)
	}
	id := hex.EncodeToString(rnd[:3])
	l := &Link{ServerNS: "zc-" + id + "-s", ServerIf: "br0", HostIf: "zc" + id + "h", id: id, t: t, ip: ip}
	subnet, err := freeSubnet(int(rnd[3]))
	if err != nil {
		t.Fatal(err)
	}
	l.ServerIP = netip.PrefixFrom(subnet.Addr().Next(), 24)
	third := subnet.Addr().As4()[2]
	l.HostIP = netip.AddrFrom4([4]byte{198, 19, third, 1})
	l.PeerIP = l.HostIP.Next()

	l.addNS(l.ServerNS)
	l.run(
		[]string{"link", "add", l.HostIf, "type", "veth", "peer", "name", "host", "netns", l.ServerNS},
		[]string{"addr", "add", netip.PrefixFrom(l.HostIP, 30).String(), "dev", l.HostIf},
		[]string{"link", "set", l.HostIf, "up"},
		[]string{"-n", l.ServerNS, "addr", "add", netip.PrefixFrom(l.PeerIP, 30).String(), "dev", "host"},
		[]string{"-n", l.ServerNS, "link", "set", "host", "up"},
		[]string{"-n", l.ServerNS, "link", "add", l.ServerIf, "type", "bridge"},
		[]string{"-n", l.ServerNS, "addr", "add", l.ServerIP.String(), "dev", l.ServerIf},
		[]string{"-n", l.ServerNS, "link", "set", l.ServerIf, "up"},
	)
	// Deleting the host's end deletes its peer; the namespaces, with
	// what is in them, go when the test ends (addNS).
	t.Cleanup(func() { _ = l.ipCmd("link", "del", l.HostIf) })
	return l
}

// Client adds a client's namespace on the bridge, with a MAC address of
// its own (a DHCP server tells clients apart by it).
func (l *Link) Client() *DHCPClient {
	l.t.Helper()
	l.clients++
	c := &DHCPClient{NS: fmt.Sprintf("zc-%s-c%d", l.id, l.clients), If: "eth0", ip: l.ip}
	l.addNS(c.NS)
	port := fmt.Sprintf("c%d", l.clients)
	l.run(
		[]string{"-n", l.ServerNS, "link", "add", port, "type", "veth", "peer", "name", c.If, "netns", c.NS},
		[]string{"-n", l.ServerNS, "link", "set", port, "master", l.ServerIf},
		[]string{"-n", l.ServerNS, "link", "set", port, "up"},
		[]string{"-n", c.NS, "link", "set", "lo", "up"},
		[]string{"-n", c.NS, "link", "set", c.If, "up"},
	)
	return c
}

// addNS creates a network namespace, with its loopback up, and deletes it
// when the test ends.
func (l *Link) addNS(ns string) {
	l.t.Helper()
	l.run([]string{"netns", "add", ns})
	l.t.Cleanup(func() {
		if err := l.ipCmd("netns", "del", ns); err != nil {
			l.t.Errorf("removing namespace %s: %v", ns, err)
		}
	})
	l.run([]string{"-n", ns, "link", "set", "lo", "up"})
}

func (l *Link) run(cmds ...[]string) {
	l.t.Helper()
	for _, args := range cmds {
		if err := l.ipCmd(args...); err != nil {
			l.t.Fatal(err)
		}
	}
}

func (l *Link) ipCmd(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, l.ip, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
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

// In returns the binary and arguments that run bin with args inside the
// client's namespace: `ip netns exec NS bin args...`, which execs bin, so
// the PID of the started process is bin's.
func (c *DHCPClient) In(bin string, args ...string) (string, []string) {
	return c.ip, append([]string{"netns", "exec", c.NS, bin}, args...)
}

// InServerNS is In for the server's namespace.
func (l *Link) InServerNS(bin string, args ...string) (string, []string) {
	return l.ip, append([]string{"netns", "exec", l.ServerNS, bin}, args...)
}

// UsersFile writes a users file (docs/fleet.md) of users, all with one
// new password, and returns the file and the password's file.
func UsersFile(t testing.TB, users ...bus.UserSpec) (usersFile, pwFile string) {
	t.Helper()
	dir := t.TempDir()
	pwFile = filepath.Join(dir, "role-password")
	pw, err := bus.EnsurePassword(pwFile)
	if err != nil {
		t.Fatal(err)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for i := range users {
		users[i].PasswordHash = string(h)
	}
	doc, err := json.Marshal(map[string][]bus.UserSpec{"users": users})
	if err != nil {
		t.Fatal(err)
	}
	usersFile = filepath.Join(dir, "users.json")
	if err := os.WriteFile(usersFile, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	return usersFile, pwFile
}
