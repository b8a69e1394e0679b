package main

// Secrets never in argv, logs or metrics: a full run of the real
// zonecast-syncer (embedded NATS, local users watcher and gateway) and
// zonecast-gateway at --log-level debug, driven by real clients (nsupdate,
// curl, the zonecast CLIs) with right and wrong credentials; then every
// secret in play is looked for in the daemons' logs, their /metrics and
// /status, their command lines and the CLIs' output.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/testenv"
	"github.com/zonecast/zonecast/internal/testpdns"
)

// fragLen is the length of the pieces of a secret looked for: a secret
// logged cut short, or run into other text, is still leaked. 16 hex or
// base64 characters are 64 to 96 random bits, which nothing else in a log
// matches by chance.
const fragLen = 16

// secretSet is every secret of a run, by name, in the forms it could leak in.
type secretSet struct {
	frags map[string]string // each fragLen-character piece of a secret -> "name"
	whole map[string]string // an encoding looked for whole -> "name (encoding)"
}

func newSecretSet() *secretSet {
	return &secretSet{frags: map[string]string{}, whole: map[string]string{}}
}

// add registers a secret as text: its pieces, and whole its base64 and
// URL-escaped forms (a header or a query string that carries it).
func (s *secretSet) add(t *testing.T, name, text string) {
	t.Helper()
	if len(text) < fragLen {
		t.Fatalf("secret %s is %d characters, under %d: not a generated secret", name, len(text), fragLen)
	}
	for i := 0; i+fragLen <= len(text); i++ {
		s.frags[text[i:i+fragLen]] = name
	}
	s.whole[base64.StdEncoding.EncodeToString([]byte(text))] = name + " (base64)"
	if q := url.QueryEscape(text); q != text {
		s.whole[q] = name + " (URL-escaped)"
	}
}

// addWhole registers one encoding of a secret looked for whole only (raw
// bytes, or a form that also holds something public, like a user name).
func (s *secretSet) addWhole(name, encoding, text string) {
	s.whole[text] = name + " (" + encoding + ")"
}

// find returns what of the set hay holds: one line per secret, with the
// text around its first occurrence.
func (s *secretSet) find(hay string) map[string]string {
	found := map[string]string{}
	note := func(name string, at, n int) {
		if _, ok := found[name]; ok {
			return
		}
		from, to := max(0, at-60), min(len(hay), at+n+60)
		found[name] = fmt.Sprintf("%q", hay[from:to])
	}
	for i := 0; i+fragLen <= len(hay); i++ {
		if name, ok := s.frags[hay[i:i+fragLen]]; ok {
			note(name, i, fragLen)
		}
	}
	for text, name := range s.whole {
		if i := strings.Index(hay, text); i >= 0 {
			note(name, i, len(text))
		}
	}
	return found
}

// surface is a place a secret must not reach, and what it held.
type surface struct {
	where string
	text  string
}

// cliRun is one run of a zonecast command: its argv and both outputs.
type cliRun struct {
	argv           []string
	stdout, stderr string
	err            error
}

// runCLI runs bin with args and returns both outputs separately.
func runCLI(t *testing.T, bin string, args ...string) cliRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %s timed out", filepath.Base(bin), strings.Join(args, " "))
	}
	return cliRun{argv: append([]string{filepath.Base(bin)}, args...), stdout: stdout.String(), stderr: stderr.String(), err: err}
}

func (r cliRun) String() string { return strings.Join(r.argv, " ") }

// httpGet returns the body of http://addr+path, which must answer 200.
func httpGet(t *testing.T, addr, path string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s%s: %v", addr, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s%s: %s %v", addr, path, resp.Status, err)
	}
	return string(b)
}

