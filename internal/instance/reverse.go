package instance

import (
	"net/netip"
	"strconv"
	"strings"
)

const hexDigits = "0123456789abcdef"

// ReverseName returns the canonical in-addr.arpa or ip6.arpa name of a.
//
//	192.0.2.10   -> 10.2.0.192.in-addr.arpa.
//	2001:db8::1  -> 1.0.0.0. ... .8.b.d.0.1.0.0.2.ip6.arpa.
func ReverseName(a netip.Addr) string {
	a = a.Unmap()
	var b strings.Builder
	if a.Is4() {
		o := a.As4()
		for i := 3; i >= 0; i-- {
			b.WriteString(strconv.Itoa(int(o[i])))
			b.WriteByte('.')
		}
		b.WriteString("in-addr.arpa.")
		return b.String()
	}
	o := a.As16()
	b.Grow(64 + len("ip6.arpa."))
	for i := 15; i >= 0; i-- {
		b.WriteByte(hexDigits[o[i]&0x0f])
		b.WriteByte('.')
		b.WriteByte(hexDigits[o[i]>>4])
		b.WriteByte('.')
	}
	b.WriteString("ip6.arpa.")
	return b.String()
}
