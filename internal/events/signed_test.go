package events

import (
	"errors"
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
