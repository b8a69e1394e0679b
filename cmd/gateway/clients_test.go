package main

// Tests with real clients no one here wrote (issue 6): kea's DHCPv4 server
// and its DHCP-DDNS daemon (D2), and ddclient. Each drives the real
// zonecast-gateway binary; two real zonecast-syncers write what it
// publishes to two real PowerDNS servers (gsqlite3 and lmdb), checked with
// dig.
//
// Route taken for kea: the whole chain. A busybox udhcpc in a private
// network namespace obtains a lease from kea-dhcp4 in another
// (testenv.PrivateLink: 198.18.N.0/24 between them, nothing routed beyond
// it), which sends its NameChangeRequests over a /30 to kea-dhcp-ddns on
// the host, which sends TSIG-signed RFC 2136 UPDATEs to the gateway.
// kea-dhcp4's port 67 is its namespace's own, so the test runs as well
// beside a running LXD, whose dnsmasq holds the host's.
// It is what a site running kea does, and it needs nothing but root and
// three Debian packages, so no hand-made NameChangeRequest stands in for
// kea-dhcp4: the release and the expiry of a lease are kea's own.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zonecast/zonecast/internal/testenv"
	"github.com/zonecast/zonecast/internal/testpdns"
)

// newClientEnv is newEnv with other zones: NATS, a syncer on gsqlite3 and
// one on lmdb, a gateway with dyndns2.
func newClientEnv(t *testing.T, zones ...string) *env {
	t.Helper()
	nats := testenv.StartNATS(t)
	e := &env{}
	for _, backend := range []string{"gsqlite3", "lmdb"} {
		p := testpdns.Start(t, backend)
		s := testenv.StartSyncer(t, testenv.SyncerOptions{Zones: zones, PDNS: p, NATS: nats})
		e.pdns = append(e.pdns, p)
		if e.sync == nil {
			e.sync = s
		}
	}
	e.gw = testenv.StartGateway(t, testenv.GatewayOptions{Syncer: e.sync, Zones: zones, Dyndns: true})
	return e
}

// waitNXDOMAIN waits until every PowerDNS answers NXDOMAIN for name.
func (e *env) waitNXDOMAIN(t *testing.T, name, typ string) {
	t.Helper()
	for i, p := range e.pdns {
		var got string
		testenv.Eventually(t, 15*time.Second, fmt.Sprintf("pdns %d: %s %s NXDOMAIN (last %v)", i, name, typ, &got), func() bool {
			got = p.DigStatus(t, name, typ)
			return got == "NXDOMAIN"
		})
	}
}

// reverseZone returns the in-addr.arpa zone of a /24.
func reverseZone(p netip.Prefix) string {
	b := p.Masked().Addr().As4()
	return fmt.Sprintf("%d.%d.%d.in-addr.arpa.", b[2], b[1], b[0])
}

func ptrName(a netip.Addr) string {
	b := a.As4()
	return fmt.Sprintf("%d.%d.%d.%d.in-addr.arpa.", b[3], b[2], b[1], b[0])
}

// writeJSON writes v as a kea configuration file, mode 0600 (D2's holds
// the TSIG secret: kea 2.2 has no secret-file).
func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

type obj = map[string]any

// keaLoggers sends a kea daemon's log to its standard output (the
// Daemon's log file), at debug level so that a failure shows the packets.
func keaLoggers(name string) []obj {
	return []obj{{"name": name, "severity": "DEBUG", "debuglevel": 50,
		"output_options": []obj{{"output": "stdout", "flush": true}}}}
}

// keaEnv gives kea its pid and lock files in dir instead of /run/kea.
func keaEnv(dir string) []string {
	return []string{"KEA_PIDFILE_DIR=" + dir, "KEA_LOCKFILE_DIR=" + dir, "KEA_LOGGER_DESTINATION=stdout"}
}

