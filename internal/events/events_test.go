package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// jsonBody marshals fields into a JSON object (keys sorted by encoding/json).
// HTML characters are not escaped, as a publisher in another language would
// not escape them.
func jsonBody(t testing.TB, fields map[string]any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(fields); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// validFields returns the fields of a valid A message; tests modify a copy.
func validFields() map[string]any {
	return map[string]any{
		"v": 1, "name": "Web.Example.COM", "type": "a", "origin": "lxd-node1",
		"ttl": 60, "records": []string{"192.0.2.2", "192.0.2.1", "192.0.2.2"},
	}
}

func with(mod func(map[string]any)) map[string]any {
	f := validFields()
	mod(f)
	return f
}

func records(n int, format string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(format, i)
	}
	return out
}

func TestDecode(t *testing.T) {
	t.Parallel()
	canonicalA := Message{Version: 1, Name: "web.example.com.", Type: "A", Origin: "lxd-node1", TTL: 60,
		Records: []string{"192.0.2.1", "192.0.2.2"}}
	tomb := Message{Version: 1, Name: "web.example.com.", Type: "A", Origin: "lxd-node1"}
	tests := map[string]struct {
		body []byte
		want *Message // nil means rejected
	}{
		"valid set": {body: jsonBody(t, validFields()), want: &canonicalA},
		"tombstone with empty records": {
			body: []byte(`{"v":1,"name":"web.example.com.","type":"A","origin":"lxd-node1","ttl":0,"records":[]}`),
			want: &tomb,
		},
		"tombstone with records omitted": {
			body: []byte(`{"v":1,"name":"web.example.com.","type":"A","origin":"lxd-node1"}`),
			want: &tomb,
		},
		"tombstone with null records": {
			body: []byte(`{"v":1,"name":"web.example.com.","type":"A","origin":"lxd-node1","records":null}`),
			want: &tomb,
		},
		"tombstone ignores its ttl": {
			body: []byte(`{"v":1,"name":"web.example.com.","type":"A","origin":"lxd-node1","ttl":4000000000,"records":[]}`),
			want: &tomb,
		},
		"wildcard name": {
			body: jsonBody(t, with(func(f map[string]any) { f["name"] = "*.Example.com." })),
			want: &Message{Version: 1, Name: "*.example.com.", Type: "A", Origin: "lxd-node1", TTL: 60,
				Records: []string{"192.0.2.1", "192.0.2.2"}},
		},
		"aaaa compressed": {
			body: jsonBody(t, with(func(f map[string]any) {
				f["type"] = "AAAA"
				f["records"] = []string{"2001:DB8:0:0::0001", "2001:db8::1"}
			})),
			want: &Message{Version: 1, Name: "web.example.com.", Type: "AAAA", Origin: "lxd-node1", TTL: 60,
				Records: []string{"2001:db8::1"}},
		},
		"ttl 1":                 {body: jsonBody(t, with(func(f map[string]any) { f["ttl"] = MinTTL })), want: withTTL(canonicalA, MinTTL)},
		"ttl max":               {body: jsonBody(t, with(func(f map[string]any) { f["ttl"] = MaxTTL })), want: withTTL(canonicalA, MaxTTL)},
		"ttl 0":                 {body: jsonBody(t, with(func(f map[string]any) { f["ttl"] = 0 }))},
		"ttl omitted":           {body: jsonBody(t, with(func(f map[string]any) { delete(f, "ttl") }))},
		"ttl above max":         {body: jsonBody(t, with(func(f map[string]any) { f["ttl"] = MaxTTL + 1 }))},
		"ttl negative":          {body: jsonBody(t, with(func(f map[string]any) { f["ttl"] = -1 }))},
		"ttl above uint32":      {body: jsonBody(t, with(func(f map[string]any) { f["ttl"] = 1 << 32 }))},
		"ttl fractional":        {body: jsonBody(t, with(func(f map[string]any) { f["ttl"] = 1.5 }))},
		"ttl as string":         {body: jsonBody(t, with(func(f map[string]any) { f["ttl"] = "60" }))},
		"unknown field":         {body: jsonBody(t, with(func(f map[string]any) { f["comment"] = "x" }))},
		"version missing":       {body: jsonBody(t, with(func(f map[string]any) { delete(f, "v") }))},
		"version 0":             {body: jsonBody(t, with(func(f map[string]any) { f["v"] = 0 }))},
		"version 2":             {body: jsonBody(t, with(func(f map[string]any) { f["v"] = 2 }))},
		"version as string":     {body: jsonBody(t, with(func(f map[string]any) { f["v"] = "1" }))},
		"name missing":          {body: jsonBody(t, with(func(f map[string]any) { delete(f, "name") }))},
		"name root":             {body: jsonBody(t, with(func(f map[string]any) { f["name"] = "." }))},
		"name bad character":    {body: jsonBody(t, with(func(f map[string]any) { f["name"] = "a b.example." }))},
		"name inner wildcard":   {body: jsonBody(t, with(func(f map[string]any) { f["name"] = "a.*.example." }))},
		"type missing":          {body: jsonBody(t, with(func(f map[string]any) { delete(f, "type") }))},
		"type soa":              {body: jsonBody(t, with(func(f map[string]any) { f["type"] = "SOA" }))},
		"type unsupported":      {body: jsonBody(t, with(func(f map[string]any) { f["type"] = "HINFO" }))},
		"origin missing":        {body: jsonBody(t, with(func(f map[string]any) { delete(f, "origin") }))},
		"origin upper case":     {body: jsonBody(t, with(func(f map[string]any) { f["origin"] = "Node1" }))},
		"origin with dot":       {body: jsonBody(t, with(func(f map[string]any) { f["origin"] = "node.1" }))},
		"origin nats wildcard":  {body: jsonBody(t, with(func(f map[string]any) { f["origin"] = "*" }))},
		"origin leading hyphen": {body: jsonBody(t, with(func(f map[string]any) { f["origin"] = "-node" }))},
		"origin too long":       {body: jsonBody(t, with(func(f map[string]any) { f["origin"] = strings.Repeat("o", MaxOriginLen+1) }))},
		"origin at max length": {
			body: jsonBody(t, with(func(f map[string]any) { f["origin"] = strings.Repeat("o", MaxOriginLen) })),
			want: func() *Message { m := canonicalA; m.Origin = strings.Repeat("o", MaxOriginLen); return &m }(),
		},
		"max records": {
			body: jsonBody(t, with(func(f map[string]any) { f["records"] = records(MaxRecords, "192.0.2.%d") })),
			want: func() *Message {
				m := canonicalA
				m.Records = records(MaxRecords, "192.0.2.%d")
				slicesSortStrings(m.Records)
				return &m
			}(),
		},
		"too many records":  {body: jsonBody(t, with(func(f map[string]any) { f["records"] = records(MaxRecords+1, "192.0.2.%d") }))},
		"bad record":        {body: jsonBody(t, with(func(f map[string]any) { f["records"] = []string{"192.0.2.1", "not-an-ip"} }))},
		"empty record":      {body: jsonBody(t, with(func(f map[string]any) { f["records"] = []string{""} }))},
		"records as string": {body: jsonBody(t, with(func(f map[string]any) { f["records"] = "192.0.2.1" }))},
		"cname one record": {
			body: jsonBody(t, with(func(f map[string]any) { f["type"] = "CNAME"; f["records"] = []string{"Target.Example.com"} })),
			want: &Message{Version: 1, Name: "web.example.com.", Type: "CNAME", Origin: "lxd-node1", TTL: 60,
				Records: []string{"target.example.com."}},
		},
		"cname duplicates collapse": {
			body: jsonBody(t, with(func(f map[string]any) {
				f["type"] = "CNAME"
				f["records"] = []string{"target.example.com.", "TARGET.example.com"}
			})),
			want: &Message{Version: 1, Name: "web.example.com.", Type: "CNAME", Origin: "lxd-node1", TTL: 60,
				Records: []string{"target.example.com."}},
		},
		"cname two records": {body: jsonBody(t, with(func(f map[string]any) {
			f["type"] = "CNAME"
			f["records"] = []string{"a.example.com.", "b.example.com."}
		}))},
		"field name in other case": {
			body: []byte(`{"V":1,"Name":"web.example.com.","TYPE":"A","origin":"lxd-node1","ttl":60,"records":["192.0.2.1"]}`),
		},
		"duplicate field": {
			body: []byte(`{"v":1,"name":"web.example.com.","name":"www.example.com.","type":"A","origin":"lxd-node1","ttl":60,"records":["192.0.2.1"]}`),
		},
		"duplicate field differing in case": {
			body: []byte(`{"v":1,"name":"web.example.com.","NAME":"www.example.com.","type":"A","origin":"lxd-node1","ttl":60,"records":["192.0.2.1"]}`),
		},
		"fields in any order": {
			body: []byte(`{"records":["192.0.2.1","192.0.2.2"],"ttl":60,"origin":"lxd-node1","type":"A","name":"web.example.com.","v":1}`),
			want: &canonicalA,
		},
		"null field values": {
			body: []byte(`{"v":1,"name":"web.example.com.","type":"A","origin":"lxd-node1","ttl":null,"records":null}`),
			want: &tomb,
		},
		"nested unknown field":      {body: []byte(`{"v":1,"name":"a.example.","type":"A","origin":"n","ttl":60,"records":["192.0.2.1"],"x":{"y":1}}`)},
		"invalid utf-8 in a string": {body: []byte("{\"v\":1,\"name\":\"a.example.\",\"type\":\"TXT\",\"origin\":\"n\",\"ttl\":60,\"records\":[\"\\\"\xff\\\"\"]}")},
		"escaped non-ascii is fine": {
			body: []byte(`{"v":1,"name":"a.example.","type":"TXT","origin":"n","ttl":60,"records":["\"\u00e9\""]}`),
			want: &Message{Version: 1, Name: "a.example.", Type: "TXT", Origin: "n", TTL: 60, Records: []string{`"\195\169"`}},
		},
		"missing comma":       {body: []byte(`{"v":1 "name":"a.example.","type":"A","origin":"n"}`)},
		"trailing comma":      {body: []byte(`{"v":1,"name":"a.example.","type":"A","origin":"n",}`)},
		"missing colon":       {body: []byte(`{"v":1,"name" "a.example.","type":"A","origin":"n"}`)},
		"unterminated object": {body: []byte(`{"v":1,"name":"a.example.","type":"A","origin":"n"`)},
		"key not a string":    {body: []byte(`{"v":1,"name":"a.example.","type":"A","origin":"n",1:2}`)},
		"trailing object":     {body: append(jsonBody(t, validFields()), []byte(`{}`)...)},
		"trailing garbage":    {body: append(jsonBody(t, validFields()), []byte(`x`)...)},
		"trailing brace":      {body: append(jsonBody(t, validFields()), '}')},
		"trailing whitespace": {body: append(jsonBody(t, validFields()), []byte(" \n\t")...), want: &canonicalA},
		"empty body":          {body: []byte{}},
		"null":                {body: []byte(`null`)},
		"array":               {body: []byte(`[]`)},
		"truncated":           {body: jsonBody(t, validFields())[:20]},
		"oversize": {body: jsonBody(t, with(func(f map[string]any) {
			f["type"] = "TXT"
			f["records"] = []string{`"` + strings.Repeat("x", MaxMessageBytes) + `"`}
		}))},
		"oversize by whitespace": {body: append(jsonBody(t, validFields()), []byte(strings.Repeat(" ", MaxMessageBytes))...)},
		"control character in record": {body: jsonBody(t, with(func(f map[string]any) {
			f["type"] = "TXT"
			f["records"] = []string{"\"a\u0000b\""}
		}))},
		"txt unquoted semicolon": {body: jsonBody(t, with(func(f map[string]any) {
			f["type"] = "TXT"
			f["records"] = []string{`v=spf1; -all`}
		}))},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := Decode(tc.body)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("Decode(%s) = %+v, want an error", tc.body, got)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("Decode error %v does not wrap ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode(%s): %v", tc.body, err)
			}
			if !reflect.DeepEqual(got, *tc.want) {
				t.Fatalf("Decode(%s)\n got %#v\nwant %#v", tc.body, got, *tc.want)
			}
			if got.Tombstone() != (len(tc.want.Records) == 0) {
				t.Fatalf("Tombstone() = %v", got.Tombstone())
			}
			assertRoundTrip(t, got)
		})
	}
}