// cmdline returns the command line of a running process, its arguments
// joined with spaces.
func cmdline(t *testing.T, label string, pid int) string {
	t.Helper()
	if pid == 0 {
		t.Fatalf("%s: not started", label)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(b) == 0 {
		t.Fatalf("reading the command line of %s (pid %d): %v", label, pid, err)
	}
	return strings.Join(strings.Split(strings.TrimRight(string(b), "\x00"), "\x00"), " ")
}

func randomText(t *testing.T, n int, enc func([]byte) string) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return enc(b)
}

func TestSecretsNeverLeak(t *testing.T) {
	testenv.Tool(t, "curl", "curl")
	testenv.Tool(t, "nsupdate", "bind9-dnsutils")
	secrets := newSecretSet()
	var surfaces []surface
	var runs []cliRun

	// The daemons: PowerDNS, a syncer with its embedded NATS and the local
	// users of this host's watcher and gateway, the gateway as user gateway.
	p := testpdns.Start(t, "gsqlite3")
	dir := t.TempDir()
	watcherPwFile, gatewayPwFile := filepath.Join(dir, "watcher-password"), filepath.Join(dir, "gateway-password")
	watcherPw, err := bus.EnsurePassword(watcherPwFile)
	if err != nil {
		t.Fatal(err)
	}
	gatewayPw, err := bus.EnsurePassword(gatewayPwFile)
	if err != nil {
		t.Fatal(err)
	}
	s := testenv.StartSyncer(t, testenv.SyncerOptions{Zones: []string{zone}, PDNS: p,
		Extra: []string{"--local-watcher-password-file", watcherPwFile, "--local-gateway-password-file", gatewayPwFile,
			// status below waits for caught-up: the served serial is read by the heal check
			"--status-interval", "1s", "--heal-interval", "1s"}})
	gw := testenv.StartGateway(t, testenv.GatewayOptions{Syncer: s, Zones: []string{zone}, Dyndns: true,
		Extra: []string{"--nats-user", "gateway", "--nats-password-file", gatewayPwFile}})
	e := &env{pdns: []*testpdns.Server{p}, sync: s, gw: gw}
	natsPw, err := os.ReadFile(s.PasswordFile)
	if err != nil {
		t.Fatalf("reading the syncer's nats password: %v", err)
	}
	secrets.add(t, "the syncer's NATS password", strings.TrimSpace(string(natsPw)))
	secrets.add(t, "the local watcher's NATS password", watcherPw)
	secrets.add(t, "the local gateway's NATS password", gatewayPw)
	secrets.add(t, "the PowerDNS API key", p.APIKey)

	natsURL := fmt.Sprintf("nats://127.0.0.1:%d", s.NATSPort)
	admin := []string{"--nats-url", natsURL, "--nats-password-file", s.PasswordFile}
	gwBin, syncBin := testenv.Binary(t, "gateway"), testenv.Binary(t, "syncer")
	mustRun := func(bin string, args ...string) cliRun {
		t.Helper()
		r := runCLI(t, bin, args...)
		if r.err != nil {
			t.Fatalf("%s: %v\n%s%s", r, r.err, r.stdout, r.stderr)
		}
		return r
	}

	// A TSIG key: key add prints alg:name:secret once, on standard output.
	keyAdd := mustRun(gwBin, append([]string{"key", "add", "k1", "--zone", zone}, admin...)...)
	key := strings.TrimSpace(keyAdd.stdout)
	parts := strings.SplitN(key, ":", 3)
	if len(parts) != 3 || parts[0] != "hmac-sha256" || parts[1] != "k1" {
		t.Fatalf("key add printed %q, want hmac-sha256:k1:SECRET", key)
	}
	tsigRaw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(tsigRaw) != 32 {
		t.Fatalf("key add printed secret %q: not 32 bytes of base64 (%v)", parts[2], err)
	}
	secrets.add(t, "the TSIG secret", parts[2])
	secrets.add(t, "the TSIG secret", hex.EncodeToString(tsigRaw))
	secrets.addWhole("the TSIG secret", "raw bytes", string(tsigRaw))

	// A dyndns host and its token: token issue prints it once.
	host := "home." + zone
	runs = append(runs, mustRun(gwBin, append([]string{"host", "add", host, "--ttl", "30"}, admin...)...))
	tokenIssue := mustRun(gwBin, append([]string{"token", "issue", host}, admin...)...)
	token := strings.TrimSpace(tokenIssue.stdout)
	if len(token) < 40 || strings.ContainsAny(token, " \n:") {
		t.Fatalf("token issue printed %q, want one token", tokenIssue.stdout)
	}
	secrets.add(t, "the dyndns token", token)
	secrets.addWhole("the dyndns token", "Basic credentials", base64.StdEncoding.EncodeToString([]byte(host+":"+token)))

	// Wrong credentials a client sent are secrets too: often a near miss
	// of the right one, or another system's.
	wrongTSIG := randomText(t, 32, base64.StdEncoding.EncodeToString)
	wrongToken := randomText(t, 32, base64.RawURLEncoding.EncodeToString)
	wrongNATSFile := filepath.Join(dir, "wrong-nats-password")
	wrongNATS, err := bus.EnsurePassword(wrongNATSFile)
	if err != nil {
		t.Fatal(err)
	}
	secrets.add(t, "a wrong TSIG secret", wrongTSIG)
	secrets.add(t, "a wrong dyndns token", wrongToken)
	secrets.addWhole("a wrong dyndns token", "Basic credentials", base64.StdEncoding.EncodeToString([]byte(host+":"+wrongToken)))
	secrets.add(t, "a wrong NATS password", wrongNATS)

	// The outputs whose job is to print a secret hold that one, and no other.
	for _, c := range []struct {
		run  cliRun
		want string
	}{{keyAdd, "the TSIG secret"}, {tokenIssue, "the dyndns token"}} {
		if found := secrets.find(c.run.stdout); len(found) != 1 || found[c.want] == "" {
			t.Errorf("%s: standard output %q should hold %s and nothing else found: %v", c.run, c.run.stdout, c.want, found)
		}
		runs = append(runs, cliRun{argv: c.run.argv, stderr: c.run.stderr}) // its stderr is checked with the rest
	}
	runs = append(runs, mustRun(gwBin, append([]string{"key", "list"}, admin...)...),
		mustRun(gwBin, append([]string{"key", "list", "--json"}, admin...)...),
		mustRun(gwBin, append([]string{"host", "list", "--json"}, admin...)...))

	// TSIG: an add and a delete signed with the key, an update signed
	// with a wrong secret (NOTAUTH, nothing published).
	e.mustNsupdate(t, key, "update add h1."+zone+" 60 A 192.0.2.1\nupdate add h1."+zone+" 60 TXT \"x\"")
	e.waitDig(t, "h1."+zone, "A", "192.0.2.1")
	e.mustNsupdate(t, key, "update delete h1."+zone+" TXT")
	e.waitDig(t, "h1."+zone, "TXT")
	e.failNsupdate(t, parts[0]+":"+parts[1]+":"+wrongTSIG, "update add bad."+zone+" 60 A 192.0.2.9", "NOTAUTH")

	// dyndns2 with the token and with a wrong one.
	if got := e.curl(t, host, token, "hostname="+host+"&myip=192.0.2.50"); got != "good 192.0.2.50" {
		t.Fatalf("dyndns update with the token: %q", got)
	}
	e.waitDig(t, host, "A", "192.0.2.50")
	if got := e.curl(t, host, wrongToken, "hostname="+host+"&myip=192.0.2.66"); got != "badauth" {
		t.Fatalf("dyndns update with a wrong token: %q", got)
	}

	// publish as the admin user and as the local watcher (its origin is
	// the syncer's node id), status, and status with a wrong password.
	runs = append(runs, mustRun(syncBin, "publish", "--nats-url", natsURL, "--nats-password-file", s.PasswordFile,
		"--name", "pub."+zone, "--type", "A", "--origin", "ops", "192.0.2.60"))
	e.waitDig(t, "pub."+zone, "A", "192.0.2.60")
	runs = append(runs, mustRun(syncBin, "publish", "--nats-url", natsURL, "--nats-user", "watcher",
		"--nats-password-file", watcherPwFile, "--name", "w."+zone, "--type", "A", "--origin", "test", "192.0.2.61"))
	e.waitDig(t, "w."+zone, "A", "192.0.2.61")
	var status cliRun
	testenv.Eventually(t, 20*time.Second, "zonecast-syncer status exits 0, caught up", func() bool {
		status = runCLI(t, syncBin, "status", "--nats-url", natsURL, "--nats-password-file", s.PasswordFile)
		runs = append(runs, status)
		return status.err == nil && strings.Contains(status.stdout, "caught-up")
	})
	wrongStatus := runCLI(t, syncBin, "status", "--nats-url", natsURL, "--nats-password-file", wrongNATSFile)
	if wrongStatus.err == nil {
		t.Fatalf("status with a wrong NATS password succeeded:\n%s", wrongStatus.stdout)
	}
	runs = append(runs, wrongStatus)

	// The refusals happened (so that their log lines are among those
	// searched) and were counted.
	if n := gw.Metric(t, `zonecast_gateway_tsig_failures_total{error="BADSIG"}`); n < 1 { // nsupdate may resend over UDP
		t.Errorf("gateway counted %v BADSIG failures, want 1", n)
	}
	if n := gw.Metric(t, `zonecast_gateway_dyndns_answers_total{answer="badauth"}`); n != 1 {
		t.Errorf("gateway counted %v dyndns badauth answers, want 1", n)
	}

	// What the daemons serve, and their command lines, while they run.
	for _, d := range []struct {
		label string
		addr  string
		paths []string
		pid   int
	}{
		{"zonecast-syncer", s.HTTPAddr, []string{"/metrics", "/status", "/status/fleet", "/readyz"}, s.PID()},
		{"zonecast-gateway", gw.HTTPAddr, []string{"/metrics", "/readyz"}, gw.PID()},
	} {
		for _, path := range d.paths {
			surfaces = append(surfaces, surface{d.label + " " + path, httpGet(t, d.addr, path)})
		}
		surfaces = append(surfaces, surface{d.label + "'s command line", cmdline(t, d.label, d.pid)})
	}
	// The whole logs, shutdown included.
	gw.Stop(t)
	s.Stop(t)
	// Guard the search itself: each log is the run's, at debug, with the
	// logins of the local users, the wrong password's and the refusals.
	for _, l := range []struct {
		label, path string
		want        []string
	}{
		{"zonecast-syncer", s.LogPath, []string{`"level":"debug"`, "$G/user:gateway", "$G/user:watcher",
			`authentication error - User \"zonecast\"`}},
		{"zonecast-gateway", gw.LogPath, []string{`"level":"debug"`, "tsig verification failed: BADSIG", `"answer":"badauth"`}},
	} {
		b, err := os.ReadFile(l.path)
		if err != nil {
			t.Fatalf("reading the %s log: %v", l.label, err)
		}
		for _, w := range l.want {
			if !strings.Contains(string(b), w) {
				t.Errorf("the %s log (%s) has no %s: not the log of this run at debug?", l.label, l.path, w)
			}
		}
		surfaces = append(surfaces, surface{"the " + l.label + " log", string(b)})
	}
	for _, r := range runs {
		surfaces = append(surfaces, surface{"the command line of `" + r.String() + "`", r.String()},
			surface{"the standard output of `" + r.String() + "`", r.stdout},
			surface{"the standard error of `" + r.String() + "`", r.stderr})
	}

	for _, sf := range surfaces {
		found := secrets.find(sf.text)
		names := make([]string, 0, len(found))
		for name := range found {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			t.Errorf("%s leaked into %s: %s", name, sf.where, found[name])
		}
	}
}