// startD2 starts kea-dhcp-ddns on listen:port, sending updates for
// zones to the gateway, signed with key ("alg:name:secret").
func startD2(t *testing.T, dir, key, gwAddr string, listen netip.Addr, port int, fwd, rev string) *testenv.Daemon {
	t.Helper()
	bin := testenv.Tool(t, "kea-dhcp-ddns", "kea-dhcp-ddns-server")
	parts := strings.SplitN(key, ":", 3)
	gw, err := netip.ParseAddrPort(gwAddr)
	if err != nil {
		t.Fatal(err)
	}
	servers := []obj{{"ip-address": gw.Addr().String(), "port": gw.Port()}}
	domain := func(name string) obj {
		return obj{"ddns-domains": []obj{{"name": name, "key-name": parts[1], "dns-servers": servers}}}
	}
	conf := filepath.Join(dir, "kea-dhcp-ddns.conf")
	writeJSON(t, conf, obj{"DhcpDdns": obj{
		"ip-address":         listen.String(),
		"port":               port,
		"dns-server-timeout": 2000,
		"ncr-protocol":       "UDP",
		"ncr-format":         "JSON",
		"tsig-keys":          []obj{{"name": parts[1], "algorithm": strings.ToUpper(parts[0]), "secret": parts[2]}},
		"forward-ddns":       domain(fwd),
		"reverse-ddns":       domain(rev),
		"loggers":            keaLoggers("kea-dhcp-ddns"),
	}})
	d := testenv.StartDaemon(t, "kea-dhcp-ddns", filepath.Join(dir, "kea-dhcp-ddns.log"), bin,
		[]string{"-c", conf}, keaEnv(dir)...)
	d.WaitLog(t, 15*time.Second, "DHCP_DDNS_STARTED")
	return d
}

// startDHCP4 starts kea-dhcp4 in the server namespace of link, on its
// DHCP interface only, leasing for 10 minutes, or as little as 4 s to a
// client that asks (option 51), with DDNS through D2 on the host's end of
// the link, port d2Port. Conflict
// resolution (RFC 4703) is off: it would make D2 send DHCID records, a
// type zonecast does not carry (the gateway answers REFUSED).
func startDHCP4(t *testing.T, dir string, link *testenv.Link, d2Port int, suffix string) *testenv.Daemon {
	t.Helper()
	bin := testenv.Tool(t, "kea-dhcp4", "kea-dhcp4-server")
	subnet := link.ServerIP.Masked()
	base := subnet.Addr().As4()
	pool := fmt.Sprintf("%d.%d.%d.100 - %d.%d.%d.150", base[0], base[1], base[2], base[0], base[1], base[2])
	conf := filepath.Join(dir, "kea-dhcp4.conf")
	writeJSON(t, conf, obj{"Dhcp4": obj{
		"interfaces-config": obj{"interfaces": []string{link.ServerIf + "/" + link.ServerIP.Addr().String()}, "dhcp-socket-type": "raw"},
		"lease-database":    obj{"type": "memfile", "persist": true, "name": filepath.Join(dir, "leases4.csv"), "lfc-interval": 0},
		"valid-lifetime":    600, "min-valid-lifetime": 4, "max-valid-lifetime": 600,
		"expired-leases-processing": obj{"reclaim-timer-wait-time": 1, "flush-reclaimed-timer-wait-time": 0,
			"hold-reclaimed-time": 0, "max-reclaim-leases": 0, "max-reclaim-time": 0},
		"dhcp-ddns": obj{"enable-updates": true, "server-ip": link.HostIP.String(), "server-port": d2Port,
			"sender-ip": link.PeerIP.String(), "sender-port": 0, "ncr-protocol": "UDP", "ncr-format": "JSON"},
		"ddns-qualifying-suffix": suffix,
		"subnet4":                []obj{{"id": 1, "subnet": subnet.String(), "pools": []obj{{"pool": pool}}}},
		"loggers":                keaLoggers("kea-dhcp4"),
	}})
	bin, args := link.InServerNS(bin, "-c", conf)
	d := testenv.StartDaemon(t, "kea-dhcp4", filepath.Join(dir, "kea-dhcp4.log"), bin, args, keaEnv(dir)...)
	d.WaitLog(t, 15*time.Second, "DHCP4_STARTED")
	return d
}

