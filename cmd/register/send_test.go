package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecast/zonecast/internal/register"
)

func update(t *testing.T) (*dns.Msg, []byte) {
	t.Helper()
	m := new(dns.Msg)
	m.SetUpdate("lan.example.com.")
	raw, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return m, raw
}

// An answer truncated over UDP is asked again over TCP, the same bytes.
func TestExchangeTruncatedAgainOverTCP(t *testing.T) {
	t.Parallel()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		t.Skipf("tcp port of the udp one taken: %v", err)
	}
	got := make(chan string, 2)
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		network := w.RemoteAddr().Network()
		got <- network
		m.Truncated = network == "udp"
		_ = w.WriteMsg(m)
	})
	accept := func(dns.Header) dns.MsgAcceptAction { return dns.MsgAccept } // UPDATEs too
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: h, MsgAcceptFunc: accept}, {Listener: ln, Handler: h, MsgAcceptFunc: accept}} {
		go func() { _ = s.ActivateAndServe() }()
		t.Cleanup(func() { _ = s.Shutdown() })
	}
	q, raw := update(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	r, err := exchange(ctx, pc.LocalAddr().String(), raw, q.Id, false)
	if err != nil {
		t.Fatal(err)
	}
	if r.Truncated || r.Id != q.Id || r.Rcode != dns.RcodeSuccess {
		t.Errorf("answer truncated %v, id %d (want %d), rcode %s", r.Truncated, r.Id, q.Id, dns.RcodeToString[r.Rcode])
	}
	var asked []string
	for range 2 {
		select {
		case n := <-got:
			asked = append(asked, n)
		case <-time.After(5 * time.Second):
		}
	}
	if strings.Join(asked, " ") != "udp tcp" {
		t.Errorf("asked over %v, want udp then tcp", asked)
	}
}

// An update longer than a server reads over UDP goes over TCP at once.
func TestExchangeLongOverTCP(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &dns.Server{Listener: ln, MsgAcceptFunc: func(dns.Header) dns.MsgAcceptAction { return dns.MsgAccept },
		Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
			m := new(dns.Msg)
			m.SetReply(r)
			_ = w.WriteMsg(m)
		})}
	go func() { _ = s.ActivateAndServe() }()
	t.Cleanup(func() { _ = s.Shutdown() })
	q := new(dns.Msg)
	q.SetUpdate("lan.example.com.")
	for i := range 20 {
		q.Ns = append(q.Ns, &dns.AAAA{Hdr: dns.RR_Header{Name: "laptop.lan.example.com.", Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: 60},
			AAAA: net.ParseIP(fmt.Sprintf("2001:db8::%d", i+1))})
	}
	raw, err := q.Pack()
	if err != nil || len(raw) <= register.MaxUDPRequest {
		t.Fatalf("%d bytes (%v), want more than %d", len(raw), err, register.MaxUDPRequest)
	}
	// Nothing listens on the UDP port: only TCP can answer.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	r, err := exchange(ctx, ln.Addr().String(), raw, q.Id, false)
	if err != nil {
		t.Fatal(err)
	}
	if r.Id != q.Id {
		t.Errorf("answer id %d, want %d", r.Id, q.Id)
	}
}

// A datagram with another id is not the answer.
func TestExchangeSkipsOtherIDs(t *testing.T) {
	t.Parallel()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 65535)
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		var q dns.Msg
		if q.Unpack(buf[:n]) != nil {
			return
		}
		for _, id := range []uint16{q.Id + 1, q.Id} {
			r := new(dns.Msg)
			r.SetReply(&q)
			r.Id = id
			r.Rcode = dns.RcodeRefused
			if id == q.Id {
				r.Rcode = dns.RcodeSuccess
			}
			b, _ := r.Pack()
			_, _ = pc.WriteTo(b, from)
		}
	}()
	q, raw := update(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	r, err := exchange(ctx, pc.LocalAddr().String(), raw, q.Id, false)
	if err != nil {
		t.Fatal(err)
	}
	if r.Id != q.Id || r.Rcode != dns.RcodeSuccess {
		t.Errorf("answer id %d rcode %s, want %d NOERROR", r.Id, dns.RcodeToString[r.Rcode], q.Id)
	}
}

// No gateway on the port: an error at once (ICMP port unreachable), not
// after the timeout; over TCP the connection is refused.
func TestExchangeNobodyThere(t *testing.T) {
	t.Parallel()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	q, raw := update(t)
	for _, tcp := range []bool{false, true} {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		start := time.Now()
		_, err := exchange(ctx, addr, raw, q.Id, tcp)
		cancel()
		if err == nil || !strings.Contains(err.Error(), addr) {
			t.Errorf("tcp %v: error %v, want one naming %s", tcp, err, addr)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("tcp %v: failed after %v, want at once", tcp, d)
		}
	}
}

// The timeout ends an exchange that gets no answer.
func TestExchangeTimeout(t *testing.T) {
	t.Parallel()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	q, raw := update(t)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, err := exchange(ctx, pc.LocalAddr().String(), raw, q.Id, false); err == nil {
		t.Fatal("no answer and no error")
	}
}
