package events

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/zonecast/zonecast/internal/rrset"
)

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"name":"web.example.com.","type":"A","origin":"n1","ttl":60,"records":["192.0.2.1"]}`,
		`{"v":1,"name":"Web.Example.COM","type":"aaaa","origin":"n1","ttl":60,"records":["2001:DB8::0:1","2001:db8::1"]}`,
		`{"v":1,"name":"web.example.com.","type":"A","origin":"n1","ttl":0,"records":[]}`,
		`{"v":1,"name":"web.example.com.","type":"A","origin":"n1"}`,
		`{"v":1,"name":"*.example.com.","type":"CNAME","origin":"n1","ttl":5,"records":["t.example."]}`,
		`{"v":1,"name":"_sip._tcp.example.com.","type":"SRV","origin":"gw","ttl":300,"records":["10 5 5060 sip.example.com."]}`,
		`{"v":1,"name":"example.com.","type":"MX","origin":"gw","ttl":300,"records":["10 mx.example.com.","0 ."]}`,
		`{"v":1,"name":"example.com.","type":"TXT","origin":"gw","ttl":300,"records":["\"v=spf1 -all\"","a b c","\"x;y\""]}`,
		`{"v":1,"name":"example.com.","type":"CAA","origin":"gw","ttl":300,"records":["0 issue \"letsencrypt.org\""]}`,
		`{"v":1,"name":"1.2.0.192.in-addr.arpa.","type":"PTR","origin":"gw","ttl":300,"records":["Host.Example."]}`,
		`{"v":1,"name":"example.com.","type":"TXT","origin":"gw","ttl":300,"records":["\"<&>\""]}`,
		`{"v":1,"name":"a.example.","type":"A","origin":"n","ttl":60,"records":["192.0.2.1"]} `,
		`{"v":1,"name":"a.example.","type":"A","origin":"n","ttl":60,"records":["192.0.2.1"]}{}`,
		`{"v":2,"name":"a.example.","type":"A","origin":"n","ttl":60,"records":["192.0.2.1"]}`,
		`{"v":1,"name":"a.example.","type":"A","origin":"n","ttl":60,"records":["192.0.2.1"],"x":1}`,
		`{"V":1,"NAME":"a.example.","Type":"A","origin":"n","ttl":60,"records":["192.0.2.1"]}`,
		`{"v":1,"name":"a.example.","name":"b.example.","type":"A","origin":"n","ttl":60,"records":["192.0.2.1"]}`,
		`null`, ``, `[]`, `{}`, `{"v":1e0}`,
		`{"v":1 "name":"a.example.","type":"A","origin":"n"}`,
		`{"v":1,"name":"a.example.","type":"A","origin":"n",}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Decode error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if !json.Valid(data) || !utf8.Valid(data) {
			t.Fatalf("Decode accepted invalid json %q", data)
		}
		checkCanonical(t, m)
		b, err := Encode(m)
		if err != nil {
			t.Fatalf("Encode of a decoded message: %v", err)
		}
		back, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode(Encode(m)): %v (%s)", err, b)
		}
		if !reflect.DeepEqual(back, m) {
			t.Fatalf("round trip changed the message: %#v -> %#v", m, back)
		}
		if b2, err := Encode(back); err != nil || string(b2) != string(b) {
			t.Fatalf("encoding not a fixed point: %s vs %s (%v)", b, b2, err)
		}
		subject := Subject(DefaultSubjectPrefix, m)
		key, origin, err := ParseSubject(DefaultSubjectPrefix, subject)
		if err != nil || key != m.Key() || origin != m.Origin {
			t.Fatalf("ParseSubject(Subject(m)) = %v %q %v for %q", key, origin, err, subject)
		}
		if _, err := DecodeWithSubject(DefaultSubjectPrefix, subject, data); err != nil {
			t.Fatalf("DecodeWithSubject on the message's own subject %q: %v", subject, err)
		}
	})
}

