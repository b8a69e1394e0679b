package pdnsapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/zonecast/zonecast/internal/rrset"
)

func TestEachRRset(t *testing.T) {
	t.Parallel()
	truncated := zoneAnswer[:len(zoneAnswer)/2]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/v1/servers/localhost/zones/z.test.":
			_, _ = w.Write([]byte(zoneAnswer))
		case "/api/v1/servers/localhost/zones/cut.test.":
			// The connection ends halfway through the announced body.
			w.Header().Set("Content-Length", strconv.Itoa(len(zoneAnswer)))
			_, _ = w.Write([]byte(truncated))
		case "/api/v1/servers/localhost/zones/bad.test.":
			_, _ = w.Write([]byte(`{"rrsets":[{"name":"a.bad.test.","type":"A","records":[{"content":"192.0.2.1"}]},{"name":5}]}`))
		default:
			http.Error(w, "Not Found", http.StatusNotFound)
		}
	}))
	defer srv.Close()
	c := New(srv.URL, "k", "", 5*time.Second)
	ctx := context.Background()

	var keys []rrset.Key
	found, err := c.EachRRset(ctx, "z.test.", func(s rrset.Set) { keys = append(keys, s.Key) })
	if err != nil || !found {
		t.Fatalf("EachRRset: found=%v err=%v", found, err)
	}
	want := []rrset.Key{ // in the answer's order, the phantom left out
		{Name: "www.z.test.", Type: "AAAA"}, {Name: "alias.z.test.", Type: "CNAME"}, {Name: "www.z.test.", Type: "A"},
		{Name: "sub.z.test.", Type: "DS"}, {Name: "odd.z.test.", Type: "MX"},
	}
	if !slicesEqual(keys, want) {
		t.Fatalf("EachRRset keys %v, want %v", keys, want)
	}

	calls := 0
	found, err = c.EachRRset(ctx, "gone.test.", func(rrset.Set) { calls++ })
	if err != nil || found || calls != 0 {
		t.Fatalf("EachRRset(gone) = %v, %v after %d calls; want not found, no error, no call", found, err, calls)
	}
	_, err = c.EachRRset(ctx, "cut.test.", func(rrset.Set) {})
	if err == nil || !IsTransient(err) {
		t.Fatalf("EachRRset(cut) err = %v; want a transient error", err)
	}
	calls = 0
	_, err = c.EachRRset(ctx, "bad.test.", func(rrset.Set) { calls++ })
	if err == nil || IsTransient(err) || calls != 1 {
		t.Fatalf("EachRRset(bad) err = %v after %d calls; want a permanent error after the first RRset", err, calls)
	}
}

func slicesEqual(a, b []rrset.Key) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
