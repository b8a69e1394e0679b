package testpdns

import (
	"net/http"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func api(t *testing.T, s *Server, method, path, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, s.APIURL+"/api/v1/servers/localhost"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-API-Key", s.APIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

const zoneJSON = `{"name":"example.test.","kind":"Native","rrsets":[
 {"name":"example.test.","type":"SOA","ttl":3600,"records":[{"content":"ns1.example.test. hostmaster.example.test. 1 10800 3600 604800 3600","disabled":false}]},
 {"name":"example.test.","type":"NS","ttl":3600,"records":[{"content":"ns1.example.test.","disabled":false}]},
 {"name":"www.example.test.","type":"A","ttl":60,"records":[{"content":"192.0.2.2","disabled":false},{"content":"192.0.2.1","disabled":false}]}]}`

func TestServerLifecycle(t *testing.T) {
	t.Parallel()
	for _, backend := range Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			s := Start(t, backend)
			if st := api(t, s, http.MethodPost, "/zones", zoneJSON); st != http.StatusCreated {
				t.Fatalf("creating zone: HTTP %d\n%s", st, s.LogTail(20))
			}
			if got, want := s.Dig(t, "www.example.test.", "A"), []string{"192.0.2.1", "192.0.2.2"}; !slices.Equal(got, want) {
				t.Fatalf("Dig = %q, want %q", got, want)
			}
			if got := s.DigStatus(t, "nope.example.test.", "A"); got != "NXDOMAIN" {
				t.Fatalf("DigStatus(nope) = %q, want NXDOMAIN", got)
			}
			if got := s.DigStatus(t, "www.example.test.", "AAAA"); got != "NOERROR" {
				t.Fatalf("DigStatus(www AAAA) = %q, want NOERROR", got)
			}
			if got := s.DigStatus(t, "other.invalid.", "A"); got != "REFUSED" {
				t.Fatalf("DigStatus(other.invalid) = %q, want REFUSED", got)
			}

			pid := s.PID()
			s.Stop(t)
			if err := syscall.Kill(pid, 0); err == nil {
				t.Fatalf("pid %d still alive after Stop", pid)
			}
			s.Stop(t) // no-op
			s.Start(t)
			if got := s.Dig(t, "www.example.test.", "A"); len(got) != 2 {
				t.Fatalf("after restart Dig = %q, want the 2 records kept", got)
			}

			s.Wipe(t)
			if got := s.DigStatus(t, "www.example.test.", "A"); got != "REFUSED" {
				t.Fatalf("after Wipe DigStatus = %q, want REFUSED (zone gone)", got)
			}
			if st := api(t, s, http.MethodPost, "/zones", zoneJSON); st != http.StatusCreated {
				t.Fatalf("re-creating zone after Wipe: HTTP %d", st)
			}
			conf, err := os.ReadFile(s.Dir + "/pdns.conf")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(conf), "local-address=127.0.0.1\n") {
				t.Fatalf("config does not bind loopback only:\n%s", conf)
			}
		})
	}
}
