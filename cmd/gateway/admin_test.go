package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/bus"
)

// The admin commands, each run as the program runs it, against an
// embedded nats-server: what they print, and their exit codes.
func TestAdminCommands(t *testing.T) {
	// Not parallel: it replaces stdout.
	dir := t.TempDir()
	srv, err := bus.StartEmbedded(bus.ServerConfig{StoreDir: filepath.Join(dir, "js"), Listen: "127.0.0.1:0",
		User: "zonecast", Password: "admin-test-password", Name: "admin-test", Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	pw := filepath.Join(dir, "nats-password")
	if err := os.WriteFile(pw, []byte("admin-test-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	natsFlags := []string{"--nats-url", "nats://" + srv.Addr().String(), "--nats-password-file", pw}
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
	}
	for _, s := range steps {
		got := admin(t, s.code, s.args...)
		if !regexp.MustCompile(s.out).MatchString(got) {
			t.Fatalf("%s printed %q, want %s", strings.Join(s.args, " "), got, s.out)
		}
	}
}
