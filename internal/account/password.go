package account

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// The argon2id parameters of new hashes: OWASP's minimum for argon2id
// (19 MiB, two passes, one lane). CheckPassword reads them from each hash,
// so they can grow without invalidating the stored ones.
const (
	argonMemory  = 19456 // KiB
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// Password lengths accepted by HashPassword. The upper bound keeps a
// login form from making the gateway hash megabytes.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 1024
)

// phc is a decoded "$argon2id$v=19$m=...,t=...,p=...$salt$hash" string.
type phc struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	hash    []byte
}

// HashPassword returns the argon2id hash of pw as a PHC string, with a
// random salt.
func HashPassword(pw string) (string, error) {
	if len(pw) < MinPasswordLen || len(pw) > MaxPasswordLen {
		return "", invalidf("a password needs %d to %d characters", MinPasswordLen, MaxPasswordLen)
	}
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("generating a salt: %w", err)
	}
	h := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return encodePHC(phc{memory: argonMemory, time: argonTime, threads: argonThreads, salt: salt, hash: h}), nil
}

func encodePHC(p phc) string {
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.memory, p.time, p.threads,
		enc.EncodeToString(p.salt), enc.EncodeToString(p.hash))
}

// CheckPassword reports whether pw matches the PHC string; false also
// when the string is malformed or its parameters out of bounds.
func CheckPassword(hash, pw string) bool {
	p, err := parsePHC(hash)
	if err != nil || len(pw) > MaxPasswordLen {
		return false
	}
	got := argon2.IDKey([]byte(pw), p.salt, p.time, p.memory, p.threads, uint32(len(p.hash)))
	return subtle.ConstantTimeCompare(got, p.hash) == 1
}

// Bounds on the parameters read from a stored hash: an entry written by
// hand must not make a login cost gigabytes or minutes.
const (
	maxMemory  = 1 << 18 // KiB
	maxTime    = 16
	maxThreads = 16
)

func parsePHC(s string) (phc, error) {
	bad := func(why string) (phc, error) { return phc{}, invalidf("not an argon2id hash: %s", why) }
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return bad("want $argon2id$v=..$m=..,t=..,p=..$salt$hash")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return bad("version " + parts[2])
	}
	var p phc
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return bad("parameters " + parts[3])
	}
	for i, want := range []string{"m", "t", "p"} {
		k, v, ok := strings.Cut(params[i], "=")
		if !ok || k != want {
			return bad("parameters " + parts[3])
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return bad("parameters " + parts[3])
		}
		switch k {
		case "m":
			p.memory = uint32(n)
		case "t":
			p.time = uint32(n)
		case "p":
			if n > maxThreads {
				return bad("parameters " + parts[3])
			}
			p.threads = uint8(n)
		}
	}
	if p.memory < 8*uint32(p.threads) || p.memory > maxMemory || p.time < 1 || p.time > maxTime || p.threads < 1 {
		return bad("parameters " + parts[3])
	}
	var err error
	if p.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(p.salt) < 8 {
		return bad("salt")
	}
	if p.hash, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(p.hash) < 16 || len(p.hash) > 64 {
		return bad("hash")
	}
	return p, nil
}
