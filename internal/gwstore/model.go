// Package gwstore keeps zonecast-gateway's TSIG keys and dyndns hosts in a
// JetStream key-value bucket, so that every gateway of a fleet sees the same
// ones. The model (validation, secrets, token hashes) is pure; Store and
// Cache do the I/O.
package gwstore

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecast/zonecast/internal/account"
	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/dnsupdate"
	"github.com/zonecast/zonecast/internal/rrset"
)

// DefaultBucket is the key-value bucket of the gateway (the NATS role
// gateway may read and write it, no other role but admin).
const DefaultBucket = bus.DefaultGatewayBucket

// ErrInvalid is what every validation error is (errors.Is).
var ErrInvalid = errors.New("invalid")

// InvalidError is a validation error of a value someone gave: Reason says
// what is wrong with it, for them to read (the web page shows it as it
// is). It is ErrInvalid.
type InvalidError struct{ Reason string }

func (e *InvalidError) Error() string { return "invalid: " + e.Reason }

// Is makes an InvalidError ErrInvalid.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

// Invalidf returns an InvalidError of the formatted reason.
func Invalidf(format string, args ...any) error {
	return &InvalidError{Reason: fmt.Sprintf(format, args...)}
}

func invalidf(format string, args ...any) error { return Invalidf(format, args...) }

// Algorithms are the TSIG algorithms accepted, as miekg/dns names them.
var Algorithms = []string{dns.HmacSHA256, dns.HmacSHA384, dns.HmacSHA512}

// Key is a TSIG key and what it may change.
type Key struct {
	Name      string   `json:"name"`      // canonical key name, e.g. "dhcp-key."
	Algorithm string   `json:"algorithm"` // one of Algorithms
	Secret    string   `json:"secret"`    // base64, as in BIND's key files
	Zones     []string `json:"zones"`     // canonical zones the key may update
	Names     []string `json:"names,omitempty"`
	Types     []string `json:"types,omitempty"`
	// LeaseSeconds, when > 0, makes the records published with this key
	// expire that long after their last update.
	LeaseSeconds int64     `json:"lease_seconds,omitempty"`
	Created      time.Time `json:"created"`
}

// Lease returns the key's lease (0: none).
func (k Key) Lease() time.Duration { return time.Duration(k.LeaseSeconds) * time.Second }

// Origin is the origin id of the records published with the key.
func (k Key) Origin() string { return dnsupdate.Origin("tsig", k.Name) }

// Policy is what the key may change.
func (k Key) Policy() dnsupdate.Policy {
	return dnsupdate.Policy{Zones: k.Zones, Names: k.Names, Types: k.Types}
}

// CanonicalAlgorithm maps "hmac-sha256", "HMAC-SHA256." ... to its form in
// Algorithms.
func CanonicalAlgorithm(a string) (string, error) {
	c := dns.CanonicalName(a)
	if !slices.Contains(Algorithms, c) {
		return "", invalidf("algorithm %q (want hmac-sha256, hmac-sha384 or hmac-sha512)", a)
	}
	return c, nil
}

// Validate checks k and returns it canonical.
func (k Key) Validate() (Key, error) {
	var err error
	if k.Name, err = rrset.CanonicalName(k.Name); err != nil || strings.Contains(k.Name, "*") {
		return Key{}, invalidf("key name %q: want a domain name such as dhcp-key", k.Name)
	}
	if k.Algorithm, err = CanonicalAlgorithm(k.Algorithm); err != nil {
		return Key{}, err
	}
	raw, err := base64.StdEncoding.DecodeString(k.Secret)
	if err != nil || len(raw) < 16 {
		return Key{}, invalidf("key %s: secret must be base64 of at least 16 bytes", k.Name)
	}
	if len(k.Zones) == 0 {
		return Key{}, invalidf("key %s: no zone", k.Name)
	}
	if k.Zones, err = canonicalNames(k.Zones, false); err != nil {
		return Key{}, fmt.Errorf("key %s: zone: %w", k.Name, err)
	}
	if k.Names, err = canonicalNames(k.Names, true); err != nil {
		return Key{}, fmt.Errorf("key %s: name: %w", k.Name, err)
	}
	for i, t := range k.Types {
		if k.Types[i], err = rrset.CanonicalType(t); err != nil {
			return Key{}, fmt.Errorf("key %s: %w", k.Name, err)
		}
	}
	slices.Sort(k.Types)
	k.Types = slices.Compact(k.Types)
	if k.LeaseSeconds < 0 {
		return Key{}, invalidf("key %s: negative lease", k.Name)
	}
	return k, nil
}

