package main

import (
	"errors"
	"io"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/zonecast/zonecast/internal/cli"
	"github.com/zonecast/zonecast/internal/register"
)

func TestParseFlags(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		args  []string
		env   map[string]string
		check func(t *testing.T, c *registerConfig)
		err   bool
	}{
		"defaults": {
			args: []string{"--zone", "LAN.example.com", "--name", "Laptop"},
			check: func(t *testing.T, c *registerConfig) {
				if c.zone != "lan.example.com." || c.label != "laptop" || c.name != "laptop.lan.example.com." {
					t.Errorf("zone %q label %q name %q", c.zone, c.label, c.name)
				}
				if !reflect.DeepEqual(c.gateways, []string{"127.0.0.1:5353"}) || c.stateDir != "/var/lib/zonecast-register" {
					t.Errorf("gateways %q state dir %q", c.gateways, c.stateDir)
				}
				if !reflect.DeepEqual(c.filter, register.Filter{}) {
					t.Errorf("filter %+v", c.filter)
				}
				if c.ttl != 300 || c.lease != 2*time.Hour || c.keyLease != 168*time.Hour || c.keep || c.timeout != 2*time.Second || c.tcp || c.httpListen != "" {
					t.Errorf("config %+v", c)
				}
				if c.log.Level != "info" || c.log.Format != "json" {
					t.Errorf("log %+v", c.log)
				}
			},
		},
		"everything from the environment, lists comma separated": {
			env: map[string]string{
				"ZONECAST_ZONE": "lan.example.com", "ZONECAST_NAME": "desk", "ZONECAST_GATEWAY": "192.0.2.53:53, [2001:db8::53]:5353",
				"ZONECAST_STATE_DIR": "/tmp/k", "ZONECAST_INTERFACE": "eth0,wlan0", "ZONECAST_PREFIX": "2001:db8:1::5/64,192.0.2.0/24",
				"ZONECAST_TEMPORARY": "true", "ZONECAST_TTL": "60", "ZONECAST_LEASE": "3s", "ZONECAST_KEY_LEASE": "6s",
				"ZONECAST_KEEP": "1", "ZONECAST_TIMEOUT": "500ms", "ZONECAST_TCP": "true", "ZONECAST_HTTP_LISTEN": "127.0.0.1:9473",
				"ZONECAST_LOG_LEVEL": "debug",
			},
			check: func(t *testing.T, c *registerConfig) {
				if c.name != "desk.lan.example.com." || !reflect.DeepEqual(c.gateways, []string{"192.0.2.53:53", "[2001:db8::53]:5353"}) {
					t.Errorf("name %q gateways %q", c.name, c.gateways)
				}
				want := register.Filter{Interfaces: []string{"eth0", "wlan0"}, Temporary: true,
					Prefixes: []netip.Prefix{netip.MustParsePrefix("2001:db8:1::/64"), netip.MustParsePrefix("192.0.2.0/24")}}
				if !reflect.DeepEqual(c.filter, want) {
					t.Errorf("filter %+v, want %+v", c.filter, want)
				}
				if c.stateDir != "/tmp/k" || c.ttl != 60 || c.lease != 3*time.Second || c.keyLease != 6*time.Second || !c.keep ||
					c.timeout != 500*time.Millisecond || !c.tcp || c.httpListen != "127.0.0.1:9473" || c.log.Level != "debug" {
					t.Errorf("config %+v", c)
				}
			},
		},
		"flags win over the environment": {
			args: []string{"--zone", "a.example", "--name", "x", "--gateway", "192.0.2.1:53"},
			env:  map[string]string{"ZONECAST_ZONE": "b.example", "ZONECAST_GATEWAY": "192.0.2.2:53"},
			check: func(t *testing.T, c *registerConfig) {
				if c.zone != "a.example." || !reflect.DeepEqual(c.gateways, []string{"192.0.2.1:53"}) {
					t.Errorf("zone %q gateways %q", c.zone, c.gateways)
				}
			},
		},
		"no zone":                   {args: []string{"--name", "x"}, err: true},
		"a name of two labels":      {args: []string{"--zone", "lan.example", "--name", "a.b"}, err: true},
		"a name with an underscore": {args: []string{"--zone", "lan.example", "--name", "my_host"}, err: true},
		"an empty name":             {args: []string{"--zone", "lan.example", "--name", ""}, err: true},
		"a gateway without a port":  {args: []string{"--zone", "lan.example", "--name", "x", "--gateway", "192.0.2.1"}, err: true},
		"a gateway port 0":          {args: []string{"--zone", "lan.example", "--name", "x", "--gateway", "192.0.2.1:0"}, err: true},
		"a bad prefix":              {args: []string{"--zone", "lan.example", "--name", "x", "--prefix", "2001:db8::"}, err: true},
		"ttl 0":                     {args: []string{"--zone", "lan.example", "--name", "x", "--ttl", "0"}, err: true},
		"a lease under 1s":          {args: []string{"--zone", "lan.example", "--name", "x", "--lease", "500ms"}, err: true},
		"a lease of part seconds":   {args: []string{"--zone", "lan.example", "--name", "x", "--lease", "1500ms"}, err: true},
		"a key lease under the lease": {args: []string{"--zone", "lan.example", "--name", "x", "--lease", "1h", "--key-lease", "30m"},
			err: true},
		"timeout 0":          {args: []string{"--zone", "lan.example", "--name", "x", "--timeout", "0s"}, err: true},
		"an argument":        {args: []string{"--zone", "lan.example", "--name", "x", "extra"}, err: true},
		"an unknown flag":    {args: []string{"--zone", "lan.example", "--nope"}, err: true},
		"a bad env variable": {args: []string{"--zone", "lan.example", "--name", "x"}, env: map[string]string{"ZONECAST_TTL": "many"}, err: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, err := parseFlags(tc.args, cli.LookupMap(tc.env), io.Discard)
			if tc.err {
				if !errors.Is(err, cli.ErrUsage) {
					t.Fatalf("error %v, want a usage error", err)
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
