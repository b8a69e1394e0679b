package zonelist

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func valid(name string) Zone {
	return Zone{Name: name, SOA: DefaultSOA}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	withSOA := func(f func(*SOA)) Zone {
		z := valid("c1.example.com")
		f(&z.SOA)
		return z
	}
	cases := map[string]struct {
		z    Zone
		want Zone // when ok
		err  string
	}{
		"canonical": {
			z: Zone{Name: "C1.Example.COM", NS: []string{"NS1.example.net", "ns2.example.net."}, TTL: 300,
				SOA: SOA{MName: "NS1.example.net", RName: "Hostmaster.Example.com", Refresh: 1, Retry: 2, Expire: 3, Minimum: 0, TTL: 60}},
			want: Zone{V: Version, Name: "c1.example.com.", NS: []string{"ns1.example.net.", "ns2.example.net."}, TTL: 300,
				SOA: SOA{MName: "ns1.example.net.", RName: "hostmaster.example.com.", Refresh: 1, Retry: 2, Expire: 3, TTL: 60}},
		},
		"reverse zone":  {z: valid("99.10.in-addr.arpa"), want: Zone{V: Version, Name: "99.10.in-addr.arpa.", SOA: DefaultSOA}},
		"root":          {z: valid("."), err: "zone name"},
		"empty":         {z: valid(""), err: "zone name"},
		"wildcard":      {z: valid("*.example.com"), err: "wildcard"},
		"bad character": {z: valid("a b.example.com"), err: "zone name"},
		"other version": {z: Zone{V: 2, Name: "a.example", SOA: DefaultSOA}, err: "version 2"},
		"ns twice":      {z: Zone{Name: "a.example", NS: []string{"ns1.x", "NS1.x."}, SOA: DefaultSOA}, err: "twice"},
		"ns wildcard":   {z: Zone{Name: "a.example", NS: []string{"*.x"}, SOA: DefaultSOA}, err: "not a host name"},
		"ns empty":      {z: Zone{Name: "a.example", NS: []string{""}, SOA: DefaultSOA}, err: "not a host name"},
		"too many ns": {z: Zone{Name: "a.example", SOA: DefaultSOA,
			NS: strings.Split("a b c d e f g h i j k l m n", " ")}, err: "at most 13"},
		"bad mname":     {z: withSOA(func(s *SOA) { s.MName = "a..b" }), err: "mname"},
		"bad rname":     {z: withSOA(func(s *SOA) { s.RName = "@" }), err: "rname"},
		"zero refresh":  {z: withSOA(func(s *SOA) { s.Refresh = 0 }), err: "refresh 0"},
		"zero retry":    {z: withSOA(func(s *SOA) { s.Retry = 0 }), err: "retry 0"},
		"big expire":    {z: withSOA(func(s *SOA) { s.Expire = 1 << 31 }), err: "expire"},
		"big minimum":   {z: withSOA(func(s *SOA) { s.Minimum = 604801 }), err: "minimum"},
		"zero soa ttl":  {z: withSOA(func(s *SOA) { s.TTL = 0 }), err: "SOA ttl 0"},
		"big zone ttl":  {z: Zone{Name: "a.example", SOA: DefaultSOA, TTL: 604801}, err: "ttl 604801"},
		"no soa at all": {z: Zone{Name: "a.example"}, err: "refresh 0"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := c.z.Validate()
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) || !errors.Is(err, ErrInvalid) {
					t.Fatalf("got %+v, %v; want an ErrInvalid with %q", got, err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(c.want) {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
			again, err := got.Validate()
			if err != nil || !again.Equal(got) {
				t.Fatalf("not a fixed point: %+v, %v", again, err)
			}
		})
	}
}

func TestNSTTL(t *testing.T) {
	t.Parallel()
	z := valid("a.example")
	if z.NSTTL() != DefaultSOA.TTL {
		t.Fatalf("NS TTL %d without a zone TTL, want the SOA's %d", z.NSTTL(), DefaultSOA.TTL)
	}
	z.TTL = 120
	if z.NSTTL() != 120 {
		t.Fatalf("NS TTL %d, want 120", z.NSTTL())
	}
}

func TestKeys(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"lxd.example.com": "lxd.example.com", "LXD.Example.Com.": "lxd.example.com",
		"99.10.in-addr.arpa.": "99.10.in-addr.arpa", "_srv.example": "_srv.example",
	} {
		k, err := Key(in)
		if err != nil || k != want {
			t.Errorf("Key(%q) = %q, %v; want %q", in, k, err, want)
			continue
		}
		z, err := ZoneOfKey(k)
		if err != nil || z != want+"." {
			t.Errorf("ZoneOfKey(%q) = %q, %v", k, z, err)
		}
	}
	for _, bad := range []string{"", ".", "*.example", "a..b"} {
		if k, err := Key(bad); err == nil {
			t.Errorf("Key(%q) = %q, want an error", bad, k)
		}
	}
	for _, bad := range []string{"", "Upper.example", "a.example.", "*.example", "a b"} {
		if z, err := ZoneOfKey(bad); err == nil {
			t.Errorf("ZoneOfKey(%q) = %q, want an error", bad, z)
		}
	}
}

