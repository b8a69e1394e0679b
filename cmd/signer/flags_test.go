package main

import (
	"errors"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/zonecast/zonecast/internal/cli"
	"github.com/zonecast/zonecast/internal/dnssec"
)

func TestParseFlags(t *testing.T) {
	t.Parallel()
	base := []string{"--zone", "Example.COM", "--ns", "ns1.example.com", "--nats-password-file", "/etc/zonecast/signer-nats-password"}
	tests := map[string]struct {
		args  []string
		env   map[string]string
		check func(t *testing.T, c *signerConfig)
		err   bool
	}{
		"defaults": {
			args: base,
			check: func(t *testing.T, c *signerConfig) {
				tp := c.template
				if !reflect.DeepEqual(c.zones, []string{"example.com."}) || !reflect.DeepEqual(tp.NS, []string{"ns1.example.com."}) {
					t.Errorf("zones %v ns %v", c.zones, tp.NS)
				}
				if c.algorithm != dnssec.ECDSAP256SHA256 || c.nsec3 != nil || c.keyDir != DefaultKeyDir || c.origin != "signer" {
					t.Errorf("algorithm %d nsec3 %v key dir %q origin %q", c.algorithm, c.nsec3, c.keyDir, c.origin)
				}
				if tp.Validity != 14*24*time.Hour || tp.Refresh != 72*time.Hour || tp.Jitter != 24*time.Hour {
					t.Errorf("validity %v refresh %v jitter %v", tp.Validity, tp.Refresh, tp.Jitter)
				}
				if tp.SOA.Minimum != 60 || tp.SOA.TTL != 3600 || tp.KeyTTL != 3600 || tp.NSTTL != 3600 {
					t.Errorf("soa %+v key ttl %d ns ttl %d", tp.SOA, tp.KeyTTL, tp.NSTTL)
				}
				if c.nats.User != "signer" || c.prefix != "zonecast.rr" || c.signedPrefix != "zonecast.signed" || c.httpListen != "127.0.0.1:9473" {
					t.Errorf("nats user %q prefix %q signed %q http %q", c.nats.User, c.prefix, c.signedPrefix, c.httpListen)
				}
			},
		},
		"from the environment, NSEC3 and ED25519": {
			env: map[string]string{"ZONECAST_ZONE": "a.example,b.example", "ZONECAST_NS": "ns1.a.example,ns2.a.example",
				"ZONECAST_NATS_PASSWORD_FILE": "/x", "ZONECAST_ALGORITHM": "ed25519", "ZONECAST_NSEC3": "true",
				"ZONECAST_NSEC3_SALT": "ABCD", "ZONECAST_SUBJECT_PREFIX": "fleet2.rr"},
			check: func(t *testing.T, c *signerConfig) {
				if len(c.zones) != 2 || len(c.template.NS) != 2 || c.algorithm != dnssec.ED25519 {
					t.Errorf("zones %v ns %v algorithm %d", c.zones, c.template.NS, c.algorithm)
				}
				if c.nsec3 == nil || c.nsec3.Salt != "abcd" || c.nsec3.Iterations != 0 || c.template.NSEC3 != c.nsec3 {
					t.Errorf("nsec3 %+v", c.nsec3)
				}
				if c.signedPrefix != "fleet2.rr-signed" {
					t.Errorf("signed prefix %q beside another subject prefix", c.signedPrefix)
				}
			},
		},
		"no zone":                     {args: []string{"--ns", "ns1.example.com", "--nats-password-file", "/x"}, err: true},
		"no ns":                       {args: []string{"--zone", "example.com", "--nats-password-file", "/x"}, err: true},
		"no NATS credential":          {args: []string{"--zone", "example.com", "--ns", "ns1.example.com"}, err: true},
		"unknown algorithm":           {args: append([]string{"--algorithm", "RSASHA1"}, base...), err: true},
		"salt without nsec3":          {args: append([]string{"--nsec3-salt", "ab"}, base...), err: true},
		"salt not hex":                {args: append([]string{"--nsec3", "--nsec3-salt", "xyz"}, base...), err: true},
		"refresh beyond the validity": {args: append([]string{"--validity", "48h", "--refresh", "36h"}, base...), err: true},
		"overlapping prefixes":        {args: append([]string{"--signed-prefix", "zonecast.rr.signed"}, base...), err: true},
		"bad origin":                  {args: append([]string{"--origin", "a.b"}, base...), err: true},
		"argument":                    {args: append([]string{"extra"}, base...), err: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, err := parseFlags(tc.args, cli.LookupMap(tc.env), io.Discard)
			if tc.err {
				if !errors.Is(err, cli.ErrUsage) {
					t.Fatalf("err %v, want a usage error", err)
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