// checkCanonical asserts the invariants of a message Decode returned.
func checkCanonical(t *testing.T, m Message) {
	t.Helper()
	if m.Version != Version {
		t.Fatalf("version %d", m.Version)
	}
	if n, err := rrset.CanonicalName(m.Name); err != nil || n != m.Name {
		t.Fatalf("name %q not canonical: %q %v", m.Name, n, err)
	}
	if typ, err := rrset.CanonicalType(m.Type); err != nil || typ != m.Type {
		t.Fatalf("type %q not canonical: %q %v", m.Type, typ, err)
	}
	if err := CheckOrigin(m.Origin); err != nil {
		t.Fatalf("origin: %v", err)
	}
	if m.Tombstone() {
		if m.TTL != 0 || m.Records != nil {
			t.Fatalf("tombstone with ttl %d and records %#v", m.TTL, m.Records)
		}
		return
	}
	if m.TTL < MinTTL || m.TTL > MaxTTL {
		t.Fatalf("ttl %d out of bounds", m.TTL)
	}
	if len(m.Records) > MaxRecords {
		t.Fatalf("%d records", len(m.Records))
	}
	if !slices.IsSorted(m.Records) || len(slices.Compact(slices.Clone(m.Records))) != len(m.Records) {
		t.Fatalf("records not sorted and distinct: %q", m.Records)
	}
	if m.Type == "CNAME" && len(m.Records) != 1 {
		t.Fatalf("CNAME with %d records", len(m.Records))
	}
	for _, r := range m.Records {
		if c, err := rrset.CanonicalContent(m.Type, r); err != nil || c != r {
			t.Fatalf("record %q not canonical: %q %v", r, c, err)
		}
	}
}

func FuzzParseSubject(f *testing.F) {
	for _, s := range []string{
		"zonecast.rr.node1.com.example.web.AAAA",
		"zonecast.rr.node1.com.example.TXT",
		"zonecast.rr.lxd-a.com.example.%2a.A",
		"zonecast.rr.gw.com.example._tcp._sip.SRV",
		"zonecast.rr.n1.com.Example.web.A",
		"zonecast.rr.n1.com.example.*.A",
		"zonecast.rr.n1.com.%2a.web.A",
		"zonecast.rr.n1.com.example.a",
		"zonecast.rr.n1.com.example.SOA",
		"zonecast.rr.n1..A",
		"zonecast.rr.n1.A",
		"zonecast.rr",
		"other.com.example.A.n1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, subject string) {
		key, origin, err := ParseSubject(DefaultSubjectPrefix, subject)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseSubject error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if n, err := rrset.CanonicalName(key.Name); err != nil || n != key.Name {
			t.Fatalf("name %q not canonical", key.Name)
		}
		m := Message{Version: Version, Name: key.Name, Type: key.Type, Origin: origin}
		if got := Subject(DefaultSubjectPrefix, m); got != subject {
			t.Fatalf("Subject(ParseSubject(%q)) = %q", subject, got)
		}
		if !natsMatch(ZoneFilter(DefaultSubjectPrefix, key.Name), subject) {
			t.Fatalf("ZoneFilter(%q) does not match %q", key.Name, subject)
		}
	})
}

// FuzzMessage fuzzes the fields of a message rather than its JSON, to reach
// the validation of names, types, TTLs and record contents.
func FuzzMessage(f *testing.F) {
	type seed struct {
		name, typ, origin string
		ttl               uint32
		r1, r2            string
	}
	for _, s := range []seed{
		{"web.example.com.", "A", "n1", 60, "192.0.2.1", "192.0.2.2"},
		{"Web.Example.com", "aaaa", "n1", 60, "2001:DB8::1", "2001:db8:0::1"},
		{"*.example.com.", "CNAME", "n1", 300, "t.example.", "T.example"},
		{"example.com.", "MX", "gw", 3600, "10 mx.example.com.", "0 ."},
		{"_sip._tcp.example.com.", "SRV", "gw", 300, "10 5 5060 sip.example.com.", "0 0 0 ."},
		{"example.com.", "TXT", "gw", 300, `"v=spf1 -all"`, "a b c"},
		{"example.com.", "CAA", "gw", 300, `0 issue "letsencrypt.org"`, `0 iodef "mailto:a@example.com"`},
		{"1.2.0.192.in-addr.arpa.", "PTR", "gw", 300, "host.example.", "host.example."},
		{"sub.example.com.", "NS", "gw", 300, "ns1.example.net.", "ns2.example.net."},
		{"a.example.", "A", "n", 0, "", ""},
	} {
		f.Add(s.name, s.typ, s.origin, s.ttl, s.r1, s.r2)
	}
	f.Fuzz(func(t *testing.T, name, typ, origin string, ttl uint32, r1, r2 string) {
		var recs []string
		for _, r := range []string{r1, r2} {
			if r != "" {
				recs = append(recs, r)
			}
		}
		in := Message{Version: Version, Name: name, Type: typ, Origin: origin, TTL: ttl, Records: recs}
		body, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Decode(body)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Decode error %v does not wrap ErrInvalid", err)
			}
			return
		}
		checkCanonical(t, m)
		if utf8.ValidString(name + typ + origin + r1 + r2) {
			// json.Marshal kept every string as is: Validate agrees.
			if v, err := Validate(in); err != nil || !reflect.DeepEqual(v, m) {
				t.Fatalf("Validate disagrees with Decode: %#v, %v vs %#v", v, err, m)
			}
		}
		b, err := Encode(m)
		if err != nil {
			t.Fatalf("Encode of a decoded message: %v", err)
		}
		if back, err := Decode(b); err != nil || !reflect.DeepEqual(back, m) {
			t.Fatalf("round trip: %#v, %v vs %#v", back, err, m)
		}
		subject := Subject(DefaultSubjectPrefix, m)
		if _, err := DecodeWithSubject(DefaultSubjectPrefix, subject, body); err != nil {
			t.Fatalf("DecodeWithSubject on its own subject %q: %v", subject, err)
		}
	})
}

