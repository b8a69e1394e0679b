package rrset

import (
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// SignedTypes lists the types a signer may publish for a signed zone:
// the sources' types, the SOA and apex NS, and DNSSEC's.
var SignedTypes = append(slices.Clip(Types), "SOA", "DNSKEY", "CDS", "CDNSKEY", "DS", "RRSIG", "NSEC", "NSEC3", "NSEC3PARAM")

// signedTypeNames maps the code of each of SignedTypes to its name: the
// types an RRSIG may cover and an NSEC or NSEC3 bitmap may list. A signer
// signs and lists only the types of its zone, and PowerDNS prints these
// with the same mnemonics as miekg/dns (others it may name differently).
var signedTypeNames = map[uint16]string{}

func init() {
	for t, c := range map[string]uint16{"DNSKEY": dns.TypeDNSKEY, "CDS": dns.TypeCDS, "CDNSKEY": dns.TypeCDNSKEY,
		"DS": dns.TypeDS, "RRSIG": dns.TypeRRSIG, "NSEC": dns.TypeNSEC, "NSEC3": dns.TypeNSEC3, "NSEC3PARAM": dns.TypeNSEC3PARAM} {
		typeCodes[t] = c
	}
	for _, t := range SignedTypes {
		signedTypeNames[typeCodes[t]] = t
	}
}

// CanonicalSignedType returns the upper-case form of a type a signer may
// publish (SignedTypes).
func CanonicalSignedType(t string) (string, error) {
	u := asciiUpper(t)
	i := slices.Index(SignedTypes, u)
	if i < 0 {
		return "", invalidf("unsupported type %q in a signed zone (supported: %s)", t, strings.Join(SignedTypes, " "))
	}
	return SignedTypes[i], nil
}

// nsec3HashLen is the length of an NSEC3 next hashed owner: a SHA-1
// digest, the only NSEC3 hash algorithm (RFC 5155 section 11).
const nsec3HashLen = 20

var base32Hex = base32.HexEncoding.WithPadding(base32.NoPadding)

// signedContent writes a parsed DNSSEC record as PowerDNS 4.7's API
// returns it, which is also the only form its PATCH takes (it refuses
// other spellings as "not in expected format", though not other letter
// cases). It differs from miekg/dns's presentation in: DS and CDS digests
// and NSEC3 salts in lower-case hex (miekg/dns prints upper case); RRSIG
// times formatted from the 32-bit value alone (miekg/dns reads the clock);
// type bitmaps sorted by type code without duplicates (miekg/dns keeps the
// order written). Besides, miekg/dns keeps base64, hex and base32hex
// fields as written: they are decoded and encoded again here (base64
// padded, without spaces; NSEC3 next hash in upper-case base32hex, as
// PowerDNS prints it). Names are canonical (lower case; PowerDNS keeps the
// case written). ok is false for a type that is not DNSSEC's.
func signedContent(rr dns.RR, content string) (out string, ok bool, err error) {
	var b strings.Builder
	num := func(v uint64) { b.WriteString(strconv.FormatUint(v, 10)); b.WriteByte(' ') }
	switch r := rr.(type) {
	case *dns.DNSKEY:
		err = appendKey(&b, num, r)
	case *dns.CDNSKEY:
		err = appendKey(&b, num, &r.DNSKEY)
	case *dns.DS:
		err = appendDS(&b, num, r)
	case *dns.CDS:
		err = appendDS(&b, num, &r.DS)
	case *dns.RRSIG:
		err = appendRRSIG(&b, num, r, content)
	case *dns.NSEC:
		var next string
		if next, err = CanonicalName(r.NextDomain); err != nil {
			return "", true, fmt.Errorf("next name: %w", err)
		}
		if len(r.TypeBitMap) == 0 {
			return "", true, invalidf("no types (an NSEC lists at least NSEC and RRSIG)")
		}
		b.WriteString(next)
		err = appendBitmap(&b, r.TypeBitMap)
	case *dns.NSEC3:
		num(uint64(r.Hash))
		num(uint64(r.Flags))
		num(uint64(r.Iterations))
		if err = appendSalt(&b, r.Salt); err != nil {
			return "", true, err
		}
		raw, derr := base32Hex.DecodeString(asciiUpper(r.NextDomain))
		if derr != nil || len(raw) != nsec3HashLen {
			return "", true, invalidf("next hashed owner %q is not %d bytes of base32hex", r.NextDomain, nsec3HashLen)
		}
		b.WriteByte(' ')
		b.WriteString(base32Hex.EncodeToString(raw))
		err = appendBitmap(&b, r.TypeBitMap)
	case *dns.NSEC3PARAM:
		if len(strings.Fields(content)) != 4 {
			// miekg/dns takes a missing salt for none.
			return "", true, invalidf("want 4 fields: hash, flags, iterations, salt")
		}
		num(uint64(r.Hash))
		num(uint64(r.Flags))
		num(uint64(r.Iterations))
		err = appendSalt(&b, r.Salt)
	default:
		return "", false, nil
	}
	if err != nil {
		return "", true, err
	}
	return b.String(), true, nil
}

func appendKey(b *strings.Builder, num func(uint64), r *dns.DNSKEY) error {
	num(uint64(r.Flags))
	num(uint64(r.Protocol))
	num(uint64(r.Algorithm))
	return appendBase64(b, "public key", r.PublicKey)
}

func appendDS(b *strings.Builder, num func(uint64), r *dns.DS) error {
	num(uint64(r.KeyTag))
	num(uint64(r.Algorithm))
	num(uint64(r.DigestType))
	raw, err := hex.DecodeString(r.Digest)
	if err != nil || len(raw) == 0 {
		return invalidf("digest %q is not hex", r.Digest)
	}
	b.WriteString(hex.EncodeToString(raw))
	return nil
}

// appendRRSIG writes r. Its times are written as YYYYMMDDHHMMSS (PowerDNS
// refuses seconds since the epoch). One written so is refused when it does
// not fit the 32-bit field (before 1970, from 2106 on): miekg/dns and
// PowerDNS fold such dates into the field differently.
func appendRRSIG(b *strings.Builder, num func(uint64), r *dns.RRSIG, content string) error {
	covered, ok := signedTypeNames[r.TypeCovered]
	if !ok {
		return invalidf("covered type %s is not one of a signed zone's", dns.Type(r.TypeCovered))
	}
	signer, err := CanonicalName(r.SignerName)
	if err != nil {
		return fmt.Errorf("signer name: %w", err)
	}
	exp, inc := sigTime(r.Expiration), sigTime(r.Inception)
	if f := strings.Fields(content); len(f) > 5 {
		for i, t := range []string{exp, inc} {
			if w := f[4+i]; len(w) == len(t) && w != t {
				return invalidf("time %s is not between 1970 and 2106", w)
			}
		}
	}
	b.WriteString(covered)
	b.WriteByte(' ')
	num(uint64(r.Algorithm))
	num(uint64(r.Labels))
	num(uint64(r.OrigTtl))
	b.WriteString(exp)
	b.WriteByte(' ')
	b.WriteString(inc)
	b.WriteByte(' ')
	num(uint64(r.KeyTag))
	b.WriteString(signer)
	b.WriteByte(' ')
	return appendBase64(b, "signature", r.Signature)
}

func sigTime(t uint32) string { return time.Unix(int64(t), 0).UTC().Format("20060102150405") }

// appendBase64 writes s, base64 that may have been written in several
// words, as one word, padded.
func appendBase64(b *strings.Builder, what, s string) error {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(raw) == 0 {
		return invalidf("%s %q is not base64", what, s)
	}
	b.WriteString(base64.StdEncoding.EncodeToString(raw))
	return nil
}

// appendSalt writes an NSEC3 salt: lower-case hex, "-" when empty.
func appendSalt(b *strings.Builder, salt string) error {
	if salt == "" {
		b.WriteByte('-')
		return nil
	}
	raw, err := hex.DecodeString(salt)
	if err != nil || len(raw) > 255 {
		return invalidf("salt %q is not hex of at most 255 bytes", salt)
	}
	b.WriteString(hex.EncodeToString(raw))
	return nil
}

// appendBitmap writes a type bitmap as " A NS ...", ordered by type code.
func appendBitmap(b *strings.Builder, bitmap []uint16) error {
	codes := slices.Compact(slices.Sorted(slices.Values(bitmap)))
	for _, c := range codes {
		name, ok := signedTypeNames[c]
		if !ok {
			return invalidf("type %s in the bitmap is not one of a signed zone's", dns.Type(c))
		}
		b.WriteByte(' ')
		b.WriteString(name)
	}
	return nil
}
