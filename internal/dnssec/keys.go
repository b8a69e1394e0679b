// Package dnssec is the pure core of zonecast-signer: zone keys, RRset
// signatures and the denial-of-existence chain, built on miekg/dns (no
// cryptography written here). Reading and writing key files, the stream
// and the clock belong to the signer's shell.
package dnssec

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Algorithms the signer supports: ECDSAP256SHA256 (the default) and
// ED25519.
const (
	ECDSAP256SHA256 = dns.ECDSAP256SHA256
	ED25519         = dns.ED25519
)

// Key is one key of a zone: its DNSKEY record, private key and timing.
type Key struct {
	DNSKEY  *dns.DNSKEY
	Private crypto.Signer
	Timing
}

// Timing is when a key enters and leaves the zone, as BIND's key files
// say it (dnssec-settime): published in the DNSKEY RRset from Publish,
// signing from Activate, no longer signing from Inactive, gone from the
// DNSKEY RRset from Delete. A zero time is unset: published and active
// from the start, never retired.
type Timing struct {
	Created, Publish, Activate, Inactive, Delete time.Time
}

// timingFields are the .private file's names of Timing's fields.
var timingFields = []string{"Created", "Publish", "Activate", "Inactive", "Delete"}

func (t *Timing) field(name string) *time.Time {
	switch name {
	case "Created":
		return &t.Created
	case "Publish":
		return &t.Publish
	case "Activate":
		return &t.Activate
	case "Inactive":
		return &t.Inactive
	case "Delete":
		return &t.Delete
	}
	return nil
}

// bindTime is the format of BIND's key timing fields.
const bindTime = "20060102150405"

// text renders the timing as BIND's .private file lines.
func (t Timing) text() string {
	var b strings.Builder
	for _, f := range timingFields {
		if v := *t.field(f); !v.IsZero() {
			fmt.Fprintf(&b, "%s: %s\n", f, v.UTC().Format(bindTime))
		}
	}
	return b.String()
}

// parseTiming reads the timing fields of a .private file's text.
func parseTiming(text, file string) (Timing, error) {
	var t Timing
	for _, line := range strings.Split(text, "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		p := t.field(strings.TrimSpace(name))
		if p == nil {
			continue
		}
		v, err := time.Parse(bindTime, strings.TrimSpace(value))
		if err != nil {
			return Timing{}, fmt.Errorf("reading %s.private: %s: want YYYYMMDDHHMMSS: %w", file, name, err)
		}
		*p = v.UTC()
	}
	return t, nil
}

// Published reports whether the key is in the DNSKEY RRset at now.
func (t Timing) Published(now time.Time) bool {
	return !now.Before(t.Publish) && (t.Delete.IsZero() || now.Before(t.Delete))
}

// Active reports whether the key signs at now.
func (t Timing) Active(now time.Time) bool {
	return t.Published(now) && !now.Before(t.Activate) && (t.Inactive.IsZero() || now.Before(t.Inactive))
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

// PrivateText is the key's .private file, in BIND's format, its timing
// included. It is the secret: callers write it with mode 0600 and never
// log it.
func (k Key) PrivateText() string { return k.DNSKEY.PrivateKeyString(k.Private) + k.Timing.text() }

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
	text, err := io.ReadAll(private)
	if err != nil {
		return Key{}, fmt.Errorf("reading %s.private: %w", file, err)
	}
	priv, err := k.ReadPrivateKey(bytes.NewReader(text), file+".private")
	if err != nil {
		return Key{}, fmt.Errorf("reading %s.private: %w", file, err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return Key{}, fmt.Errorf("reading %s.private: %w", file, ErrAlgorithm)
	}
	timing, err := parseTiming(string(text), file)
	if err != nil {
		return Key{}, err
	}
	return Key{DNSKEY: k, Private: signer, Timing: timing}, nil
}
