package account

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// TOTP parameters (RFC 6238 defaults, the ones every authenticator app
// takes without asking).
const (
	totpStep   = 30 * time.Second
	totpDigits = 6
)

// NewTOTPSecret returns a random TOTP secret: 20 bytes (the size of a
// SHA-1 key, RFC 4226's recommendation), base32 without padding.
func NewTOTPSecret() (string, error) {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating a TOTP secret: %w", err)
	}
	return b32.EncodeToString(b), nil
}

// decodeSecret reads a base32 secret, as apps show it too: any case,
// spaces, padding or not.
func decodeSecret(s string) ([]byte, error) {
	s = strings.TrimRight(strings.ToUpper(strings.ReplaceAll(s, " ", "")), "=")
	b, err := b32.DecodeString(s)
	if err != nil || len(b) < 10 {
		return nil, invalidf("TOTP secret: want base32 of at least 10 bytes")
	}
	return b, nil
}

// TOTP returns the code of secret at t (RFC 6238: HMAC-SHA1, 30 s steps,
// 6 digits).
func TOTP(secret string, t time.Time) (string, error) {
	key, err := decodeSecret(secret)
	if err != nil {
		return "", err
	}
	return hotp(key, counter(t), totpDigits), nil
}

func counter(t time.Time) uint64 { return uint64(t.Unix()) / uint64(totpStep/time.Second) }

// hotp is RFC 4226's HOTP with dynamic truncation.
func hotp(key []byte, c uint64, digits int) string {
	m := hmac.New(sha1.New, key)
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], c)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, v%mod)
}

// CheckTOTP reports whether code is secret's code at now, or at the step
// before or after (clocks drift, and typing takes time).
func CheckTOTP(secret, code string, now time.Time) bool {
	key, err := decodeSecret(secret)
	code = strings.TrimSpace(code)
	if err != nil || len(code) != totpDigits {
		return false
	}
	c := counter(now)
	ok := 0
	for _, step := range []uint64{c - 1, c, c + 1} {
		ok |= subtle.ConstantTimeCompare([]byte(hotp(key, step, totpDigits)), []byte(code))
	}
	return ok == 1
}

// TOTPURI returns the otpauth:// URI of secret for user, as authenticator
// apps read it from a QR code or a paste (Google Authenticator's Key URI
// format).
func TOTPURI(issuer, user, secret string) string {
	label := url.PathEscape(issuer) + ":" + url.PathEscape(user)
	q := url.Values{}
	q.Set("secret", secret)
	q.Set("issuer", issuer)
	q.Set("algorithm", "SHA1")
	q.Set("digits", fmt.Sprint(totpDigits))
	q.Set("period", fmt.Sprint(int(totpStep/time.Second)))
	return "otpauth://totp/" + label + "?" + q.Encode()
}
