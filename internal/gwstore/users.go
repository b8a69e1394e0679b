package gwstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zonecast/zonecast/internal/account"
	"github.com/zonecast/zonecast/internal/retry"
)

// ErrExists is returned when creating an entry that is already there.
var ErrExists = errors.New("already exists")

// User returns the account named name and the revision of its entry.
func (s *Store) User(ctx context.Context, name string) (account.User, uint64, error) {
	if account.ValidName(name) != nil {
		return account.User{}, 0, fmt.Errorf("user %q: %w", name, ErrNotFound)
	}
	e, err := s.kv.Get(ctx, userEntry(name))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return account.User{}, 0, fmt.Errorf("user %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return account.User{}, 0, fmt.Errorf("reading user %s: %w", name, err)
	}
	var u account.User
	if err := json.Unmarshal(e.Value(), &u); err != nil {
		return account.User{}, 0, fmt.Errorf("decoding user %s: %w", name, err)
	}
	return u, e.Revision(), nil
}

// PutUser validates and stores u over revision rev of its entry, and
// returns the new revision. Rev 0 creates it (ErrExists if it is there);
// otherwise another write since rev, such as a failed login counted by
// another gateway, makes it fail with ErrConflict: read again, apply
// again.
func (s *Store) PutUser(ctx context.Context, u account.User, rev uint64) (uint64, error) {
	n, _, err := s.putUser(ctx, u, rev)
	return n, err
}

// putUser is PutUser, also returning the bytes stored.
func (s *Store) putUser(ctx context.Context, u account.User, rev uint64) (uint64, []byte, error) {
	u, err := u.Validate()
	if err != nil {
		return 0, nil, err
	}
	b, err := json.Marshal(u)
	if err != nil {
		return 0, nil, fmt.Errorf("encoding user %s: %w", u.Name, err)
	}
	var n uint64
	if rev == 0 {
		n, err = s.kv.Create(ctx, userEntry(u.Name), b)
		if errors.Is(err, jetstream.ErrKeyExists) {
			return 0, nil, fmt.Errorf("user %s: %w", u.Name, ErrExists)
		}
	} else {
		n, err = s.kv.Update(ctx, userEntry(u.Name), b, rev)
		if isWrongSequence(err) {
			return 0, nil, fmt.Errorf("storing user %s: %w", u.Name, ErrConflict)
		}
	}
	if err != nil {
		return 0, nil, fmt.Errorf("storing user %s: %w", u.Name, err)
	}
	return n, b, nil
}

// Users lists every account, by name.
func (s *Store) Users(ctx context.Context) ([]account.User, error) {
	var out []account.User
	err := s.list(ctx, "user.", func(b []byte) error {
		var u account.User
		if err := json.Unmarshal(b, &u); err != nil {
			return err
		}
		out = append(out, u)
		return nil
	})
	slices.SortFunc(out, func(a, b account.User) int { return strings.Compare(a.Name, b.Name) })
	return out, err
}

// DeleteUser removes an account and ends its sessions. It refuses while
// the account owns hosts: a later account of the same name would take
// them over.
func (s *Store) DeleteUser(ctx context.Context, name string) error {
	if _, _, err := s.User(ctx, name); err != nil {
		return err
	}
	hosts, err := s.OwnedHosts(ctx, name)
	if err != nil {
		return err
	}
	var owned []string
	for _, h := range hosts {
		owned = append(owned, h.Name)
	}
	if len(owned) > 0 {
		return invalidf("user %s owns %s: remove or hand over those hosts first", name, strings.Join(owned, ", "))
	}
	if err := s.del(ctx, userEntry(name)); err != nil {
		return err
	}
	return s.DeleteUserSessions(ctx, name)
}

// Session returns the session stored under id (account.SessionID of the
// cookie); ErrNotFound when there is none or it expired (an expired one
// is removed on the way).
func (s *Store) Session(ctx context.Context, id string) (account.Session, error) {
	if !account.ValidSessionID(id) {
		return account.Session{}, fmt.Errorf("session: %w", ErrNotFound)
	}
	var sess account.Session
	if err := s.get(ctx, sessionEntry(id), &sess); err != nil {
		return account.Session{}, err
	}
	if sess.ID != id || sess.Expired(time.Now()) {
		_ = s.kv.Delete(ctx, sessionEntry(id)) // its end is the answer either way
		return account.Session{}, fmt.Errorf("session: %w", ErrNotFound)
	}
	return sess, nil
}

// PutSession stores a session (new, or its Pending step done).
func (s *Store) PutSession(ctx context.Context, sess account.Session) error {
	_, _, err := s.putSession(ctx, sess)
	return err
}

