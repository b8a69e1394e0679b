package rrset

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func FuzzCanonicalName(f *testing.F) {
	for _, s := range []string{
		"", ".", "www.Example.COM", "www.example.com.", "*.example.com.", "a.*.example.",
		"_sip._tcp.example.", "a..b", strings.Repeat("a", 64) + ".", nameOfLen(MaxNameLen),
		nameOfLen(MaxNameLen + 1), `a\.b.`, "%2a.example.", "bücher.example.",
		"\u212aelvin.example.", "\u0130.example.",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := CanonicalName(in)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if len(out) < 2 || len(out) > MaxNameLen || !strings.HasSuffix(out, ".") {
			t.Fatalf("CanonicalName(%q) = %q: bad length or no trailing dot", in, out)
		}
		for i := 0; i < len(in); i++ {
			if c := in[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.*", c) >= 0) {
				t.Fatalf("CanonicalName(%q) accepted byte %q", in, c)
			}
		}
		if lower := strings.ToLower(in); out != lower && out != lower+"." {
			t.Fatalf("CanonicalName(%q) = %q changed more than case and the dot", in, out)
		}
		for i, l := range strings.Split(strings.TrimSuffix(out, "."), ".") {
			if l == "" || len(l) > MaxLabelLen {
				t.Fatalf("CanonicalName(%q) = %q has label %q", in, out, l)
			}
			if strings.Contains(l, "*") && (i != 0 || l != "*") {
				t.Fatalf("CanonicalName(%q) = %q has a misplaced wildcard", in, out)
			}
		}
		again, err := CanonicalName(out)
		if err != nil || again != out {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", in, out, again, err)
		}
	})
}

// FuzzZoneSet checks ZoneSet.Of against ZoneOf, the definition: the zones
// are the canonical names among the input's comma-separated parts.
func FuzzZoneSet(f *testing.F) {
	f.Add("www.sub.example.com", "example.com,sub.example.com,com")
	f.Add("a.b.c", ".,c,b.c")
	f.Add("x.example.org", "ample.org,example.org.")
	f.Fuzz(func(t *testing.T, name, zones string) {
		n, err := CanonicalName(name)
		if err != nil {
			return
		}
		var zs []string
		for _, p := range strings.Split(zones, ",") {
			if p == "." {
				zs = append(zs, ".")
			} else if z, err := CanonicalName(p); err == nil {
				zs = append(zs, z)
			}
		}
		want, wok := ZoneOf(n, zs)
		got, ok := NewZoneSet(zs).Of(n)
		if got != want || ok != wok {
			t.Fatalf("ZoneSet.Of(%q) in %q = %q, %v; ZoneOf = %q, %v", n, zs, got, ok, want, wok)
		}
	})
}

// fuzzTypes are the types FuzzCanonicalContent picks from by index: the
// sources' types first, so that the corpus's indexes keep their types.
var fuzzTypes = slices.Clone(SignedTypes)

func FuzzCanonicalContent(f *testing.F) {
	index := map[string]uint8{}
	for i, typ := range fuzzTypes {
		index[typ] = uint8(i)
	}
	for _, tc := range contentCases() {
		if i, ok := index[tc.typ]; ok {
			f.Add(i, tc.in)
		}
	}
	f.Add(index["SOA"], "ns1.Example.com. hostmaster.example.com. 1 7200 900 1209600 300")
	f.Fuzz(func(t *testing.T, i uint8, in string) {
		typ := fuzzTypes[int(i)%len(fuzzTypes)]
		out, err := CanonicalContent(typ, in)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if out == "" || len(out) > MaxContentLen {
			t.Fatalf("CanonicalContent(%s, %q) = %q: bad length", typ, in, out)
		}
		for j := 0; j < len(out); j++ {
			if c := out[j]; c < 0x20 || c > 0x7e {
				t.Fatalf("CanonicalContent(%s, %q) = %q has byte %#x", typ, in, out, c)
			}
		}
		again, err := CanonicalContent(typ, out)
		if err != nil || again != out {
			t.Fatalf("not idempotent for %s: %q -> %q -> %q, %v", typ, in, out, again, err)
		}
		if typ == "CNAME" || typ == "NS" || typ == "PTR" {
			if n, err := CanonicalName(out); err != nil || n != out {
				t.Fatalf("%s target %q is not a canonical name: %v", typ, out, err)
			}
		}
	})
}
