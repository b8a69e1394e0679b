package events

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/zonecast/zonecast/internal/rrset"
)

// natsMatch reports whether a NATS subject filter matches a subject: tokens
// are separated by '.', '*' matches exactly one token, '>' (last token only)
// matches one or more tokens. Empty tokens make either side invalid.
func natsMatch(filter, subject string) bool {
	ft := strings.Split(filter, ".")
	st := strings.Split(subject, ".")
	for _, t := range st {
		if t == "" || t == "*" || t == ">" {
			return false // not a publishable subject
		}
	}
	for i, f := range ft {
		switch {
		case f == "":
			return false
		case f == ">":
			return i == len(ft)-1 && len(st) > i
		case i >= len(st):
			return false
		case f == "*":
		case f != st[i]:
			return false
		}
	}
	return len(ft) == len(st)
}

func TestNatsMatch(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		filter, subject string
		want            bool
	}{
		"literal":                {"a.b.c", "a.b.c", true},
		"literal differs":        {"a.b.c", "a.b.d", false},
		"star one token":         {"a.*.c", "a.x.c", true},
		"star not two":           {"a.*.c", "a.x.y.c", false},
		"gt one":                 {"a.>", "a.b", true},
		"gt many":                {"a.>", "a.b.c.d", true},
		"gt needs one":           {"a.>", "a", false},
		"prefix is not a match":  {"a.b", "a.b.c", false},
		"longer filter":          {"a.b.c", "a.b", false},
		"empty token in subject": {"a.>", "a..b", false},
		"empty token in filter":  {"a..>", "a.b.c", false},
		"gt not last":            {"a.>.c", "a.b.c", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := natsMatch(tc.filter, tc.subject); got != tc.want {
				t.Fatalf("natsMatch(%q, %q) = %v", tc.filter, tc.subject, got)
			}
		})
	}
}

func TestSubjectRoundTrip(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		name, typ, origin string
		want              string
	}{
		"host":                    {"web.example.com.", "AAAA", "node1", "zonecast.rr.node1.com.example.web.AAAA"},
		"apex":                    {"example.com.", "TXT", "node1", "zonecast.rr.node1.com.example.TXT"},
		"wildcard":                {"*.example.com.", "A", "lxd-a", "zonecast.rr.lxd-a.com.example.%2a.A"},
		"deep wildcard":           {"*.dev.example.com.", "CNAME", "o_1", "zonecast.rr.o_1.com.example.dev.%2a.CNAME"},
		"single label":            {"localhost.", "A", "n", "zonecast.rr.n.localhost.A"},
		"service":                 {"_sip._tcp.example.com.", "SRV", "gw", "zonecast.rr.gw.com.example._tcp._sip.SRV"},
		"type-like label":         {"a.example.com.", "A", "a", "zonecast.rr.a.com.example.a.A"},
		"label looks like a type": {"txt.mx.example.", "MX", "mx", "zonecast.rr.mx.example.mx.txt.MX"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m := Message{Version: Version, Name: tc.name, Type: tc.typ, Origin: tc.origin}
			got := Subject(DefaultSubjectPrefix, m)
			if got != tc.want {
				t.Fatalf("Subject = %q, want %q", got, tc.want)
			}
			key, origin, err := ParseSubject(DefaultSubjectPrefix, got)
			if err != nil {
				t.Fatalf("ParseSubject(%q): %v", got, err)
			}
			if key != (rrset.Key{Name: tc.name, Type: tc.typ}) || origin != tc.origin {
				t.Fatalf("ParseSubject(%q) = %v %q", got, key, origin)
			}
			// Another prefix works the same way.
			other := Subject("dns.prod.rr", m)
			if k2, o2, err := ParseSubject("dns.prod.rr", other); err != nil || k2 != key || o2 != origin {
				t.Fatalf("ParseSubject with another prefix: %v %q %v", k2, o2, err)
			}
		})
	}
}

