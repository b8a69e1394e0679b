package main

// The web page (issue 19) in a real browser: Debian's chromium, headless,
// driven by chromedp (internal/testbrowser), against the real
// zonecast-gateway binary serving --web-listen and --dyndns-listen. Users
// are made with `zonecast-gateway user add`, as docs/web.md says; what a
// user does on the page is published to NATS and written by two real
// zonecast-syncers to two real PowerDNS servers (gsqlite3 and lmdb),
// checked with dig. The ddclient the page configures is the real one.
//
// The browser reaches the page over plain HTTP at 127.0.0.1: chromium
// keeps the Secure session cookie on a loopback origin (see the package
// doc of internal/testbrowser), so the test needs no certificate.
//
// ZONECAST_SCREENSHOTS=DIR writes screenshots of the main pages to DIR
// (`make screenshots` writes docs/img).

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp/kb"

	"github.com/zonecast/zonecast/internal/testbrowser"
	"github.com/zonecast/zonecast/internal/testenv"
	"github.com/zonecast/zonecast/internal/testpdns"
)

// sessionCookie is the web page's session cookie (docs/web.md).
const sessionCookie = "__Host-zc_session"

// pdnsNoQueryCache turns PowerDNS's query cache off, as docs/dnssec.md
// sets up a node. A query that PowerDNS answers while a write lands can
// keep the old RRset in that cache after the write, and it is served for
// the cache's TTL (20 s by default): BenchmarkWebHostList counts how
// often (docs/benchmarks.md), and BenchmarkNetlinkToDig met it as well.
// These tests wait for dig to show each change, so they would fail now
// and then on that instead of on the web page. The packet cache stays on.
const pdnsNoQueryCache = "query-cache-ttl=0\nnegquery-cache-ttl=0"

// webEnv is env with the web page on the gateway and a browser.
type webEnv struct {
	*env
	web     string // http://127.0.0.1:PORT of --web-listen
	browser *testbrowser.Browser
}

// newWebEnv starts NATS, a syncer on gsqlite3 and one on lmdb (PowerDNS's
// query cache off, see pdnsNoQueryCache), a gateway with dyndns2 and the
// web page, and chromium.
func newWebEnv(t *testing.T) *webEnv {
	t.Helper()
	nats := testenv.StartNATS(t)
	e := &env{}
	for _, backend := range []string{"gsqlite3", "lmdb"} {
		p := testpdns.StartWith(t, backend, pdnsNoQueryCache)
		// Node ids of their own (the last --node-id counts), for the
		// admin page's fleet table.
		s := testenv.StartSyncer(t, testenv.SyncerOptions{Zones: []string{zone, zone2}, PDNS: p, NATS: nats,
			Extra: []string{"--node-id", "syncer-" + backend}})
		e.pdns = append(e.pdns, p)
		if e.sync == nil {
			e.sync = s
		}
	}
	w := &webEnv{env: e}
	e.gw, w.web = w.startGateway(t)
	w.browser = testbrowser.Start(t)
	return w
}

