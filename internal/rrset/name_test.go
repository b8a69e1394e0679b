package rrset

import (
	"errors"
	"strings"
	"testing"
)

// label returns a label of n copies of c.
func label(c string, n int) string { return strings.Repeat(c, n) }

// nameOfLen returns a canonical name of exactly n characters (trailing dot
// included), made of labels of at most 63 characters.
func nameOfLen(n int) string {
	var b strings.Builder
	for b.Len() < n {
		left := n - b.Len()
		l := min(MaxLabelLen, left-1) // room for the dot
		if l < 1 {
			panic("nameOfLen: cannot build name")
		}
		if left-(l+1) == 1 { // a lone dot would remain: shorten this label
			l--
		}
		b.WriteString(label("a", l))
		b.WriteByte('.')
	}
	return b.String()
}

func TestCanonicalName(t *testing.T) {
	t.Parallel()
	long253 := nameOfLen(MaxNameLen - 1) // 253 chars with dot
	long254 := nameOfLen(MaxNameLen)     // 254 chars with dot
	long255 := nameOfLen(MaxNameLen + 1)
	tests := map[string]struct {
		in   string
		want string // "" means rejected
	}{
		"lowercased":                    {in: "WWW.Example.COM.", want: "www.example.com."},
		"trailing dot added":            {in: "www.example.com", want: "www.example.com."},
		"already canonical":             {in: "www.example.com.", want: "www.example.com."},
		"single label":                  {in: "localhost", want: "localhost."},
		"digits and hyphen":             {in: "a-1.0-9.example.", want: "a-1.0-9.example."},
		"underscore service label":      {in: "_sip._tcp.Example.com", want: "_sip._tcp.example.com."},
		"wildcard leftmost":             {in: "*.example.com.", want: "*.example.com."},
		"wildcard alone":                {in: "*", want: "*."},
		"wildcard not leftmost":         {in: "a.*.example.com."},
		"wildcard as last label":        {in: "a.example.*"},
		"wildcard inside a label":       {in: "a*.example.com."},
		"double wildcard":               {in: "*.*.example.com."},
		"empty":                         {in: ""},
		"root":                          {in: "."},
		"two trailing dots":             {in: "example.com.."},
		"leading dot":                   {in: ".example.com."},
		"empty label inside":            {in: "a..example.com."},
		"space":                         {in: "a b.example.com."},
		"slash":                         {in: "a/b.example.com."},
		"at sign":                       {in: "@"},
		"backslash escape":              {in: `a\.b.example.com.`},
		"percent":                       {in: "%2a.example.com."},
		"non-ascii":                     {in: "bücher.example."},
		"nul byte":                      {in: "a\x00.example."},
		"newline":                       {in: "a\n.example."},
		"nats wildcard gt":              {in: ">.example."},
		"label of 63":                   {in: label("a", 63) + ".example.", want: label("a", 63) + ".example."},
		"label of 64":                   {in: label("a", 64) + ".example."},
		"name of 253 plus dot":          {in: long253, want: long253},
		"name of 254 with dot":          {in: long254, want: long254},
		"name of 254 without dot":       {in: strings.TrimSuffix(long254, "."), want: long254},
		"name of 255 with dot":          {in: long255},
		"name of 255 without dot":       {in: strings.TrimSuffix(long255, ".")},
		"upper case wildcard name":      {in: "*.EXAMPLE.", want: "*.example."},
		"hyphen first is tolerated":     {in: "-a.example.", want: "-a.example."},
		"very long garbage is refused":  {in: strings.Repeat("x", 10000)},
		"very long dotted is refused":   {in: strings.Repeat("a.", 200)},
		"only dots":                     {in: "..."},
		"kelvin sign is not k":          {in: "\u212aexample.com."},
		"dotted capital i":              {in: "\u0130.example."},
		"fullwidth letters":             {in: "\uff41.example."},
		"invalid utf-8":                 {in: "\xff.example."},
		"upper-case non-letters intact": {in: "A_B-C.Example.", want: "a_b-c.example."},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := CanonicalName(tc.in)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("CanonicalName(%q) = %q, want an error", tc.in, got)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("CanonicalName(%q) error %v does not wrap ErrInvalid", tc.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("CanonicalName(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("CanonicalName(%q) = %q, want %q", tc.in, got, tc.want)
			}
			again, err := CanonicalName(got)
			if err != nil || again != got {
				t.Fatalf("not idempotent: CanonicalName(%q) = %q, %v", got, again, err)
			}
		})
	}
}

