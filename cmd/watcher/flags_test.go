package main

import (
	"errors"
	"flag"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/zonecast/zonecast/internal/cli"
)

func TestParseFlags(t *testing.T) {
	// Not parallel: it points cli.DefaultPasswordFiles at a temp file.
	pw := filepath.Join(t.TempDir(), "nats-password")
	if err := os.WriteFile(pw, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := cli.DefaultPasswordFiles
	cli.DefaultPasswordFiles = []string{pw}
	t.Cleanup(func() { cli.DefaultPasswordFiles = old })

	tests := map[string]struct {
		args  []string
		env   map[string]string
		check func(t *testing.T, c *watcherConfig)
		err   error
	}{
		"defaults": {
			args: []string{"--zone", "LXD.example.com", "--node-id", "Host1.Example.Com"},
			check: func(t *testing.T, c *watcherConfig) {
				m := c.mapping
				if !reflect.DeepEqual(m.Zones, []string{"lxd.example.com."}) || m.Origin != "host1-example-com" ||
					m.TTL != 60 || m.NoA || m.NoAAAA || m.ProjectTemplate != "{instance}.{project}" {
					t.Errorf("mapping %+v", m)
				}
				if c.follow.PollInterval != 30*time.Second || c.follow.Lease != 10*time.Minute || c.follow.DryRun || c.follow.Projects != nil {
					t.Errorf("follow %+v", c.follow)
				}
				if c.nats.URL != "nats://127.0.0.1:4222" || c.nats.User != "zonecast" || c.nats.PasswordFile != pw {
					t.Errorf("nats %+v", c.nats)
				}
				if c.stream != "ZONECAST" || c.prefix != "zonecast.rr" || c.httpListen != "127.0.0.1:9471" {
					t.Errorf("stream %q prefix %q http %q", c.stream, c.prefix, c.httpListen)
				}
			},
		},
		"everything from the environment, lists comma separated": {
			env: map[string]string{
				"ZONECAST_ZONE": "a.example, b.example", "ZONECAST_NODE_ID": "n1", "ZONECAST_PROJECT": "default,dev",
				"ZONECAST_IPV4": "false", "ZONECAST_NIC": "eth0,eth1", "ZONECAST_ALLOW_CIDR": "2001:db8:1::5/64",
				"ZONECAST_DENY_CIDR": "10.0.0.0/8", "ZONECAST_TTL": "300", "ZONECAST_ACME_CHALLENGE_NS": "true",
				"ZONECAST_REVERSE_ZONE": "8.b.d.0.1.0.0.2.ip6.arpa", "ZONECAST_POLL_INTERVAL": "5s", "ZONECAST_LEASE": "3s",
				"ZONECAST_NAME_TEMPLATE": "{instance}", "ZONECAST_DRY_RUN": "1", "ZONECAST_NATS_PASSWORD_FILE": "/etc/x",
			},
			check: func(t *testing.T, c *watcherConfig) {
				m := c.mapping
				if !reflect.DeepEqual(m.Zones, []string{"a.example.", "b.example."}) || m.Origin != "n1" || !m.NoA || m.NoAAAA ||
					!reflect.DeepEqual(m.NICs, []string{"eth0", "eth1"}) || m.TTL != 300 || !m.ACMEChallengeNS ||
					m.ProjectTemplate != "{instance}" || !reflect.DeepEqual(m.ReverseZones, []string{"8.b.d.0.1.0.0.2.ip6.arpa."}) {
					t.Errorf("mapping %+v", m)
				}
				if !reflect.DeepEqual(m.Allow, []netip.Prefix{netip.MustParsePrefix("2001:db8:1::/64")}) ||
					!reflect.DeepEqual(m.Deny, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}) {
					t.Errorf("allow %v deny %v", m.Allow, m.Deny)
				}
				if !reflect.DeepEqual(c.follow.Projects, []string{"default", "dev"}) || c.follow.PollInterval != 5*time.Second ||
					c.follow.Lease != 3*time.Second || !c.follow.DryRun {
					t.Errorf("follow %+v", c.follow)
				}
				if c.nats.PasswordFile != "/etc/x" {
					t.Errorf("password file %q", c.nats.PasswordFile)
				}
			},
		},
		"command line wins over the environment": {
			args: []string{"--zone", "cli.example", "--ttl", "120"},
			env:  map[string]string{"ZONECAST_ZONE": "env.example", "ZONECAST_TTL": "30"},
			check: func(t *testing.T, c *watcherConfig) {
				if !reflect.DeepEqual(c.mapping.Zones, []string{"cli.example."}) || c.mapping.TTL != 120 {
					t.Errorf("mapping %+v", c.mapping)
				}
			},
		},
		"repeatable flags": {
			args: []string{"--zone", "a.example", "--zone", "b.example", "--project", "p1", "--project", "p2", "--reverse-zone", "1.99.10.in-addr.arpa"},
			check: func(t *testing.T, c *watcherConfig) {
				if len(c.mapping.Zones) != 2 || !reflect.DeepEqual(c.follow.Projects, []string{"p1", "p2"}) || len(c.mapping.ReverseZones) != 1 {
					t.Errorf("config %+v %+v", c.mapping, c.follow)
				}
			},
		},
		"creds file: no default password": {
			args: []string{"--zone", "a.example", "--nats-creds-file", "/etc/creds"},
			check: func(t *testing.T, c *watcherConfig) {
				if c.nats.PasswordFile != "" || c.nats.User != "" || c.nats.CredsFile != "/etc/creds" {
					t.Errorf("nats %+v", c.nats)
				}
			},
		},
		"remote lxd": {
			args: []string{"--zone", "a.example", "--lxd-url", "https://h:8443", "--lxd-cert", "c.pem", "--lxd-key", "k.pem", "--lxd-server-cert", "s.pem"},
			check: func(t *testing.T, c *watcherConfig) {
				if c.lxd.URL != "https://h:8443" || c.lxd.CertFile != "c.pem" || c.lxd.KeyFile != "k.pem" || c.lxd.ServerCertFile != "s.pem" {
					t.Errorf("lxd %+v", c.lxd)
				}
			},
		},
		"help":                      {args: []string{"--help"}, err: flag.ErrHelp},
		"no zone":                   {err: errUsage},
		"bad zone":                  {args: []string{"--zone", "a..b"}, err: errUsage},
		"bad node id":               {args: []string{"--zone", "a.example", "--node-id", "a b"}, err: errUsage},
		"both families off":         {args: []string{"--zone", "a.example", "--ipv4=false", "--ipv6=false"}, err: errUsage},
		"bad cidr":                  {args: []string{"--zone", "a.example", "--allow-cidr", "10.0.0.1"}, err: errUsage},
		"bad template":              {args: []string{"--zone", "a.example", "--name-template", "{project}"}, err: errUsage},
		"bad reverse zone":          {args: []string{"--zone", "a.example", "--reverse-zone", "example.com"}, err: errUsage},
		"ttl zero":                  {args: []string{"--zone", "a.example", "--ttl", "0"}, err: errUsage},
		"lease under a second":      {args: []string{"--zone", "a.example", "--lease", "500ms"}, err: errUsage},
		"poll too fast":             {args: []string{"--zone", "a.example", "--poll-interval", "1ms"}, err: errUsage},
		"url without cert":          {args: []string{"--zone", "a.example", "--lxd-url", "https://h:8443"}, err: errUsage},
		"socket and url":            {args: []string{"--zone", "a.example", "--lxd-socket", "/s", "--lxd-url", "https://h", "--lxd-cert", "c", "--lxd-key", "k"}, err: errUsage},
		"cert without url":          {args: []string{"--zone", "a.example", "--lxd-cert", "c.pem"}, err: errUsage},
		"stray argument":            {args: []string{"--zone", "a.example", "extra"}, err: errUsage},
		"bad bool from environment": {env: map[string]string{"ZONECAST_ZONE": "a.example", "ZONECAST_IPV4": "maybe"}, err: errUsage},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := parseFlags(tc.args, cli.LookupMap(tc.env), io.Discard)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}
