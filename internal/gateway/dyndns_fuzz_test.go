package gateway

import (
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/zonecast/zonecast/internal/events"
)

// FuzzParseDyndns: any query string of a /nic/update request, from any
// client address, is either refused or yields trimmed host names and
// canonical, sorted, de-duplicated addresses of the right family.
func FuzzParseDyndns(f *testing.F) {
	for _, q := range []string{
		"hostname=h.example&myip=192.0.2.1",
		"hostname=a.example,b.example&myip=2001:DB8::1,192.0.2.1&myipv6=::ffff:192.0.2.9",
		"hostname=h.example&myip=fe80::1%25eth0",
		"hostname=%20,%20&myip=,,",
		"myip=1.2.3.4&myip=1.2.3.4",
	} {
		f.Add(q, "198.51.100.7")
		f.Add(q, "")
	}
	f.Fuzz(func(t *testing.T, query, remote string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		ra, _ := netip.ParseAddr(remote)
		r, err := ParseDyndns(q, ra)
		if err != nil {
			return
		}
		for _, h := range r.Hostnames {
			if h == "" || h != strings.TrimSpace(h) || strings.Contains(h, ",") {
				t.Fatalf("host name %q", h)
			}
		}
		check := func(addrs []string, v4 bool) {
			if !slices.IsSorted(addrs) || len(slices.Compact(slices.Clone(addrs))) != len(addrs) {
				t.Fatalf("addresses not sorted and unique: %q", addrs)
			}
			for _, a := range addrs {
				ip, err := netip.ParseAddr(a)
				if err != nil || ip.String() != a || ip.Is4() != v4 || ip.Is4In6() || ip.Zone() != "" {
					t.Fatalf("address %q in the v4=%v list", a, v4)
				}
			}
		}
		check(r.V4, true)
		check(r.V6, false)
		if len(r.V4)+len(r.V6) > events.MaxRecords {
			t.Fatalf("%d addresses accepted", len(r.V4)+len(r.V6))
		}
	})
}
