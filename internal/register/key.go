package register

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecast/zonecast/internal/sig0"
)

// KeyFlags are the flags of the KEY a host claims its name with: 512
// (0x0200), name type "host or other end entity" (RFC 2535 section 3.1.2),
// what dnssec-keygen -T KEY -n HOST writes, and no bit saying the key must
// not be used for authentication.
const KeyFlags = 512

// KeyProtocol is the KEY's protocol field: 3, DNSSEC (RFC 2535), the one
// value BIND writes and the gateways accept.
const KeyProtocol = 3

// ErrKey is wrapped by ParseKey's errors.
var ErrKey = errors.New("bad key files")

// NewKey makes an ECDSAP256SHA256 KEY for name (canonical) and its
// private half.
func NewKey(name string) (*dns.KEY, crypto.Signer, error) {
	k := &dns.KEY{DNSKEY: dns.DNSKEY{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeKEY, Class: dns.ClassINET},
		Flags: KeyFlags, Protocol: KeyProtocol, Algorithm: dns.ECDSAP256SHA256}}
	priv, err := k.Generate(256)
	if err != nil {
		return nil, nil, fmt.Errorf("generating a key for %s: %w", name, err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("generating a key for %s: %T is no signer", name, priv)
	}
	return k, signer, nil
}

// KeyBase is the name of k's files without their suffix .key and
// .private, as BIND names them: K<name>+<algorithm>+<tag>, e.g.
// Khost.lan.example.com.+013+12345.
func KeyBase(k *dns.KEY) string {
	return fmt.Sprintf("K%s+%03d+%05d", k.Hdr.Name, k.Algorithm, k.KeyTag())
}

// PublicText is k's .key file as dnssec-keygen -T KEY writes it: the
// record without a TTL.
func PublicText(k *dns.KEY) string {
	return fmt.Sprintf("%s IN KEY %d %d %d %s\n", k.Hdr.Name, k.Flags, k.Protocol, k.Algorithm, k.PublicKey)
}

// PrivateText is k's .private file in BIND's format (v1.3), with the
// timing lines dnssec-keygen writes, all at created. It is the secret:
// written with mode 0600, never logged.
func PrivateText(k *dns.KEY, priv crypto.Signer, created time.Time) string {
	ts := created.UTC().Format("20060102150405")
	return k.PrivateKeyString(priv) + "Created: " + ts + "\nPublish: " + ts + "\nActivate: " + ts + "\n"
}

// ParseKey reads a key from BIND's pair of files, made by NewKey or by
// dnssec-keygen -T KEY: public holds the KEY record of name, private its
// private half, which must be the same key's. file names them in errors.
func ParseKey(public, private io.Reader, file, name string) (*dns.KEY, crypto.Signer, error) {
	rr, err := dns.ReadRR(public, file+".key")
	if err != nil {
		return nil, nil, fmt.Errorf("%w: reading %s.key: %v", ErrKey, file, err)
	}
	k, ok := rr.(*dns.KEY)
	switch {
	case rr == nil:
		return nil, nil, fmt.Errorf("%w: %s.key holds no record", ErrKey, file)
	case !ok:
		return nil, nil, fmt.Errorf("%w: %s.key holds a %s record, not KEY", ErrKey, file, dns.TypeToString[rr.Header().Rrtype])
	case dns.CanonicalName(k.Hdr.Name) != name:
		return nil, nil, fmt.Errorf("%w: %s.key is a key of %s, not %s", ErrKey, file, k.Hdr.Name, name)
	case !slices.Contains(sig0.Algorithms, k.Algorithm):
		return nil, nil, fmt.Errorf("%w: %s.key: algorithm %s, not one the gateways accept", ErrKey, file, dns.AlgorithmToString[k.Algorithm])
	case k.Protocol != KeyProtocol:
		return nil, nil, fmt.Errorf("%w: %s.key: protocol %d, not %d", ErrKey, file, k.Protocol, KeyProtocol)
	}
	k.Hdr.Name = name
	p, err := k.ReadPrivateKey(private, file+".private")
	if err != nil {
		return nil, nil, fmt.Errorf("%w: reading %s.private: %v", ErrKey, file, err)
	}
	signer, ok := p.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("%w: %s.private: %T is no signer", ErrKey, file, p)
	}
	// miekg takes the public half from the .key without checking it
	// against the private one: keys of two pairs would sign updates no
	// gateway verifies.
	pub, err := publicKeyData(signer)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s.private: %v", ErrKey, file, err)
	}
	want, err := base64.StdEncoding.DecodeString(k.PublicKey)
	if err != nil || !bytes.Equal(pub, want) {
		return nil, nil, fmt.Errorf("%w: %s.private is not the private half of %s.key", ErrKey, file, file)
	}
	return k, signer, nil
}

// publicKeyData is the public key's field of the KEY of priv, computed
// from its private half: RFC 6605 for ECDSA (the two coordinates), RFC
// 8080 for Ed25519, RFC 3110 for RSA.
func publicKeyData(priv crypto.Signer) ([]byte, error) {
	switch p := priv.(type) {
	case *ecdsa.PrivateKey:
		// From the private scalar: miekg has set PublicKey from the
		// .key file.
		d, err := p.Bytes()
		if err != nil {
			return nil, err
		}
		fresh, err := ecdsa.ParseRawPrivateKey(p.Curve, d)
		if err != nil {
			return nil, err
		}
		b, err := fresh.PublicKey.Bytes() // 0x04 || X || Y
		if err != nil || len(b) == 0 {
			return nil, fmt.Errorf("an ECDSA key of an unknown curve")
		}
		return b[1:], nil
	case ed25519.PrivateKey:
		return []byte(p.Public().(ed25519.PublicKey)), nil
	case *rsa.PrivateKey:
		// The modulus comes from the .key file (miekg sets it); the
		// primes and exponents from the .private must make it.
		if err := p.Validate(); err != nil {
			return nil, err
		}
		e := big.NewInt(int64(p.E)).Bytes()
		var out []byte
		if len(e) < 256 {
			out = append(out, byte(len(e)))
		} else {
			out = append(out, 0, byte(len(e)>>8), byte(len(e)))
		}
		return append(append(out, e...), p.N.Bytes()...), nil
	}
	return nil, fmt.Errorf("a %T key", priv)
}
