package account

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"
)

// Session is one login. It is stored under ID, the hash of the cookie:
// whoever reads the store cannot take over a session with what it holds.
type Session struct {
	ID      string    `json:"id"` // SessionID of the cookie value
	User    string    `json:"user"`
	CSRF    string    `json:"csrf"`              // random, per session
	Pending bool      `json:"pending,omitempty"` // password ok, TOTP code still due
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

// Expired reports whether the session is over at now.
func (s Session) Expired(now time.Time) bool { return !now.Before(s.Expires) }

// NewSession returns a new session of user from now for ttl, and the
// cookie value that names it (256 random bits, given to the browser only).
func NewSession(user string, now time.Time, ttl time.Duration) (string, Session, error) {
	cookie, err := random32()
	if err != nil {
		return "", Session{}, fmt.Errorf("generating a session: %w", err)
	}
	csrf, err := random32()
	if err != nil {
		return "", Session{}, fmt.Errorf("generating a CSRF token: %w", err)
	}
	now = now.UTC()
	return cookie, Session{ID: SessionID(cookie), User: user, CSRF: csrf, Created: now, Expires: now.Add(ttl)}, nil
}

// SessionID returns the id a session is stored under: the hex SHA-256 of
// its cookie value. The cookie is random, so a fast hash suffices.
func SessionID(cookie string) string {
	h := sha256.Sum256([]byte(cookie))
	return hex.EncodeToString(h[:])
}

// ValidSessionID reports whether id has the form SessionID returns.
func ValidSessionID(id string) bool {
	if len(id) != 2*sha256.Size {
		return false
	}
	for _, c := range []byte(id) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func random32() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// AddSession returns u with the session id as its newest, replaced (the
// session this login takes the place of; "" none) taken out, and at most
// keep (at least 1) kept: the ids it drops, oldest first, are the sessions
// to end.
func (u User) AddSession(id, replaced string, keep int) (User, []string) {
	ids := make([]string, 0, len(u.Sessions)+1)
	for _, s := range u.Sessions {
		if s != replaced && s != id {
			ids = append(ids, s)
		}
	}
	ids = append(ids, id)
	var ended []string
	if n := len(ids) - max(keep, 1); n > 0 {
		ended, ids = ids[:n:n], ids[n:]
	}
	u.Sessions = ids
	return u, ended
}