func TestEncodeDecode(t *testing.T) {
	t.Parallel()
	z := Zone{Name: "C1.example.com", NS: []string{"ns1.example.net"}, TTL: 300, SOA: DefaultSOA,
		Added: time.Date(2025, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))}
	b, err := Encode(z)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode("c1.example.com", b)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := z.Validate()
	if !got.Equal(want) || got.Added.Location() != time.UTC {
		t.Fatalf("decoded %+v, want %+v", got, want)
	}
	if _, err := Encode(valid("*.x")); err == nil {
		t.Fatal("an invalid zone encoded")
	}
	cases := map[string]struct{ key, value, err string }{
		"other zone":    {"c2.example.com", string(b), "names zone c1.example.com."},
		"bad key":       {"C1.example.com", string(b), "not canonical"},
		"no version":    {"a.example", `{"zone":"a.example.","soa":{"refresh":1,"retry":1,"expire":1,"minimum":1,"ttl":1}}`, "version 0"},
		"newer version": {"a.example", `{"v":2,"zone":"a.example."}`, "version 2"},
		"unknown field": {"a.example", `{"v":1,"zone":"a.example.","signed":true}`, "unknown field"},
		"not json":      {"a.example", `zone a.example`, "decoding"},
		"two values":    {"a.example", `{"v":1,"zone":"a.example.","soa":{"refresh":1,"retry":1,"expire":1,"minimum":1,"ttl":1}} {}`, "data after"},
		"invalid":       {"a.example", `{"v":1,"zone":"a.example.","soa":{"refresh":0,"retry":1,"expire":1,"minimum":1,"ttl":1}}`, "refresh 0"},
	}
	for name, c := range cases {
		if _, err := Decode(c.key, []byte(c.value)); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: err %v, want %q", name, err, c.err)
		}
	}
}

