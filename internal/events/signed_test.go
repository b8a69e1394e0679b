package events

import (
	"errors"
	"slices"
	"testing"
)

// TestDecodeSigned: a signer's message may carry the types of a signed
// zone, a source's may not; and the rest of the format is the same.
func TestDecodeSigned(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		body   string
		signed bool // DecodeSigned accepts it
		source bool // Decode accepts it
	}{
		"RRSIG": {`{"v":1,"name":"www.example.com.","type":"RRSIG","origin":"signer","ttl":60,` +
			`"records":["AAAA 13 3 60 20270101000000 20261201000000 12345 example.com. dGVzdA=="]}`, true, false},
		"SOA": {`{"v":1,"name":"example.com.","type":"SOA","origin":"signer","ttl":3600,` +
			`"records":["ns1.example.com. hostmaster.example.com. 7 10800 3600 604800 60"]}`, true, false},
		"NSEC": {`{"v":1,"name":"example.com.","type":"nsec","origin":"signer","ttl":60,` +
			`"records":["www.example.com. NS SOA RRSIG NSEC DNSKEY"]}`, true, false},
		"AAAA":          {`{"v":1,"name":"www.example.com.","type":"AAAA","origin":"signer","ttl":60,"records":["2001:db8::1"]}`, true, true},
		"unknown field": {`{"v":1,"name":"example.com.","type":"SOA","origin":"signer","x":1}`, false, false},
		"bad RRSIG":     {`{"v":1,"name":"www.example.com.","type":"RRSIG","origin":"signer","ttl":60,"records":["AAAA not a signature"]}`, false, false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m, err := DecodeSigned([]byte(c.body))
			if (err == nil) != c.signed {
				t.Errorf("DecodeSigned: %+v, %v; want accepted %v", m, err, c.signed)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Errorf("DecodeSigned error %v does not wrap ErrInvalid", err)
			}
			if err == nil {
				b, err := EncodeSigned(m)
				if err != nil {
					t.Fatalf("EncodeSigned of a decoded message: %v", err)
				}
				if again, err := DecodeSigned(b); err != nil || again.Type != m.Type {
					t.Errorf("round trip: %+v, %v", again, err)
				}
			}
			if _, err := Decode([]byte(c.body)); (err == nil) != c.source {
				t.Errorf("Decode: %v; want accepted %v", err, c.source)
			}
		})
	}
}

// FuzzDecodeSigned: a signer's message from the stream is untrusted like
// any other. DecodeSigned never panics, refuses with ErrInvalid, accepts
// everything Decode accepts, and what it accepts encodes back to a body
// that decodes to the same message.
func FuzzDecodeSigned(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"name":"www.example.com.","type":"RRSIG","origin":"signer","ttl":60,"records":["AAAA 13 3 60 20270101000000 20261201000000 12345 example.com. dGVzdA=="]}`,
		`{"v":1,"name":"example.com.","type":"NSEC","origin":"signer","ttl":60,"records":["www.example.com. NS SOA RRSIG NSEC DNSKEY"]}`,
		`{"v":1,"name":"example.com.","type":"DNSKEY","origin":"signer","ttl":3600,"records":["257 3 13 dGVzdA=="]}`,
		`{"v":1,"name":"example.com.","type":"NSEC3PARAM","origin":"signer","ttl":60,"records":["1 0 0 -"]}`,
		`{"v":1,"name":"example.com.","type":"SOA","origin":"signer","ttl":3600,"records":["ns1.example.com. h.example.com. 7 1 2 3 4"]}`,
		`{"v":1,"name":"web.example.com.","type":"A","origin":"n1","ttl":60,"records":["192.0.2.1"]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeSigned(data)
		if _, serr := Decode(data); serr == nil && err != nil {
			t.Fatalf("Decode accepts what DecodeSigned refuses: %v", err)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		b, err := EncodeSigned(m)
		if err != nil {
			t.Fatalf("EncodeSigned of a decoded message: %v", err)
		}
		again, err := DecodeSigned(b)
		if err != nil || again.Name != m.Name || again.Type != m.Type || !slices.Equal(again.Records, m.Records) {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, m)
		}
	})
}
