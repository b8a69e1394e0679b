package pdnsapi

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/joeig/go-powerdns/v3"

	"github.com/zonecast/zonecast/internal/rrset"
)

// FuzzDecodeZone: the streaming decoder of a zone answer (untrusted: it
// comes from the network) never panics, accepts exactly what go-powerdns's
// whole-answer decoding accepts (a second "rrsets" member aside), and
// passes on the RRsets ZoneSets makes of that, in any order. The corpus
// is in testdata/fuzz/FuzzDecodeZone.
func FuzzDecodeZone(f *testing.F) {
	f.Add([]byte(zoneAnswer))
	f.Add([]byte(`{"rrsets":null}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"RRsets":[null,{"name":"a.z.","type":"a","ttl":1,"records":[null,{"content":"192.0.2.1"}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var got []rrset.Set
		err := decodeZone(bytes.NewReader(body), func(s rrset.Set) { got = append(got, s) })
		var z *powerdns.Zone
		refErr := json.NewDecoder(bytes.NewReader(body)).Decode(&z)
		if errors.Is(err, errTwoRRsets) {
			return
		}
		if (err == nil) != (refErr == nil) {
			t.Fatalf("%q: error %v, go-powerdns's decoding %v", body, err, refErr)
		}
		if err != nil {
			return
		}
		var want []rrset.Set
		if z != nil {
			want = ZoneSets(z.RRsets)
		}
		slices.SortFunc(got, compareSets)
		slices.SortFunc(want, compareSets)
		if len(got) == 0 && len(want) == 0 {
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got %+v\nwant %+v", body, got, want)
		}
	})
}

// compareSets is a total order of sets, as ZoneSets sorts by key only.
func compareSets(a, b rrset.Set) int {
	return cmp.Or(rrset.CompareKeys(a.Key, b.Key), cmp.Compare(a.TTL, b.TTL),
		strings.Compare(strings.Join(a.Records, "\x00"), strings.Join(b.Records, "\x00")))
}