// udhcpcScript configures the leased address on the interface (udhcpc
// sends its DHCPRELEASE from it) and writes it to leaseFile.
const udhcpcScript = `#!%[1]s sh
case "$1" in
deconfig) %[1]s ip -4 addr flush dev "$interface" ;;
bound|renew)
	%[1]s ip -4 addr flush dev "$interface"
	%[1]s ip addr add "$ip/$mask" dev "$interface"
	echo "$ip" >%[2]s.tmp && mv %[2]s.tmp %[2]s ;;
esac
`

// startUdhcpc runs busybox udhcpc in a new client namespace on link,
// sending hostname (option 12) and further options (e.g. "lease:6"); with
// -R it releases its lease on SIGTERM. It returns the daemon and the
// leased address. Each client has a MAC address of its own, from which
// kea derives its DHCID. label names its files.
func startUdhcpc(t *testing.T, dir string, link *testenv.Link, label, hostname string, opts ...string) (*testenv.Daemon, netip.Addr) {
	t.Helper()
	busybox := testenv.Tool(t, "busybox", "busybox-static")
	client := link.Client()
	leaseFile := filepath.Join(dir, label+".lease")
	script := filepath.Join(dir, "udhcpc-"+label+".sh")
	if err := os.WriteFile(script, []byte(fmt.Sprintf(udhcpcScript, busybox, leaseFile)), 0o700); err != nil {
		t.Fatal(err)
	}
	args := []string{"udhcpc", "-f", "-R", "-i", client.If, "-s", script, "-t", "20", "-T", "1", "-A", "1", "-x", "hostname:" + hostname}
	for _, o := range opts {
		args = append(args, "-x", o)
	}
	bin, args := client.In(busybox, args...)
	d := testenv.StartDaemon(t, "udhcpc "+label, filepath.Join(dir, "udhcpc-"+label+".log"), bin, args)
	var addr netip.Addr
	testenv.Eventually(t, 30*time.Second, "a lease for "+label, func() bool {
		b, err := os.ReadFile(leaseFile)
		if err != nil {
			return false
		}
		addr, err = netip.ParseAddr(strings.TrimSpace(string(b)))
		return err == nil
	})
	if !link.ServerIP.Masked().Contains(addr) {
		t.Fatalf("%s leased %s, outside %s", label, addr, link.ServerIP.Masked())
	}
	return d, addr
}

// keaChain starts the whole chain but the DHCP clients: the private
// link, two PowerDNS with their syncers, the gateway with a key for kea,
// D2 and kea-dhcp4, both with kea's defaults for DDNS (RFC 4703 conflict
// resolution on). It returns the environment, the link and the directory
// of the logs, which are shown when the test fails.
func keaChain(t *testing.T) (*env, *testenv.Link, string) {
	t.Helper()
	link := testenv.PrivateLink(t) // first: skips (or fails under make test) without root
	for _, tool := range [][2]string{{"kea-dhcp-ddns", "kea-dhcp-ddns-server"}, {"kea-dhcp4", "kea-dhcp4-server"}, {"busybox", "busybox-static"}} {
		testenv.Tool(t, tool[0], tool[1])
	}
	rev := reverseZone(link.ServerIP)
	e := newClientEnv(t, zone, rev)
	// Scoped as docs/gateway.md suggests for kea: names below the zones,
	// A and PTR (and so DHCID).
	key := e.addKey(t, "kea", "--algorithm", "hmac-sha256", "--zone", zone, "--zone", rev,
		"--name", "*."+zone, "--name", "*."+rev, "--type", "A", "--type", "PTR")
	dir := t.TempDir()
	d2Port := testenv.FreeUDPPort(t)
	startD2(t, dir, key, e.gw.DNSAddr, link.HostIP, d2Port, zone, rev)
	startDHCP4(t, dir, link, d2Port, zone)
	return e, link, dir
}

