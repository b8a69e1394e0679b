package pdnsapi

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestErrorMapping(t *testing.T) {
	t.Parallel()
	// Each case: what a fake PowerDNS answers to GET /servers/localhost.
	tests := map[string]struct {
		status      int
		contentType string
		body        string
		transient   bool
		rejected    bool
		sentinel    error
		message     string
	}{
		"422 json":             {422, "application/json", `{"error": "RRset x. IN A: Conflicts with pre-existing RRset"}`, false, true, ErrRejected, "RRset x. IN A: Conflicts with pre-existing RRset"},
		"400 text":             {400, "text/plain", "Bad Request", false, true, ErrRejected, "Bad Request"},
		"500 database locked":  {500, "application/json", `{"error": "database is locked"}`, true, false, ErrServer, "database is locked"},
		"503":                  {503, "text/plain", "", true, false, ErrServer, ""},
		"404":                  {404, "text/plain", "Not Found", false, false, ErrNotFound, "Not Found"},
		"401":                  {401, "text/plain", "Unauthorized", false, false, ErrUnauthorized, "Unauthorized"},
		"409 zone exists json": {409, "application/json", `{"error": "Domain 'x.' already exists"}`, false, false, ErrConflict, "Domain 'x.' already exists"},
		"404 zone not found":   {404, "text/plain", "Not Found", false, false, ErrZoneNotFound, "Not Found"},
		"422 no such domain":   {422, "application/json", `{"error": "Could not find domain 'x.'"}`, false, true, ErrZoneNotFound, "Could not find domain 'x.'"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.contentType)
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			c := New(srv.URL, "k", "", 5*time.Second)
			// Ping goes through go-powerdns, Rectify through raw net/http:
			// both must map the same way.
			for call, err := range map[string]error{
				"ping (go-powerdns)": c.Ping(context.Background()),
				"rectify (raw)":      c.Rectify(context.Background(), "x."),
			} {
				var apiErr *Error
				if !errors.As(err, &apiErr) {
					t.Fatalf("%s: error %v is not *Error", call, err)
				}
				if apiErr.StatusCode != tc.status || apiErr.Message != tc.message {
					t.Errorf("%s: got %d %q, want %d %q", call, apiErr.StatusCode, apiErr.Message, tc.status, tc.message)
				}
				if IsTransient(err) != tc.transient || IsRejected(err) != tc.rejected || !errors.Is(err, tc.sentinel) {
					t.Errorf("%s: %v: transient=%v rejected=%v is(%v)=%v", call, err, IsTransient(err), IsRejected(err), tc.sentinel, errors.Is(err, tc.sentinel))
				}
			}
		})
	}
}

// TestZoneNotFoundIsNarrow: a 422 for another reason is no missing zone.
func TestZoneNotFoundIsNarrow(t *testing.T) {
	t.Parallel()
	if errors.Is(&Error{StatusCode: 422, Message: "RRset x. IN A: Conflicts with pre-existing RRset"}, ErrZoneNotFound) {
		t.Fatal("a conflicting RRset counts as a missing zone")
	}
}

func TestTransientNetwork(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens: connection refused

	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()

	hangup := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer hangup.Close()

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	deadline, cancelDeadline := context.WithTimeout(context.Background(), 100*time.Millisecond)
	t.Cleanup(cancelDeadline)

	tests := map[string]struct {
		url       string
		ctx       context.Context
		timeout   time.Duration
		transient bool
	}{
		"connection refused":   {"http://" + addr, context.Background(), time.Second, true},
		"client timeout":       {slow.URL, context.Background(), 100 * time.Millisecond, true},
		"ctx deadline":         {slow.URL, deadline, time.Minute, true},
		"connection closed":    {hangup.URL, context.Background(), time.Second, true},
		"caller cancelled ctx": {slow.URL, cancelled, time.Second, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := New(tc.url, "k", "", tc.timeout)
			err := c.Patch(tc.ctx, "z.test.", []Change{aChange("a.z.test.")})
			if err == nil {
				t.Fatal("no error")
			}
			if IsTransient(err) != tc.transient || IsRejected(err) {
				t.Fatalf("%v: transient=%v rejected=%v, want transient=%v", err, IsTransient(err), IsRejected(err), tc.transient)
			}
			if err2 := c.Ping(tc.ctx); IsTransient(err2) != tc.transient {
				t.Fatalf("Ping: %v: transient=%v, want %v", err2, IsTransient(err2), tc.transient)
			}
		})
	}
}
