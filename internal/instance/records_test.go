package instance

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/canonical/lxd/shared/api"

	"github.com/zonecast/zonecast/internal/events"
)

// inst builds a running instance with eth0 addresses (and lo, link-local).
func inst(project, name string, conf map[string]string, addrs ...string) Instance {
	st := &api.InstanceState{Status: "Running", Network: map[string]api.InstanceStateNetwork{
		"lo": {Type: "loopback", Addresses: []api.InstanceStateNetworkAddress{
			{Family: "inet", Address: "127.0.0.1", Netmask: "8", Scope: "local"},
			{Family: "inet6", Address: "::1", Netmask: "128", Scope: "local"},
		}},
		"eth0": {Type: "broadcast", Addresses: []api.InstanceStateNetworkAddress{
			{Family: "inet6", Address: "fe80::216:3eff:fe6a:69f7", Netmask: "64", Scope: "link"},
		}},
	}}
	eth0 := st.Network["eth0"]
	for _, a := range addrs {
		nic := "eth0"
		if i := strings.IndexByte(a, '@'); i >= 0 {
			nic, a = a[i+1:], a[:i]
		}
		fam := "inet"
		if strings.Contains(a, ":") {
			fam = "inet6"
		}
		n := st.Network[nic]
		if nic == "eth0" {
			n = eth0
		}
		n.Type = "broadcast"
		n.Addresses = append(n.Addresses, api.InstanceStateNetworkAddress{Family: fam, Address: a, Scope: "global"})
		if nic == "eth0" {
			eth0 = n
		}
		st.Network[nic] = n
	}
	st.Network["eth0"] = eth0
	return Instance{Instance: api.Instance{Name: name, Project: project, Status: "Running", ExpandedConfig: conf}, State: st}
}

func withStatus(i Instance, status string) Instance {
	i.Status, i.State.Status = status, status
	return i
}

func msg(name, typ string, ttl uint32, recs ...string) events.Message {
	return events.Message{Version: 1, Name: name, Type: typ, Origin: "node1", TTL: ttl, Records: recs}
}

