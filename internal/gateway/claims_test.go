package gateway

import (
	"context"
	"crypto"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecast/zonecast/internal/claim"
	"github.com/zonecast/zonecast/internal/gwstore"
	"github.com/zonecast/zonecast/internal/sig0"
)

// memClaims is a ClaimStore and ClaimCounter in memory, with the
// bucket's revisions.
type memClaims struct {
	mu  sync.Mutex
	m   map[string]claim.Claim
	rev map[string]uint64
	n   uint64
}

func newMemClaims() *memClaims {
	return &memClaims{m: map[string]claim.Claim{}, rev: map[string]uint64{}}
}

func (s *memClaims) Claim(_ context.Context, name string) (claim.Claim, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.m[name]
	if !ok {
		return claim.Claim{}, 0, gwstore.ErrNotFound
	}
	return c, s.rev[name], nil
}

func (s *memClaims) PutClaim(_ context.Context, c claim.Claim, rev uint64) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rev[c.Name] != rev {
		return 0, gwstore.ErrConflict
	}
	s.n++
	s.m[c.Name], s.rev[c.Name] = c, s.n
	return s.n, nil
}

func (s *memClaims) DeleteClaim(_ context.Context, name string, rev uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rev[name] != rev {
		return gwstore.ErrConflict
	}
	delete(s.m, name)
	delete(s.rev, name)
	return nil
}

func (s *memClaims) SubnetClaims(netip.Prefix, string, time.Time) int { return 0 }

// CachedClaim is Claim: this cache never lags.
func (s *memClaims) CachedClaim(name string) (claim.Claim, uint64, bool) {
	c, rev, err := s.Claim(context.Background(), name)
	return c, rev, err == nil
}

// withClaims makes testZone a claim zone of cfg.
func withClaims(t testing.TB, cfg Config) Config {
	p, err := claim.Policy{Zones: []string{testZone}}.Validate()
	if err != nil {
		t.Fatal(err)
	}
	store := newMemClaims()
	cfg.Claims, cfg.ClaimStore, cfg.ClaimCount = &p, store, store
	return cfg
}

// signedClaim returns a claim of name in testZone adding an A record,
// signed with a new ECDSA key.
func signedClaim(t testing.TB, name string, at time.Time) []byte {
	k := &dns.KEY{DNSKEY: dns.DNSKEY{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeKEY, Class: dns.ClassINET, Ttl: 60},
		Flags: 512, Protocol: 3, Algorithm: dns.ECDSAP256SHA256}}
	priv, err := k.Generate(256)
	if err != nil {
		t.Fatal(err)
	}
	m := new(dns.Msg)
	m.SetUpdate(testZone)
	m.Ns = []dns.RR{k, a(name, "192.0.2.1")}
	raw, err := sig0.Sign(m, k, priv.(crypto.Signer), at.Add(-time.Minute), at.Add(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// packetReader hands out one datagram, for Capture.Reader.
type packetReader struct {
	data []byte
	from net.Addr
}

func (r packetReader) ReadTCP(net.Conn, time.Duration) ([]byte, error) { return r.data, nil }
func (r packetReader) ReadUDP(*net.UDPConn, time.Duration) ([]byte, *dns.SessionUDP, error) {
	return r.data, nil, nil
}
func (r packetReader) ReadPacketConn(net.PacketConn, time.Duration) ([]byte, net.Addr, error) {
	return r.data, r.from, nil
}

// capture passes data through the gateway's capture as its UDP server
// reads it, from from.
func capture(t testing.TB, g *Gateway, data []byte, from net.Addr) {
	rd, ok := g.capture.Reader(packetReader{data: data, from: from}).(dns.PacketConnReader)
	if !ok {
		t.Fatal("the capture's reader is no PacketConnReader")
	}
	if _, _, err := rd.ReadPacketConn(nil, 0); err != nil {
		t.Fatal(err)
	}
}
