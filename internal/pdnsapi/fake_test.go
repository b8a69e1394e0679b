package pdnsapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakePDNS is an HTTP fake of PowerDNS's PATCH endpoint for unit tests of
// the batching and error logic (the integration tests use a real server).
// It refuses, all or nothing as PowerDNS does, a PATCH containing a name
// that starts with "bad", and answers status for a name "status-NNN...".
type fakePDNS struct {
	mu      sync.Mutex
	patches []fakePatch // successful and failed PATCHes, in order
	applied map[string]int
}

type fakePatch struct {
	names []string
	bytes int
	ok    bool
}

func newFake(t *testing.T) (*fakePDNS, *Client) {
	f := &fakePDNS{applied: map[string]int{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, New(srv.URL, "k", "", 0)
}

func (f *fakePDNS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-API-Key") != "k" {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	if r.Method != http.MethodPatch {
		http.Error(w, "Not Found", http.StatusNotFound)
		return
	}
	b, _ := io.ReadAll(r.Body)
	var req struct {
		RRsets []patchRRset `json:"rrsets"`
	}
	if err := json.Unmarshal(b, &req); err != nil {
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return
	}
	p := fakePatch{bytes: len(b)}
	status, msg := 0, ""
	seen := map[string]bool{}
	for _, rs := range req.RRsets {
		p.names = append(p.names, rs.Name)
		k := rs.Name + "/" + rs.Type
		switch {
		case seen[k]:
			status, msg = 422, "Duplicate RRset "+k
		case strings.HasPrefix(rs.Name, "bad"):
			status, msg = 422, "RRset "+k+": bad"
		case strings.HasPrefix(rs.Name, "status-"):
			fmt.Sscanf(rs.Name, "status-%d", &status)
			msg = "database is locked"
		}
		seen[k] = true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	p.ok = status == 0
	f.patches = append(f.patches, p)
	if status != 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
		return
	}
	for _, n := range p.names {
		f.applied[n]++
	}
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakePDNS) okPatches() []fakePatch {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakePatch
	for _, p := range f.patches {
		if p.ok {
			out = append(out, p)
		}
	}
	return out
}