func TestRecords(t *testing.T) {
	t.Parallel()
	base := Config{Zones: []string{"lxd.example.com"}, Origin: "node1"}
	v6, v4 := "fd42:99:1:1:216:3eff:fe6a:69f7", "10.99.1.237"
	stopped := inst("", "web", nil, v6, v4)
	stopped.Status, stopped.State.Status = "Stopped", "Stopped"
	noState := inst("", "web", nil)
	noState.State = nil

	tests := map[string]struct {
		cfg   func(*Config)
		inst  Instance
		want  []events.Message
		warns int
		err   error
	}{
		"default project gets A and AAAA, never lo or link-local": {
			inst: inst("default", "web", nil, v6, v4),
			want: []events.Message{msg("web.lxd.example.com.", "A", 60, v4), msg("web.lxd.example.com.", "AAAA", 60, v6)},
		},
		"empty project is default": {
			inst: inst("", "Web", nil, v4),
			want: []events.Message{msg("web.lxd.example.com.", "A", 60, v4)},
		},
		"other project gets a project label": {
			inst: inst("dev", "web", nil, v6),
			want: []events.Message{msg("web.dev.lxd.example.com.", "AAAA", 60, v6)},
		},
		"flat template": {
			cfg:  func(c *Config) { c.ProjectTemplate = "{instance}" },
			inst: inst("dev", "web", nil, v6),
			want: []events.Message{msg("web.lxd.example.com.", "AAAA", 60, v6)},
		},
		"custom template with fixed label": {
			cfg:  func(c *Config) { c.ProjectTemplate = "{instance}.{project}.p" },
			inst: inst("dev", "web", nil, v6),
			want: []events.Message{msg("web.dev.p.lxd.example.com.", "AAAA", 60, v6)},
		},
		"project that is not a label": {
			inst: inst("my_proj", "web", nil, v6),
			err:  ErrName,
		},
		"instance that is not a label": {
			inst: inst("", "-web", nil, v6),
			err:  ErrName,
		},
		"stopped instance publishes nothing": {inst: stopped},
		"freezing instance (lxc copy) keeps its records": {
			inst: withStatus(inst("", "web", nil, v4), "Freezing"),
			want: []events.Message{msg("web.lxd.example.com.", "A", 60, v4)},
		},
		"stopping instance publishes nothing":     {inst: withStatus(inst("", "web", nil, v4), "Stopping")},
		"running without state publishes nothing": {inst: noState},
		"several addresses and NICs, sorted and distinct": {
			inst: inst("", "db", nil, "2001:db8::2", "2001:db8::1", "2001:db8::1@eth1", "192.0.2.1@eth1"),
			want: []events.Message{msg("db.lxd.example.com.", "A", 60, "192.0.2.1"), msg("db.lxd.example.com.", "AAAA", 60, "2001:db8::1", "2001:db8::2")},
		},
		"NIC include list": {
			cfg:  func(c *Config) { c.NICs = []string{"eth1"} },
			inst: inst("", "db", nil, "2001:db8::2", "192.0.2.1@eth1"),
			want: []events.Message{msg("db.lxd.example.com.", "A", 60, "192.0.2.1")},
		},
		"allow list keeps only the public /64": {
			cfg:  func(c *Config) { c.Allow = []netip.Prefix{netip.MustParsePrefix("2001:db8:1::/64")} },
			inst: inst("", "db", nil, "2001:db8:1::5", "2001:db8:2::5", v4),
			want: []events.Message{msg("db.lxd.example.com.", "AAAA", 60, "2001:db8:1::5")},
		},
		"deny list drops the NAT'd 10.x": {
			cfg:  func(c *Config) { c.Deny = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} },
			inst: inst("", "db", nil, v6, v4),
			want: []events.Message{msg("db.lxd.example.com.", "AAAA", 60, v6)},
		},
		"deny wins over allow": {
			cfg: func(c *Config) {
				c.Allow = []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")}
				c.Deny = []netip.Prefix{netip.MustParsePrefix("2001:db8:2::/48")}
			},
			inst: inst("", "db", nil, "2001:db8:1::5", "2001:db8:2::5"),
			want: []events.Message{msg("db.lxd.example.com.", "AAAA", 60, "2001:db8:1::5")},
		},
		"A switched off": {
			cfg:  func(c *Config) { c.NoA = true },
			inst: inst("", "db", nil, v6, v4),
			want: []events.Message{msg("db.lxd.example.com.", "AAAA", 60, v6)},
		},
		"AAAA switched off": {
			cfg:  func(c *Config) { c.NoAAAA = true },
			inst: inst("", "db", nil, v6, v4),
			want: []events.Message{msg("db.lxd.example.com.", "A", 60, v4)},
		},
		"link-local IPv4 and multicast never published": {
			inst: inst("", "db", nil, "169.254.1.1", "ff02::1"),
		},
		"opt out": {
			inst: inst("", "db", map[string]string{KeyEnabled: "false"}, v6),
		},
		"opt out with off": {
			inst: inst("", "db", map[string]string{KeyEnabled: "off"}, v6),
		},
		"enabled=true publishes": {
			inst: inst("", "db", map[string]string{KeyEnabled: "true"}, v6),
			want: []events.Message{msg("db.lxd.example.com.", "AAAA", 60, v6)},
		},
		"bad enabled value warns and publishes": {
			inst:  inst("", "db", map[string]string{KeyEnabled: "nah"}, v6),
			want:  []events.Message{msg("db.lxd.example.com.", "AAAA", 60, v6)},
			warns: 1,
		},
		"config ttl and instance ttl override": {
			cfg:  func(c *Config) { c.TTL = 120 },
			inst: inst("", "db", map[string]string{KeyTTL: "300"}, v6),
			want: []events.Message{msg("db.lxd.example.com.", "AAAA", 300, v6)},
		},
		"bad ttl override warns and keeps the default": {
			inst:  inst("", "db", map[string]string{KeyTTL: "0"}, v6),
			want:  []events.Message{msg("db.lxd.example.com.", "AAAA", 60, v6)},
			warns: 1,
		},
		"non-numeric ttl override warns": {
			inst:  inst("", "db", map[string]string{KeyTTL: "1h"}, v6),
			want:  []events.Message{msg("db.lxd.example.com.", "AAAA", 60, v6)},
			warns: 1,
		},
		"extra names relative and absolute, bad ones warned": {
			inst: inst("", "db", map[string]string{KeyNames: " www, api.v2 ,Mail.LXD.example.com.,x.other.org.,bad_é, db"}, v6),
			want: []events.Message{
				msg("api.v2.lxd.example.com.", "AAAA", 60, v6),
				msg("db.lxd.example.com.", "AAAA", 60, v6),
				msg("mail.lxd.example.com.", "AAAA", 60, v6),
				msg("www.lxd.example.com.", "AAAA", 60, v6),
			},
			warns: 2,
		},
		"several zones": {
			cfg:  func(c *Config) { c.Zones = []string{"a.test", "b.test"} },
			inst: inst("", "db", map[string]string{KeyNames: "www"}, v4),
			want: []events.Message{
				msg("db.a.test.", "A", 60, v4), msg("db.b.test.", "A", 60, v4),
				msg("www.a.test.", "A", 60, v4), msg("www.b.test.", "A", 60, v4),
			},
		},
		"acme-challenge delegation": {
			cfg:  func(c *Config) { c.ACMEChallengeNS = true },
			inst: inst("dev", "db", nil, v6),
			want: []events.Message{
				msg("_acme-challenge.db.dev.lxd.example.com.", "NS", 60, "db.dev.lxd.example.com."),
				msg("db.dev.lxd.example.com.", "AAAA", 60, v6),
			},
		},
		"no acme-challenge delegation without addresses": {
			cfg:  func(c *Config) { c.ACMEChallengeNS = true },
			inst: inst("", "db", nil),
		},
		"reverse zones get PTRs to the main name": {
			cfg: func(c *Config) {
				c.ReverseZones = []string{"1.0.0.0.1.0.0.0.9.9.0.0.2.4.d.f.ip6.arpa", "1.99.10.in-addr.arpa"}
			},
			inst: inst("", "db", map[string]string{KeyNames: "www"}, v6, v4, "2001:db8::1"),
			want: []events.Message{
				msg("237.1.99.10.in-addr.arpa.", "PTR", 60, "db.lxd.example.com."),
				msg("7.f.9.6.a.6.e.f.f.f.e.3.6.1.2.0.1.0.0.0.1.0.0.0.9.9.0.0.2.4.d.f.ip6.arpa.", "PTR", 60, "db.lxd.example.com."),
				msg("db.lxd.example.com.", "A", 60, v4),
				msg("db.lxd.example.com.", "AAAA", 60, "2001:db8::1", v6),
				msg("www.lxd.example.com.", "A", 60, v4),
				msg("www.lxd.example.com.", "AAAA", 60, "2001:db8::1", v6),
			},
		},
		"frozen instance keeps its records": {
			inst: func() Instance {
				i := inst("", "db", nil, v4)
				i.Status, i.State.Status = "Frozen", "Frozen"
				return i
			}(),
			want: []events.Message{msg("db.lxd.example.com.", "A", 60, v4)},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg := base
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			m, err := NewMapper(cfg)
			if err != nil {
				t.Fatalf("NewMapper: %v", err)
			}
			res, err := m.Records(tc.inst)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Records: %v", err)
			}
			if len(res.Warnings) != tc.warns {
				t.Errorf("warnings = %v, want %d", res.Warnings, tc.warns)
			}
			if !reflect.DeepEqual(res.Messages, tc.want) && len(res.Messages)+len(tc.want) > 0 {
				t.Errorf("messages:\n got %+v\nwant %+v", res.Messages, tc.want)
			}
			for _, m := range res.Messages {
				if _, err := events.Encode(m); err != nil {
					t.Errorf("message %+v does not encode: %v", m, err)
				}
			}
		})
	}
}