// startGateway starts a gateway with dyndns2 and the web page on the
// environment's NATS, and returns it and the page's base URL. The page's
// client configurations name this gateway's dyndns2 endpoint
// (--web-dyndns-url). Each gateway keeps its own login rate limit, in
// memory.
func (w *webEnv) startGateway(t *testing.T) (*testenv.Gateway, string) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	dyndns := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	gw := testenv.StartGateway(t, testenv.GatewayOptions{Syncer: w.sync, Zones: []string{zone, zone2},
		Extra: []string{"--web-listen", addr, "--dyndns-listen", dyndns, "--web-dyndns-url", "http://" + dyndns}})
	gw.DyndnsAddr = dyndns
	base := "http://" + addr
	testenv.Eventually(t, 10*time.Second, "the web page answering at "+base, func() bool {
		resp, err := http.Get(base + "/login")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return gw, base
}

// addUser makes a user with `zonecast-gateway user add`, the password in
// a file (never on a command line), and returns the password.
func (w *webEnv) addUser(t *testing.T, name string, flags ...string) string {
	t.Helper()
	pw := "pw-" + name + "-" + strings.Repeat("x", 12)
	file := filepath.Join(t.TempDir(), name+".password")
	if err := os.WriteFile(file, []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w.gw.Admin(t, append([]string{"user", "add", name, "--password-file", file}, flags...)...)
	return pw
}

// login opens the login page on a new page (a browser context of its
// own) and logs in; it fails the test unless the user's host list shows.
func (w *webEnv) login(t *testing.T, base, user, password string) *testbrowser.Page {
	t.Helper()
	p := w.browser.NewPage(t)
	if st := p.Open(t, base+"/login"); st != http.StatusOK {
		t.Fatalf("GET /login: status %d", st)
	}
	if st := submitLogin(t, p, user, password); st != http.StatusOK {
		t.Fatalf("logging in as %s: status %d", user, st)
	}
	if p.Count(t, "table#hosts") != 1 {
		t.Fatalf("logged in as %s, no host list on %s: %s", user, p.Location(t), errorText(t, p))
	}
	return p
}

// submitLogin fills and submits the login form shown on p.
func submitLogin(t *testing.T, p *testbrowser.Page, user, password string) int {
	t.Helper()
	p.Fill(t, "username", user)
	p.Fill(t, "password", password)
	return p.Submit(t, "login")
}

// errorText is the page's #error, or "" without one.
func errorText(t *testing.T, p *testbrowser.Page) string {
	t.Helper()
	if p.Count(t, "#error") == 0 {
		return ""
	}
	return p.Text(t, "#error")
}

// hostKey is how the pages name a host: without its final dot.
func hostKey(name string) string { return strings.TrimSuffix(name, ".") }

// addHost adds label in zone on the user's page with the add form;
// options are further fields by id (ttl, lease, prefix-from,
// interface-id). It returns the host's name.
func addHost(t *testing.T, p *testbrowser.Page, base, label, z string, options map[string]string) string {
	t.Helper()
	p.Open(t, base+"/")
	p.Fill(t, "label", label)
	p.Fill(t, "zone", optionValue(t, p, "#zone", hostKey(z)))
	for id, v := range options {
		if id == "prefix-from" {
			v = optionValue(t, p, "#prefix-from", hostKey(v))
		}
		p.Fill(t, id, v)
	}
	if st := p.Submit(t, "add-host"); st != http.StatusOK {
		t.Fatalf("adding host %s.%s: status %d: %s", label, z, st, errorText(t, p))
	}
	name := label + "." + z
	p.Open(t, base+"/")
	if p.Count(t, `tr[data-host="`+hostKey(name)+`"]`) != 1 {
		t.Fatalf("host %s not listed after adding it: %s", name, errorText(t, p))
	}
	return name
}

// optionValue returns the value of the option of select sel whose value
// or text names want (a zone or a host, with or without its final dot).
func optionValue(t *testing.T, p *testbrowser.Page, sel, want string) string {
	t.Helper()
	values := p.Attrs(t, sel+" option", "value")
	texts := p.Texts(t, sel+" option")
	for i, v := range values {
		if hostKey(v) == want || hostKey(strings.TrimSpace(texts[i])) == want {
			return v
		}
	}
	t.Fatalf("%s has no option %s: values %q, texts %q", sel, want, values, texts)
	return ""
}

// openHost opens a host's page and returns the HTTP status.
func openHost(t *testing.T, p *testbrowser.Page, base, name string) int {
	t.Helper()
	return p.Open(t, base+"/hosts/"+hostKey(name))
}

// issueToken issues a token on the host's page and returns it and its id.
func issueToken(t *testing.T, p *testbrowser.Page, base, name string) (token, id string) {
	t.Helper()
	if st := openHost(t, p, base, name); st != http.StatusOK {
		t.Fatalf("GET host page of %s: status %d", name, st)
	}
	before := p.Attrs(t, "#tokens tr[data-token]", "data-token")
	if st := p.Submit(t, "issue-token"); st != http.StatusOK {
		t.Fatalf("issuing a token for %s: status %d", name, st)
	}
	token = strings.TrimSpace(p.Text(t, "#new-token"))
	if len(token) < 40 {
		t.Fatalf("token shown %q", token)
	}
	for _, i := range p.Attrs(t, "#tokens tr[data-token]", "data-token") {
		if !slices.Contains(before, i) {
			id = i
		}
	}
	if id == "" {
		t.Fatalf("no new token row in #tokens after issuing (before %q)", before)
	}
	return token, id
}

// hostRow returns the host's A and AAAA as the user's host list shows
// them.
func hostRow(t *testing.T, p *testbrowser.Page, base, name string) (a, aaaa string) {
	t.Helper()
	p.Open(t, base+"/")
	row := `tr[data-host="` + hostKey(name) + `"]`
	return strings.TrimSpace(p.Text(t, row+" td.a")), strings.TrimSpace(p.Text(t, row+" td.aaaa"))
}

// ddclientFromPage runs ddclient 3.10 once with the configuration the
// page showed, in a file of its own (mode 0600: the token is in it).
// What the test must adapt is given on the command line, as
// TestDdclient does: run once in the foreground (-daemon=0 -foreground),
// the cache and pid files in the test's directory, and the address to
// send (-use=ip -ip=ADDR; a real ddclient finds its own). The server
// address in the configuration is checked, not replaced.
func ddclientFromPage(t *testing.T, conf, dyndnsAddr, ip string) (string, error) {
	t.Helper()
	if !regexp.MustCompile(`(?m)^\s*server\s*=\s*` + regexp.QuoteMeta(dyndnsAddr) + `\s*,?\s*(\\)?$`).MatchString(conf) {
		t.Fatalf("the page's ddclient configuration does not name the dyndns2 server %s:\n%s", dyndnsAddr, conf)
	}
	bin := testenv.Tool(t, "ddclient", "ddclient")
	dir := t.TempDir()
	file := filepath.Join(dir, "ddclient.conf")
	if err := os.WriteFile(file, []byte(conf+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-daemon=0", "-foreground", "-noquiet", "-file", file,
		"-cache", filepath.Join(dir, "ddclient.cache"), "-pid", filepath.Join(dir, "ddclient.pid"), "-use=ip", "-ip="+ip)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("ddclient timed out:\n%s", out)
	}
	return string(out), err
}

// TestWebDdclient: a user made with the CLI logs in, adds a host, issues
// a token and copies the ddclient configuration from the page; the real
// ddclient with that configuration updates the address; the page shows the
// new address and the history entry; both PowerDNS answer it. The
// screenshots of docs/web.md are taken on the way.
func TestWebDdclient(t *testing.T) {
	w := newWebEnv(t)
	pw := w.addUser(t, "alice", "--zone", zone, "--quota", "5")

	login := w.browser.NewPage(t)
	login.Open(t, w.web+"/login")
	login.Screenshot(t, "web-login")
	// With the keyboard alone: the name, Tab to the password, Enter.
	login.Focus(t, "username")
	login.Keys(t, "alice")
	login.Keys(t, kb.Tab)
	if f := login.Focused(t); f != "password" {
		t.Errorf("Tab from the user name focuses %q, want the password", f)
	}
	login.Keys(t, pw+kb.Enter)
	login.WaitFor(t, "table#hosts")

	p := w.login(t, w.web, "alice", pw)
	c := p.Cookie(t, w.web, sessionCookie)
	if c == nil {
		t.Fatalf("no %s cookie after login; cookies %+v", sessionCookie, p.Cookies(t, w.web))
	}

	host := addHost(t, p, w.web, "home", zone, map[string]string{"ttl": "30"})
	token, _ := issueToken(t, p, w.web, host)
	conf := copied(t, p, w.web, "ddclient")
	if !strings.Contains(conf, token) {
		t.Fatalf("the ddclient configuration does not hold the new token:\n%s", conf)
	}
	for _, id := range []string{"curl", "router"} {
		if !strings.Contains(p.Text(t, "pre#"+id), token) {
			t.Errorf("pre#%s does not hold the new token:\n%s", id, p.Text(t, "pre#"+id))
		}
	}

	out, err := ddclientFromPage(t, conf, w.gw.DyndnsAddr, "192.0.2.60")
	if err != nil || !strings.Contains(out, "SUCCESS") || !strings.Contains(out, "good") {
		t.Fatalf("ddclient with the page's configuration did not report success (%v):\n%s\nconfiguration:\n%s", err, out, conf)
	}
	w.waitDig(t, host, "A", "192.0.2.60")

	// The page shows the address and the update in the history.
	testenv.Eventually(t, 10*time.Second, "the host list showing 192.0.2.60", func() bool {
		a, _ := hostRow(t, p, w.web, host)
		return a == "192.0.2.60"
	})
	if changed := p.Text(t, `tr[data-host="`+hostKey(host)+`"] td.changed`); changed == "" || changed == "never" {
		t.Errorf("change time shown for %s: %q", host, changed)
	}
	openHost(t, p, w.web, host)
	if a := p.Text(t, "#records td.a"); a != "192.0.2.60" {
		t.Errorf("#records A %q, want 192.0.2.60", a)
	}
	entries := historyEntries(t, p)
	if len(entries) != 1 {
		t.Fatalf("history after one ddclient update: %+v", entries)
	}
	if e := entries[0]; e.via != "dyndns" || !strings.Contains(e.change, "192.0.2.60") || e.remote != "127.0.0.1" || e.time == "" {
		t.Errorf("history entry %+v, want via dyndns from 127.0.0.1 changing A to 192.0.2.60", e)
	}
	// A second token for the screenshot: its page has the records, the
	// configurations filled in and the history.
	issueToken(t, p, w.web, host)
	p.Screenshot(t, "web-host")

	// A second host, its addresses set by hand on its page.
	nas := addHost(t, p, w.web, "nas", zone, nil)
	setAddress(t, p, w.web, nas, "192.0.2.61", "2001:db8::61")
	w.waitDig(t, nas, "A", "192.0.2.61")
	w.waitDig(t, nas, "AAAA", "2001:db8::61")
	openHost(t, p, w.web, nas)
	if e := historyEntries(t, p); len(e) != 1 || e[0].via != "web" || !strings.Contains(e[0].change, "2001:db8::61") {
		t.Errorf("history of %s after setting its address on the page: %+v, want one entry via web", nas, e)
	}
	p.Open(t, w.web+"/")
	if got := p.Text(t, "#quota"); !strings.Contains(got, "2 of 5") {
		t.Errorf("#quota %q, want 2 of 5", got)
	}
	p.Screenshot(t, "web-hosts")
	// On a phone's 360 px the host list and a host's page fit the screen:
	// nothing to scroll sideways (tables become one card per row).
	p.Viewport(t, 360, 740)
	for _, page := range []string{"/", "/hosts/" + hostKey(nas)} {
		p.Open(t, w.web+page)
		if over := p.Overflow(t); over > 0 {
			t.Errorf("%s at 360 px is %d px wider than the screen", page, over)
		}
	}
	p.Viewport(t, 1280, 800)

	// The operator's page, by an admin made with the CLI: the users, the
	// TSIG keys without their secrets, every host, the fleet caught up.
	key := w.addKey(t, "dhcp", "--zone", zone, "--type", "A")
	secret := strings.SplitN(key, ":", 3)[2]
	apw := w.addUser(t, "admin", "--admin")
	admin := w.login(t, w.web, "admin", apw)
	if st := admin.Open(t, w.web+"/admin"); st != http.StatusOK {
		t.Fatalf("GET /admin as an admin: status %d", st)
	}
	for _, sel := range []string{`table#users tr[data-user="alice"]`, `table#users tr[data-user="admin"]`, "table#keys",
		"table#all-hosts", "table#fleet"} {
		if admin.Count(t, sel) == 0 {
			t.Errorf("the admin page has no %s", sel)
		}
	}
	if keys := admin.Text(t, "table#keys"); !strings.Contains(keys, "dhcp") {
		t.Errorf("table#keys does not list the key dhcp:\n%s", keys)
	}
	if strings.Contains(admin.HTML(t, "html"), secret) {
		t.Errorf("the admin page shows a TSIG secret")
	}
	if all := admin.Text(t, "table#all-hosts"); !strings.Contains(all, hostKey(host)) || !strings.Contains(all, "alice") {
		t.Errorf("table#all-hosts does not list %s of alice:\n%s", host, all)
	}
	var states []string
	testenv.Eventually(t, 30*time.Second, fmt.Sprintf("both syncers caught up in table#fleet (last %v)", &states), func() bool {
		admin.Open(t, w.web+"/admin")
		states = admin.Texts(t, `table#fleet tr[data-node^="syncer-"] td.state`)
		return len(states) == 2 && states[0] == "caught-up" && states[1] == "caught-up"
	})
	admin.Screenshot(t, "web-admin")
	// alice is no admin: for her the page does not exist.
	if st := p.Open(t, w.web+"/admin"); st != http.StatusNotFound {
		t.Errorf("GET /admin as a user: status %d, want 404", st)
	}

	// The curl configuration, copied from the page and run as it is by
	// bash with the real curl: the token goes on stdin, and both of its
	// commands update the host.
	token, _ = issueToken(t, p, w.web, host)
	script := copied(t, p, w.web, "curl")
	if strings.Contains(script, "-u ") || !strings.Contains(script, "-K -") {
		t.Errorf("the curl configuration puts the token on the command line:\n%s", script)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ran, err := exec.CommandContext(ctx, "bash", "-c", script).CombinedOutput()
	if err != nil || !strings.Contains(string(ran), "good 127.0.0.1\n") || !strings.Contains(string(ran), "good 192.0.2.1,2001:db8::1") {
		t.Fatalf("the page's curl configuration (%v):\n%s\nscript:\n%s", err, ran, script)
	}
	w.waitDig(t, host, "AAAA", "2001:db8::1")

	// The TOTP link is an otpauth: link an authenticator app opens, not
	// html/template's #ZgotmplZ.
	p.Open(t, w.web+"/account")
	if href := p.Attr(t, "#totp-uri", "href"); !strings.HasPrefix(href, "otpauth://totp/zonecast:alice?") ||
		!strings.Contains(href, "secret="+p.Text(t, "#totp-secret")) {
		t.Errorf("#totp-uri href %q", href)
	}
}

// copied clicks the copy button of the client configuration in pre#id
// and returns what it put on the clipboard: what a user pastes. It must be
// the configuration shown.
func copied(t *testing.T, p *testbrowser.Page, base, id string) string {
	t.Helper()
	p.AllowClipboard(t, base)
	button := `button.copy[data-copy="` + id + `"]`
	p.Click(t, button)
	testenv.Eventually(t, 10*time.Second, "the copy button saying Copied", func() bool {
		return p.Text(t, button) == "Copied"
	})
	clip := p.Clipboard(t)
	if shown := p.TextContent(t, "pre#"+id); clip != shown {
		t.Fatalf("the copy button copied %q, the page shows %q", clip, shown)
	}
	return clip
}

type historyEntry struct{ time, remote, via, change string }

// historyEntries reads the host page's history, newest first.
func historyEntries(t *testing.T, p *testbrowser.Page) []historyEntry {
	t.Helper()
	col := func(c string) []string { return p.Texts(t, "#history tr.entry td."+c) }
	times, remotes, vias, changes := col("time"), col("remote"), col("via"), col("change")
	var out []historyEntry
	for i := range times {
		if i >= len(remotes) || i >= len(vias) || i >= len(changes) {
			t.Fatalf("history rows with missing cells: %q %q %q %q", times, remotes, vias, changes)
		}
		out = append(out, historyEntry{strings.TrimSpace(times[i]), strings.TrimSpace(remotes[i]),
			strings.TrimSpace(vias[i]), strings.TrimSpace(changes[i])})
	}
	return out
}

// setAddress sets a host's addresses by hand with the address form.
func setAddress(t *testing.T, p *testbrowser.Page, base, name, a, aaaa string) {
	t.Helper()
	if st := openHost(t, p, base, name); st != http.StatusOK {
		t.Fatalf("GET host page of %s: status %d", name, st)
	}
	p.Fill(t, "a", a)
	p.Fill(t, "aaaa", aaaa)
	if st := p.Submit(t, "set-address"); st != http.StatusOK {
		t.Fatalf("setting the address of %s: status %d: %s", name, st, errorText(t, p))
	}
}

// TestWebPrefix: a router host and two hosts behind it with interface
// IDs; the router's dyndns2 update changes the prefix, and both hosts'
// AAAA follow on both PowerDNS.
func TestWebPrefix(t *testing.T) {
	w := newWebEnv(t)
	pw := w.addUser(t, "carol", "--zone", zone, "--quota", "5")
	p := w.login(t, w.web, "carol", pw)

	router := addHost(t, p, w.web, "router", zone, map[string]string{"ttl": "30"})
	nas := addHost(t, p, w.web, "nas", zone, map[string]string{"prefix-from": router, "interface-id": "::1234:5678"})
	cam := addHost(t, p, w.web, "cam", zone, map[string]string{"prefix-from": router, "interface-id": "::a:b:c:d"})
	token, _ := issueToken(t, p, w.web, router)

	for _, tc := range []struct{ v6, nas, cam string }{
		{"2001:db8:1:2::1", "2001:db8:1:2:0:0:1234:5678", "2001:db8:1:2:a:b:c:d"},
		{"2001:db8:77:88:9::1", "2001:db8:77:88::1234:5678", "2001:db8:77:88:a:b:c:d"},
	} {
		if got := w.curl(t, router, token, "hostname="+router+"&myip="+tc.v6); got != "good "+tc.v6 {
			t.Fatalf("router update to %s: %q", tc.v6, got)
		}
		w.waitDig(t, router, "AAAA", tc.v6)
		w.waitDig(t, nas, "AAAA", canonical6(tc.nas))
		w.waitDig(t, cam, "AAAA", canonical6(tc.cam))
	}
	// The page shows what followed, and why.
	testenv.Eventually(t, 10*time.Second, "the host list showing the new prefix", func() bool {
		_, aaaa := hostRow(t, p, w.web, nas)
		return strings.Contains(aaaa, "2001:db8:77:88::1234:5678")
	})
	openHost(t, p, w.web, nas)
	if e := historyEntries(t, p); len(e) == 0 || e[0].via != "prefix" || !strings.Contains(e[0].change, "2001:db8:77:88::1234:5678") {
		t.Errorf("history of %s: %+v, want the newest via prefix, to 2001:db8:77:88::1234:5678", nas, e)
	}

	// A shorter prefix set on the options form: the interface ID fills
	// the bits below it.
	openHost(t, p, w.web, cam)
	p.Fill(t, "prefix-len", "56")
	if st := p.Submit(t, "save-options"); st != http.StatusOK {
		t.Fatalf("saving cam's options: status %d: %s", st, errorText(t, p))
	}
	w.waitDig(t, cam, "AAAA", canonical6("2001:db8:77::a:b:c:d"))
	w.waitDig(t, nas, "AAAA", "2001:db8:77:88::1234:5678")
}

// canonical6 is an IPv6 address as dig prints it.
func canonical6(s string) string { return netip.MustParseAddr(s).String() }

// TestWebSecurity: user A cannot see or change user B's host, by URL or by
// form; a form without a valid CSRF token changes nothing; HTML in a label
// is shown escaped; the session cookie has its flags and is replaced at
// login; a logged-out session cannot be reused; login is rate-limited; a
// revoked token gets badauth.
func TestWebSecurity(t *testing.T) {
	w := newWebEnv(t)
	apw := w.addUser(t, "anna", "--zone", zone, "--quota", "5")
	bpw := w.addUser(t, "bert", "--zone", zone, "--quota", "5")

	// Session fixation: a session cookie planted before login is not the
	// one after it.
	a := w.browser.NewPage(t)
	a.Open(t, w.web+"/login")
	a.SetCookie(t, w.web, &network.Cookie{Name: sessionCookie, Value: strings.Repeat("ab", 32), Path: "/",
		Secure: true, HTTPOnly: true, SameSite: network.CookieSameSiteStrict})
	if st := submitLogin(t, a, "anna", apw); st != http.StatusOK || a.Count(t, "table#hosts") != 1 {
		t.Fatalf("anna's login: status %d: %s", st, errorText(t, a))
	}
	ac := a.Cookie(t, w.web, sessionCookie)
	if ac == nil || ac.Value == strings.Repeat("ab", 32) {
		t.Fatalf("session cookie after login %+v: want a new one", ac)
	}
	if !ac.HTTPOnly || !ac.Secure || ac.SameSite != network.CookieSameSiteStrict || ac.Path != "/" {
		t.Errorf("session cookie flags: HttpOnly %v, Secure %v, SameSite %q, Path %q; want HttpOnly, Secure, Strict, /",
			ac.HTTPOnly, ac.Secure, ac.SameSite, ac.Path)
	}

	b := w.login(t, w.web, "bert", bpw)
	bHost := addHost(t, b, w.web, "bee", zone, nil)
	setAddress(t, b, w.web, bHost, "192.0.2.20", "")
	w.waitDig(t, bHost, "A", "192.0.2.20")
	bToken, bID := issueToken(t, b, w.web, bHost)

	aHost := addHost(t, a, w.web, "ant", zone, nil)

	// By URL: B's host is as missing as a host that does not exist.
	if st := openHost(t, a, w.web, bHost); st != http.StatusNotFound {
		t.Errorf("anna GET bert's host page: status %d, want 404", st)
	}
	if body := a.Text(t, "body"); strings.Contains(body, "192.0.2.20") {
		t.Errorf("anna's 404 shows bert's address:\n%s", body)
	}
	a.Open(t, w.web+"/")
	if a.Count(t, `tr[data-host="`+hostKey(bHost)+`"]`) != 0 {
		t.Errorf("anna's host list shows bert's host")
	}

	// By form: anna's own forms, with her session and a valid CSRF token,
	// aimed at bert's host.
	seq := w.lastSeq(t)
	for _, f := range []struct{ form, submit string }{
		{"#address-form", "set-address"},
		{"#options-form", "save-options"},
		{"#issue-token-form", "issue-token"},
		{"#delete-form", "delete-host"},
	} {
		openHost(t, a, w.web, aHost)
		action := a.Attr(t, f.form, "action")
		forged := strings.Replace(action, hostKey(aHost), hostKey(bHost), 1)
		if forged == action {
			t.Fatalf("%s action %q does not name the host %s", f.form, action, hostKey(aHost))
		}
		a.SetAttr(t, f.form, "action", forged)
		if f.form == "#address-form" {
			a.Fill(t, "a", "192.0.2.66")
		}
		if st := a.Submit(t, f.submit); st != http.StatusNotFound {
			t.Errorf("anna POST %s to bert's host (%s): status %d, want 404", f.form, forged, st)
		}
	}
	if after := w.lastSeq(t); after != seq {
		t.Errorf("anna's forms against bert's host published: stream %d -> %d", seq, after)
	}
	// Her own token's revoke form, aimed at bert's token (still valid
	// below).
	_, aID := issueToken(t, a, w.web, aHost)
	revoke := `#tokens tr[data-token="` + aID + `"] form.revoke`
	action := a.Attr(t, revoke, "action")
	forged := strings.Replace(strings.Replace(action, aID, bID, 1), hostKey(aHost), hostKey(bHost), 1)
	a.SetAttr(t, revoke, "action", forged)
	if st := a.SubmitForm(t, revoke); st != http.StatusNotFound {
		t.Errorf("anna POST revoke of bert's token (%s): status %d, want 404", forged, st)
	}
	w.waitDig(t, bHost, "A", "192.0.2.20")
	if a, _ := hostRow(t, b, w.web, bHost); !strings.Contains(a, "192.0.2.20") {
		t.Errorf("bert's host shows %q after anna's attempts, want 192.0.2.20", a)
	}
	if got := w.curl(t, bHost, bToken, "hostname="+bHost+"&myip=192.0.2.21"); got != "good 192.0.2.21" {
		t.Errorf("bert's token after anna's attempts: %q", got)
	}
	w.waitDig(t, bHost, "A", "192.0.2.21")

	// CSRF: anna's own form with the token changed, and without it.
	seq = w.lastSeq(t)
	for _, forge := range []func(){
		func() { a.SetValue(t, `#address-form input[name="csrf"]`, strings.Repeat("0", 32)) },
		func() { a.Remove(t, `#address-form input[name="csrf"]`) },
	} {
		openHost(t, a, w.web, aHost)
		a.Fill(t, "a", "192.0.2.77")
		forge()
		if st := a.Submit(t, "set-address"); st != http.StatusForbidden {
			t.Errorf("address form without a valid CSRF token: status %d, want 403", st)
		}
	}
	if after := w.lastSeq(t); after != seq {
		t.Errorf("a form without a valid CSRF token published: stream %d -> %d", seq, after)
	}
	if got := w.pdns[0].Dig(t, aHost, "A"); len(got) != 0 {
		t.Errorf("%s A = %v after forged forms", aHost, got)
	}

	// HTML typed into the forms: a host label and a user name are
	// refused, and the refusal shows what was typed as text; the login
	// form shows the user name back in its field. No element is made of
	// it.
	const inject = `<img id="injected" src="/x">`
	a.Open(t, w.web+"/")
	a.Fill(t, "label", inject)
	if st := a.Submit(t, "add-host"); st != http.StatusBadRequest {
		t.Errorf("a label of HTML: status %d, want 400", st)
	}
	if got := errorText(t, a); !strings.Contains(got, inject) {
		t.Errorf("the refusal of the label %q shows %q", inject, got)
	}
	if a.Count(t, "#injected") != 0 {
		t.Errorf("a label's HTML made an element")
	}
	if got := a.Value(t, "#label"); got != inject {
		t.Errorf("the label field holds %q after the refusal, want what was typed", got)
	}

	l := w.browser.NewPage(t)
	l.Open(t, w.web+"/login")
	if st := submitLogin(t, l, inject, "x"); st != http.StatusUnauthorized {
		t.Errorf("a user name of HTML: status %d, want 401", st)
	}
	if l.Count(t, "#injected") != 0 {
		t.Errorf("a user name's HTML made an element on the login page")
	}

	cpw := w.addUser(t, "chef", "--admin")
	admin := w.login(t, w.web, "chef", cpw)
	admin.Open(t, w.web+"/admin")
	admin.Fill(t, "new-username", inject)
	if st := admin.Submit(t, "add-user"); st != http.StatusBadRequest {
		t.Errorf("adding a user named with HTML: status %d, want 400", st)
	}
	if admin.Count(t, "#injected") != 0 {
		t.Errorf("a user name's HTML made an element on the admin page")
	}
	if got := admin.Value(t, "#new-username"); got != inject {
		t.Errorf("the user name field holds %q after the refusal, want what was typed", got)
	}
	if got := errorText(t, admin); got == "" {
		t.Errorf("no refusal shown for a user named with HTML")
	}

	// Logout ends the session on the server: the old cookie value, given
	// to another browser, gets the login page.
	old := a.Cookie(t, w.web, sessionCookie)
	if st := a.Submit(t, "logout"); st != http.StatusOK || a.Count(t, "#login-form") != 1 {
		t.Fatalf("logout: status %d, no login form", st)
	}
	replay := w.browser.NewPage(t)
	replay.Open(t, w.web+"/login")
	replay.SetCookie(t, w.web, old)
	replay.Open(t, w.web+"/")
	if replay.Count(t, "table#hosts") != 0 || replay.Count(t, "#login-form") != 1 {
		t.Errorf("the logged-out session still shows a host list (or no login form) at %s", replay.Location(t))
	}
	if st := openHost(t, replay, w.web, aHost); st == http.StatusOK && replay.Count(t, "#records") != 0 {
		t.Errorf("the logged-out session opens %s", aHost)
	}
	for _, path := range []string{"/", "/hosts/" + hostKey(aHost)} {
		if st, loc, _ := webGet(t, w.web, path, old.Value); st != http.StatusSeeOther || loc != "/login" {
			t.Errorf("GET %s with the logged-out cookie: status %d, Location %q; want 303 to /login", path, st, loc)
		}
	}

	// A revoked token gets badauth.
	token, id := issueToken(t, b, w.web, bHost)
	if got := w.curl(t, bHost, token, "hostname="+bHost+"&myip=192.0.2.22"); got != "good 192.0.2.22" {
		t.Fatalf("a fresh token: %q", got)
	}
	openHost(t, b, w.web, bHost)
	if st := b.SubmitForm(t, `#tokens tr[data-token="`+id+`"] .revoke`); st != http.StatusOK {
		t.Fatalf("revoking token %s: status %d", id, st)
	}
	if b.Count(t, `#tokens tr[data-token="`+id+`"]`) != 0 {
		t.Errorf("token %s still listed after revoking it", id)
	}
	testenv.Eventually(t, 5*time.Second, "the revoked token refused", func() bool {
		return w.curl(t, bHost, token, "hostname="+bHost+"&myip=192.0.2.23") == "badauth"
	})

	// Login is rate-limited per client address: on a gateway of its own
	// (the limit is in memory, per gateway), wrong passwords from one
	// browser until 429; then the right one is refused as well.
	gw2, web2 := w.startGateway(t)
	_ = gw2
	// The page's state is the fleet's: bert's session, made on the first
	// gateway, shows his host on the second, and anna's, ended on the
	// first, is ended there too.
	bc := b.Cookie(t, w.web, sessionCookie)
	if bc == nil {
		t.Fatalf("bert has no session cookie")
	}
	if st, _, body := webGet(t, web2, "/", bc.Value); st != http.StatusOK || !strings.Contains(body, `data-host="`+hostKey(bHost)+`"`) {
		t.Errorf("bert's session on a second gateway: status %d, his host %s listed %v; want 200 and listed",
			st, bHost, strings.Contains(body, hostKey(bHost)))
	}
	if st, loc, _ := webGet(t, web2, "/", old.Value); st != http.StatusSeeOther || loc != "/login" {
		t.Errorf("anna's logged-out session on a second gateway: status %d, Location %q; want 303 to /login", st, loc)
	}
	r := w.browser.NewPage(t)
	limited := 0
	for i := 1; i <= 20; i++ {
		r.Open(t, web2+"/login")
		st := submitLogin(t, r, "anna", "wrong")
		if st == http.StatusTooManyRequests {
			limited = i
			break
		}
		if st != http.StatusUnauthorized || r.Count(t, "table#hosts") != 0 {
			t.Fatalf("wrong password, attempt %d: status %d, want 401 (or 429)", i, st)
		}
	}
	if limited == 0 {
		t.Fatalf("20 wrong passwords in a row, none answered 429")
	}
	t.Logf("login answered 429 at attempt %d", limited)
	r.Open(t, web2+"/login")
	if st := submitLogin(t, r, "anna", apw); st != http.StatusTooManyRequests || r.Count(t, "table#hosts") != 0 {
		t.Errorf("the right password right after the limit: status %d; want 429 and no host list", st)
	}
}

// webGet fetches path with the session cookie value, without following
// redirects, and returns the status, the Location and the body.
func webGet(t *testing.T, base, path, cookie string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie})
	}
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}
