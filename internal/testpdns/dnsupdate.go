package testpdns

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// DNSUpdateConf is the pdns.conf of PowerDNS's own RFC 2136 support
// (StartWith): updates accepted from loopback, each zone still needing a
// TSIG key in its TSIG-ALLOW-DNSUPDATE metadata (EnableDNSUpdate).
const DNSUpdateConf = "dnsupdate=yes\nallow-dnsupdate-from=127.0.0.0/8"

// EnableDNSUpdate creates zone (Native, with an SOA and an NS) and the TSIG
// key keyName (algorithm such as "hmac-sha256", secret in base64) through
// the API, and lets that key update the zone (zone metadata
// TSIG-ALLOW-DNSUPDATE). The API is used rather than `pdnsutil
// import-tsig-key`, which takes the secret on its command line. The server
// must run with DNSUpdateConf.
func (s *Server) EnableDNSUpdate(t testing.TB, zone, keyName, algorithm, secret string) {
	t.Helper()
	zone = strings.ToLower(zone)
	if !strings.HasSuffix(zone, ".") {
		zone += "."
	}
	keyName = strings.TrimSuffix(keyName, ".")
	algorithm = strings.TrimSuffix(algorithm, ".")
	zoneBody := map[string]any{"name": zone, "kind": "Native", "rrsets": []any{
		map[string]any{"name": zone, "type": "SOA", "ttl": 3600, "records": []any{map[string]any{
			"content": "ns1." + zone + " hostmaster." + zone + " 1 10800 3600 604800 3600", "disabled": false}}},
		map[string]any{"name": zone, "type": "NS", "ttl": 3600, "records": []any{map[string]any{
			"content": "ns1." + zone, "disabled": false}}},
	}}
	if err := s.api(http.MethodPost, "/zones", zoneBody, http.StatusCreated); err != nil {
		t.Fatalf("testpdns: creating zone %s: %v", zone, err)
	}
	keyBody := map[string]any{"name": keyName, "algorithm": algorithm, "key": secret}
	if err := s.api(http.MethodPost, "/tsigkeys", keyBody, http.StatusCreated); err != nil {
		t.Fatalf("testpdns: creating tsig key %s: %v", keyName, err) // the error never holds the secret
	}
	meta := map[string]any{"metadata": []string{keyName}}
	if err := s.api(http.MethodPut, "/zones/"+url.PathEscape(zone)+"/metadata/TSIG-ALLOW-DNSUPDATE", meta, http.StatusOK); err != nil {
		t.Fatalf("testpdns: allowing %s to update %s: %v", keyName, zone, err)
	}
}

// api sends one request to /api/v1/servers/localhost+path and checks the
// status.
func (s *Server) api(method, path string, body any, want int) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequest(method, s.APIURL+"/api/v1/servers/localhost"+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("X-API-Key", s.APIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: HTTP %d (want %d): %s", method, path, resp.StatusCode, want, msg)
	}
	return nil
}