func TestNameOfLen(t *testing.T) {
	t.Parallel()
	for n := 2; n <= 300; n++ {
		if got := len(nameOfLen(n)); got != n {
			t.Fatalf("nameOfLen(%d) has length %d", n, got)
		}
	}
}

func TestInZone(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		name, zone string
		want       bool
	}{
		"apex":                     {name: "example.com.", zone: "example.com.", want: true},
		"child":                    {name: "www.example.com.", zone: "example.com.", want: true},
		"grandchild":               {name: "a.b.example.com.", zone: "example.com.", want: true},
		"wildcard below":           {name: "*.example.com.", zone: "example.com.", want: true},
		"suffix without dot":       {name: "badexample.com.", zone: "example.com."},
		"child of suffix sibling":  {name: "www.badexample.com.", zone: "example.com."},
		"parent":                   {name: "com.", zone: "example.com."},
		"sibling":                  {name: "example.org.", zone: "example.com."},
		"root zone holds anything": {name: "www.example.com.", zone: ".", want: true},
		"sub zone of name":         {name: "example.com.", zone: "sub.example.com."},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := InZone(tc.name, tc.zone); got != tc.want {
				t.Fatalf("InZone(%q, %q) = %v, want %v", tc.name, tc.zone, got, tc.want)
			}
		})
	}
}

func TestZoneOf(t *testing.T) {
	t.Parallel()
	zones := []string{"example.com.", "sub.example.com.", "example.org.", "badexample.com."}
	tests := map[string]struct {
		name  string
		zones []string
		want  string // "" means no zone
	}{
		"apex of parent":             {name: "example.com.", zones: zones, want: "example.com."},
		"child of parent":            {name: "www.example.com.", zones: zones, want: "example.com."},
		"most specific wins":         {name: "www.sub.example.com.", zones: zones, want: "sub.example.com."},
		"apex of child zone":         {name: "sub.example.com.", zones: zones, want: "sub.example.com."},
		"suffix sibling is its own":  {name: "www.badexample.com.", zones: zones, want: "badexample.com."},
		"suffix sibling not managed": {name: "www.badexample.com.", zones: []string{"example.com."}},
		"outside every zone":         {name: "www.example.net.", zones: zones},
		"no zones":                   {name: "www.example.com."},
		"parent of every zone":       {name: "com.", zones: zones},
		"root zone":                  {name: "www.example.net.", zones: append([]string{"."}, zones...), want: "."},
		"root zone loses to deeper":  {name: "www.example.org.", zones: []string{".", "example.org."}, want: "example.org."},
		"order does not matter": {
			name:  "a.sub.example.com.",
			zones: []string{"sub.example.com.", "example.com."},
			want:  "sub.example.com.",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, ok := ZoneOf(tc.name, tc.zones)
			if ok != (tc.want != "") || got != tc.want {
				t.Fatalf("ZoneOf(%q) = %q, %v, want %q", tc.name, got, ok, tc.want)
			}
			got, ok = NewZoneSet(tc.zones).Of(tc.name)
			if ok != (tc.want != "") || got != tc.want {
				t.Fatalf("ZoneSet.Of(%q) = %q, %v, want %q", tc.name, got, ok, tc.want)
			}
		})
	}
}

func TestCanonicalType(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in, want string // want "" means rejected
	}{
		"upper":         {in: "AAAA", want: "AAAA"},
		"lower":         {in: "aaaa", want: "AAAA"},
		"mixed":         {in: "CnAmE", want: "CNAME"},
		"soa refused":   {in: "SOA"},
		"soa lower":     {in: "soa"},
		"unknown":       {in: "HINFO"},
		"type number":   {in: "TYPE1"},
		"empty":         {in: ""},
		"spaces":        {in: " A"},
		"wildcard":      {in: "*"},
		"ds unsupport":  {in: "DS"},
		"long s in ns":  {in: "n\u017f"},
		"long s in srv": {in: "\u017frv"},
		"dotless i":     {in: "\u0131"},
	}
	for _, typ := range Types {
		tests["supported "+typ] = struct{ in, want string }{in: typ, want: typ}
		tests["supported lower "+typ] = struct{ in, want string }{in: strings.ToLower(typ), want: typ}
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := CanonicalType(tc.in)
			if tc.want == "" {
				if err == nil || !errors.Is(err, ErrInvalid) {
					t.Fatalf("CanonicalType(%q) = %q, %v; want an ErrInvalid", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("CanonicalType(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}