func TestConfigCheck(t *testing.T) {
	t.Parallel()
	ok := Config{Zones: []string{"Lxd.Example.com"}, Origin: "node1"}
	got, err := ok.Check()
	if err != nil {
		t.Fatal(err)
	}
	if got.Zones[0] != "lxd.example.com." || got.TTL != DefaultTTL || got.ProjectTemplate != DefaultProjectTemplate {
		t.Errorf("defaults not filled: %+v", got)
	}
	bad := map[string]func(*Config){
		"no zone":              func(c *Config) { c.Zones = nil },
		"bad zone":             func(c *Config) { c.Zones = []string{"a..b"} },
		"wildcard zone":        func(c *Config) { c.Zones = []string{"*.b"} },
		"bad origin":           func(c *Config) { c.Origin = "Node 1" },
		"template no instance": func(c *Config) { c.ProjectTemplate = "{project}" },
		"template twice":       func(c *Config) { c.ProjectTemplate = "{instance}.{instance}" },
		"template bad label":   func(c *Config) { c.ProjectTemplate = "{instance}.a_b" },
		"template partial":     func(c *Config) { c.ProjectTemplate = "x{instance}" },
		"nothing to publish":   func(c *Config) { c.NoA, c.NoAAAA = true, true },
		"ttl too big":          func(c *Config) { c.TTL = events.MaxTTL + 1 },
		"invalid prefix":       func(c *Config) { c.Deny = []netip.Prefix{{}} },
		"forward reverse zone": func(c *Config) { c.ReverseZones = []string{"example.com"} },
	}
	for name, mut := range bad {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := ok
			mut(&c)
			if _, err := c.Check(); !errors.Is(err, ErrConfig) {
				t.Errorf("Check() = %v, want ErrConfig", err)
			}
		})
	}
}

func TestReverseName(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"192.0.2.10":        "10.2.0.192.in-addr.arpa.",
		"::ffff:192.0.2.10": "10.2.0.192.in-addr.arpa.",
		"2001:db8::1":       "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.",
		"fd42:99:1:1::abcd": "d.c.b.a.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.1.0.0.0.9.9.0.0.2.4.d.f.ip6.arpa.",
	}
	for in, want := range tests {
		if got := ReverseName(netip.MustParseAddr(in)); got != want {
			t.Errorf("ReverseName(%s) = %s, want %s", in, got, want)
		}
	}
}
