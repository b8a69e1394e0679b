// Package register is the pure core of zonecast-register, the client that
// claims a name for the host it runs on in a gateway's claim zone
// (docs/register.md) and keeps the name's A and AAAA records equal to the
// host's addresses: which of the kernel's addresses are registered
// (Filter, Host), the signed UPDATE that carries them (Claim.Update,
// Sign), what a gateway's reply says (ParseReply), when to send to each
// gateway (Schedule), and the key in BIND's files (NewKey, ParseKey).
// Netlink, sockets, files and clocks stay in cmd/register.
package register

import (
	"fmt"
	"net/netip"
	"slices"

	"golang.org/x/sys/unix"
)

// Addr is what rtnetlink says of one address (an ifaddrmsg and its
// attributes), as far as choosing it matters.
type Addr struct {
	Prefix netip.Prefix // the address with its prefix length
	Link   int          // the interface's index
	Scope  uint8        // unix.RT_SCOPE_*
	Flags  uint32       // unix.IFA_F_*, from IFA_FLAGS when the kernel sends it
	// Preferred is the preferred lifetime in seconds (0xffffffff:
	// forever). 0 means deprecated: the kernel keeps the address for
	// connections that use it, and picks others for new ones.
	Preferred uint32
}

// Link is an interface, as rtnetlink names it.
type Link struct {
	Index    int
	Name     string
	Loopback bool // IFF_LOOPBACK
}

// Filter chooses the addresses to register.
type Filter struct {
	// Interfaces are the only interfaces whose addresses count; empty:
	// every interface but loopbacks.
	Interfaces []string
	// Prefixes are the only prefixes whose addresses count; empty: any.
	Prefixes []netip.Prefix
	// Temporary also registers IPv6 temporary (privacy, RFC 8981)
	// addresses. They are off by default because they exist so that
	// the host is not known by them.
	Temporary bool
}

// Skip returns why a, on link l, is not registered, or "" if it is.
func (f Filter) Skip(a Addr, l Link) string {
	ip := a.Prefix.Addr()
	switch {
	case !ip.IsValid():
		return "no address"
	case len(f.Interfaces) > 0 && !slices.Contains(f.Interfaces, l.Name):
		if l.Name == "" {
			return "interface not known yet"
		}
		return fmt.Sprintf("interface %s not selected", l.Name)
	case len(f.Interfaces) == 0 && l.Loopback:
		return "loopback interface"
	case a.Scope != unix.RT_SCOPE_UNIVERSE:
		return fmt.Sprintf("scope %d, not global", a.Scope)
	// The scope is what the kernel was told; the address itself decides
	// as well (an fe80:: added with scope global is still link-local).
	case ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsMulticast() || ip.IsUnspecified():
		return "not a global address"
	case a.Flags&unix.IFA_F_TENTATIVE != 0:
		return "tentative: duplicate address detection not done"
	case a.Flags&unix.IFA_F_DADFAILED != 0:
		return "duplicate address detection failed"
	case a.Flags&unix.IFA_F_DEPRECATED != 0 || a.Preferred == 0:
		return "deprecated"
	// IFA_F_TEMPORARY is IFA_F_SECONDARY's bit: on IPv4 it marks a
	// secondary address of a subnet, which is registered.
	case ip.Is6() && a.Flags&unix.IFA_F_TEMPORARY != 0 && !f.Temporary:
		return "temporary (privacy) address"
	case len(f.Prefixes) > 0 && !slices.ContainsFunc(f.Prefixes, func(p netip.Prefix) bool { return p.Contains(ip) }):
		return "outside the prefixes selected"
	}
	return ""
}

// addrKey tells addresses apart as the kernel does: by interface, address
// and prefix length.
type addrKey struct {
	link   int
	prefix netip.Prefix
}

// Host is the host's addresses and interfaces as the kernel's events so
// far tell them. The zero value is empty and ready.
type Host struct {
	addrs map[addrKey]Addr
	links map[int]Link
}

// SetAddr records a new address or a change of one (RTM_NEWADDR).
func (h *Host) SetAddr(a Addr) {
	if h.addrs == nil {
		h.addrs = map[addrKey]Addr{}
	}
	a.Prefix = unmapPrefix(a.Prefix)
	h.addrs[addrKey{a.Link, a.Prefix}] = a
}

// DelAddr forgets an address (RTM_DELADDR).
func (h *Host) DelAddr(a Addr) { delete(h.addrs, addrKey{a.Link, unmapPrefix(a.Prefix)}) }

// SetLink records an interface or a change of it, such as a new name
// (RTM_NEWLINK).
func (h *Host) SetLink(l Link) {
	if h.links == nil {
		h.links = map[int]Link{}
	}
	h.links[l.Index] = l
}

// DelLink forgets an interface (RTM_DELLINK).
func (h *Host) DelLink(index int) { delete(h.links, index) }

// Link returns the interface of index as far as it is known.
func (h *Host) Link(index int) Link {
	if l, ok := h.links[index]; ok {
		return l
	}
	return Link{Index: index}
}

// Select returns the addresses f registers, sorted, each once (an address
// on two interfaces is one record).
func (h *Host) Select(f Filter) []netip.Addr {
	out := []netip.Addr{}
	for _, a := range h.addrs {
		if f.Skip(a, h.Link(a.Link)) == "" {
			out = append(out, a.Prefix.Addr())
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

func unmapPrefix(p netip.Prefix) netip.Prefix {
	if !p.Addr().Is4In6() {
		return p
	}
	bits := p.Bits() - 96
	return netip.PrefixFrom(p.Addr().Unmap(), max(bits, 0))
}