func withTTL(m Message, ttl uint32) *Message { m.TTL = ttl; return &m }

func slicesSortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// assertRoundTrip checks that a decoded message encodes, decodes to itself,
// and that its encoding is a fixed point.
func assertRoundTrip(t *testing.T, m Message) {
	t.Helper()
	b, err := Encode(m)
	if err != nil {
		t.Fatalf("Encode of a decoded message (%s %s, %d records): %.300v", m.Name, m.Type, len(m.Records), err)
	}
	back, err := Decode(b)
	if err != nil {
		t.Fatalf("Decode(Encode(m)): %.300v for %.300s", err, b)
	}
	if !reflect.DeepEqual(back, m) {
		t.Fatalf("round trip changed the message:\n got %.500v\nwant %.500v", back, m)
	}
	b2, err := Encode(back)
	if err != nil || string(b2) != string(b) {
		t.Fatalf("encoding not a fixed point: %.300s vs %.300s (%v)", b, b2, err)
	}
}

func TestEncode(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in   Message
		want string // "" means rejected
	}{
		"canonicalises": {
			in: Message{Version: 1, Name: "Web.Example.com", Type: "aaaa", Origin: "n1", TTL: 300,
				Records: []string{"2001:0db8::0001", "2001:db8::1"}},
			want: `{"v":1,"name":"web.example.com.","type":"AAAA","origin":"n1","ttl":300,"records":["2001:db8::1"]}`,
		},
		"tombstone has empty records and ttl 0": {
			in:   Message{Version: 1, Name: "web.example.com.", Type: "A", Origin: "n1", TTL: 300},
			want: `{"v":1,"name":"web.example.com.","type":"A","origin":"n1","ttl":0,"records":[]}`,
		},
		"wrong version": {in: Message{Version: 2, Name: "a.example.", Type: "A", Origin: "n1", TTL: 1, Records: []string{"192.0.2.1"}}},
		"zero version":  {in: Message{Name: "a.example.", Type: "A", Origin: "n1", TTL: 1, Records: []string{"192.0.2.1"}}},
		"bad origin":    {in: Message{Version: 1, Name: "a.example.", Type: "A", Origin: "N1", TTL: 1, Records: []string{"192.0.2.1"}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, err := Encode(tc.in)
			if tc.want == "" {
				if err == nil || !errors.Is(err, ErrInvalid) {
					t.Fatalf("Encode = %s, %v; want an ErrInvalid", b, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if string(b) != tc.want {
				t.Fatalf("Encode =\n %s\nwant\n %s", b, tc.want)
			}
			m, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			assertRoundTrip(t, m)
		})
	}
}

// TestDecodeExpandingContent feeds bodies just under MaxMessageBytes whose
// canonical form is longer than the input (TXT words become quoted strings,
// and encoding/json escapes <, > and &). What Decode accepts must encode.
func TestDecodeExpandingContent(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"html characters": `"` + strings.Repeat("<", 500) + `"`,
		"unquoted words":  strings.Repeat("a ", 500),
		"escaped bytes":   `"` + strings.Repeat(`\255`, 125) + `"`,
	}
	for name, rec := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var recs []string
			for i := 0; ; i++ {
				next := append(recs, fmt.Sprintf("%s \"%d\"", rec, i))
				b := jsonBody(t, with(func(f map[string]any) { f["type"] = "TXT"; f["records"] = next }))
				if len(b) > MaxMessageBytes || len(next) > MaxRecords {
					break
				}
				recs = next
			}
			body := jsonBody(t, with(func(f map[string]any) { f["type"] = "TXT"; f["records"] = recs }))
			m, err := Decode(body)
			if err != nil {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("Decode error %v does not wrap ErrInvalid", err)
				}
				return // refusing is fine; accepting and failing to encode is not
			}
			assertRoundTrip(t, m)
		})
	}
}

func TestCheckOrigin(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in string
		ok bool
	}{
		"simple":           {in: "node1", ok: true},
		"digit first":      {in: "1node", ok: true},
		"hyphen inside":    {in: "lxd-node-1", ok: true},
		"underscore":       {in: "rfc2136_gw", ok: true},
		"one char":         {in: "a", ok: true},
		"max length":       {in: strings.Repeat("a", MaxOriginLen), ok: true},
		"too long":         {in: strings.Repeat("a", MaxOriginLen+1)},
		"empty":            {in: ""},
		"upper case":       {in: "Node"},
		"dot":              {in: "a.b"},
		"star":             {in: "*"},
		"gt":               {in: ">"},
		"space":            {in: "a b"},
		"leading hyphen":   {in: "-a"},
		"leading under":    {in: "_a"},
		"non-ascii":        {in: "nœud"},
		"percent encoding": {in: "%2a"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := CheckOrigin(tc.in)
			if tc.ok != (err == nil) {
				t.Fatalf("CheckOrigin(%q) = %v, want ok=%v", tc.in, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
		})
	}
}
