package rrset

import (
	"errors"
	"strings"
	"testing"
)

// Keys, digests and signatures as PowerDNS 4.7's API returns them (seen
// against a real pdns_server; internal/pdnsapi's signed content test
// checks these forms against one).
const (
	testKey  = "mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ=="
	testHash = "ABCDEFGHIJKLMNOPQRSTUV0123456789"
	testDS   = "d4b7d520e7bb5f0f67674a0cceb1e3e0614b93c4f9e99b8383f6a1e4469da50a"
)

func signedContentCases() map[string]contentCase {
	split := testKey[:40] + " " + testKey[40:]
	sig := "A 13 3 300 20300101000000 20231114221320 12345 example. " + testKey
	return map[string]contentCase{
		// DNSKEY, CDNSKEY
		"DNSKEY plain":         {typ: "DNSKEY", in: "257 3 13 " + testKey, want: "257 3 13 " + testKey},
		"DNSKEY key in words":  {typ: "DNSKEY", in: "257 3 13 " + split, want: "257 3 13 " + testKey},
		"DNSKEY extra spaces":  {typ: "DNSKEY", in: " 256  3 13  " + testKey + " ", want: "256 3 13 " + testKey},
		"DNSKEY unpadded":      {typ: "DNSKEY", in: "257 3 13 " + strings.TrimRight(testKey, "=")},
		"DNSKEY not base64":    {typ: "DNSKEY", in: "257 3 13 !!!!"},
		"DNSKEY no key":        {typ: "DNSKEY", in: "257 3 13"},
		"DNSKEY flags too big": {typ: "DNSKEY", in: "65536 3 13 " + testKey},
		"DNSKEY mnemonic alg":  {typ: "DNSKEY", in: "257 3 ECDSAP256SHA256 " + testKey},
		"DNSKEY comment":       {typ: "DNSKEY", in: "257 3 13 " + testKey + " ; ksk"},
		"CDNSKEY plain":        {typ: "CDNSKEY", in: "257 3 13 " + testKey, want: "257 3 13 " + testKey},
		"CDNSKEY delete":       {typ: "CDNSKEY", in: "0 3 0 AA==", want: "0 3 0 AA=="},
		"CDNSKEY quoted key":   {typ: "CDNSKEY", in: `257 3 13 "` + testKey + `"`},
		// DS, CDS: digests in lower-case hex
		"DS plain":              {typ: "DS", in: "60485 13 2 " + testDS, want: "60485 13 2 " + testDS},
		"DS upper-case digest":  {typ: "DS", in: "60485 13 2 " + strings.ToUpper(testDS), want: "60485 13 2 " + testDS},
		"DS digest in words":    {typ: "DS", in: "60485 13 2 " + testDS[:32] + " " + testDS[32:], want: "60485 13 2 " + testDS},
		"DS mnemonic algorithm": {typ: "DS", in: "60485 ECDSAP256SHA256 2 " + testDS, want: "60485 13 2 " + testDS},
		"DS odd hex":            {typ: "DS", in: "60485 13 2 abc"},
		"DS not hex":            {typ: "DS", in: "60485 13 2 xyz0"},
		"DS no digest":          {typ: "DS", in: "60485 13 2"},
		"CDS delete":            {typ: "CDS", in: "0 0 0 00", want: "0 0 0 00"},
		"CDS upper-case digest": {typ: "CDS", in: "60485 13 2 " + strings.ToUpper(testDS), want: "60485 13 2 " + testDS},
		// RRSIG
		"RRSIG plain":             {typ: "RRSIG", in: sig, want: sig},
		"RRSIG lower-case type":   {typ: "RRSIG", in: "nsec" + sig[1:], want: "NSEC" + sig[1:]},
		"RRSIG numeric type":      {typ: "RRSIG", in: "TYPE1" + sig[1:], want: sig},
		"RRSIG signer upper case": {typ: "RRSIG", in: strings.Replace(sig, "example.", "EXAMPLE", 1), want: sig},
		"RRSIG signature words":   {typ: "RRSIG", in: strings.Replace(sig, testKey, split, 1), want: sig},
		"RRSIG epoch times": {typ: "RRSIG", in: "A 13 3 300 1893456000 1700000000 12345 example. " + testKey,
			want: "A 13 3 300 20300101000000 20231114221320 12345 example. " + testKey},
		"RRSIG time from 2106":   {typ: "RRSIG", in: strings.Replace(sig, "20300101000000", "21100101000000", 1)},
		"RRSIG time before 1970": {typ: "RRSIG", in: strings.Replace(sig, "20231114221320", "19691231235959", 1)},
		"RRSIG last time":        {typ: "RRSIG", in: strings.Replace(sig, "20300101000000", "21060207062815", 1), want: strings.Replace(sig, "20300101000000", "21060207062815", 1)},
		"RRSIG bad date":         {typ: "RRSIG", in: strings.Replace(sig, "20300101000000", "20301301000000", 1)},
		"RRSIG covers HINFO":     {typ: "RRSIG", in: "HINFO" + sig[1:]},
		"RRSIG covers TYPE65534": {typ: "RRSIG", in: "TYPE65534" + sig[1:]},
		"RRSIG signer escaped":   {typ: "RRSIG", in: strings.Replace(sig, "example.", `ex\097mple.`, 1)},
		"RRSIG no signature":     {typ: "RRSIG", in: "A 13 3 300 20300101000000 20231114221320 12345 example."},
		"RRSIG bad signature":    {typ: "RRSIG", in: "A 13 3 300 20300101000000 20231114221320 12345 example. ???"},
		// NSEC: types by code, upper case
		"NSEC plain":         {typ: "NSEC", in: "b.example. A TXT RRSIG NSEC", want: "b.example. A TXT RRSIG NSEC"},
		"NSEC sorted":        {typ: "NSEC", in: "B.Example. NSEC txt RRSIG A CAA a", want: "b.example. A TXT RRSIG NSEC CAA"},
		"NSEC apex":          {typ: "NSEC", in: "a.example. SOA NS DNSKEY NSEC RRSIG CDS CDNSKEY", want: "a.example. NS SOA RRSIG NSEC DNSKEY CDS CDNSKEY"},
		"NSEC numeric types": {typ: "NSEC", in: "b.example TYPE1 TYPE16", want: "b.example. A TXT"},
		"NSEC wildcard next": {typ: "NSEC", in: "*.example. A RRSIG NSEC", want: "*.example. A RRSIG NSEC"},
		"NSEC no types":      {typ: "NSEC", in: "b.example."},
		"NSEC unknown type":  {typ: "NSEC", in: "b.example. A TYPE65534"},
		"NSEC foreign type":  {typ: "NSEC", in: "b.example. A HINFO"},
		"NSEC bad type":      {typ: "NSEC", in: "b.example. A BOGUS"},
		"NSEC escaped next":  {typ: "NSEC", in: `\000.b.example. A RRSIG NSEC`},
		"NSEC root next":     {typ: "NSEC", in: ". A RRSIG NSEC"},
		"NSEC comment":       {typ: "NSEC", in: "b.example. A ; x"},
		// NSEC3: next hash in upper-case base32hex, salt in lower-case hex
		"NSEC3 plain":           {typ: "NSEC3", in: "1 0 0 - " + testHash + " A NS RRSIG", want: "1 0 0 - " + testHash + " A NS RRSIG"},
		"NSEC3 lower-case hash": {typ: "NSEC3", in: "1 0 0 - " + strings.ToLower(testHash) + " A RRSIG NS", want: "1 0 0 - " + testHash + " A NS RRSIG"},
		"NSEC3 salted":          {typ: "NSEC3", in: "1 1 5 AB12CD " + testHash + " TXT", want: "1 1 5 ab12cd " + testHash + " TXT"},
		"NSEC3 empty bitmap":    {typ: "NSEC3", in: "1 0 0 - " + testHash, want: "1 0 0 - " + testHash},
		"NSEC3 odd salt":        {typ: "NSEC3", in: "1 0 0 abc " + testHash},
		"NSEC3 salt not hex":    {typ: "NSEC3", in: "1 0 0 zz " + testHash},
		"NSEC3 long salt":       {typ: "NSEC3", in: "1 0 0 " + strings.Repeat("ab", 256) + " " + testHash},
		"NSEC3 short hash":      {typ: "NSEC3", in: "1 0 0 - " + testHash[:31]},
		"NSEC3 hash of 25":      {typ: "NSEC3", in: "1 0 0 - " + testHash + "01234567"},
		"NSEC3 not base32hex":   {typ: "NSEC3", in: "1 0 0 - " + strings.Replace(testHash, "A", "W", 1)},
		"NSEC3 padded hash":     {typ: "NSEC3", in: "1 0 0 - " + testHash[:24] + "========"},
		"NSEC3 iterations big":  {typ: "NSEC3", in: "1 0 65536 - " + testHash},
		"NSEC3 unknown type":    {typ: "NSEC3", in: "1 0 0 - " + testHash + " TYPE65534"},
		// NSEC3PARAM
		"NSEC3PARAM unsalted": {typ: "NSEC3PARAM", in: "1 0 0 -", want: "1 0 0 -"},
		"NSEC3PARAM salted":   {typ: "NSEC3PARAM", in: "1 0 5 AB12CD", want: "1 0 5 ab12cd"},
		"NSEC3PARAM no salt":  {typ: "NSEC3PARAM", in: "1 0 0"},
		"NSEC3PARAM odd salt": {typ: "NSEC3PARAM", in: "1 0 0 abc"},
		"NSEC3PARAM extra":    {typ: "NSEC3PARAM", in: "1 0 0 - x"},
		// SOA
		"SOA lowercased": {typ: "SOA", in: "NS1.Example. Hostmaster.Example. 1 7200 900 1209600 300", want: "ns1.example. hostmaster.example. 1 7200 900 1209600 300"},
	}
}

func TestCanonicalSignedType(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"A": "A", "soa": "SOA", "nsec3param": "NSEC3PARAM", "Rrsig": "RRSIG", "DNSKEY": "DNSKEY",
		"cds": "CDS", "CDNSKEY": "CDNSKEY", "ds": "DS", "NSEC": "NSEC", "nsec3": "NSEC3",
		"HINFO": "", "": "", "TYPE1": "", "ſoa": "",
	} {
		got, err := CanonicalSignedType(in)
		if want == "" {
			if err == nil || !errors.Is(err, ErrInvalid) {
				t.Errorf("CanonicalSignedType(%q) = %q, %v; want an ErrInvalid", in, got, err)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("CanonicalSignedType(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, typ := range []string{"SOA", "RRSIG", "DNSKEY", "DS", "NSEC3PARAM"} {
		if _, err := CanonicalType(typ); err == nil {
			t.Errorf("CanonicalType(%q) accepted a type sources may not publish", typ)
		}
	}
	for _, typ := range SignedTypes {
		if _, ok := typeCodes[typ]; !ok {
			t.Errorf("signed type %s has no type code", typ)
		}
	}
}
