package pdnsapi

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzAppendRRset: the hand-written encoder writes valid JSON that reads
// back as what encoding/json would have written.
func FuzzAppendRRset(f *testing.F) {
	for _, s := range []string{"2001:db8::1", `"v=spf1 -all"`, "a\\b", "\x00\x1f\x7f", "é ü \u2028", "\xff\xfe", "<&>"} {
		f.Add("www.z.test.", "TXT", uint32(60), s)
	}
	f.Fuzz(func(t *testing.T, name, typ string, ttl uint32, content string) {
		p := patchRRset{Name: name, Type: typ, TTL: ttl, ChangeType: "REPLACE",
			Records: []patchRecord{{Content: content}, {Content: "x", Disabled: true}}}
		got := appendRRset(nil, p)
		if !json.Valid(got) {
			t.Fatalf("invalid JSON %q", got)
		}
		var back patchRRset
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatal(err)
		}
		want := p
		want.Records = append([]patchRecord(nil), p.Records...)
		for _, s := range []*string{&want.Name, &want.Type, &want.Records[0].Content} {
			*s = strings.ToValidUTF8(*s, "\uFFFD")
		}
		if !utf8.ValidString(name + typ + content) {
			// encoding/json replaces each invalid byte; ToValidUTF8 runs of them.
			var viaJSON patchRRset
			js, _ := json.Marshal(p)
			_ = json.Unmarshal(js, &viaJSON)
			want = viaJSON
		}
		if !reflect.DeepEqual(back, want) {
			t.Fatalf("%q: read back %#v, want %#v", got, back, want)
		}
	})
}
