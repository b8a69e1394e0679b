package account

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestUserValidate(t *testing.T) {
	t.Parallel()
	hash, err := HashPassword("password1")
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		u     User
		ok    bool
		check func(User) bool
	}{
		"defaults": {User{Name: "Alice", PasswordHash: hash, Zones: []string{"Dyn.Example.test", "dyn.example.test.", "a.test"}}, true,
			func(u User) bool {
				return u.Name == "alice" && u.Quota == DefaultQuota && slices.Equal(u.Zones, []string{"a.test.", "dyn.example.test."})
			}},
		"quota kept":      {User{Name: "bob", PasswordHash: hash, Quota: 12}, true, func(u User) bool { return u.Quota == 12 && u.Zones == nil }},
		"dots and dashes": {User{Name: "a.b_c-d", PasswordHash: hash}, true, nil},
		"totp":            {User{Name: "t", PasswordHash: hash, TOTPSecret: rfcSecret}, true, nil},
		"empty name":      {User{PasswordHash: hash}, false, nil},
		"leading dash":    {User{Name: "-a", PasswordHash: hash}, false, nil},
		"trailing dot":    {User{Name: "a.", PasswordHash: hash}, false, nil},
		"double dot":      {User{Name: "a..b", PasswordHash: hash}, false, nil},
		"html":            {User{Name: "<b>", PasswordHash: hash}, false, nil},
		"long name":       {User{Name: strings.Repeat("a", 64), PasswordHash: hash}, false, nil},
		"63 characters":   {User{Name: strings.Repeat("a", 63), PasswordHash: hash}, true, nil},
		"no hash":         {User{Name: "a"}, false, nil},
		"plain password":  {User{Name: "a", PasswordHash: "password1"}, false, nil},
		"negative quota":  {User{Name: "a", PasswordHash: hash, Quota: -1}, false, nil},
		"bad zone":        {User{Name: "a", PasswordHash: hash, Zones: []string{"a..b"}}, false, nil},
		"wildcard zone":   {User{Name: "a", PasswordHash: hash, Zones: []string{"*.a.test"}}, false, nil},
		"bad totp":        {User{Name: "a", PasswordHash: hash, TOTPSecret: "1234"}, false, nil},
	}
	for name, c := range cases {
		u, err := c.u.Validate()
		if (err == nil) != c.ok {
			t.Errorf("%s: err %v", name, err)
			continue
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v is not ErrInvalid", name, err)
		}
		if err == nil && c.check != nil && !c.check(u) {
			t.Errorf("%s: %+v", name, u)
		}
	}
}

// TestLockout: four failures lock nothing; from the fifth the lock lasts
// 30 s, doubling per failure up to an hour; a success clears it.
func TestLockout(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	u := User{Name: "a"}
	want := []time.Duration{0, 0, 0, 0, 30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute,
		8 * time.Minute, 16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour}
	for i, w := range want {
		u = u.Failed(now)
		if u.FailedLogins != i+1 {
			t.Fatalf("failure %d counted as %d", i+1, u.FailedLogins)
		}
		locked, left := u.Locked(now)
		if locked != (w > 0) || left != w {
			t.Fatalf("after failure %d: locked %v for %v, want %v", i+1, locked, left, w)
		}
		if w > 0 {
			if l, _ := u.Locked(now.Add(w - time.Nanosecond)); !l {
				t.Fatalf("failure %d: unlocked before %v", i+1, w)
			}
			if l, _ := u.Locked(now.Add(w)); l {
				t.Fatalf("failure %d: still locked after %v", i+1, w)
			}
		}
	}
	for range 100 { // no overflow however many
		u = u.Failed(now)
	}
	if _, left := u.Locked(now); left != time.Hour {
		t.Fatalf("after %d failures locked for %v", u.FailedLogins, left)
	}
	u = u.Succeeded()
	if locked, _ := u.Locked(now); locked || u.FailedLogins != 0 || !u.LockedUntil.IsZero() {
		t.Fatalf("after a success %+v", u)
	}
}

func TestSession(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.FixedZone("x", 3600))
	cookie, s, err := NewSession("alice", now, 12*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// The known SHA-256 of "abc".
	if got := SessionID("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("SessionID(abc) = %s", got)
	}
	if s.ID != SessionID(cookie) || s.ID == cookie || !ValidSessionID(s.ID) {
		t.Fatalf("session id %q of cookie %q", s.ID, cookie)
	}
	if len(cookie) < 43 || len(s.CSRF) < 43 || s.CSRF == cookie {
		t.Fatalf("cookie %q csrf %q", cookie, s.CSRF)
	}
	if s.User != "alice" || s.Pending || !s.Created.Equal(now) || s.Created.Location() != time.UTC || !s.Expires.Equal(now.Add(12*time.Hour)) {
		t.Fatalf("session %+v", s)
	}
	if s.Expired(now.Add(12*time.Hour-time.Second)) || !s.Expired(now.Add(12*time.Hour)) {
		t.Fatal("expiry")
	}
	c2, s2, _ := NewSession("alice", now, time.Hour)
	if c2 == cookie || s2.ID == s.ID || s2.CSRF == s.CSRF {
		t.Fatal("two sessions alike")
	}
	for _, id := range []string{"", "abc", s.ID + "0", "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD", "../../../../../../../../../../../../../../../../../../../../../x"} {
		if ValidSessionID(id) {
			t.Errorf("id %q valid", id)
		}
	}
}