func encoded(t *testing.T, z Zone) []byte {
	t.Helper()
	b, err := Encode(z)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestList(t *testing.T) {
	t.Parallel()
	l := NewList()
	if err := l.Put("a.example", encoded(t, valid("a.example"))); err != nil {
		t.Fatal(err)
	}
	if err := l.Put("b.example", encoded(t, valid("b.example"))); err != nil {
		t.Fatal(err)
	}
	l.Delete("a.example")
	l.Delete("c.example") // removed without ever being listed here: still removed
	l.Delete("Not A Key") // ignored
	if err := l.Put("d.example", []byte("{")); err == nil {
		t.Fatal("garbage taken in")
	}
	if got := names(l.Sorted()); !slices.Equal(got, []string{"b.example."}) {
		t.Fatalf("listed %v", got)
	}
	if len(l.Removed) != 2 || !l.Removed["a.example."] || !l.Removed["c.example."] {
		t.Fatalf("removed %v", l.Removed)
	}
	if _, bad := l.Bad["d.example"]; !bad || len(l.Bad) != 1 {
		t.Fatalf("bad %v", l.Bad)
	}
	c := l.Clone()
	// Listed again: no longer removed.
	if err := l.Put("a.example", encoded(t, valid("a.example"))); err != nil {
		t.Fatal(err)
	}
	if l.Removed["a.example."] || len(l.Zones) != 2 {
		t.Fatalf("a.example listed again: removed %v, zones %v", l.Removed, l.Zones)
	}
	// A good value replaces a bad one; a bad one replaces a good one,
	// and its zone is then neither listed nor removed.
	if err := l.Put("d.example", encoded(t, valid("d.example"))); err != nil || len(l.Bad) != 0 {
		t.Fatalf("d.example: %v, bad %v", err, l.Bad)
	}
	_ = l.Put("b.example", []byte(`{"v":1}`))
	if _, ok := l.Zones["b.example."]; ok || l.Removed["b.example."] {
		t.Fatal("b.example still listed (or removed) with a bad value")
	}
	// The clone did not change.
	if got := names(c.Sorted()); !slices.Equal(got, []string{"b.example."}) || c.Removed["b.example."] || len(c.Bad) != 1 {
		t.Fatalf("clone changed: %v %v %v", got, c.Removed, c.Bad)
	}
}

func names(zs []Zone) []string {
	var out []string
	for _, z := range zs {
		out = append(out, z.Name)
	}
	return out
}

func TestAssign(t *testing.T) {
	t.Parallel()
	l := NewList()
	for _, n := range []string{"b.example", "c.example"} {
		if err := l.Put(n, encoded(t, valid(n))); err != nil {
			t.Fatal(err)
		}
	}
	l.Delete("d.example")
	l.Delete("a.example")
	cases := map[string]struct {
		flags    []string
		list     *List
		zones    []string
		listed   []string
		retiring []string
	}{
		"flags only": {flags: []string{"z.example.", "a.example."}, zones: []string{"a.example.", "z.example."}},
		"list only":  {list: l, zones: []string{"b.example.", "c.example."}, listed: []string{"b.example.", "c.example."}, retiring: []string{"a.example.", "d.example."}},
		"empty list": {flags: []string{"a.example."}, list: NewList(), zones: []string{"a.example."}},
		"nothing":    {},
		"union": {flags: []string{"c.example.", "a.example."}, list: l,
			// a.example. is a flag's: removing it from the list does not
			// withdraw it; c.example. is in both and takes the list's
			// settings.
			zones: []string{"a.example.", "b.example.", "c.example."}, listed: []string{"b.example.", "c.example."},
			retiring: []string{"d.example."}},
	}
	for name, c := range cases {
		a := Assign(c.flags, c.list)
		var listed []string
		for n := range a.Listed {
			listed = append(listed, n)
		}
		slices.Sort(listed)
		if !slices.Equal(a.Zones, c.zones) || !slices.Equal(listed, c.listed) || !slices.Equal(a.Retiring, c.retiring) {
			t.Errorf("%s: zones %v listed %v retiring %v; want %v %v %v", name, a.Zones, listed, a.Retiring, c.zones, c.listed, c.retiring)
		}
		if !a.Equal(Assign(c.flags, c.list)) {
			t.Errorf("%s: not equal to itself", name)
		}
	}
}

func TestAssignmentChanges(t *testing.T) {
	t.Parallel()
	l := NewList()
	if err := l.Put("b.example", encoded(t, valid("b.example"))); err != nil {
		t.Fatal(err)
	}
	before := Assign([]string{"a.example."}, l)
	added, dropped := before.Changes(before)
	if len(added)+len(dropped) != 0 {
		t.Fatalf("changes against itself: %v %v", added, dropped)
	}
	// Other settings of the same zone: not equal, though no zone comes
	// or goes.
	other := l.Clone()
	z := other.Zones["b.example."]
	z.NS = []string{"ns9.example.net."}
	other.Zones["b.example."] = z
	if before.Equal(Assign([]string{"a.example."}, other)) {
		t.Fatal("other NS of a listed zone compare equal")
	}
	after := l.Clone()
	after.Delete("b.example")
	if err := after.Put("c.example", encoded(t, valid("c.example"))); err != nil {
		t.Fatal(err)
	}
	a2 := Assign([]string{"a.example."}, after)
	added, dropped = before.Changes(a2)
	if !slices.Equal(added, []string{"c.example."}) || !slices.Equal(dropped, []string{"b.example."}) || before.Equal(a2) {
		t.Fatalf("added %v dropped %v", added, dropped)
	}
}

// FuzzDecode: whatever Decode accepts encodes to a value it decodes to
// the same entry.
func FuzzDecode(f *testing.F) {
	b, err := Encode(Zone{Name: "a.example", NS: []string{"ns1.example"}, TTL: 60, SOA: DefaultSOA,
		Added: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("a.example", b)
	f.Add("a.example", []byte(`{"v":1,"zone":"a.example.","soa":{"refresh":1,"retry":1,"expire":1,"minimum":1,"ttl":1}}`))
	f.Add("b", []byte(`{"v":1,"zone":"B.","ns":["x.","x"],"soa":{}}`))
	f.Fuzz(func(t *testing.T, key string, value []byte) {
		z, err := Decode(key, value)
		if err != nil {
			return
		}
		again, err := Encode(z)
		if err != nil {
			t.Fatalf("decoded entry does not encode: %+v: %v", z, err)
		}
		z2, err := Decode(key, again)
		if err != nil || !z2.Equal(z) {
			t.Fatalf("entry does not read back: %+v, %+v, %v", z, z2, err)
		}
	})
}
