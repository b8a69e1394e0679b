// Package sig0 verifies DNS messages signed with SIG(0) (RFC 2931) over
// the exact bytes received, and captures those bytes from miekg/dns's
// server, which only hands its handler a decoded *dns.Msg.
//
// A signature covers the wire form the client sent: name compression,
// case and record order included. Re-packing the decoded message gives
// other bytes, so verification needs the originals (see Capture).
package sig0

import (
	"crypto"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/miekg/dns"
)

// Algorithms are the SIG(0) algorithms accepted. SHA-1 and the ECDSA
// P-384 curve are left out on purpose: a gateway needs one modern choice
// per family, and every algorithm accepted is one more to keep safe.
var Algorithms = []uint8{dns.ECDSAP256SHA256, dns.ED25519, dns.RSASHA256}

// Sentinel errors of Verify; test them with errors.Is.
var (
	ErrNoSig     = errors.New("sig0: no SIG(0) as the last additional record")
	ErrMalformed = errors.New("sig0: malformed SIG(0) message")
	ErrAlgorithm = errors.New("sig0: algorithm not accepted or not the key's")
	ErrSigner    = errors.New("sig0: signer is not the key")
	ErrTime      = errors.New("sig0: outside the signature's validity period")
	ErrBadSig    = errors.New("sig0: signature does not verify")
)

// headerLen is the fixed DNS header: ID, flags and four counts.
const headerLen = 12

// maxArcount is the largest ARCOUNT handed to miekg's (*dns.SIG).Verify.
// It rebuilds the pre-signature ARCOUNT as byte((adc-1)<<8), byte(adc-1):
// the high byte is always 0, so above 256 records it hashes a count the
// signer never wrote and a genuine signature fails. 256 itself would hash
// right; the bound is kept at one byte so that the rule reads plainly, and
// no UPDATE needs hundreds of additional records.
const maxArcount = 255

// Find returns the SIG(0) of m: a SIG record that is the last of m.Extra.
// Only the last counts, because RFC 2931 makes the signature cover every
// record before it; a SIG elsewhere signs nothing and is left to the caller.
func Find(m *dns.Msg) (*dns.SIG, bool) {
	if m == nil || len(m.Extra) == 0 {
		return nil, false
	}
	sig, ok := m.Extra[len(m.Extra)-1].(*dns.SIG)
	return sig, ok
}

// Verify checks that raw, whose decoding is m, carries a SIG(0) made by
// key and valid at now give or take fudge. It returns nil or an error
// that errors.Is one of the sentinels of this package.
//
// miekg's (*dns.SIG).Verify, which does the cryptography, also checks the
// validity period itself, against the wall clock and with no fudge: a
// message outside [inception, expiration] by the wall clock is refused with
// ErrTime whatever now and fudge say. With now from the wall clock the
// fudge thus widens nothing; clients such as BIND's nsupdate build their
// own margin into the period they sign.
func Verify(raw []byte, m *dns.Msg, key *dns.KEY, now time.Time, fudge time.Duration) error {
	if _, ok := Find(m); !ok {
		return ErrNoSig
	}
	sig, err := lastSig(raw)
	if err != nil {
		return err
	}
	// m is trusted only as the decoding of raw: the handler acts on m,
	// the signature covers raw, and the two must be the same message.
	var dec dns.Msg
	if err := dec.Unpack(raw); err != nil {
		return fmt.Errorf("%w: decoding: %v", ErrMalformed, err)
	}
	if !reflect.DeepEqual(&dec, m) {
		return fmt.Errorf("%w: the message is not the decoding of the bytes", ErrMalformed)
	}
	// Before miekg's Verify, which hashes a wrong count above it.
	if binary.BigEndian.Uint16(raw[10:]) > maxArcount {
		return fmt.Errorf("%w: more than %d additional records", ErrMalformed, maxArcount)
	}
	if key == nil {
		return fmt.Errorf("%w: no key", ErrSigner)
	}
	if !slices.Contains(Algorithms, sig.Algorithm) {
		return fmt.Errorf("%w: algorithm %d", ErrAlgorithm, sig.Algorithm)
	}
	if key.Algorithm != sig.Algorithm {
		return fmt.Errorf("%w: signed with %d, key is %d", ErrAlgorithm, sig.Algorithm, key.Algorithm)
	}
	if dns.CanonicalName(sig.SignerName) != dns.CanonicalName(key.Hdr.Name) {
		return fmt.Errorf("%w: signed by %s, key is %s", ErrSigner, sig.SignerName, key.Hdr.Name)
	}
	if tag := key.KeyTag(); sig.KeyTag != tag {
		return fmt.Errorf("%w: key tag %d, key's is %d", ErrSigner, sig.KeyTag, tag)
	}
	// Seconds since the epoch as an unsigned 32-bit count, as miekg reads
	// them; serial-number arithmetic would matter only after 2106.
	incept := time.Unix(int64(sig.Inception), 0)
	expire := time.Unix(int64(sig.Expiration), 0)
	if now.Before(incept.Add(-fudge)) || now.After(expire.Add(fudge)) {
		return fmt.Errorf("%w: %s not in [%s, %s] with fudge %s", ErrTime,
			now.UTC().Format(time.RFC3339), incept.UTC().Format(time.RFC3339),
			expire.UTC().Format(time.RFC3339), fudge)
	}
	// miekg splits an ECDSA signature in the middle and reads each half as
	// a number, so zero-padded halves would verify as well: one length
	// keeps one encoding. (RSA and Ed25519 lengths are checked by Go.)
	if sig.Algorithm == dns.ECDSAP256SHA256 {
		if b, err := base64.StdEncoding.DecodeString(sig.Signature); err != nil || len(b) != 64 {
			return fmt.Errorf("%w: an ECDSA P-256 signature of other than 64 bytes", ErrBadSig)
		}
	}
	if err := sig.Verify(key, raw); err != nil {
		if errors.Is(err, dns.ErrTime) {
			return fmt.Errorf("%w: by the wall clock: %w", ErrTime, err)
		}
		return fmt.Errorf("%w: %w", ErrBadSig, err)
	}
	return nil
}

