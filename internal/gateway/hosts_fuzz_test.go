package gateway

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// FuzzCanonicalAddrs: addresses typed into the web page's form are either
// refused or come out canonical, sorted, unique and of the family asked.
func FuzzCanonicalAddrs(f *testing.F) {
	for _, s := range []string{"192.0.2.1", "2001:DB8::1,2001:db8::1", " ::ffff:192.0.2.9 ,192.0.2.9", "fe80::1%eth0", "<b>", ""} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, list string, v4 bool) {
		out, err := canonicalAddrs(strings.Split(list, ","), v4)
		if err != nil {
			return
		}
		if !slices.IsSorted(out) || len(slices.Compact(slices.Clone(out))) != len(out) {
			t.Fatalf("not sorted and unique: %q", out)
		}
		for _, a := range out {
			ip, err := netip.ParseAddr(a)
			if err != nil || ip.String() != a || ip.Is4() != v4 || ip.Is4In6() || ip.Zone() != "" {
				t.Fatalf("address %q from %q (v4 %v)", a, list, v4)
			}
		}
	})
}
