package register

import (
	"net/netip"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

const forever = 0xffffffff

func addr(s string, link int) Addr {
	return Addr{Prefix: netip.MustParsePrefix(s), Link: link, Scope: unix.RT_SCOPE_UNIVERSE, Preferred: forever}
}

func TestFilterSkip(t *testing.T) {
	t.Parallel()
	eth0 := Link{Index: 2, Name: "eth0"}
	lo := Link{Index: 1, Name: "lo", Loopback: true}
	with := func(a Addr, f func(*Addr)) Addr { f(&a); return a }
	tests := map[string]struct {
		f    Filter
		a    Addr
		l    Link
		skip bool
	}{
		"global IPv6":                  {a: addr("2001:db8::10/64", 2), l: eth0},
		"global IPv4":                  {a: addr("198.51.100.7/24", 2), l: eth0},
		"private IPv4 is global scope": {a: addr("10.1.2.3/8", 2), l: eth0},
		"ULA":                          {a: addr("fd00::1/64", 2), l: eth0},
		"link-local IPv6, scope link":  {a: with(addr("fe80::1/64", 2), func(a *Addr) { a.Scope = unix.RT_SCOPE_LINK }), l: eth0, skip: true},
		"link-local IPv6 said global":  {a: addr("fe80::1/64", 2), l: eth0, skip: true},
		"link-local IPv4":              {a: addr("169.254.1.1/16", 2), l: eth0, skip: true},
		"host scope":                   {a: with(addr("192.0.2.1/32", 2), func(a *Addr) { a.Scope = unix.RT_SCOPE_HOST }), l: eth0, skip: true},
		"site scope":                   {a: with(addr("fec0::1/64", 2), func(a *Addr) { a.Scope = unix.RT_SCOPE_SITE }), l: eth0, skip: true},
		"loopback address":             {a: addr("127.0.0.1/8", 1), l: lo, skip: true},
		"global address on loopback":   {a: addr("192.0.2.53/32", 1), l: lo, skip: true},
		"loopback asked for by name":   {f: Filter{Interfaces: []string{"lo"}}, a: addr("192.0.2.53/32", 1), l: lo},
		"tentative":                    {a: with(addr("2001:db8::10/64", 2), func(a *Addr) { a.Flags = unix.IFA_F_TENTATIVE }), l: eth0, skip: true},
		"optimistic and tentative":     {a: with(addr("2001:db8::10/64", 2), func(a *Addr) { a.Flags = unix.IFA_F_TENTATIVE | unix.IFA_F_OPTIMISTIC }), l: eth0, skip: true},
		"dad failed":                   {a: with(addr("2001:db8::10/64", 2), func(a *Addr) { a.Flags = unix.IFA_F_DADFAILED | unix.IFA_F_TENTATIVE }), l: eth0, skip: true},
		"deprecated flag":              {a: with(addr("2001:db8::10/64", 2), func(a *Addr) { a.Flags = unix.IFA_F_DEPRECATED }), l: eth0, skip: true},
		"preferred lifetime 0":         {a: with(addr("198.51.100.7/24", 2), func(a *Addr) { a.Preferred = 0 }), l: eth0, skip: true},
		"preferred lifetime left":      {a: with(addr("2001:db8::10/64", 2), func(a *Addr) { a.Preferred = 3600 }), l: eth0},
		"nodad, permanent, mngtmpaddr": {a: with(addr("2001:db8::10/64", 2), func(a *Addr) {
			a.Flags = unix.IFA_F_NODAD | unix.IFA_F_PERMANENT | unix.IFA_F_MANAGETEMPADDR
		}), l: eth0},
		"temporary":                      {a: with(addr("2001:db8::abcd/64", 2), func(a *Addr) { a.Flags = unix.IFA_F_TEMPORARY }), l: eth0, skip: true},
		"temporary with --temporary":     {f: Filter{Temporary: true}, a: with(addr("2001:db8::abcd/64", 2), func(a *Addr) { a.Flags = unix.IFA_F_TEMPORARY }), l: eth0},
		"IPv4 secondary (same bit)":      {a: with(addr("198.51.100.8/24", 2), func(a *Addr) { a.Flags = unix.IFA_F_SECONDARY }), l: eth0},
		"interface selected":             {f: Filter{Interfaces: []string{"eth1", "eth0"}}, a: addr("2001:db8::10/64", 2), l: eth0},
		"interface not selected":         {f: Filter{Interfaces: []string{"eth1"}}, a: addr("2001:db8::10/64", 2), l: eth0, skip: true},
		"interface not known":            {f: Filter{Interfaces: []string{"eth0"}}, a: addr("2001:db8::10/64", 2), l: Link{Index: 2}, skip: true},
		"interface not known, no filter": {a: addr("2001:db8::10/64", 2), l: Link{Index: 2}},
		"inside a prefix": {f: Filter{Prefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::/32")}},
			a: addr("2001:db8:1::10/64", 2), l: eth0},
		"outside the prefixes": {f: Filter{Prefixes: []netip.Prefix{netip.MustParsePrefix("2001:db8:2::/48")}},
			a: addr("2001:db8:1::10/64", 2), l: eth0, skip: true},
		"IPv4 outside an IPv6 prefix": {f: Filter{Prefixes: []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")}},
			a: addr("198.51.100.7/24", 2), l: eth0, skip: true},
		"multicast": {a: addr("ff0e::1/128", 2), l: eth0, skip: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			reason := tc.f.Skip(tc.a, tc.l)
			if (reason != "") != tc.skip {
				t.Errorf("Skip(%v on %+v) = %q, want skipped %v", tc.a.Prefix, tc.l, reason, tc.skip)
			}
		})
	}
}

func TestHostSelect(t *testing.T) {
	t.Parallel()
	var h Host
	h.SetLink(Link{Index: 1, Name: "lo", Loopback: true})
	h.SetLink(Link{Index: 2, Name: "eth0"})
	h.SetLink(Link{Index: 3, Name: "wlan0"})
	h.SetAddr(addr("127.0.0.1/8", 1))
	h.SetAddr(addr("2001:db8::10/64", 2))
	h.SetAddr(addr("198.51.100.7/24", 2))
	h.SetAddr(addr("2001:db8::10/64", 3)) // the same address on two interfaces: one record
	h.SetAddr(addr("192.0.2.9/24", 3))
	tentative := addr("2001:db8::20/64", 2)
	tentative.Flags = unix.IFA_F_TENTATIVE
	h.SetAddr(tentative)

	check := func(f Filter, want ...string) {
		t.Helper()
		got := h.Select(f)
		var gs []string
		for _, a := range got {
			gs = append(gs, a.String())
		}
		if !slices.Equal(gs, want) {
			t.Errorf("Select(%+v) = %v, want %v", f, gs, want)
		}
	}
	check(Filter{}, "192.0.2.9", "198.51.100.7", "2001:db8::10")
	check(Filter{Interfaces: []string{"eth0"}}, "198.51.100.7", "2001:db8::10")

	// DAD done: the kernel sends the address again without the flag.
	tentative.Flags = 0
	h.SetAddr(tentative)
	check(Filter{Interfaces: []string{"eth0"}}, "198.51.100.7", "2001:db8::10", "2001:db8::20")

	// Deleted from eth0, still on wlan0.
	h.DelAddr(addr("2001:db8::10/64", 2))
	check(Filter{}, "192.0.2.9", "198.51.100.7", "2001:db8::10", "2001:db8::20")
	check(Filter{Interfaces: []string{"eth0"}}, "198.51.100.7", "2001:db8::20")

	// A rename is a new name for the same index: its addresses follow.
	h.SetLink(Link{Index: 2, Name: "enp3s0"})
	check(Filter{Interfaces: []string{"eth0"}})
	check(Filter{Interfaces: []string{"enp3s0"}}, "198.51.100.7", "2001:db8::20")

	// A deletion of another prefix length is another address.
	h.DelAddr(addr("198.51.100.7/16", 2))
	check(Filter{Interfaces: []string{"enp3s0"}}, "198.51.100.7", "2001:db8::20")
	h.DelLink(2)
	check(Filter{Interfaces: []string{"enp3s0"}})

	var empty Host
	if got := empty.Select(Filter{}); got == nil || len(got) != 0 {
		t.Errorf("an empty host selects %#v, want an empty, non-nil slice", got)
	}
}
