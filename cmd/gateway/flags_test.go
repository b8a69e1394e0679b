package main

import (
	"errors"
	"flag"
	"io"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/zonecast/zonecast/internal/cli"
	"github.com/zonecast/zonecast/internal/confirm"
)

func TestDyndnsURL(t *testing.T) {
	t.Parallel()
	host, _ := os.Hostname()
	for _, tc := range []struct {
		listen string
		tls    bool
		want   string
	}{
		{"", false, ""},
		{"127.0.0.1:8245", false, "http://127.0.0.1:8245"},
		{"[::1]:8245", true, "https://[::1]:8245"},
		{"192.0.2.1:80", false, "http://192.0.2.1"},
		{"0.0.0.0:443", true, "https://" + host},
		{":8245", false, "http://" + host + ":8245"},
	} {
		if got := dyndnsURL(tc.listen, tc.tls); got != tc.want {
			t.Errorf("dyndnsURL(%q, %v) = %q, want %q", tc.listen, tc.tls, got, tc.want)
		}
	}
}

func TestParseFlags(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		args  []string
		env   map[string]string
		check func(t *testing.T, c *gatewayConfig)
		err   error
	}{
		"defaults": {
			args: []string{"--zone", "Dyn.Example.com", "--node-id", "gw1", "--nats-creds-file", "/etc/creds"},
			check: func(t *testing.T, c *gatewayConfig) {
				if !reflect.DeepEqual(c.zones, []string{"dyn.example.com."}) || c.nodeID != "gw1" {
					t.Errorf("zones %q node %q", c.zones, c.nodeID)
				}
				if c.nats.URL != "nats://127.0.0.1:4222" || c.nats.Name != "zonecast-gateway/gw1" || c.nats.User != "" {
					t.Errorf("nats %+v", c.nats)
				}
				if c.stream != "ZONECAST" || c.prefix != "zonecast.rr" || c.dnsListen != "127.0.0.1:5353" ||
					c.dyndnsListen != "" || c.httpListen != "127.0.0.1:9472" || c.confirm != confirm.None ||
					c.publishTimeout != 5*time.Second || c.appliedPrefix != "zonecast.applied" {
					t.Errorf("config %+v", c)
				}
				if w := c.web; w.listen != "" || w.sessionTTL != 12*time.Hour || w.signup || w.signupQuota != 5 || w.dyndnsURL != "" {
					t.Errorf("web %+v", w)
				}
			},
		},
		"web page from the environment": {
			env: map[string]string{"ZONECAST_ZONE": "a.example,b.example", "ZONECAST_WEB_LISTEN": "127.0.0.1:8080",
				"ZONECAST_WEB_SIGNUP": "true", "ZONECAST_WEB_SIGNUP_ZONES": "B.example", "ZONECAST_WEB_SIGNUP_QUOTA": "2",
				"ZONECAST_WEB_SESSION_TTL": "1h", "ZONECAST_DYNDNS_LISTEN": "127.0.0.1:8245"},
			check: func(t *testing.T, c *gatewayConfig) {
				w := c.web
				if w.listen != "127.0.0.1:8080" || !w.signup || !reflect.DeepEqual(w.signupZones, []string{"b.example."}) ||
					w.signupQuota != 2 || w.sessionTTL != time.Hour || w.dyndnsURL != "http://127.0.0.1:8245" {
					t.Errorf("web %+v", w)
				}
			},
		},
		"dyndns URL from an HTTPS listener": {
			args: []string{"--zone", "a.example", "--dyndns-listen", "192.0.2.1:443", "--dyndns-tls-cert", "c.pem", "--dyndns-tls-key", "k.pem"},
			check: func(t *testing.T, c *gatewayConfig) {
				if c.web.dyndnsURL != "https://192.0.2.1" {
					t.Errorf("dyndns URL %q", c.web.dyndnsURL)
				}
			},
		},
		"dyndns URL given": {
			args: []string{"--zone", "a.example", "--dyndns-listen", "127.0.0.1:8245", "--web-dyndns-url", "https://dyn.example.net/dyn"},
			check: func(t *testing.T, c *gatewayConfig) {
				if c.web.dyndnsURL != "https://dyn.example.net/dyn" {
					t.Errorf("dyndns URL %q", c.web.dyndnsURL)
				}
			},
		},
		"from the environment": {
			env: map[string]string{"ZONECAST_ZONE": "a.example, b.example", "ZONECAST_CONFIRM": "all",
				"ZONECAST_DYNDNS_LISTEN": "127.0.0.1:8245"},
			check: func(t *testing.T, c *gatewayConfig) {
				if !reflect.DeepEqual(c.zones, []string{"a.example.", "b.example."}) || c.confirm != confirm.All ||
					c.dyndnsListen != "127.0.0.1:8245" {
					t.Errorf("config %+v", c)
				}
			},
		},
		"command line wins over the environment": {
			args: []string{"--zone", "cli.example"},
			env:  map[string]string{"ZONECAST_ZONE": "env.example"},
			check: func(t *testing.T, c *gatewayConfig) {
				if !reflect.DeepEqual(c.zones, []string{"cli.example."}) {
					t.Errorf("zones %q", c.zones)
				}
			},
		},
		"help":                 {args: []string{"--help"}, err: flag.ErrHelp},
		"no zone":              {err: cli.ErrUsage},
		"wildcard zone":        {args: []string{"--zone", "*.example"}, err: cli.ErrUsage},
		"bad confirm":          {args: []string{"--zone", "a.example", "--confirm", "most"}, err: cli.ErrUsage},
		"cert without key":     {args: []string{"--zone", "a.example", "--dyndns-tls-cert", "c.pem"}, err: cli.ErrUsage},
		"zero rate":            {args: []string{"--zone", "a.example", "--dyndns-rate", "0"}, err: cli.ErrUsage},
		"no publish timeout":   {args: []string{"--zone", "a.example", "--publish-timeout", "0s"}, err: cli.ErrUsage},
		"empty stream":         {args: []string{"--zone", "a.example", "--stream", ""}, err: cli.ErrUsage},
		"stray argument":       {args: []string{"--zone", "a.example", "extra"}, err: cli.ErrUsage},
		"bad flag":             {args: []string{"--zone", "a.example", "--nope"}, err: cli.ErrUsage},
		"bad environment":      {env: map[string]string{"ZONECAST_ZONE": "a.example", "ZONECAST_DYNDNS_BURST": "many"}, err: cli.ErrUsage},
		"web cert without key": {args: []string{"--zone", "a.example", "--web-cert-file", "c.pem"}, err: cli.ErrUsage},
		"web short session":    {args: []string{"--zone", "a.example", "--web-session-ttl", "0s"}, err: cli.ErrUsage},
		"web signup zone not served": {args: []string{"--zone", "a.example", "--web-signup", "--web-signup-zones", "b.example"},
			err: cli.ErrUsage},
		"web signup zones without signup": {args: []string{"--zone", "a.example", "--web-signup-zones", "a.example"}, err: cli.ErrUsage},
		"web signup quota 0":              {args: []string{"--zone", "a.example", "--web-signup-quota", "0"}, err: cli.ErrUsage},
		"web dyndns URL without scheme":   {args: []string{"--zone", "a.example", "--web-dyndns-url", "dyn.example.net"}, err: cli.ErrUsage},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
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
