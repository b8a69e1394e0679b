package main

import (
	"errors"
	"flag"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/zonecast/zonecast/internal/cli"
	"github.com/zonecast/zonecast/internal/confirm"
)

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
		"help":               {args: []string{"--help"}, err: flag.ErrHelp},
		"no zone":            {err: cli.ErrUsage},
		"wildcard zone":      {args: []string{"--zone", "*.example"}, err: cli.ErrUsage},
		"bad confirm":        {args: []string{"--zone", "a.example", "--confirm", "most"}, err: cli.ErrUsage},
		"cert without key":   {args: []string{"--zone", "a.example", "--dyndns-tls-cert", "c.pem"}, err: cli.ErrUsage},
		"zero rate":          {args: []string{"--zone", "a.example", "--dyndns-rate", "0"}, err: cli.ErrUsage},
		"no publish timeout": {args: []string{"--zone", "a.example", "--publish-timeout", "0s"}, err: cli.ErrUsage},
		"empty stream":       {args: []string{"--zone", "a.example", "--stream", ""}, err: cli.ErrUsage},
		"stray argument":     {args: []string{"--zone", "a.example", "extra"}, err: cli.ErrUsage},
		"bad flag":           {args: []string{"--zone", "a.example", "--nope"}, err: cli.ErrUsage},
		"bad environment":    {env: map[string]string{"ZONECAST_ZONE": "a.example", "ZONECAST_DYNDNS_BURST": "many"}, err: cli.ErrUsage},
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