// putSession is PutSession, also returning the bytes stored and their
// revision.
func (s *Store) putSession(ctx context.Context, sess account.Session) ([]byte, uint64, error) {
	if !account.ValidSessionID(sess.ID) {
		return nil, 0, invalidf("session id %q", sess.ID)
	}
	if account.ValidName(sess.User) != nil {
		return nil, 0, invalidf("session of user %q", sess.User)
	}
	b, err := json.Marshal(sess)
	if err != nil {
		return nil, 0, fmt.Errorf("encoding a session: %w", err)
	}
	rev, err := s.kv.Put(ctx, sessionEntry(sess.ID), b)
	if err != nil {
		return nil, 0, fmt.Errorf("storing a session: %w", err)
	}
	return b, rev, nil
}

// DeleteSession ends the session stored under id; one already gone is no
// error (a logout twice).
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	if !account.ValidSessionID(id) {
		return nil
	}
	if err := s.kv.Delete(ctx, sessionEntry(id)); err != nil {
		return fmt.Errorf("deleting a session: %w", err)
	}
	return nil
}

// DeleteUserSessions ends every session of user (a removed account, a
// new password).
func (s *Store) DeleteUserSessions(ctx context.Context, user string) error {
	return s.deleteSessions(ctx, func(sess account.Session) bool { return sess.User == user })
}

// ExpireSessions removes the sessions expired at now, which a browser
// never came back to end, and returns how many.
func (s *Store) ExpireSessions(ctx context.Context, now time.Time) (int, error) {
	n := 0
	err := s.deleteSessions(ctx, func(sess account.Session) bool {
		if sess.Expired(now) {
			n++
			return true
		}
		return false
	})
	return n, err
}

func (s *Store) deleteSessions(ctx context.Context, match func(account.Session) bool) error {
	var ids []string
	err := s.list(ctx, "session.", func(b []byte) error {
		var sess account.Session
		if err := json.Unmarshal(b, &sess); err != nil {
			return err
		}
		if match(sess) && account.ValidSessionID(sess.ID) {
			ids = append(ids, sess.ID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := s.DeleteSession(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// HistoryEntry is one change of a host's records.
type HistoryEntry struct {
	Time   time.Time `json:"time"`
	Remote string    `json:"remote,omitempty"` // the client's address
	Via    string    `json:"via"`              // dyndns, web, prefix or rfc2136
	// A and AAAA are the records the change set, nil for a family it
	// left alone, empty when it removed them.
	A    []string `json:"a"`
	AAAA []string `json:"aaaa"`
}

// HistoryLen is how many changes a host's history keeps.
const HistoryLen = 20

// History returns the last changes of host (canonical), newest first.
func (s *Store) History(ctx context.Context, host string) ([]HistoryEntry, error) {
	var h []HistoryEntry
	err := s.get(ctx, histEntry(host), &h)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return h, err
}

// histAttempts bounds the compare-and-set rounds of one AppendHistory:
// only the updates of one host race for its entry, a few at most.
const histAttempts = 8

// AppendHistory adds e to the history of host (canonical), keeping the
// last HistoryLen. Gateways appending at once each read again and retry.
func (s *Store) AppendHistory(ctx context.Context, host string, e HistoryEntry) error {
	entry := histEntry(host)
	// Writers that collided take turns rather than collide again at once.
	turns := retry.Backoff{Min: time.Millisecond, Max: 50 * time.Millisecond, Jitter: 1}
	for n := range histAttempts {
		if n > 0 && !retry.Sleep(ctx, turns.Delay(n-1)) {
			return fmt.Errorf("storing %s: %w", entry, ctx.Err())
		}
		var h []HistoryEntry
		var rev uint64
		got, err := s.kv.Get(ctx, entry)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return fmt.Errorf("reading %s: %w", entry, err)
		default:
			rev = got.Revision()
			if err := json.Unmarshal(got.Value(), &h); err != nil {
				h = nil // a broken history is started again, not kept broken
			}
		}
		h = append([]HistoryEntry{e}, h...)
		// Appends that raced land out of order: by time, newest first.
		slices.SortStableFunc(h, func(a, b HistoryEntry) int { return b.Time.Compare(a.Time) })
		if len(h) > HistoryLen {
			h = h[:HistoryLen]
		}
		b, err := json.Marshal(h)
		if err != nil {
			return fmt.Errorf("encoding %s: %w", entry, err)
		}
		if rev == 0 {
			_, err = s.kv.Create(ctx, entry, b)
		} else {
			_, err = s.kv.Update(ctx, entry, b, rev)
		}
		if errors.Is(err, jetstream.ErrKeyExists) || isWrongSequence(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("storing %s: %w", entry, err)
		}
		return nil
	}
	return fmt.Errorf("storing %s: %w", entry, ErrConflict)
}
