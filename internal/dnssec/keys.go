// Package dnssec is the pure core of zonecast-signer: zone keys, RRset
// signatures and the denial-of-existence chain, built on miekg/dns (no
// cryptography written here). Reading and writing key files, the stream
// and the clock belong to the signer's shell.
package dnssec

import (
	"crypto"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/miekg/dns"
)

// Algorithms the signer supports: ECDSAP256SHA256 (the default) and
// ED25519.
const (
	ECDSAP256SHA256 = dns.ECDSAP256SHA256
	ED25519         = dns.ED25519
)

// Key is one key of a zone: its DNSKEY record and private key.
type Key struct {
	DNSKEY  *dns.DNSKEY
	Private crypto.Signer
}

// ErrAlgorithm is returned for an algorithm the signer does not support.
var ErrAlgorithm = errors.New("unsupported dnssec algorithm (want ECDSAP256SHA256 or ED25519)")

// ParseAlgorithm maps a name ("ECDSAP256SHA256", "ED25519", or the
// number) to its algorithm number.
func ParseAlgorithm(s string) (uint8, error) {
	switch strings.ToUpper(s) {
	case "ECDSAP256SHA256", "13":
		return ECDSAP256SHA256, nil
	case "ED25519", "15":
		return ED25519, nil
	}
	return 0, fmt.Errorf("%w: %q", ErrAlgorithm, s)
}

func bits(alg uint8) (int, error) {
	switch alg {
	case ECDSAP256SHA256:
		return 256, nil
	case ED25519:
		return 256, nil
	}
	return 0, fmt.Errorf("%w: %d", ErrAlgorithm, alg)
}

// Generate makes a new key for zone (canonical, with the final dot): a KSK
// (flags 257, the secure entry point) when ksk, a ZSK (256) otherwise.
func Generate(zone string, alg uint8, ksk bool, ttl uint32) (Key, error) {
	n, err := bits(alg)
	if err != nil {
		return Key{}, err
	}
	k := &dns.DNSKEY{Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: ttl},
		Flags: dns.ZONE, Protocol: 3, Algorithm: alg}
	if ksk {
		k.Flags |= dns.SEP
	}
	priv, err := k.Generate(n)
	if err != nil {
		return Key{}, fmt.Errorf("generating a %s key for %s: %w", dns.AlgorithmToString[alg], zone, err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return Key{}, fmt.Errorf("generating a key for %s: %w", zone, ErrAlgorithm)
	}
	return Key{DNSKEY: k, Private: signer}, nil
}

// KSK reports whether k is a key-signing key (SEP flag).
func (k Key) KSK() bool { return k.DNSKEY.Flags&dns.SEP != 0 }

// Tag returns the key tag.
func (k Key) Tag() uint16 { return k.DNSKEY.KeyTag() }

// DS returns the DS record for the parent, with SHA-256.
func (k Key) DS() *dns.DS { return k.DNSKEY.ToDS(dns.SHA256) }

// BaseName is the file name BIND gives the key, without .key or
// .private: K<zone>+<alg>+<tag>.
func (k Key) BaseName() string {
	return fmt.Sprintf("K%s+%03d+%05d", k.DNSKEY.Hdr.Name, k.DNSKEY.Algorithm, k.Tag())
}

// PublicText is the key's .key file: the DNSKEY record.
func (k Key) PublicText() string { return k.DNSKEY.String() + "\n" }

// PrivateText is the key's .private file, in BIND's format. It is the
// secret: callers write it with mode 0600 and never log it.
func (k Key) PrivateText() string { return k.DNSKEY.PrivateKeyString(k.Private) }

// ParseBIND reads a key from BIND's pair of files: public (K*.key, the
// DNSKEY record) and private (K*.private).
func ParseBIND(public, private io.Reader, file string) (Key, error) {
	rr, err := dns.ReadRR(public, file+".key")
	if err != nil {
		return Key{}, fmt.Errorf("reading %s.key: %w", file, err)
	}
	k, ok := rr.(*dns.DNSKEY)
	if !ok {
		return Key{}, fmt.Errorf("reading %s.key: a %s record, not DNSKEY", file, dns.TypeToString[rr.Header().Rrtype])
	}
	if _, err := bits(k.Algorithm); err != nil {
		return Key{}, fmt.Errorf("reading %s.key: %w", file, err)
	}
	priv, err := k.ReadPrivateKey(private, file+".private")
	if err != nil {
		return Key{}, fmt.Errorf("reading %s.private: %w", file, err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return Key{}, fmt.Errorf("reading %s.private: %w", file, ErrAlgorithm)
	}
	return Key{DNSKEY: k, Private: signer}, nil
}