func TestParseSubjectRejects(t *testing.T) {
	t.Parallel()
	p := DefaultSubjectPrefix
	long := strings.Repeat("a", 64)
	tests := map[string]string{
		"other prefix":          "other.rr.com.example.A.n1",
		"prefix without dot":    "zonecast.rrcom.example.A.n1",
		"prefix only":           "zonecast.rr",
		"prefix and dot":        "zonecast.rr.",
		"too few tokens":        "zonecast.rr.n1.A",
		"no name":               "zonecast.rr.n1..A",
		"empty label":           "zonecast.rr.n1.com..web.A",
		"trailing dot":          "zonecast.rr.n1.com.example.A.",
		"lower-case type":       "zonecast.rr.n1.com.example.a",
		"mixed-case type":       "zonecast.rr.n1.com.example.Aaaa",
		"soa":                   "zonecast.rr.n1.com.example.SOA",
		"unknown type":          "zonecast.rr.n1.com.example.HINFO",
		"bad origin":            "zonecast.rr.N1.com.example.A",
		"origin leading hyphen": "zonecast.rr.-n1.com.example.A",
		"origin too long":       "zonecast.rr.A.com.example." + strings.Repeat("o", MaxOriginLen+1),
		"upper-case label":      "zonecast.rr.n1.com.Example.web.A",
		"upper-case wildcard":   "zonecast.rr.n1.com.example.%2A.A",
		"literal star label":    "zonecast.rr.n1.com.example.*.A",
		"gt label":              "zonecast.rr.n1.com.example.>.A",
		"wildcard not leftmost": "zonecast.rr.n1.com.%2a.web.A",
		"label too long":        "zonecast.rr.com." + long + ".A.n1",
		"percent in label":      "zonecast.rr.n1.com.example.%41.A",
		"star origin":           "zonecast.rr.*.com.example.A",
		"space in label":        "zonecast.rr.exa.com mple.A.n1",
		"name too long":         "zonecast.rr" + strings.Repeat("."+strings.Repeat("a", 63), 4) + ".A.n1",
		"empty":                 "",
		"prefix repeated":       "zonecast.rr.rr.zonecast",
		"non-ascii label":       "zonecast.rr.b.comücher.A.n1",
	}
	for name, subject := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			key, origin, err := ParseSubject(p, subject)
			if err == nil {
				t.Fatalf("ParseSubject(%q) = %v %q, want an error", subject, key, origin)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
		})
	}
}

func TestZoneFilter(t *testing.T) {
	t.Parallel()
	subject := func(name string) string {
		return Subject(DefaultSubjectPrefix, Message{Version: Version, Name: name, Type: "TXT", Origin: "n1"})
	}
	tests := map[string]struct {
		zone    string
		want    string
		inside  []string
		outside []string
	}{
		"second level": {
			zone: "example.com.",
			want: "zonecast.rr.*.com.example.>",
			inside: []string{"example.com.", "www.example.com.", "*.example.com.", "a.b.c.example.com.",
				"*.b.example.com.", "sub.example.com.", "txt.example.com.", "a.example.com."},
			outside: []string{"badexample.com.", "www.badexample.com.", "com.", "example.org.",
				"example.com.example.org.", "example.net.", "com.example.", "*.com."},
		},
		"sub zone": {
			zone:    "sub.example.com.",
			want:    "zonecast.rr.*.com.example.sub.>",
			inside:  []string{"sub.example.com.", "x.sub.example.com.", "*.sub.example.com."},
			outside: []string{"example.com.", "www.example.com.", "xsub.example.com.", "sub.example.org."},
		},
		"reverse zone": {
			zone:    "2.0.192.in-addr.arpa.",
			want:    "zonecast.rr.*.arpa.in-addr.192.0.2.>",
			inside:  []string{"1.2.0.192.in-addr.arpa.", "2.0.192.in-addr.arpa."},
			outside: []string{"1.3.0.192.in-addr.arpa.", "12.0.192.in-addr.arpa."},
		},
		"tld": {
			zone:    "test.",
			want:    "zonecast.rr.*.test.>",
			inside:  []string{"test.", "a.test.", "*.test."},
			outside: []string{"a.testing.", "test.example."},
		},
		"root": {
			zone:   ".",
			want:   "zonecast.rr.*.>",
			inside: []string{"com.", "www.example.com.", "*.example."},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := ZoneFilter(DefaultSubjectPrefix, tc.zone)
			if f != tc.want {
				t.Fatalf("ZoneFilter(%q) = %q, want %q", tc.zone, f, tc.want)
			}
			for _, n := range tc.inside {
				if !rrset.InZone(n, tc.zone) {
					t.Fatalf("test bug: %s not in %s", n, tc.zone)
				}
				if s := subject(n); !natsMatch(f, s) {
					t.Errorf("filter %q does not match %q (name %s in zone %s)", f, s, n, tc.zone)
				}
			}
			for _, n := range tc.outside {
				if rrset.InZone(n, tc.zone) {
					t.Fatalf("test bug: %s in %s", n, tc.zone)
				}
				if s := subject(n); natsMatch(f, s) {
					t.Errorf("filter %q matches %q (name %s outside zone %s)", f, s, n, tc.zone)
				}
			}
		})
	}
}

