package account

import (
	"strings"
	"testing"
	"time"
)

// rfcSecret is RFC 6238's SHA-1 test key, "12345678901234567890", base32.
const rfcSecret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

// The SHA-1 test vectors of RFC 6238 appendix B: eight digits there, the
// last six of them from TOTP.
var rfcVectors = []struct {
	unix  int64
	eight string
}{
	{59, "94287082"},
	{1111111109, "07081804"},
	{1111111111, "14050471"},
	{1234567890, "89005924"},
	{2000000000, "69279037"},
	{20000000000, "65353130"},
}

func TestTOTPVectors(t *testing.T) {
	t.Parallel()
	key := []byte("12345678901234567890")
	for _, v := range rfcVectors {
		at := time.Unix(v.unix, 0)
		if got := hotp(key, counter(at), 8); got != v.eight {
			t.Errorf("at %d: %s, want %s", v.unix, got, v.eight)
		}
		got, err := TOTP(rfcSecret, at)
		if err != nil || got != v.eight[2:] {
			t.Errorf("TOTP at %d: %q %v, want %s", v.unix, got, err, v.eight[2:])
		}
		// The secret as apps may show it: lowercase, grouped, padded.
		if got, _ := TOTP(strings.ToLower("GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ===="), at); got != v.eight[2:] {
			t.Errorf("spaced secret at %d: %q", v.unix, got)
		}
	}
}

func TestCheckTOTP(t *testing.T) {
	t.Parallel()
	now := time.Unix(1111111111, 0)
	code, _ := TOTP(rfcSecret, now)
	prev, _ := TOTP(rfcSecret, now.Add(-30*time.Second))
	next, _ := TOTP(rfcSecret, now.Add(30*time.Second))
	old, _ := TOTP(rfcSecret, now.Add(-60*time.Second))
	cases := map[string]struct {
		secret, code string
		ok           bool
	}{
		"current":       {rfcSecret, code, true},
		"spaces around": {rfcSecret, " " + code + " ", true},
		"step before":   {rfcSecret, prev, true},
		"step after":    {rfcSecret, next, true},
		"two before":    {rfcSecret, old, old == code || old == prev || old == next},
		"empty":         {rfcSecret, "", false},
		"eight digits":  {rfcSecret, "14050471", false},
		"letters":       {rfcSecret, "abcdef", false},
		"bad secret":    {"not base32!", code, false},
		"empty secret":  {"", code, false},
	}
	for name, c := range cases {
		if got := CheckTOTP(c.secret, c.code, now); got != c.ok {
			t.Errorf("%s: %v, want %v", name, got, c.ok)
		}
	}
}

func TestNewTOTPSecret(t *testing.T) {
	t.Parallel()
	s, err := NewTOTPSecret()
	if err != nil {
		t.Fatal(err)
	}
	key, err := decodeSecret(s)
	if err != nil || len(key) != 20 || len(s) != 32 || strings.Contains(s, "=") {
		t.Fatalf("secret %q: %d bytes, %v", s, len(key), err)
	}
	if s2, _ := NewTOTPSecret(); s2 == s {
		t.Fatal("two secrets alike")
	}
	now := time.Now()
	code, err := TOTP(s, now)
	if err != nil || !CheckTOTP(s, code, now) {
		t.Fatalf("own code %q refused (%v)", code, err)
	}
}

func TestTOTPURI(t *testing.T) {
	t.Parallel()
	got := TOTPURI("zonecast dyn", "alice", rfcSecret)
	want := "otpauth://totp/zonecast%20dyn:alice?algorithm=SHA1&digits=6&issuer=zonecast+dyn&period=30&secret=" + rfcSecret
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}
