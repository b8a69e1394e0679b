package gateway

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/zonecast/zonecast/internal/gwstore"
)

// lockedKeys is a Directory whose keys change while in use.
type lockedKeys struct {
	mu   sync.Mutex
	keys map[string]gwstore.Key
}

func (d *lockedKeys) Key(name string) (gwstore.Key, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	k, ok := d.keys[name]
	return k, ok
}
func (d *lockedKeys) Host(string) (gwstore.Host, bool) { return gwstore.Host{}, false }
func (d *lockedKeys) Dependents(string) []gwstore.Host { return nil }
func (d *lockedKeys) set(k gwstore.Key) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.keys[k.Name] = k
}
func (d *lockedKeys) del(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.keys, name)
}

func refMAC(t *testing.T, h func() hash.Hash, secret string, msg []byte) []byte {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(secret)
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(h, raw)
	m.Write(msg)
	return m.Sum(nil)
}

// The provider keeps decoded secrets, but a changed secret, algorithm or a
// removed key takes effect on the next message.
func TestTsigProviderFollowsKeyChanges(t *testing.T) {
	const other = "b3RoZXJvdGhlcm90aGVyb3RoZXJvdGhlcm90aGVyMTI="
	dir := &lockedKeys{keys: map[string]gwstore.Key{}}
	dir.set(gwstore.Key{Name: "k1.", Algorithm: dns.HmacSHA256, Secret: testSecret})
	p := newTsigProvider(dir)
	msg := []byte("some message")
	tsig := func(alg string) *dns.TSIG {
		return &dns.TSIG{Hdr: dns.RR_Header{Name: "K1."}, Algorithm: alg}
	}
	check := func(step string, alg string, h func() hash.Hash, secret string) {
		t.Helper()
		for i := 0; i < 3; i++ { // first use, then from the cache
			got, err := p.Generate(msg, tsig(alg))
			if want := refMAC(t, h, secret, msg); err != nil || !hmac.Equal(got, want) {
				t.Fatalf("%s: mac %x %v, want %x", step, got, err, want)
			}
			tt := tsig(alg)
			tt.MAC = hex.EncodeToString(got)
			if err := p.Verify(msg, tt); err != nil {
				t.Fatalf("%s: verify: %v", step, err)
			}
			tt.MAC = hex.EncodeToString(refMAC(t, h, secret, []byte("another message")))
			if err := p.Verify(msg, tt); !errors.Is(err, dns.ErrSig) {
				t.Fatalf("%s: verify of a wrong mac: %v, want ErrSig", step, err)
			}
		}
	}
	check("first secret", dns.HmacSHA256, sha256.New, testSecret)
	dir.set(gwstore.Key{Name: "k1.", Algorithm: dns.HmacSHA256, Secret: other})
	check("secret changed", dns.HmacSHA256, sha256.New, other)
	if _, err := p.Generate(msg, tsig(dns.HmacSHA512)); !errors.Is(err, dns.ErrKeyAlg) {
		t.Fatalf("other algorithm: %v, want ErrKeyAlg", err)
	}
	dir.set(gwstore.Key{Name: "k1.", Algorithm: dns.HmacSHA512, Secret: other})
	check("algorithm changed", dns.HmacSHA512, sha512.New, other)
	dir.set(gwstore.Key{Name: "k1.", Algorithm: dns.HmacSHA384, Secret: other})
	check("algorithm changed again", dns.HmacSHA384, sha512.New384, other)
	dir.del("k1.")
	if _, err := p.Generate(msg, tsig(dns.HmacSHA384)); !errors.Is(err, dns.ErrSecret) {
		t.Fatalf("removed key: %v, want ErrSecret", err)
	}
	dir.set(gwstore.Key{Name: "k1.", Algorithm: dns.HmacSHA256, Secret: "not base64!"})
	if _, err := p.Generate(msg, tsig(dns.HmacSHA256)); !errors.Is(err, dns.ErrSecret) {
		t.Fatalf("undecodable secret: %v, want ErrSecret", err)
	}

	// Concurrent use while the key changes (for -race): every MAC is
	// the one of a secret the key had.
	dir.set(gwstore.Key{Name: "k1.", Algorithm: dns.HmacSHA256, Secret: testSecret})
	a, b := refMAC(t, sha256.New, testSecret, msg), refMAC(t, sha256.New, other, msg)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				got, err := p.Generate(msg, tsig(dns.HmacSHA256))
				if err != nil || !(hmac.Equal(got, a) || hmac.Equal(got, b)) {
					t.Errorf("concurrent mac %x %v", got, err)
					return
				}
			}
		}()
	}
	for i := 0; i < 50; i++ {
		s := testSecret
		if i%2 == 1 {
			s = other
		}
		dir.set(gwstore.Key{Name: "k1.", Algorithm: dns.HmacSHA256, Secret: s})
	}
	wg.Wait()
}
