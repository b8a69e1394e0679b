package gateway

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/events"
)

// refusing is a Publisher that stores nothing: updates that evaluate are
// answered SERVFAIL, and the gateway's state stays the same from one input
// to the next.
type refusing struct{}

func (refusing) PublishFutureIf(events.Message, time.Duration, uint64) (jetstream.PubAckFuture, error) {
	return nil, errors.New("not publishing")
}
func (refusing) Check(*jetstream.PubAck) error { return nil }

// serveBytes answers data as ServeDNSOn's servers do (miekg/dns
// Server.serveDNS, then Gateway.ServeDNS and the writer's signing) and
// returns the bytes written, nil when nothing is. With verified set, a TSIG
// of a known key and algorithm counts as verified whatever its MAC, so
// that the paths behind verification are reached too.
func serveBytes(t *testing.T, g *Gateway, data []byte, verified bool) []byte {
	t.Helper()
	if len(data) < 12 { // the header does not decode: no answer
		return nil
	}
	dh := dns.Header{Id: binary.BigEndian.Uint16(data), Bits: binary.BigEndian.Uint16(data[2:]),
		Qdcount: binary.BigEndian.Uint16(data[4:]), Ancount: binary.BigEndian.Uint16(data[6:]),
		Nscount: binary.BigEndian.Uint16(data[8:]), Arcount: binary.BigEndian.Uint16(data[10:])}
	req := new(dns.Msg)
	var resp *dns.Msg
	switch action := acceptMsg(dh); action {
	case dns.MsgIgnore:
		return nil
	case dns.MsgAccept:
		if err := req.Unpack(data); err == nil {
			break
		}
		fallthrough
	default:
		// The server answers itself, with the request's header and, if
		// it was unpacked, what decoded of its question.
		if action != dns.MsgAccept {
			hdr := make([]byte, 12)
			copy(hdr, data[:4])
			if err := req.Unpack(hdr); err != nil {
				t.Fatal(err)
			}
		}
		opcode := req.Opcode
		req.SetRcodeFormatError(req)
		req.Zero = false
		if action == dns.MsgRejectNotImplemented {
			req.Opcode, req.Rcode = opcode, dns.RcodeNotImplemented
		}
		req.Ns, req.Answer, req.Extra = nil, nil, nil
		resp = req
	}
	var requestMAC string
	if resp == nil {
		var status error
		if tsig := req.IsTsig(); tsig != nil {
			status = dns.TsigVerifyWithProvider(data, g.TsigProvider(), "", false)
			requestMAC = tsig.MAC
			if _, err := g.tsig.keyMAC(tsig); verified && err == nil {
				status = nil
			}
		}
		from := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 53}
		capture(t, g, data, from)
		resp = g.Handle(context.Background(), req, status, from)
		if resp.Id != req.Id || !resp.Response {
			t.Fatalf("response id %d response %v to request id %d", resp.Id, resp.Response, req.Id)
		}
	}
	if resp.IsTsig() != nil {
		out, _, err := dns.TsigGenerateWithProvider(resp, g.TsigProvider(), requestMAC, false)
		if err != nil {
			t.Fatalf("signing the response %v: %v", resp, err)
		}
		return out
	}
	out, err := resp.Pack()
	if err != nil {
		t.Fatalf("packing the response %v: %v", resp, err)
	}
	return out
}

// FuzzServeDNS feeds arbitrary bytes to the DNS server's path: whatever
// arrives, every response written must decode (a client must be able to
// read the error it gets).
func FuzzServeDNS(f *testing.F) {
	now := time.Now().Unix()
	sign := func(m *dns.Msg, key string, at int64) []byte {
		m.SetTsig(key, dns.HmacSHA256, Fudge, at)
		b, _, err := dns.TsigGenerate(m, testSecret, "", false)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	for _, at := range []int64{now, 1700000000} { // in the window at first, later BADTIME
		m := new(dns.Msg)
		m.SetUpdate(testZone)
		m.Insert([]dns.RR{a("h."+testZone, "192.0.2.1")})
		f.Add(sign(m, "k1.", at))
		m = new(dns.Msg)
		m.SetUpdate(testZone)
		m.NameUsed([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: "x." + testZone, Rrtype: dns.TypeANY, Class: dns.ClassANY}}})
		m.RemoveName([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: "h." + testZone, Rrtype: dns.TypeANY, Class: dns.ClassANY}}})
		f.Add(sign(m, "k1.", at))
		m = new(dns.Msg)
		m.SetQuestion(testZone, dns.TypeSOA)
		f.Add(sign(m, "k1.", at))
		m = new(dns.Msg)
		m.SetQuestion("h."+testZone, dns.TypeA)
		m.SetEdns0(1232, false)
		f.Add(sign(m, "nokey.", at))
	}
	m := new(dns.Msg)
	m.SetUpdate(testZone)
	m.Insert([]dns.RR{a("h."+testZone, "192.0.2.1")})
	unsigned, err := m.Pack()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(unsigned)
	// SIG(0): a claim in the window, and one signed long ago.
	f.Add(signedClaim(f, "laptop."+testZone, time.Now()))
	f.Add(signedClaim(f, "old."+testZone, time.Unix(1700000000, 0)))

	g := New(withClaims(f, Config{Zones: []string{testZone}, Publisher: refusing{}, Log: zerolog.Nop(),
		Directory: keys{"k1.": {Name: "k1.", Algorithm: dns.HmacSHA256, Secret: testSecret, Zones: []string{testZone}}},
		Metrics:   NewMetrics(nil), PublishTimeout: time.Second}))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, verified := range []bool{false, true} {
			out := serveBytes(t, g, data, verified)
			if out == nil {
				continue
			}
			var back dns.Msg
			if err := back.Unpack(out); err != nil {
				t.Fatalf("verified=%v: the response %x does not decode: %v", verified, out, err)
			}
		}
	})
}
