package rrset

import (
	"errors"
	"maps"
	"strings"
	"testing"
)

type contentCase struct {
	typ, in string
	want    string // "" means rejected
}

func contentCases() map[string]contentCase {
	long := strings.Repeat("x", 300)
	cases := map[string]contentCase{
		// A
		"A plain":              {typ: "A", in: "192.0.2.1", want: "192.0.2.1"},
		"A zero":               {typ: "A", in: "0.0.0.0", want: "0.0.0.0"},
		"A leading zero":       {typ: "A", in: "192.0.2.01"},
		"A ipv6":               {typ: "A", in: "2001:db8::1"},
		"A mapped ipv6":        {typ: "A", in: "::ffff:192.0.2.1"},
		"A name":               {typ: "A", in: "example.com."},
		"A with space":         {typ: "A", in: " 192.0.2.1"},
		"A with port":          {typ: "A", in: "192.0.2.1:53"},
		"A with prefix":        {typ: "A", in: "192.0.2.0/24"},
		"A out of range octet": {typ: "A", in: "192.0.2.256"},
		"A three octets":       {typ: "A", in: "192.0.2"},
		"A empty":              {typ: "A", in: ""},
		// AAAA
		"AAAA compressed":          {typ: "AAAA", in: "2001:db8::1", want: "2001:db8::1"},
		"AAAA uncompressed":        {typ: "AAAA", in: "2001:0DB8:0000:0000:0000:0000:0000:0001", want: "2001:db8::1"},
		"AAAA pdns example":        {typ: "AAAA", in: "2001:DB8:0:0::0001", want: "2001:db8::1"},
		"AAAA longest zero run":    {typ: "AAAA", in: "2001:db8:0:0:1:0:0:0", want: "2001:db8:0:0:1::"},
		"AAAA single zero group":   {typ: "AAAA", in: "2001:db8:0:1:1:1:1:1", want: "2001:db8:0:1:1:1:1:1"},
		"AAAA unspecified":         {typ: "AAAA", in: "::", want: "::"},
		"AAAA loopback":            {typ: "AAAA", in: "0:0:0:0:0:0:0:1", want: "::1"},
		"AAAA ula":                 {typ: "AAAA", in: "FD42:99:1:1::1", want: "fd42:99:1:1::1"},
		"AAAA v4 mapped":           {typ: "AAAA", in: "::ffff:192.0.2.1", want: "::ffff:192.0.2.1"},
		"AAAA zone id":             {typ: "AAAA", in: "fe80::1%eth0"},
		"AAAA numeric zone id":     {typ: "AAAA", in: "fe80::1%1"},
		"AAAA ipv4":                {typ: "AAAA", in: "192.0.2.1"},
		"AAAA brackets":            {typ: "AAAA", in: "[2001:db8::1]"},
		"AAAA two double colons":   {typ: "AAAA", in: "2001::db8::1"},
		"AAAA too many groups":     {typ: "AAAA", in: "1:2:3:4:5:6:7:8:9"},
		"AAAA group too long":      {typ: "AAAA", in: "2001:db8::12345"},
		"AAAA with prefix":         {typ: "AAAA", in: "2001:db8::/64"},
		"AAAA name":                {typ: "AAAA", in: "example.com."},
		"AAAA trailing whitespace": {typ: "AAAA", in: "2001:db8::1 "},
		// CNAME, NS, PTR
		"CNAME lowercased":       {typ: "CNAME", in: "Target.Example.COM.", want: "target.example.com."},
		"CNAME made absolute":    {typ: "CNAME", in: "target.example.com", want: "target.example.com."},
		"CNAME underscore":       {typ: "CNAME", in: "_acme.example.com.", want: "_acme.example.com."},
		"CNAME root":             {typ: "CNAME", in: "."},
		"CNAME wildcard target":  {typ: "CNAME", in: "*.example.com."},
		"CNAME space":            {typ: "CNAME", in: "a b."},
		"CNAME escape":           {typ: "CNAME", in: `a\.b.example.`},
		"CNAME two names":        {typ: "CNAME", in: "a.example. b.example."},
		"CNAME at sign":          {typ: "CNAME", in: "@"},
		"CNAME label too long":   {typ: "CNAME", in: strings.Repeat("a", 64) + ".example."},
		"NS lowercased":          {typ: "NS", in: "NS1.Example.NET", want: "ns1.example.net."},
		"NS empty label":         {typ: "NS", in: "ns1..example.net."},
		"PTR lowercased":         {typ: "PTR", in: "Host.Example.com", want: "host.example.com."},
		"PTR ip is a valid name": {typ: "PTR", in: "192.0.2.1", want: "192.0.2.1."},
		"PTR non-ascii":          {typ: "PTR", in: "hôte.example."},
		"PTR control char":       {typ: "PTR", in: "host\t.example."},
		// DHCID (RFC 4701; kea's D2 sends identifier type 2, digest type 1)
		"DHCID kea":        {typ: "DHCID", in: "AAIBY2/AuCccgoJbsaxcQc9TUapptP69lOjxfNuVAA2kjEA=", want: "AAIBY2/AuCccgoJbsaxcQc9TUapptP69lOjxfNuVAA2kjEA="},
		"DHCID split":      {typ: "DHCID", in: "AAIBY2/AuCccgoJbsaxc Qc9TUapptP69lOjxfNuVAA2kjEA=", want: "AAIBY2/AuCccgoJbsaxcQc9TUapptP69lOjxfNuVAA2kjEA="},
		"DHCID unpadded":   {typ: "DHCID", in: "AAIBY2/AuCccgoJbsaxcQc9TUapptP69lOjxfNuVAA2kjEA"},
		"DHCID not base64": {typ: "DHCID", in: "AAIB!!!!"},
		"DHCID too short":  {typ: "DHCID", in: "AAE="},
		"DHCID quoted":     {typ: "DHCID", in: `"AAIBY2/AuCccgoJbsaxcQc9TUapptP69lOjxfNuVAA2kjEA="`},
		"DHCID comment":    {typ: "DHCID", in: "AAIBY2/AuCccgoJbsaxcQc9TUapptP69lOjxfNuVAA2kjEA= ; x"},
		// TXT
		"TXT quoted":                  {typ: "TXT", in: `"hello world"`, want: `"hello world"`},
		"TXT unquoted words":          {typ: "TXT", in: `hello world`, want: `"hello" "world"`},
		"TXT several strings":         {typ: "TXT", in: `"a" "b"`, want: `"a" "b"`},
		"TXT empty string":            {typ: "TXT", in: `""`, want: `""`},
		"TXT escaped quote":           {typ: "TXT", in: `"say \"hi\""`, want: `"say \"hi\""`},
		"TXT escaped backslash":       {typ: "TXT", in: `"a\\b"`, want: `"a\\b"`},
		"TXT decimal escape printed":  {typ: "TXT", in: `"\097bc"`, want: `"abc"`},
		"TXT decimal escape kept":     {typ: "TXT", in: `"\255"`, want: `"\255"`},
		"TXT non-ascii escaped":       {typ: "TXT", in: `"héllo"`, want: `"h\195\169llo"`},
		"TXT semicolon inside quotes": {typ: "TXT", in: `"v=DKIM1; k=rsa; p=MIGf"`, want: `"v=DKIM1; k=rsa; p=MIGf"`},
		"TXT escaped semicolon":       {typ: "TXT", in: `a\;b`, want: `"a;b"`},
		"TXT spf":                     {typ: "TXT", in: `"v=spf1 -all"`, want: `"v=spf1 -all"`},
		"TXT unquoted semicolon":      {typ: "TXT", in: `"a"; comment`},
		"TXT unquoted bare semicolon": {typ: "TXT", in: `v=DKIM1; k=rsa`},
		"TXT unquoted paren":          {typ: "TXT", in: `( "a" )`},
		"TXT unquoted dollar":         {typ: "TXT", in: `$INCLUDE /etc/passwd`},
		"TXT dollar inside quotes":    {typ: "TXT", in: `"costs $5 (approx)"`, want: `"costs $5 (approx)"`},
		"TXT unterminated quote":      {typ: "TXT", in: `"abc`},
		"TXT trailing backslash":      {typ: "TXT", in: `"abc\`},
		"TXT newline":                 {typ: "TXT", in: "\"a\nb\""},
		"TXT tab":                     {typ: "TXT", in: "\"a\tb\""},
		"TXT nul":                     {typ: "TXT", in: "\"a\x00b\""},
		"TXT del":                     {typ: "TXT", in: "\"a\x7fb\""},
		"TXT escaped tab allowed":     {typ: "TXT", in: `"a\009b"`, want: `"a\009b"`},
		"TXT long quoted split":       {typ: "TXT", in: `"` + long + `"`, want: `"` + long[:255] + `" "` + long[255:] + `"`},
		"TXT long unquoted split":     {typ: "TXT", in: long, want: `"` + long[:255] + `" "` + long[255:] + `"`},
		"TXT exactly 255":             {typ: "TXT", in: `"` + long[:255] + `"`, want: `"` + long[:255] + `"`},
		"TXT split within max length": {typ: "TXT", in: `"` + strings.Repeat("y", 2000) + `"`, want: splitTXT(strings.Repeat("y", 2000))},
		"TXT split beyond max length": {typ: "TXT", in: `"` + strings.Repeat("y", MaxContentLen-2) + `"`},
		"TXT escapes beyond max":      {typ: "TXT", in: `"` + strings.Repeat("é", 500) + `"`},
		"TXT over max length":         {typ: "TXT", in: `"` + strings.Repeat("y", MaxContentLen-1) + `"`},
		"TXT html chars":              {typ: "TXT", in: `"<a&b>"`, want: `"<a&b>"`},
		// MX
		"MX plain":                  {typ: "MX", in: "10 mail.example.com.", want: "10 mail.example.com."},
		"MX lowercased absolute":    {typ: "MX", in: "10 MAIL.Example.com", want: "10 mail.example.com."},
		"MX extra spaces":           {typ: "MX", in: "  10   mail.example.com.  ", want: "10 mail.example.com."},
		"MX null":                   {typ: "MX", in: "0 .", want: "0 ."},
		"MX max preference":         {typ: "MX", in: "65535 mx.example.", want: "65535 mx.example."},
		"MX preference too big":     {typ: "MX", in: "65536 mx.example."},
		"MX negative preference":    {typ: "MX", in: "-1 mx.example."},
		"MX missing target":         {typ: "MX", in: "10"},
		"MX missing preference":     {typ: "MX", in: "mx.example."},
		"MX garbage after":          {typ: "MX", in: "10 mx.example. extra"},
		"MX comment":                {typ: "MX", in: "10 mx.example. ; comment"},
		"MX escaped target":         {typ: "MX", in: `10 \097bc.example.`},
		"MX wildcard target":        {typ: "MX", in: "10 *.example."},
		"MX empty label":            {typ: "MX", in: "10 a..example."},
		"MX non-ascii":              {typ: "MX", in: "10 bücher.example."},
		"MX underscore":             {typ: "MX", in: "10 _mx.example.", want: "10 _mx.example."},
		"MX decimal pref canonical": {typ: "MX", in: "010 mx.example.", want: "10 mx.example."},
		// SRV
		"SRV plain":             {typ: "SRV", in: "10 5 5060 sip.example.com.", want: "10 5 5060 sip.example.com."},
		"SRV lowercased":        {typ: "SRV", in: "10 5 5060 SIP.Example.COM", want: "10 5 5060 sip.example.com."},
		"SRV no service":        {typ: "SRV", in: "0 0 0 .", want: "0 0 0 ."},
		"SRV port too big":      {typ: "SRV", in: "10 5 65536 sip.example."},
		"SRV missing field":     {typ: "SRV", in: "10 5 sip.example."},
		"SRV escaped target":    {typ: "SRV", in: `10 5 5060 \083ip.example.`},
		"SRV garbage after":     {typ: "SRV", in: "10 5 5060 sip.example. x"},
		"SRV wildcard target":   {typ: "SRV", in: "10 5 5060 *.example."},
		"SRV target too long":   {typ: "SRV", in: "10 5 5060 " + strings.Repeat("a", 64) + ".example."},
		"SRV letters in number": {typ: "SRV", in: "a 5 5060 sip.example."},
		// CAA
		"CAA issue":           {typ: "CAA", in: `0 issue "letsencrypt.org"`, want: `0 issue "letsencrypt.org"`},
		"CAA unquoted value":  {typ: "CAA", in: `128 issue letsencrypt.org`, want: `128 issue "letsencrypt.org"`},
		"CAA iodef":           {typ: "CAA", in: `0 iodef "mailto:security@example.com"`, want: `0 iodef "mailto:security@example.com"`},
		"CAA empty value":     {typ: "CAA", in: `0 issue ";"`, want: `0 issue ";"`},
		"CAA flag too big":    {typ: "CAA", in: `256 issue "letsencrypt.org"`},
		"CAA missing value":   {typ: "CAA", in: `0 issue`},
		"CAA missing tag":     {typ: "CAA", in: `0`},
		"CAA unquoted semi":   {typ: "CAA", in: `0 issue letsencrypt.org; x`},
		"CAA non-ascii tag":   {typ: "CAA", in: "0 \xc7 0"},
		"CAA hyphen in tag":   {typ: "CAA", in: `0 iss-ue "x"`},
		"CAA tag of 15":       {typ: "CAA", in: `0 ` + strings.Repeat("t", 15) + ` "x"`, want: `0 ` + strings.Repeat("t", 15) + ` "x"`},
		"CAA tag of 16":       {typ: "CAA", in: `0 ` + strings.Repeat("t", 16) + ` "x"`},
		"CAA upper-case tag":  {typ: "CAA", in: `0 ISSUE "x"`, want: `0 ISSUE "x"`},
		"CAA non-ascii value": {typ: "CAA", in: "0 issue \xc7", want: `0 issue "\199"`},
		"CAA param in quotes": {typ: "CAA", in: `0 issue "ca.example; account=123"`, want: `0 issue "ca.example; account=123"`},
		// unsupported and special
		"unknown type":       {typ: "HINFO", in: `"cpu" "os"`},
		"lower case type":    {typ: "mx", in: "10 mx.example."},
		"empty type":         {typ: "", in: "x"},
		"MX control char":    {typ: "MX", in: "10 mx.example.\r"},
		"CAA control char":   {typ: "CAA", in: "0 issue \"a\x01\""},
		"A over max length":  {typ: "A", in: strings.Repeat("1", MaxContentLen+1)},
		"TXT only semicolon": {typ: "TXT", in: ";"},
		"TXT only spaces":    {typ: "TXT", in: "   "},
	}
	maps.Copy(cases, signedContentCases())
	return cases
}

// splitTXT quotes s in chunks of 255 bytes, as the parser splits long strings.
func splitTXT(s string) string {
	var parts []string
	for len(s) > 255 {
		parts = append(parts, `"`+s[:255]+`"`)
		s = s[255:]
	}
	parts = append(parts, `"`+s+`"`)
	return strings.Join(parts, " ")
}

func TestCanonicalContent(t *testing.T) {
	t.Parallel()
	for name, tc := range contentCases() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := CanonicalContent(tc.typ, tc.in)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("CanonicalContent(%s, %q) = %q, want an error", tc.typ, tc.in, got)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("CanonicalContent(%s, %q) error %v does not wrap ErrInvalid", tc.typ, tc.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("CanonicalContent(%s, %q): %v", tc.typ, tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("CanonicalContent(%s, %q) = %q, want %q", tc.typ, tc.in, got, tc.want)
			}
			// Idempotence: the canonical form is a fixed point.
			again, err := CanonicalContent(tc.typ, got)
			if err != nil {
				t.Fatalf("canonical form %q refused: %v", got, err)
			}
			if again != got {
				t.Fatalf("not idempotent: %q -> %q -> %q", tc.in, got, again)
			}
		})
	}
}

// TestCanonicalContentExpansion checks inputs whose canonical form is longer
// than the input: non-ASCII TXT bytes become \DDD escapes. Whatever is
// accepted must be accepted again in its canonical form.
func TestCanonicalContentExpansion(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"non-ascii at the bound":   `"` + strings.Repeat("é", (MaxContentLen-2)/2) + `"`,
		"non-ascii below bound":    `"` + strings.Repeat("é", 200) + `"`,
		"many short strings":       strings.Repeat(`"" `, MaxContentLen/3),
		"unquoted long non-ascii":  strings.Repeat("\xff", MaxContentLen),
		"escaped quotes unchanged": `"` + strings.Repeat(`\"`, (MaxContentLen-2)/2) + `"`,
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := CanonicalContent("TXT", in)
			if err != nil {
				return // refusing is fine
			}
			if len(got) > MaxContentLen {
				t.Fatalf("canonical form of %d bytes exceeds MaxContentLen %d", len(got), MaxContentLen)
			}
			again, err := CanonicalContent("TXT", got)
			if err != nil || again != got {
				t.Fatalf("canonical form not a fixed point: %v", err)
			}
		})
	}
}