func TestDecodeWithSubject(t *testing.T) {
	t.Parallel()
	p := DefaultSubjectPrefix
	body := []byte(`{"v":1,"name":"Web.Example.com","type":"aaaa","origin":"node1","ttl":60,"records":["2001:db8::1"]}`)
	tomb := []byte(`{"v":1,"name":"web.example.com.","type":"AAAA","origin":"node1"}`)
	good := "zonecast.rr.node1.com.example.web.AAAA"
	tests := map[string]struct {
		subject string
		body    []byte
		ok      bool
	}{
		"agrees":                  {subject: good, body: body, ok: true},
		"tombstone agrees":        {subject: good, body: tomb, ok: true},
		"other name":              {subject: "zonecast.rr.node1.com.example.www.AAAA", body: body},
		"other zone":              {subject: "zonecast.rr.node1.org.example.web.AAAA", body: body},
		"other type":              {subject: "zonecast.rr.node1.com.example.web.A", body: body},
		"other origin":            {subject: "zonecast.rr.node2.com.example.web.AAAA", body: body},
		"wildcard subject":        {subject: "zonecast.rr.node1.com.example.%2a.AAAA", body: body},
		"bad subject":             {subject: "zonecast.rr.node1.com.example.web.aaaa", body: body},
		"other prefix":            {subject: "other.com.example.web.AAAA.node1", body: body},
		"bad body":                {subject: good, body: []byte(`{"v":1}`)},
		"non-canonical subject":   {subject: "zonecast.rr.node1.com.EXAMPLE.web.AAAA", body: body},
		"wildcard body and label": {subject: "zonecast.rr.n.com.example.%2a.A", body: []byte(`{"v":1,"name":"*.example.com.","type":"A","origin":"n","ttl":5,"records":["192.0.2.1"]}`), ok: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m, err := DecodeWithSubject(p, tc.subject, tc.body)
			if !tc.ok {
				if err == nil || !errors.Is(err, ErrInvalid) {
					t.Fatalf("DecodeWithSubject(%q) = %+v, %v; want an ErrInvalid", tc.subject, m, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeWithSubject(%q): %v", tc.subject, err)
			}
			if s := Subject(p, m); s != tc.subject {
				t.Fatalf("decoded message belongs on %q, arrived on %q", s, tc.subject)
			}
		})
	}
}

func TestZoneFiltersDropCoveredZones(t *testing.T) {
	t.Parallel()
	got := ZoneFilters(DefaultSubjectPrefix, []string{"sub.example.com.", "example.com.", "other.net.", "example.com."})
	want := []string{"zonecast.rr.*.com.example.>", "zonecast.rr.*.net.other.>"}
	if !slices.Equal(got, want) {
		t.Fatalf("ZoneFilters = %v, want %v", got, want)
	}
}

// isSubject agrees with Subject, for the subject itself and for every
// other subject of the same messages.
func TestIsSubject(t *testing.T) {
	t.Parallel()
	msgs := []Message{
		{Name: "web.example.com.", Type: "AAAA", Origin: "node1"},
		{Name: "*.example.com.", Type: "A", Origin: "o"},
		{Name: "example.com.", Type: "NS", Origin: "node-2_x"},
		{Name: ".", Type: "A", Origin: "o"},
		{Name: "", Type: "A", Origin: "o"},
		{Name: "a..b.", Type: "TXT", Origin: "o"},
		{Name: "web.example.com.", Type: "AAAA", Origin: "node"},
	}
	for _, prefix := range []string{DefaultSubjectPrefix, "p", "zonecast.rr.x"} {
		for _, m := range msgs {
			for _, other := range msgs {
				for _, p2 := range []string{DefaultSubjectPrefix, "p", "zonecast.rr.x"} {
					subject := Subject(p2, other)
					want := subject == Subject(prefix, m)
					if got := isSubject(subject, prefix, m); got != want {
						t.Errorf("isSubject(%q, %q, %+v) = %v, want %v", subject, prefix, m, got, want)
					}
					for _, cut := range []int{1, 2, len(subject) / 2} {
						if cut < len(subject) && isSubject(subject[:len(subject)-cut], prefix, m) {
							t.Errorf("isSubject(%q) true for a cut subject", subject[:len(subject)-cut])
						}
					}
				}
			}
		}
	}
}

// TestSignedPrefix: the signer's subjects follow the same rules below
// their own prefix, and the record and signed filters never match each
// other's subjects.
func TestSignedPrefix(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		m       Message
		subject string
	}{
		"data":     {Message{Name: "www.example.com.", Type: "AAAA", Origin: "signer1"}, "zonecast.signed.signer1.com.example.www.AAAA"},
		"apex txt": {Message{Name: "example.com.", Type: "TXT", Origin: "signer1"}, "zonecast.signed.signer1.com.example.TXT"},
		"wildcard": {Message{Name: "*.example.com.", Type: "A", Origin: "signer1"}, "zonecast.signed.signer1.com.example.%2a.A"},
		"hashed":   {Message{Name: "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.example.com.", Type: "MX", Origin: "s"}, "zonecast.signed.s.com.example.0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.MX"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := Subject(DefaultSignedPrefix, tc.m)
			if got != tc.subject {
				t.Fatalf("Subject = %q, want %q", got, tc.subject)
			}
			key, origin, err := ParseSubject(DefaultSignedPrefix, got)
			if err != nil {
				t.Fatal(err)
			}
			if key != tc.m.Key() || origin != tc.m.Origin {
				t.Errorf("ParseSubject = %v %q, want %v %q", key, origin, tc.m.Key(), tc.m.Origin)
			}
			if !isSubject(got, DefaultSignedPrefix, tc.m) || isSubject(got, DefaultSubjectPrefix, tc.m) {
				t.Errorf("isSubject disagrees on %q", got)
			}
			if _, _, err := ParseSubject(DefaultSubjectPrefix, got); err == nil {
				t.Errorf("%q parsed below the record prefix", got)
			}
			zone := ZoneFilter(DefaultSignedPrefix, "example.com.")
			if zone != "zonecast.signed.*.com.example.>" || !natsMatch(zone, got) {
				t.Errorf("zone filter %q does not match %q", zone, got)
			}
			if !natsMatch(OriginFilter(DefaultSignedPrefix, tc.m.Origin, "example.com."), got) {
				t.Errorf("origin filter does not match %q", got)
			}
			if natsMatch(ZoneFilter(DefaultSubjectPrefix, "example.com."), got) ||
				natsMatch(ZoneFilter(DefaultSignedPrefix, "example.com."), Subject(DefaultSubjectPrefix, tc.m)) {
				t.Errorf("record and signed filters overlap on %q", got)
			}
		})
	}
}
