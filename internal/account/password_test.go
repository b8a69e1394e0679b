package account

import (
	"strings"
	"testing"
)

func TestPasswordRoundTrip(t *testing.T) {
	t.Parallel()
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q", h)
	}
	if !CheckPassword(h, "correct horse battery") {
		t.Fatal("right password refused")
	}
	for _, bad := range []string{"", "correct horse batter", "Correct horse battery", "correct horse battery "} {
		if CheckPassword(h, bad) {
			t.Errorf("password %q accepted", bad)
		}
	}
	if h2, _ := HashPassword("correct horse battery"); h2 == h {
		t.Error("two hashes of one password alike: no salt")
	}
}

func TestHashPasswordLength(t *testing.T) {
	t.Parallel()
	for _, pw := range []string{"", "short", strings.Repeat("x", MaxPasswordLen+1)} {
		if _, err := HashPassword(pw); err == nil {
			t.Errorf("password of %d characters hashed", len(pw))
		}
	}
}

// A malformed or out-of-bounds stored hash refuses every password and
// never panics.
func TestCheckPasswordMalformed(t *testing.T) {
	t.Parallel()
	good, _ := HashPassword("password1")
	parts := strings.Split(good, "$")
	salt, sum := parts[4], parts[5]
	cases := map[string]string{
		"empty":          "",
		"bcrypt":         "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"argon2i":        "$argon2i$v=19$m=19456,t=2,p=1$" + salt + "$" + sum,
		"version 16":     "$argon2id$v=16$m=19456,t=2,p=1$" + salt + "$" + sum,
		"params order":   "$argon2id$v=19$t=2,m=19456,p=1$" + salt + "$" + sum,
		"no params":      "$argon2id$v=19$$" + salt + "$" + sum,
		"huge memory":    "$argon2id$v=19$m=4294967295,t=2,p=1$" + salt + "$" + sum,
		"many passes":    "$argon2id$v=19$m=19456,t=1000,p=1$" + salt + "$" + sum,
		"zero passes":    "$argon2id$v=19$m=19456,t=0,p=1$" + salt + "$" + sum,
		"zero threads":   "$argon2id$v=19$m=19456,t=2,p=0$" + salt + "$" + sum,
		"many threads":   "$argon2id$v=19$m=19456,t=2,p=255$" + salt + "$" + sum,
		"negative":       "$argon2id$v=19$m=-1,t=2,p=1$" + salt + "$" + sum,
		"bad salt":       "$argon2id$v=19$m=19456,t=2,p=1$!!$" + sum,
		"short salt":     "$argon2id$v=19$m=19456,t=2,p=1$YWJj$" + sum,
		"short hash":     "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$YWJj",
		"padded hash":    "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + sum + "=",
		"extra field":    good + "$x",
		"missing dollar": strings.TrimPrefix(good, "$"),
	}
	for name, h := range cases {
		if CheckPassword(h, "password1") {
			t.Errorf("%s: accepted", name)
		}
		if (User{Name: "u", PasswordHash: h}).validHash() {
			t.Errorf("%s: a user with it validates", name)
		}
	}
	if !CheckPassword(good, "password1") {
		t.Fatal("the unaltered hash refused")
	}
}

func (u User) validHash() bool { _, err := u.Validate(); return err == nil }
