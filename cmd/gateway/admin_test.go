package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/zonecast/zonecast/internal/account"
	"github.com/zonecast/zonecast/internal/gwstore"
	"github.com/zonecast/zonecast/internal/testenv"
)

// The admin commands, each run as the program runs it, against an
// embedded nats-server: what they print, and their exit codes.
func TestAdminCommands(t *testing.T) {
	// Not parallel: it replaces stdout.
	dir := t.TempDir()
	ns := testenv.StartCommandNATS(t, "admin-test")
	natsFlags := ns.Flags
	userPw, shortPw, newPw := filepath.Join(dir, "user-password"), filepath.Join(dir, "short-password"), filepath.Join(dir, "new-password")
	for f, content := range map[string]string{userPw: "first password\n", shortPw: "short\n", newPw: "  second password  \n"} {
		if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	old := stdout
	stdout = &out
	t.Cleanup(func() { stdout = old })
	admin := func(t *testing.T, code int, args ...string) string {
		t.Helper()
		out.Reset()
		p := program()
		var stderr bytes.Buffer
		p.Stderr = &stderr
		if got := p.Main(append(args, natsFlags...)); got != code {
			t.Fatalf("%s: exit code %d, want %d; stderr %q", strings.Join(args, " "), got, code, stderr.String())
		}
		return out.String()
	}

	steps := []struct {
		args []string
		code int
		out  string // a regular expression for the whole output
	}{
		{[]string{"key", "add", "k1", "--zone", "z.example", "--type", "A", "--lease", "1h"}, 0, `^hmac-sha256:k1:[A-Za-z0-9+/]{43}=\n$`},
		{[]string{"key", "add", "k1", "--zone", "z.example"}, 1, `^$`}, // exists already
		{[]string{"key", "list"}, 0, `^k1\.\thmac-sha256\torigin=\S+\tzones=z\.example\.\tnames=\ttypes=A\tlease=1h0m0s\n$`},
		{[]string{"key", "list", "--json"}, 0, `^\{.*"name":"k1\.".*\}\n$`},
		{[]string{"key", "remove", "k1.z"}, 1, `^$`}, // another name
		{[]string{"key", "remove", "K1."}, 0, `^$`},
		{[]string{"key", "list"}, 0, `^$`},
		{[]string{"host", "add", "h.z.example", "--ttl", "30"}, 0, `^$`},
		{[]string{"token", "issue", "h.z.example"}, 0, `^\S{40,}\n$`},
		{[]string{"token", "issue", "H.Z.example."}, 0, `^\S{40,}\n$`},
		{[]string{"host", "list"}, 0, `^h\.z\.example\.\tttl=30\tlease=0s\ttokens=\S+,\S+\n$`},
		{[]string{"token", "revoke", "h.z.example", "no-such-id"}, 1, `^$`},
		{[]string{"token", "revoke", "h.z.example"}, 0, `^$`},
		{[]string{"token", "revoke", "h.z.example"}, 1, `^$`}, // none left
		{[]string{"host", "list", "--json"}, 0, `^\{"lease_seconds":0,"name":"h\.z\.example\.","tokens":\[\],"ttl":30\}\n$`},
		{[]string{"host", "remove", "h.z.example"}, 0, `^$`},
		{[]string{"host", "list"}, 0, `^$`},
		{[]string{"token", "issue", "h.z.example"}, 1, `^$`}, // no such host
		{[]string{"key", "remove", "a..b"}, 2, `^$`},

		{[]string{"user", "add", "alice", "--zone", "z.example", "--zone", "Y.example.", "--quota", "3"}, 0, `^[A-Za-z0-9_-]{22}\n$`},
		{[]string{"user", "add", "alice", "--password-file", userPw}, 1, `^$`}, // exists already
		{[]string{"user", "add", "Bob", "--password-file", userPw, "--admin"}, 0, `^$`},
		{[]string{"user", "add", "bad name"}, 2, `^$`},
		{[]string{"user", "add", "carol", "--password-file", shortPw}, 1, `^$`},
		{[]string{"user", "add", "carol", "--password-file", filepath.Join(dir, "missing")}, 1, `^$`},
		{[]string{"user", "add", "carol", "--quota", "0"}, 2, `^$`},
		{[]string{"user", "list"}, 0, `^alice\tadmin=false\tquota=3\tzones=y\.example\.,z\.example\.\ttotp=false\tlocked=no\n` +
			`bob\tadmin=true\tquota=5\tzones=\ttotp=false\tlocked=no\n$`},
		{[]string{"user", "list", "--json"}, 0, `^\{"admin":false,"created":"[^"]+","failed_logins":0,"locked":false,"name":"alice","quota":3,"totp":false,"zones":\["y\.example\.","z\.example\."\]\}\n\{[^$]*"name":"bob"[^$]*\}\n$`},
		{[]string{"host", "add", "h2.z.example", "--owner", "alice", "--prefix-from", "H.z.example", "--interface-id", "0::1"}, 0, `^$`},
		{[]string{"host", "add", "h3.z.example", "--owner", "nobody"}, 1, `^$`},
		{[]string{"host", "add", "h3.z.example", "--interface-id", "::1"}, 1, `^$`}, // without --prefix-from
		{[]string{"host", "add", "h3.z.example", "--prefix-from", "h.z.example", "--prefix-len", "128", "--interface-id", "::1"}, 1, `^$`},
		{[]string{"host", "add", "h3.z.example", "--prefix-from", "h.z.example", "--prefix-len", "56", "--interface-id", "::3:0:0:0:1"}, 0, `^$`},
		{[]string{"host", "list"}, 0, `^h2\.z\.example\.\tttl=60\tlease=0s\ttokens=\towner=alice\tprefix=h\.z\.example\./64\tinterface_id=::1\n` +
			`h3\.z\.example\.\tttl=60\tlease=0s\ttokens=\tprefix=h\.z\.example\./56\tinterface_id=::3:0:0:0:1\n$`},
		{[]string{"host", "list", "--json"}, 0, `^\{"interface_id":"::1","lease_seconds":0,"name":"h2\.z\.example\.","owner":"alice","prefix_from":"h\.z\.example\.","prefix_len":64,"tokens":\[\],"ttl":60\}\n\{.*\}\n$`},
		{[]string{"user", "remove", "alice"}, 1, `^$`}, // owns h2
		{[]string{"host", "remove", "h2.z.example"}, 0, `^$`},
		{[]string{"user", "remove", "alice"}, 0, `^$`},
		{[]string{"user", "remove", "alice"}, 1, `^$`},
		{[]string{"user", "passwd", "bob"}, 2, `^$`}, // no --password-file
		{[]string{"user", "passwd", "nobody", "--password-file", userPw}, 1, `^$`},
		{[]string{"user", "totp-reset", "nobody"}, 1, `^$`},
	}
	for _, s := range steps {
		got := admin(t, s.code, s.args...)
		if !regexp.MustCompile(s.out).MatchString(got) {
			t.Fatalf("%s printed %q, want %s", strings.Join(s.args, " "), got, s.out)
		}
	}

	// passwd and totp-reset, read back from the bucket: bob, locked out
	// with a second factor and a session, gets a new password, no lock
	// and no session; then loses the second factor.
	js, ctx := ns.JetStream(t)
	st, err := gwstore.Open(ctx, js, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	bob, rev, err := st.User(ctx, "bob")
	if err != nil || !bob.Admin || !account.CheckPassword(bob.PasswordHash, "first password") {
		t.Fatalf("bob %+v (%v)", bob, err)
	}
	for range 6 {
		bob = bob.Failed(time.Now())
	}
	if bob.TOTPSecret, err = account.NewTOTPSecret(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutUser(ctx, bob, rev); err != nil {
		t.Fatal(err)
	}
	_, sess, _ := account.NewSession("bob", time.Now(), time.Hour)
	if err := st.PutSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if got := admin(t, 0, "user", "list"); !regexp.MustCompile(`\ttotp=true\tlocked=(1m0s|5\ds)\n`).MatchString(got) {
		t.Fatalf("user list of a locked user: %q", got)
	}
	admin(t, 0, "user", "passwd", "bob", "--password-file", newPw)
	bob, _, _ = st.User(ctx, "bob")
	if !account.CheckPassword(bob.PasswordHash, "second password") || bob.FailedLogins != 0 || !bob.LockedUntil.IsZero() || bob.TOTPSecret == "" {
		t.Fatalf("after passwd %+v", bob)
	}
	if _, err := st.Session(ctx, sess.ID); !errors.Is(err, gwstore.ErrNotFound) {
		t.Fatalf("a session after passwd: %v", err)
	}
	admin(t, 0, "user", "totp-reset", "bob")
	if bob, _, _ = st.User(ctx, "bob"); bob.TOTPSecret != "" || !account.CheckPassword(bob.PasswordHash, "second password") {
		t.Fatalf("after totp-reset %+v", bob)
	}
}
