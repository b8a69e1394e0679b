package gwstore

import (
	"net/netip"
	"slices"
	"testing"
)

func TestPrefixAddress(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		prefix string
		bits   int
		iid    string
		want   string
	}{
		"/64":               {"2001:db8:1:2:aaaa:bbbb:cccc:dddd", 64, "::1234:5678", "2001:db8:1:2::1234:5678"},
		"/64 full iid":      {"2001:db8:1:2::1", 64, "::a:b:c:d", "2001:db8:1:2:a:b:c:d"},
		"iid upper bits":    {"2001:db8:1:2::1", 64, "ffff:ffff:ffff:ffff::1", "2001:db8:1:2::1"},
		"/56":               {"2001:db8:1:2ff::1", 56, "::3:0:0:0:42", "2001:db8:1:203::42"},
		"/60 in a nibble":   {"2001:db8:1:abcd::1", 60, "::5:0:0:0:1", "2001:db8:1:abc5::1"},
		"/61 within a byte": {"2001:db8:1:abcf::1", 61, "::ffff:0:0:0:1", "2001:db8:1:abcf::1"},
		"/48":               {"2001:db8:1:2:3:4:5:6", 48, "::9:0:0:0:7", "2001:db8:1:9::7"},
		"/1":                {"ffff::", 1, "::1", "8000::1"},
		"/127":              {"2001:db8::ff", 127, "::1", "2001:db8::ff"},
		"/127 low":          {"2001:db8::fe", 127, "::1", "2001:db8::ff"},
		"/0":                {"2001:db8::1", 0, "::5", "::5"},
		"/128":              {"2001:db8::1", 128, "::5", "2001:db8::1"},
	}
	for name, c := range cases {
		got := PrefixAddress(netip.MustParseAddr(c.prefix), c.bits, netip.MustParseAddr(c.iid))
		if got.String() != c.want {
			t.Errorf("%s: %s, want %s", name, got, c.want)
		}
	}
}

func TestFollow(t *testing.T) {
	t.Parallel()
	h, err := Host{Name: "nas.example.test", PrefixFrom: "router.example.test", InterfaceID: "::1234:5678"}.Validate()
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		router []string
		want   []string
	}{
		"one":          {[]string{"2001:db8:1:2::1"}, []string{"2001:db8:1:2::1234:5678"}},
		"first":        {[]string{"2001:db8:1:2::1", "2001:db8:9:9::1"}, []string{"2001:db8:1:2::1234:5678"}},
		"none":         {nil, []string{}},
		"removed":      {[]string{}, []string{}},
		"not ipv6":     {[]string{"192.0.2.1"}, []string{}},
		"bad then one": {[]string{"nope", "2001:db8:3:4::1"}, []string{"2001:db8:3:4::1234:5678"}},
	}
	for name, c := range cases {
		if got := h.Follow(c.router); !slices.Equal(got, c.want) || got == nil {
			t.Errorf("%s: %q, want %q", name, got, c.want)
		}
	}
	if got := (Host{Name: "x.example.test."}).Follow([]string{"2001:db8::1"}); len(got) != 0 {
		t.Errorf("a host without a router follows: %v", got)
	}
}

func TestHostValidate(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		h     Host
		ok    bool
		check func(Host) bool
	}{
		"plain": {Host{Name: "H.example.test"}, true, func(h Host) bool { return h.Name == "h.example.test." && h.TTL == 60 && h.PrefixLen == 0 }},
		"owner": {Host{Name: "h.example.test", Owner: "alice"}, true, nil},
		"prefix defaults": {Host{Name: "h.example.test", PrefixFrom: "Router.Example.test", InterfaceID: "0:0:0:0:0:0:1234:5678"}, true,
			func(h Host) bool {
				return h.PrefixFrom == "router.example.test." && h.PrefixLen == 64 && h.InterfaceID == "::1234:5678"
			}},
		"prefix /56":          {Host{Name: "h.example.test", PrefixFrom: "r.example.test", PrefixLen: 56, InterfaceID: "::1"}, true, nil},
		"bad owner":           {Host{Name: "h.example.test", Owner: "Alice Smith"}, false, nil},
		"prefix from itself":  {Host{Name: "h.example.test", PrefixFrom: "h.example.test.", InterfaceID: "::1"}, false, nil},
		"prefix from garbage": {Host{Name: "h.example.test", PrefixFrom: "a..b", InterfaceID: "::1"}, false, nil},
		"prefix len 128":      {Host{Name: "h.example.test", PrefixFrom: "r.example.test", PrefixLen: 128, InterfaceID: "::1"}, false, nil},
		"prefix len negative": {Host{Name: "h.example.test", PrefixFrom: "r.example.test", PrefixLen: -1, InterfaceID: "::1"}, false, nil},
		"no interface id":     {Host{Name: "h.example.test", PrefixFrom: "r.example.test"}, false, nil},
		"ipv4 interface id":   {Host{Name: "h.example.test", PrefixFrom: "r.example.test", InterfaceID: "192.0.2.1"}, false, nil},
		"mapped interface id": {Host{Name: "h.example.test", PrefixFrom: "r.example.test", InterfaceID: "::ffff:192.0.2.1"}, false, nil},
		"zoned interface id":  {Host{Name: "h.example.test", PrefixFrom: "r.example.test", InterfaceID: "fe80::1%eth0"}, false, nil},
		"html interface id":   {Host{Name: "h.example.test", PrefixFrom: "r.example.test", InterfaceID: "<b>"}, false, nil},
		"iid without router":  {Host{Name: "h.example.test", InterfaceID: "::1"}, false, nil},
		"len without router":  {Host{Name: "h.example.test", PrefixLen: 64}, false, nil},
	}
	for name, c := range cases {
		h, err := c.h.Validate()
		if (err == nil) != c.ok {
			t.Errorf("%s: err %v", name, err)
			continue
		}
		if err == nil && c.check != nil && !c.check(h) {
			t.Errorf("%s: %+v", name, h)
		}
	}
}
