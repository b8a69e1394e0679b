package pdnsapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/zonecast/zonecast/internal/rrset"
)

func TestZoneConversion(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/servers/localhost/zones/z.test.":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(zoneAnswer))
		case "/api/v1/servers/localhost/zones/gone422.test.":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(422)
			_, _ = w.Write([]byte(`{"error": "Could not find domain 'gone422.test.'"}`))
		default:
			http.Error(w, "Not Found", http.StatusNotFound)
		}
	}))
	defer srv.Close()
	c := New(srv.URL+"/api/v1/", "k", "", 5*time.Second)

	sets, found, err := c.Zone(context.Background(), "z.test")
	if err != nil || !found {
		t.Fatalf("Zone: found=%v err=%v", found, err)
	}
	want := []rrset.Set{
		{Key: rrset.Key{Name: "alias.z.test.", Type: "CNAME"}, TTL: 60, Records: []string{"www.z.test."}},
		{Key: rrset.Key{Name: "odd.z.test.", Type: "MX"}, TTL: 60, Records: []string{"not an mx"}},
		{Key: rrset.Key{Name: "sub.z.test.", Type: "DS"}, TTL: 60, Records: []string{"1 8 2 abcdef"}},
		{Key: rrset.Key{Name: "www.z.test.", Type: "A"}, TTL: 60, Records: []string{"192.0.2.1", "disabled:192.0.2.2"}},
		{Key: rrset.Key{Name: "www.z.test.", Type: "AAAA"}, TTL: 60, Records: []string{"2001:db8::1"}},
	}
	if !reflect.DeepEqual(sets, want) {
		t.Fatalf("Zone sets:\n got %+v\nwant %+v", sets, want)
	}

	for _, z := range []string{"gone404.test.", "gone422.test."} {
		sets, found, err := c.Zone(context.Background(), z)
		if err != nil || found || sets != nil {
			t.Fatalf("Zone(%s) = %v, %v, %v; want not found, no error", z, sets, found, err)
		}
	}
}

// A 4.7 answer: a phantom comment-only entry, a disabled record,
// uncompressed AAAA, upper-case CNAME target, a DS digest in upper case
// and content that does not canonicalise, out of order.
const zoneAnswer = `{"name":"z.test.","kind":"Native","rrsets":[
	 {"name":"www.z.test.","type":"AAAA","ttl":60,"records":[{"content":"2001:DB8:0:0::0001","disabled":false}],"comments":[]},
	 {"name":"phantom.z.test.","type":"A","ttl":60,"records":[],"comments":[{"content":"c","account":"a"}]},
	 {"name":"alias.z.test.","type":"CNAME","ttl":60,"records":[{"content":"WWW.Z.TEST.","disabled":false}]},
	 {"name":"www.z.test.","type":"A","ttl":60,"records":[{"content":"192.0.2.2","disabled":true},{"content":"192.0.2.1","disabled":false}]},
	 {"name":"sub.z.test.","type":"DS","ttl":60,"records":[{"content":"1 8 2 ABCDEF","disabled":false}]},
	 {"name":"odd.z.test.","type":"MX","ttl":60,"records":[{"content":"not an mx","disabled":false}]}]}`
