// Package rrset is zonecast's model of DNS data: canonical owner names,
// supported record types, canonical record content and the RRset value that
// every other package compares, merges and writes. It is pure: no I/O.
package rrset

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is wrapped by every validation error of this package.
var ErrInvalid = errors.New("invalid")

const (
	// MaxNameLen is the longest presentation name accepted, trailing dot included.
	MaxNameLen = 254
	// MaxLabelLen is the longest label accepted.
	MaxLabelLen = 63
)

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// CanonicalName returns name lowercased and fully qualified (one trailing
// dot). Labels may hold letters, digits, '-' and '_'; the leftmost label may
// be the wildcard '*'. The root name "." is not a valid owner.
func CanonicalName(name string) (string, error) {
	if name == "" || name == "." {
		return "", invalidf("empty name")
	}
	if len(name) > MaxNameLen+1 {
		return "", invalidf("name longer than %d characters", MaxNameLen)
	}
	n := asciiLower(name)
	if !strings.HasSuffix(n, ".") {
		n += "."
	}
	if len(n) > MaxNameLen {
		return "", invalidf("name %q longer than %d characters", name, MaxNameLen)
	}
	rest := n[:len(n)-1]
	for first := true; ; first = false {
		l, after, more := strings.Cut(rest, ".")
		if err := checkLabel(l, first); err != nil {
			return "", fmt.Errorf("name %q: %w", name, err)
		}
		if !more {
			break
		}
		rest = after
	}
	return n, nil
}

// asciiLower lowercases A-Z only. strings.ToLower also maps some non-ASCII
// runes to ASCII letters (KELVIN SIGN U+212A to 'k', U+0130 to 'i'), which
// would let non-ASCII names through the character check below.
func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, s)
}

// asciiUpper uppercases a-z only (strings.ToUpper maps U+017F LONG S to 'S').
func asciiUpper(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' {
			return r - ('a' - 'A')
		}
		return r
	}, s)
}

func checkLabel(l string, first bool) error {
	switch {
	case l == "":
		return invalidf("empty label")
	case len(l) > MaxLabelLen:
		return invalidf("label longer than %d characters", MaxLabelLen)
	case l == "*":
		if !first {
			return invalidf("wildcard '*' only as the leftmost label")
		}
		return nil
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' {
			continue
		}
		return invalidf("label %q has character %q (allowed: a-z 0-9 - _)", l, c)
	}
	return nil
}

// InZone reports whether the canonical name is zone or below it. Both
// arguments must be canonical.
func InZone(name, zone string) bool {
	if name == zone {
		return true
	}
	return strings.HasSuffix(name, "."+zone) || zone == "."
}

// ZoneOf returns the most specific zone among zones that contains name.
// All arguments must be canonical.
func ZoneOf(name string, zones []string) (string, bool) {
	best := ""
	for _, z := range zones {
		if InZone(name, z) && len(z) > len(best) {
			best = z
		}
	}
	return best, best != ""
}

// ZoneSet finds a name's zone among many: its lookups cost one map access
// per label of the name, where ZoneOf compares the name with every zone, so
// a syncer with a thousand zones does not pay a thousand comparisons per
// RRset.
type ZoneSet map[string]string

// NewZoneSet returns the set of the canonical zones.
func NewZoneSet(zones []string) ZoneSet {
	s := make(ZoneSet, len(zones))
	for _, z := range zones {
		s[z] = z
	}
	return s
}

// Of returns the most specific zone of the set that contains the canonical
// name, as ZoneOf does. The zone returned is the set's own string, not a
// part of name.
func (s ZoneSet) Of(name string) (string, bool) {
	for n := name; ; {
		if z, ok := s[n]; ok {
			return z, true
		}
		i := strings.IndexByte(n, '.')
		if i < 0 || i == len(n)-1 {
			break
		}
		n = n[i+1:]
	}
	z, ok := s["."]
	return z, ok
}
