// Package account is the model of the web page's users: their records,
// argon2id password hashes, TOTP second factors, the lockout after failed
// logins and the sessions. It is pure: no I/O but crypto/rand; the records
// are stored by internal/gwstore.
package account

import (
	"encoding/base32"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/zonecast/zonecast/internal/rrset"
)

// ErrInvalid is wrapped by validation errors.
var ErrInvalid = errors.New("invalid")

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// DefaultQuota is the most hosts a user may own when the record says none.
const DefaultQuota = 5

// User is one account of the web page.
type User struct {
	Name         string    `json:"name"`
	PasswordHash string    `json:"password_hash"` // argon2id PHC string (HashPassword)
	Admin        bool      `json:"admin,omitempty"`
	Zones        []string  `json:"zones,omitempty"` // canonical zones the user may add hosts in
	Quota        int       `json:"quota"`           // most hosts the user may own
	TOTPSecret   string    `json:"totp_secret,omitempty"`
	FailedLogins int       `json:"failed_logins,omitempty"`
	LockedUntil  time.Time `json:"locked_until,omitempty"`
	Created      time.Time `json:"created"`
	// Sessions are the ids of the user's newest sessions, oldest first
	// (AddSession): a login beyond the page's bound ends the oldest.
	Sessions []string `json:"sessions,omitempty"`
}

// The name becomes a key-value key ("user.<name>"), where a dot may not
// end it nor follow another.
var nameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// ValidName checks an account name: lowercase letters, digits, '.', '_'
// and '-', starting with a letter or digit, at most 63 characters, no dot
// at the end or beside another.
func ValidName(name string) error {
	if !nameRe.MatchString(name) || strings.HasSuffix(name, ".") || strings.Contains(name, "..") {
		return invalidf("user name %q: want lowercase letters, digits, '.', '_' or '-', starting with a letter or digit, at most 63", name)
	}
	return nil
}

// Validate checks u and returns it canonical: the name lowercased, zones
// canonical, sorted and unique, the quota DefaultQuota when it is 0.
func (u User) Validate() (User, error) {
	u.Name = strings.ToLower(u.Name)
	if err := ValidName(u.Name); err != nil {
		return User{}, err
	}
	if _, err := parsePHC(u.PasswordHash); err != nil {
		return User{}, fmt.Errorf("user %s: password hash: %w", u.Name, err)
	}
	zones := make([]string, 0, len(u.Zones))
	for _, z := range u.Zones {
		c, err := rrset.CanonicalName(z)
		if err != nil || strings.Contains(c, "*") {
			return User{}, invalidf("user %s: zone %q", u.Name, z)
		}
		zones = append(zones, c)
	}
	slices.Sort(zones)
	u.Zones = slices.Compact(zones)
	if len(u.Zones) == 0 {
		u.Zones = nil
	}
	if u.Quota < 0 {
		return User{}, invalidf("user %s: negative quota", u.Name)
	}
	if u.Quota == 0 {
		u.Quota = DefaultQuota
	}
	if u.TOTPSecret != "" {
		if _, err := decodeSecret(u.TOTPSecret); err != nil {
			return User{}, fmt.Errorf("user %s: %w", u.Name, err)
		}
	}
	if u.FailedLogins < 0 {
		return User{}, invalidf("user %s: negative failed logins", u.Name)
	}
	for _, id := range u.Sessions {
		if !ValidSessionID(id) {
			return User{}, invalidf("user %s: session id %q", u.Name, id)
		}
	}
	return u, nil
}

// MayUse reports whether the user may add hosts in zone (canonical).
func (u User) MayUse(zone string) bool { return slices.Contains(u.Zones, zone) }

// Lockout: from the lockoutAfter-th failed login in a row, each failure
// locks the account for lockoutBase, doubled per further failure, at most
// lockoutMax. The count lives in the user record, so every gateway of a
// fleet locks alike.
const (
	lockoutAfter = 5
	lockoutBase  = 30 * time.Second
	lockoutMax   = time.Hour
)

// Locked reports whether the account is locked at now, and for how long
// still.
func (u User) Locked(now time.Time) (bool, time.Duration) {
	if now.Before(u.LockedUntil) {
		return true, u.LockedUntil.Sub(now)
	}
	return false, 0
}

// Failed returns u after a failed login at now.
func (u User) Failed(now time.Time) User {
	u.FailedLogins++
	if n := u.FailedLogins - lockoutAfter; n >= 0 {
		d := lockoutMax
		if n < 20 { // beyond, the shift would overflow; long past the cap anyway
			d = min(lockoutBase<<n, lockoutMax)
		}
		u.LockedUntil = now.Add(d).UTC()
	}
	return u
}

// Succeeded returns u after a successful login: no failures, no lock.
func (u User) Succeeded() User {
	u.FailedLogins = 0
	u.LockedUntil = time.Time{}
	return u
}

// b32 is the TOTP secrets' encoding (RFC 4648 base32 without padding, as
// authenticator apps take it).
var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)
