package account

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestAddSession(t *testing.T) {
	t.Parallel()
	id := func(c byte) string { return strings.Repeat(string(c), 64) }
	a, b, c, d := id('a'), id('b'), id('c'), id('d')
	cases := map[string]struct {
		have           []string
		add, replaced  string
		keep           int
		want, wantEnds []string
	}{
		"first":                {nil, a, "", 3, []string{a}, nil},
		"appended newest last": {[]string{a, b}, c, "", 3, []string{a, b, c}, nil},
		"oldest ended":         {[]string{a, b, c}, d, "", 3, []string{b, c, d}, []string{a}},
		"several ended":        {[]string{a, b, c}, d, "", 1, []string{d}, []string{a, b, c}},
		"replaced taken out":   {[]string{a, b, c}, d, b, 3, []string{a, c, d}, nil},
		"replaced of another":  {[]string{a, b}, c, d, 2, []string{b, c}, []string{a}},
		"the same id once":     {[]string{a, b}, b, "", 3, []string{a, b}, nil},
		"keep below 1 keeps 1": {[]string{a}, b, "", 0, []string{b}, []string{a}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			u := User{Name: "u", Sessions: slices.Clone(tc.have)}
			before := slices.Clone(u.Sessions)
			got, ended := u.AddSession(tc.add, tc.replaced, tc.keep)
			if !slices.Equal(got.Sessions, tc.want) || !slices.Equal(ended, tc.wantEnds) {
				t.Fatalf("sessions %v, ended %v; want %v, %v", got.Sessions, ended, tc.want, tc.wantEnds)
			}
			if !slices.Equal(u.Sessions, before) {
				t.Fatalf("the receiver changed: %v", u.Sessions)
			}
		})
	}
}

func TestValidateSessions(t *testing.T) {
	t.Parallel()
	hash, err := HashPassword("password1")
	if err != nil {
		t.Fatal(err)
	}
	_, s, err := NewSession("u", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (User{Name: "u", PasswordHash: hash, Sessions: []string{s.ID}}).Validate(); err != nil {
		t.Fatalf("a session id refused: %v", err)
	}
	if _, err := (User{Name: "u", PasswordHash: hash, Sessions: []string{"session.x"}}).Validate(); err == nil {
		t.Fatal("a malformed session id accepted")
	}
}