// lastSig walks raw by its header's counts and returns the SIG(0) that
// must be its last record and end it. miekg's (*dns.SIG).Verify walks the
// bytes the same way to find where the signed body ends, without checking
// what it finds; this walk makes sure it finds a SIG(0) and nothing after.
// miekg's Unpack cannot stand in for it: it ignores any bytes after the
// records the header counts.
func lastSig(raw []byte) (*dns.SIG, error) {
	if len(raw) < headerLen {
		return nil, fmt.Errorf("%w: %d bytes, shorter than a header", ErrMalformed, len(raw))
	}
	qd := int(binary.BigEndian.Uint16(raw[4:]))
	rrs := int(binary.BigEndian.Uint16(raw[6:])) + int(binary.BigEndian.Uint16(raw[8:])) +
		int(binary.BigEndian.Uint16(raw[10:]))
	if rrs == 0 {
		return nil, fmt.Errorf("%w: no records", ErrMalformed)
	}
	off := headerLen
	var err error
	for i := range qd {
		if _, off, err = dns.UnpackDomainName(raw, off); err != nil {
			return nil, fmt.Errorf("%w: question %d: %v", ErrMalformed, i, err)
		}
		if off += 4; off > len(raw) { // type and class
			return nil, fmt.Errorf("%w: question %d truncated", ErrMalformed, i)
		}
	}
	for i := range rrs - 1 {
		if _, off, err = dns.UnpackDomainName(raw, off); err != nil {
			return nil, fmt.Errorf("%w: record %d: %v", ErrMalformed, i, err)
		}
		if off+10 > len(raw) { // type, class, TTL, RDLENGTH
			return nil, fmt.Errorf("%w: record %d truncated", ErrMalformed, i)
		}
		off += 10 + int(binary.BigEndian.Uint16(raw[off+8:]))
		if off > len(raw) {
			return nil, fmt.Errorf("%w: record %d overflows the message", ErrMalformed, i)
		}
	}
	rr, end, err := dns.UnpackRR(raw, off)
	if err != nil {
		return nil, fmt.Errorf("%w: last record: %v", ErrMalformed, err)
	}
	sig, ok := rr.(*dns.SIG)
	if !ok {
		return nil, fmt.Errorf("%w: the last record is %s, not SIG", ErrMalformed, dns.TypeToString[rr.Header().Rrtype])
	}
	if end != len(raw) {
		return nil, fmt.Errorf("%w: %d bytes after the SIG", ErrMalformed, len(raw)-end)
	}
	if sig.TypeCovered != 0 {
		return nil, fmt.Errorf("%w: the SIG covers type %d, not 0", ErrMalformed, sig.TypeCovered)
	}
	// The SIG's owner, class and TTL are outside what it signs, so each
	// is held to the one form RFC 2931 gives it (and BIND and miekg
	// write): were any other accepted, anyone could turn a signed message
	// into other bytes that verify. Hence also a root written as the one
	// zero byte, not as a compression pointer to one.
	if raw[off] != 0 {
		return nil, fmt.Errorf("%w: the SIG's owner is %s, not the root as one zero byte", ErrMalformed, sig.Hdr.Name)
	}
	if sig.Hdr.Class != dns.ClassANY || sig.Hdr.Ttl != 0 {
		return nil, fmt.Errorf("%w: the SIG has class %s and TTL %d, not ANY and 0", ErrMalformed,
			dns.ClassToString[sig.Hdr.Class], sig.Hdr.Ttl)
	}
	return sig, nil
}

// Sign returns the wire form of m followed by a SIG(0) made with priv, the
// private half of key, valid from inception to expiration. m itself is
// left as it was: the SIG exists only in the bytes returned.
func Sign(m *dns.Msg, key *dns.KEY, priv crypto.Signer, inception, expiration time.Time) ([]byte, error) {
	sig := &dns.SIG{RRSIG: dns.RRSIG{
		Hdr:         dns.RR_Header{Name: ".", Rrtype: dns.TypeSIG, Class: dns.ClassANY, Ttl: 0},
		TypeCovered: 0,
		Algorithm:   key.Algorithm,
		KeyTag:      key.KeyTag(),
		SignerName:  key.Hdr.Name,
		Inception:   uint32(inception.Unix()),
		Expiration:  uint32(expiration.Unix()),
	}}
	raw, err := sig.Sign(priv, m)
	if err != nil {
		return nil, fmt.Errorf("signing message %d with key %s/%d: %w", m.Id, key.Hdr.Name, sig.KeyTag, err)
	}
	return raw, nil
}
