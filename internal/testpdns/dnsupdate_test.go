package testpdns

import (
	"net"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// PowerDNS's own RFC 2136: a signed update is applied, a wrongly signed one
// is refused.
func TestDNSUpdate(t *testing.T) {
	t.Parallel()
	s := StartWith(t, "gsqlite3", DNSUpdateConf)
	const zone, key = "upd.example.test.", "upd-key."
	secret := "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI="
	s.EnableDNSUpdate(t, zone, key, dns.HmacSHA256, secret)

	send := func(secret string) int {
		t.Helper()
		m := new(dns.Msg)
		m.SetUpdate(zone)
		m.Insert([]dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "h." + zone, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
			A: net.ParseIP("192.0.2.7")}})
		m.SetTsig(key, dns.HmacSHA256, 300, time.Now().Unix())
		c := &dns.Client{Net: "udp", Timeout: 5 * time.Second, TsigSecret: map[string]string{key: secret}}
		r, _, err := c.Exchange(m, s.DNSAddr)
		if r == nil {
			t.Fatalf("update: %v\n%s", err, s.LogTail(20))
		}
		return r.Rcode
	}
	if rc := send("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="); rc != dns.RcodeRefused { // what 4.7 answers (no TSIG error)
		t.Fatalf("wrong secret: %s, want REFUSED", dns.RcodeToString[rc])
	}
	if got := s.DigStatus(t, "h."+zone, "A"); got != "NXDOMAIN" {
		t.Fatalf("after a refused update: %s, want NXDOMAIN", got)
	}
	if rc := send(secret); rc != dns.RcodeSuccess {
		t.Fatalf("update: %s\n%s", dns.RcodeToString[rc], s.LogTail(20))
	}
	if got := s.Dig(t, "h."+zone, "A"); !slices.Equal(got, []string{"192.0.2.7"}) {
		t.Fatalf("dig = %v", got)
	}
}