// waitDHCID waits until every PowerDNS serves one DHCID record at name, the
// same on all, and returns it.
func (e *env) waitDHCID(t *testing.T, name string) string {
	t.Helper()
	var got []string
	testenv.Eventually(t, 10*time.Second, "a DHCID at "+name, func() bool {
		got = e.pdns[0].Dig(t, name, "DHCID")
		return len(got) == 1
	})
	e.waitDig(t, name, "DHCID", got[0])
	return got[0]
}

func TestKeaDHCPToGateway(t *testing.T) {
	e, link, dir := keaChain(t)

	// Lease obtained: A and PTR on both nameservers, and the DHCIDs that
	// claim both names for this client.
	c1, a1 := startUdhcpc(t, dir, link, "h1", "h1")
	e.waitDig(t, "h1."+zone, "A", a1.String())
	e.waitDig(t, ptrName(a1), "PTR", "h1."+zone)
	if fwd, rev := e.waitDHCID(t, "h1."+zone), e.waitDHCID(t, ptrName(a1)); fwd != rev {
		t.Errorf("DHCID %s at the name, %s at the address", fwd, rev)
	}

	// Lease released (udhcpc -R on SIGTERM): both names gone.
	c1.Interrupt(t)
	if !c1.Exited(10 * time.Second) {
		t.Fatal("udhcpc did not exit on SIGTERM")
	}
	e.waitNXDOMAIN(t, "h1."+zone, "A")
	e.waitNXDOMAIN(t, ptrName(a1), "PTR")

	// Lease expired: a client that asked for a 6 s lease is killed without
	// a release; kea reclaims the lease after 6 s and removes the names.
	c2, a2 := startUdhcpc(t, dir, link, "h2", "h2", "lease:6")
	e.waitDig(t, "h2."+zone, "A", a2.String())
	e.waitDig(t, ptrName(a2), "PTR", "h2."+zone)
	c2.Kill(t)
	e.waitNXDOMAIN(t, "h2."+zone, "A")
	e.waitNXDOMAIN(t, ptrName(a2), "PTR")

	if n := e.gw.Metric(t, `zonecast_gateway_updates_total{rcode="NOERROR"}`); n < 4 {
		t.Errorf("gateway counted %v NOERROR updates, want at least 4 (2 adds, 2 removes, forward and reverse)", n)
	}
	for _, r := range []string{"REFUSED", "NOTAUTH", "FORMERR", "SERVFAIL"} {
		if n := e.gw.Metric(t, `zonecast_gateway_updates_total{rcode="`+r+`"}`); n != 0 {
			t.Errorf("gateway answered kea %v times %s", n, r)
		}
	}
}

