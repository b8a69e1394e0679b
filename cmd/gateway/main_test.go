package main

import (
	"bytes"
	"strings"
	"testing"
)

// Every command's --help says how to call it and lists each of its flags
// with its variable; the gateway's own lists every command.
func TestHelpListsFlags(t *testing.T) {
	t.Parallel()
	p := program()
	if err := p.Check(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	p.Stderr = &out
	if code := p.Main([]string{"--help"}); code != 0 {
		t.Fatalf("exit code %d, want 0:\n%s", code, out.String())
	}
	for _, a := range adminCommands {
		if !strings.Contains(out.String(), "\n  "+a.name+" ") {
			t.Errorf("help does not list %q:\n%s", a.name, out.String())
		}
	}
}

// Usage errors of the admin commands exit 2 before they connect to NATS.
func TestAdminUsage(t *testing.T) {
	t.Parallel()
	// Nothing listens there: a command that connected would fail (exit 1).
	const nowhere = "--nats-url=nats://127.0.0.1:1"
	tests := map[string]struct {
		args   []string
		stderr string
	}{
		"group only":      {[]string{"key"}, "zonecast-gateway: usage error: key needs a command (see --help)\n"},
		"unknown command": {[]string{"token", "renew", "h.example"}, "zonecast-gateway: usage error: unknown command \"token\" \"renew\"\n"},
		"no argument":     {[]string{"host", "remove", nowhere}, "zonecast-gateway host remove: usage error: host remove needs 1 argument(s)\n"},
		"short lease": {[]string{"key", "add", "k1", "--zone", "z.example", "--lease", "500ms", nowhere},
			"zonecast-gateway key add: usage error: --lease under 1s\n"},
		"flag of another command": {[]string{"key", "list", nowhere, "--ttl", "5"},
			"zonecast-gateway key list: usage error: flag provided but not defined: -ttl\n"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := program()
			var stderr bytes.Buffer
			p.Stderr = &stderr
			if code := p.Main(tc.args); code != 2 {
				t.Fatalf("exit code %d, want 2; stderr %q", code, stderr.String())
			}
			if !strings.HasSuffix(stderr.String(), tc.stderr) {
				t.Errorf("stderr %q, want it to end with %q", stderr.String(), tc.stderr)
			}
		})
	}
}
