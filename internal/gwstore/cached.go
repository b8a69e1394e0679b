package gwstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/zonecast/zonecast/internal/account"
)

// entries keeps the web page's users and sessions as the bucket holds
// them, by bucket key, each with the revision that wrote it: what the
// watch delivers (Cache.Watch) and what this process wrote itself
// (CachedStore), whichever is newer.
type entries struct {
	mu sync.RWMutex
	m  map[string]entry
	// swept is when tombstones were last thrown away.
	swept time.Time
}

// entry is one key's last known value; nil: deleted.
type entry struct {
	value []byte
	rev   uint64
	// pinned: deleted by this process, the watch's delete not seen yet.
	// Until it is, a write the watch still delivers from before is
	// ignored: a deleted session stays deleted.
	pinned bool
	at     time.Time // when a tombstone was made
}

// tombstoneAge is how long a deletion is remembered once the watch
// delivered it: longer than a write of this process can take between the
// bucket's answer and the note of it here, so that such a write, older
// than the deletion, is not taken for the current value.
const tombstoneAge = time.Minute

// watched applies an entry the watch delivered (value nil: deleted) at
// rev, unless a newer one is known.
func (c *entries) watched(key string, value []byte, rev uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]entry{}
	}
	old, ok := c.m[key]
	switch {
	case ok && old.pinned && value != nil:
		return // written before this process deleted it
	case ok && !old.pinned && rev <= old.rev:
		return
	}
	c.m[key] = entry{value: value, rev: rev, at: now}
	if now.Sub(c.swept) > tombstoneAge {
		c.swept = now
		for k, e := range c.m {
			if e.value == nil && !e.pinned && now.Sub(e.at) > tombstoneAge {
				delete(c.m, k)
			}
		}
	}
}

// wrote notes a write of this process, stored at rev.
func (c *entries) wrote(key string, value []byte, rev uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]entry{}
	}
	if old, ok := c.m[key]; ok && (old.pinned || rev <= old.rev) {
		return
	}
	c.m[key] = entry{value: value, rev: rev}
}

// deleted notes a deletion by this process.
func (c *entries) deleted(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]entry{}
	}
	c.m[key] = entry{rev: c.m[key].rev, pinned: true}
}

// get returns the value of key and its revision; known is false when the
// key is not known (a miss: ask the bucket), value nil when it is deleted.
func (c *entries) get(key string) (value []byte, rev uint64, known bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.m[key]
	return e.value, e.rev, ok
}

// values calls fn with every known value under prefix.
func (c *entries) values(prefix string, fn func(key string, value []byte)) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for k, e := range c.m {
		if e.value != nil && strings.HasPrefix(k, prefix) {
			fn(k, e.value)
		}
	}
}

// CachedStore is the Store of the web page: its reads of users and
// sessions, one of each on every request, come from Cache, which Watch
// keeps current, instead of a round trip to JetStream each. What this
// process writes is noted in the cache at once, so that the next request
// reads it (a login, then the page it redirects to); what another gateway
// writes arrives with the watch, a few milliseconds later: a session
// ended there ends here that much later. An entry the cache does not know
// yet is read from the bucket. Everything else is the Store's.
type CachedStore struct {
	*Store
	Cache *Cache
}

// Session returns the session stored under id, as Store.Session.
func (s CachedStore) Session(ctx context.Context, id string) (account.Session, error) {
	if !account.ValidSessionID(id) {
		return account.Session{}, fmt.Errorf("session: %w", ErrNotFound)
	}
	b, _, known := s.Cache.accounts.get(sessionEntry(id))
	if !known {
		return s.Store.Session(ctx, id)
	}
	var sess account.Session
	if b == nil || json.Unmarshal(b, &sess) != nil || sess.ID != id || sess.Expired(time.Now()) {
		return account.Session{}, fmt.Errorf("session: %w", ErrNotFound)
	}
	return sess, nil
}

// PutSession stores a session, as Store.PutSession.
func (s CachedStore) PutSession(ctx context.Context, sess account.Session) error {
	b, rev, err := s.Store.putSession(ctx, sess)
	if err == nil {
		s.Cache.accounts.wrote(sessionEntry(sess.ID), b, rev)
	}
	return err
}

// DeleteSession ends the session stored under id, as
// Store.DeleteSession.
func (s CachedStore) DeleteSession(ctx context.Context, id string) error {
	if err := s.Store.DeleteSession(ctx, id); err != nil {
		return err
	}
	if account.ValidSessionID(id) {
		s.Cache.accounts.deleted(sessionEntry(id))
	}
	return nil
}

// DeleteUserSessions ends every session of user, as
// Store.DeleteUserSessions; those the cache knows end here at once.
func (s CachedStore) DeleteUserSessions(ctx context.Context, user string) error {
	err := s.Store.DeleteUserSessions(ctx, user)
	s.forgetSessions(user)
	return err
}

// forgetSessions notes the deletion of every session of user the cache
// knows.
func (s CachedStore) forgetSessions(user string) {
	var keys []string
	s.Cache.accounts.values("session.", func(k string, b []byte) {
		var sess account.Session
		if json.Unmarshal(b, &sess) == nil && sess.User == user {
			keys = append(keys, k)
		}
	})
	for _, k := range keys {
		s.Cache.accounts.deleted(k)
	}
}

// User returns the account named name and its revision, as Store.User.
func (s CachedStore) User(ctx context.Context, name string) (account.User, uint64, error) {
	if account.ValidName(name) != nil {
		return account.User{}, 0, fmt.Errorf("user %q: %w", name, ErrNotFound)
	}
	b, rev, known := s.Cache.accounts.get(userEntry(name))
	if !known {
		return s.Store.User(ctx, name)
	}
	if b == nil {
		return account.User{}, 0, fmt.Errorf("user %s: %w", name, ErrNotFound)
	}
	// Decoded anew for each caller: a User holds slices, which no two
	// callers may share.
	var u account.User
	if err := json.Unmarshal(b, &u); err != nil {
		return account.User{}, 0, fmt.Errorf("decoding user %s: %w", name, err)
	}
	return u, rev, nil
}

// PutUser stores u over revision rev, as Store.PutUser. On ErrConflict
// the cache had an old revision: it reads the current one from the
// bucket, for the caller's next read.
func (s CachedStore) PutUser(ctx context.Context, u account.User, rev uint64) (uint64, error) {
	n, b, err := s.Store.putUser(ctx, u, rev)
	switch {
	case err == nil:
		s.Cache.accounts.wrote(userEntry(u.Name), b, n)
	case errors.Is(err, ErrConflict):
		if e, gerr := s.kv.Get(ctx, userEntry(u.Name)); gerr == nil {
			s.Cache.accounts.wrote(userEntry(u.Name), e.Value(), e.Revision())
		}
	}
	return n, err
}

// DeleteUser removes an account and ends its sessions, as
// Store.DeleteUser.
func (s CachedStore) DeleteUser(ctx context.Context, name string) error {
	if err := s.Store.DeleteUser(ctx, name); err != nil {
		return err
	}
	s.Cache.accounts.deleted(userEntry(name))
	s.forgetSessions(name)
	return nil
}