// TestKeaTwoClientsOneName: a second DHCP client asking for a name that
// another holds gets a lease but not the name (RFC 4703, kea's default);
// once the first releases it, the name is gone.
func TestKeaTwoClientsOneName(t *testing.T) {
	e, link, dir := keaChain(t)
	name := "laptop." + zone

	first, a1 := startUdhcpc(t, dir, link, "first", "laptop")
	e.waitDig(t, name, "A", a1.String())
	claim := e.waitDHCID(t, name)

	rejected := func() float64 { return e.gw.Metric(t, `zonecast_gateway_updates_total{rcode="NXRRSET"}`) }
	before := rejected()
	second, a2 := startUdhcpc(t, dir, link, "second", "laptop")
	if a2 == a1 {
		t.Fatalf("both clients leased %s", a1)
	}
	// D2 first tries "name not in use" (YXDOMAIN), then "the name is
	// mine" with the second client's DHCID: NXRRSET, and it gives up.
	testenv.Eventually(t, 15*time.Second, "the gateway refusing the second client's claim (NXRRSET)", func() bool {
		return rejected() > before
	})
	e.waitDig(t, name, "A", a1.String())
	e.waitDig(t, name, "DHCID", claim)
	e.waitDig(t, ptrName(a1), "PTR", name)

	// The first client releases: its name goes, DHCID and all.
	first.Interrupt(t)
	if !first.Exited(10 * time.Second) {
		t.Fatal("udhcpc did not exit on SIGTERM")
	}
	e.waitNXDOMAIN(t, name, "A")
	e.waitNXDOMAIN(t, ptrName(a1), "PTR")
	second.Interrupt(t)
	for _, r := range []string{"REFUSED", "NOTAUTH", "FORMERR", "SERVFAIL"} {
		if n := e.gw.Metric(t, `zonecast_gateway_updates_total{rcode="`+r+`"}`); n != 0 {
			t.Errorf("gateway answered kea %v times %s", n, r)
		}
	}
}

// ddclient runs ddclient 3.10 once against the gateway with a config file
// of its own (mode 0600, the password is in it) and returns its output.
// ddclient's dyndns2 sends one address, in myip, from -use=ip -ip=ADDR.
// It exits with status 1 when the update failed (badauth included). Not
// -verbose: that prints the Authorization header.
func ddclient(t *testing.T, dyndnsAddr, host, token, ip string) (string, error) {
	t.Helper()
	bin := testenv.Tool(t, "ddclient", "ddclient")
	dir := t.TempDir()
	conf := filepath.Join(dir, "ddclient.conf")
	body := fmt.Sprintf("daemon=0\nssl=no\nprotocol=dyndns2\nserver=%s\nlogin=%s\npassword='%s'\n%s\n", dyndnsAddr, host, token, host)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-daemon=0", "-foreground", "-noquiet",
		"-file", conf, "-cache", filepath.Join(dir, "ddclient.cache"), "-use=ip", "-ip="+ip)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("ddclient timed out:\n%s", out.String())
	}
	return out.String(), err
}

func mustDdclient(t *testing.T, e *env, host, token, ip string) {
	t.Helper()
	out, err := ddclient(t, e.gw.DyndnsAddr, host, token, ip)
	if err != nil || !strings.Contains(out, "SUCCESS") || !strings.Contains(out, "good") {
		t.Fatalf("ddclient did not report success (%v):\n%s", err, out)
	}
}

func TestDdclient(t *testing.T) {
	testenv.Tool(t, "ddclient", "ddclient")
	e := newClientEnv(t, zone)
	host := "ddc." + zone
	e.gw.Admin(t, "host", "add", host, "--ttl", "30")
	token := strings.TrimSpace(e.gw.Admin(t, "token", "issue", host))

	mustDdclient(t, e, host, token, "192.0.2.60")
	e.waitDig(t, host, "A", "192.0.2.60")

	// An IPv6 address goes to AAAA; the A record stays.
	mustDdclient(t, e, host, token, "2001:db8::60")
	e.waitDig(t, host, "AAAA", "2001:db8::60")
	e.waitDig(t, host, "A", "192.0.2.60")

	// A wrong token: badauth, nothing published.
	before := e.lastSeq(t)
	out, err := ddclient(t, e.gw.DyndnsAddr, host, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "192.0.2.61")
	if err == nil || !strings.Contains(out, "badauth") || strings.Contains(out, "SUCCESS") {
		t.Fatalf("ddclient with a wrong token (%v):\n%s", err, out)
	}
	if after := e.lastSeq(t); after != before {
		t.Fatalf("a refused ddclient update published: stream %d -> %d", before, after)
	}
	e.waitDig(t, host, "A", "192.0.2.60")
}
