package gwstore

import "net/netip"

// PrefixAddress returns the address of a host behind a router whose
// prefix changes: the first bits bits of prefix, then the bits of iid
// below them. Both must be IPv6 and bits within 0..128.
func PrefixAddress(prefix netip.Addr, bits int, iid netip.Addr) netip.Addr {
	p, id := prefix.As16(), iid.As16()
	var out [16]byte
	for i := range out {
		// mask holds the prefix's bits of this byte.
		n := min(max(bits-8*i, 0), 8)
		mask := byte(0xff << (8 - n))
		out[i] = p[i]&mask | id[i]&^mask
	}
	return netip.AddrFrom16(out)
}

// Follow returns h's AAAA records when its router (h.PrefixFrom) holds
// router, its AAAA records: the first of them with h's interface id
// (PrefixAddress). No router address, or a host without PrefixFrom: none.
// Records are canonical, so the first is the lowest address.
func (h Host) Follow(router []string) []string {
	if h.PrefixFrom == "" {
		return []string{}
	}
	iid, err := netip.ParseAddr(h.InterfaceID)
	if err != nil || !iid.Is6() {
		return []string{}
	}
	for _, r := range router {
		a, err := netip.ParseAddr(r)
		if err != nil || !a.Is6() || a.Is4In6() {
			continue
		}
		bits := h.PrefixLen
		if bits == 0 {
			bits = 64
		}
		return []string{PrefixAddress(a.WithZone(""), bits, iid).String()}
	}
	return []string{}
}