// FuzzDecodeFast: the reflection-free path accepts only what the general
// path accepts, and reads the same message.
func FuzzDecodeFast(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"name":"web.example.com.","type":"A","origin":"n1","ttl":60,"records":["192.0.2.1"]}`,
		` { "v" : 1 , "name" : "a." , "records" : [ "x" , "y" ] , "ttl" : 0 } `,
		`{"v":1,"records":[]}`, `{}`, `{"v":01}`, `{"v":1.0}`, `{"v":1e1}`, `{"v":-1}`, `{"v":null}`,
		`{"ttl":4294967296}`, `{"ttl":999999999}`, `{"name":"a\u0041"}`, `{"name":"a","name":"b"}`,
		`{"records":["a",]}`, `{"records":[1]}`, `{"v":1}x`, `{"v":1,}`, `{"NAME":"a."}`, "{\"name\":\"\x01\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !utf8.Valid(data) {
			return
		}
		fast, ok := decodeFast(data)
		if !ok {
			return
		}
		general, err := decodeGeneral(data)
		if err != nil {
			t.Fatalf("fast path accepted %q, general path refused it: %v", data, err)
		}
		if !reflect.DeepEqual(fast, general) {
			t.Fatalf("%q: fast %#v, general %#v", data, fast, general)
		}
	})
}

// FuzzDecodeWithSubject: the shortcut (encode the body's subject and
// compare) decides exactly as parsing the subject first does.
func FuzzDecodeWithSubject(f *testing.F) {
	body := `{"v":1,"name":"web.example.com.","type":"A","origin":"n1","ttl":60,"records":["192.0.2.1"]}`
	for _, subj := range []string{
		"zonecast.rr.n1.com.example.web.A", "zonecast.rr.n1.com.example.WEB.A", "zonecast.rr.n2.com.example.web.A",
		"zonecast.rr.n1.com.example.web.a", "zonecast.rr.n1.com.example.%2a.A", "zonecast.rr.n1..com.example.web.A",
		"other.n1.com.example.web.A", "zonecast.rr.n1.A",
	} {
		f.Add(subj, []byte(body))
	}
	f.Fuzz(func(t *testing.T, subject string, data []byte) {
		got, gotErr := DecodeWithSubject(DefaultSubjectPrefix, subject, data)
		want, wantErr := func() (Message, error) {
			key, origin, err := ParseSubject(DefaultSubjectPrefix, subject)
			if err != nil {
				return Message{}, err
			}
			m, err := Decode(data)
			if err != nil {
				return Message{}, err
			}
			if m.Key() != key || m.Origin != origin {
				return Message{}, ErrInvalid
			}
			return m, nil
		}()
		if (gotErr == nil) != (wantErr == nil) || !reflect.DeepEqual(got, want) {
			t.Fatalf("%q %q: got %#v, %v; want %#v, %v", subject, data, got, gotErr, want, wantErr)
		}
	})
}
