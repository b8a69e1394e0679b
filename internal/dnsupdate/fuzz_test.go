package dnsupdate

import (
	"slices"
	"testing"

	"github.com/miekg/dns"
)

// FuzzHandleUpdate feeds raw bytes through the path an UPDATE takes after
// the socket: unpack, then evaluation. It must never panic, and a failed
// update must never carry messages.
func FuzzHandleUpdate(f *testing.F) {
	seed := func(build func(m *dns.Msg)) {
		m := new(dns.Msg)
		m.SetUpdate(zone)
		build(m)
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	mk := func(s string) []dns.RR {
		r, err := dns.NewRR(s)
		if err != nil {
			f.Fatal(err)
		}
		return []dns.RR{r}
	}
	seed(func(m *dns.Msg) { m.Insert(mk("h.example.test. 60 IN A 192.0.2.1")) })
	seed(func(m *dns.Msg) { m.Insert(mk(`h.example.test. 60 IN TXT "a" "b"`)) })
	seed(func(m *dns.Msg) { m.Insert(mk("h.example.test. 60 IN AAAA ::ffff:192.0.2.1")) })
	seed(func(m *dns.Msg) { m.Insert(mk("h.example.test. 60 IN CNAME WWW.Example.test.")) })
	seed(func(m *dns.Msg) { m.Insert(mk("h.example.test. 60 IN SRV 1 2 3 t.example.test.")) })
	seed(func(m *dns.Msg) { m.Remove(mk("www.example.test. 0 IN A 192.0.2.1")) })
	seed(func(m *dns.Msg) { m.RemoveRRset(mk("www.example.test. 0 IN A 0.0.0.0")) })
	seed(func(m *dns.Msg) { m.RemoveName(mk("www.example.test. 0 IN A 0.0.0.0")) })
	seed(func(m *dns.Msg) {
		m.NameUsed(mk("www.example.test. 0 IN A 0.0.0.0"))
		m.Used(mk("www.example.test. 0 IN A 192.0.2.1"))
		m.RRsetNotUsed(mk("x.example.test. 0 IN A 0.0.0.0"))
		m.Insert(mk("x.example.test. 60 IN CNAME www.example.test."))
	})
	seed(func(m *dns.Msg) { m.SetTsig("k1.", dns.HmacSHA256, 300, 1700000000) })
	f.Add([]byte{})
	f.Add([]byte{0, 1, 0x28, 0, 0, 1, 0, 0, 0, 1, 0, 0})
	policy := Policy{Zones: []string{zone}}
	f.Fuzz(func(t *testing.T, data []byte) {
		m := new(dns.Msg)
		if err := m.Unpack(data); err != nil {
			return
		}
		for _, rr := range append(slices.Clone(m.Answer), m.Ns...) {
			if fast, ok := fastContent(rr); ok {
				slow, err := slowContent(dns.TypeToString[rr.Header().Rrtype], rr)
				if err != nil || slow != fast {
					t.Fatalf("%v: fast content %q, slow %q (%v)", rr, fast, slow, err)
				}
			}
		}
		res := Evaluate(testIndex(), Request{Msg: m, Zones: []string{zone, "second.test."}, Policy: policy, Origin: origin})
		if res.Rcode != dns.RcodeSuccess && len(res.Messages) > 0 {
			t.Fatalf("rcode %d with %d messages", res.Rcode, len(res.Messages))
		}
		for _, msg := range res.Messages {
			if msg.Origin != origin {
				t.Fatalf("message for origin %q", msg.Origin)
			}
		}
	})
}