func canonicalNames(in []string, wildcard bool) ([]string, error) {
	out := make([]string, 0, len(in))
	for _, n := range in {
		c, err := rrset.CanonicalName(n)
		if err != nil {
			return nil, err
		}
		if strings.Contains(c, "*") && (!wildcard || !strings.HasPrefix(c, "*.")) {
			return nil, invalidf("%q: no wildcard here", n)
		}
		out = append(out, c)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// NewSecret returns a random TSIG secret of the algorithm's hash size,
// base64 encoded.
func NewSecret(algorithm string) (string, error) {
	n := 32
	switch algorithm {
	case dns.HmacSHA384:
		n = 48
	case dns.HmacSHA512:
		n = 64
	}
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating a secret: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// Host is a dyndns2 host name and the hashes of its tokens.
type Host struct {
	Name         string `json:"name"` // canonical host name
	TTL          uint32 `json:"ttl"`
	LeaseSeconds int64  `json:"lease_seconds,omitempty"`
	// Owner is the account (internal/account) that manages the host on
	// the web page; empty: only the operator.
	Owner string `json:"owner,omitempty"`
	// PrefixFrom, when set, names the host (canonical) whose AAAA gives
	// this host's IPv6 prefix: its AAAA is the router's first AAAA cut to
	// PrefixLen bits, followed by InterfaceID's bits below them
	// (PrefixAddress).
	PrefixFrom  string    `json:"prefix_from,omitempty"`
	PrefixLen   int       `json:"prefix_len,omitempty"`   // 1..127; default 64 with PrefixFrom
	InterfaceID string    `json:"interface_id,omitempty"` // an IPv6 address such as "::1234:5678"
	Tokens      []Token   `json:"tokens,omitempty"`
	Created     time.Time `json:"created"`
}

// Lease returns the host's lease (0: none).
func (h Host) Lease() time.Duration { return time.Duration(h.LeaseSeconds) * time.Second }

// Origin is the origin id of the host's records.
func (h Host) Origin() string { return dnsupdate.Origin("dyndns", h.Name) }

// Validate checks h and returns it canonical.
func (h Host) Validate() (Host, error) {
	var err error
	if h.Name, err = rrset.CanonicalName(h.Name); err != nil || strings.Contains(h.Name, "*") {
		return Host{}, invalidf("host name %q", h.Name)
	}
	if h.TTL == 0 {
		h.TTL = 60
	}
	if h.LeaseSeconds < 0 {
		return Host{}, invalidf("host %s: negative lease", h.Name)
	}
	if h.Owner != "" {
		if account.ValidName(h.Owner) != nil {
			return Host{}, invalidf("host %s: owner %q: not a user name", h.Name, h.Owner)
		}
	}
	if h.PrefixFrom == "" {
		if h.PrefixLen != 0 || h.InterfaceID != "" {
			return Host{}, invalidf("host %s: a prefix length or interface id needs the host the prefix comes from", h.Name)
		}
		return h, nil
	}
	if h.PrefixFrom, err = rrset.CanonicalName(h.PrefixFrom); err != nil || strings.Contains(h.PrefixFrom, "*") {
		return Host{}, invalidf("host %s: prefix from %q: not a host name", h.Name, h.PrefixFrom)
	}
	if h.PrefixFrom == h.Name {
		return Host{}, invalidf("host %s: takes its prefix from itself", h.Name)
	}
	if h.PrefixLen == 0 {
		h.PrefixLen = 64
	}
	if h.PrefixLen < 1 || h.PrefixLen > 127 {
		return Host{}, invalidf("host %s: prefix length %d (want 1 to 127)", h.Name, h.PrefixLen)
	}
	iid, err := netip.ParseAddr(h.InterfaceID)
	if err != nil || !iid.Is6() || iid.Is4In6() || iid.Zone() != "" {
		return Host{}, invalidf("host %s: interface id %q: want an IPv6 address such as ::1234:5678", h.Name, h.InterfaceID)
	}
	h.InterfaceID = iid.String()
	return h, nil
}

// Token is one issued dyndns token: only a salted hash of it is stored.
// Tokens are 256 random bits, so a fast hash is as safe as a slow one:
// there is no dictionary to try.
type Token struct {
	ID      string    `json:"id"`
	Salt    string    `json:"salt"` // hex
	Hash    string    `json:"hash"` // hex HMAC-SHA256(salt, token)
	Created time.Time `json:"created"`
}

// NewToken returns a fresh token (shown once to the operator) and the
// record of it to store.
func NewToken(now time.Time) (string, Token, error) {
	b := make([]byte, 32)
	salt := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", Token{}, fmt.Errorf("generating a token: %w", err)
	}
	if _, err := rand.Read(salt); err != nil {
		return "", Token{}, fmt.Errorf("generating a salt: %w", err)
	}
	tok := base64.RawURLEncoding.EncodeToString(b)
	id := make([]byte, 4)
	if _, err := rand.Read(id); err != nil {
		return "", Token{}, fmt.Errorf("generating a token id: %w", err)
	}
	return tok, Token{ID: hex.EncodeToString(id), Salt: hex.EncodeToString(salt), Hash: tokenHash(salt, tok), Created: now.UTC()}, nil
}

func tokenHash(salt []byte, tok string) string {
	m := hmac.New(sha256.New, salt)
	m.Write([]byte(tok))
	return hex.EncodeToString(m.Sum(nil))
}

// Check reports whether tok is one of the host's tokens.
func (h Host) Check(tok string) bool {
	ok := false
	for _, t := range h.Tokens {
		salt, err := hex.DecodeString(t.Salt)
		if err != nil {
			continue
		}
		want, err := hex.DecodeString(t.Hash)
		if err != nil {
			continue
		}
		got, _ := hex.DecodeString(tokenHash(salt, tok))
		if hmac.Equal(got, want) {
			ok = true
		}
	}
	return ok
}

// Bucket keys: "tsig.<key name>", "host.<host name>" and "hist.<host
// name>", without the trailing dot, "user.<account name>" and
// "session.<session id>". Canonical names only hold a-z 0-9 - _ and dots,
// all allowed in key-value keys; account names and session ids too.
func keyEntry(name string) string   { return "tsig." + strings.TrimSuffix(name, ".") }
func hostEntry(name string) string  { return "host." + strings.TrimSuffix(name, ".") }
func histEntry(name string) string  { return "hist." + strings.TrimSuffix(name, ".") }
func userEntry(name string) string  { return "user." + name }
func sessionEntry(id string) string { return "session." + id }
