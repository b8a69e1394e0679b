package gwstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/account"
)

// TestEntriesOrder: the newest revision wins, whether the watch or this
// process brings it; a deletion of this process holds against the older
// writes the watch still delivers; tombstones go after a while.
func TestEntriesOrder(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	var c entries
	get := func(k string) string {
		b, _, known := c.get(k)
		switch {
		case !known:
			return "unknown"
		case b == nil:
			return "deleted"
		}
		return string(b)
	}
	for _, step := range []struct {
		do   func()
		key  string
		want string
	}{
		{func() { c.wrote("a", []byte("v10"), 10) }, "a", "v10"},
		{func() { c.watched("a", []byte("v9"), 9, t0) }, "a", "v10"}, // older, from the watch
		{func() { c.watched("a", []byte("v11"), 11, t0) }, "a", "v11"},
		{func() { c.wrote("a", []byte("v10"), 10) }, "a", "v11"}, // a late note of an older write
		{func() { c.watched("a", nil, 12, t0) }, "a", "deleted"},
		{func() { c.wrote("a", []byte("v11"), 11) }, "a", "deleted"},
		{func() { c.watched("a", []byte("v13"), 13, t0) }, "a", "v13"}, // made again
		{func() { c.deleted("a") }, "a", "deleted"},
		{func() { c.watched("a", []byte("v14"), 14, t0) }, "a", "deleted"}, // from before the deletion
		{func() { c.watched("a", nil, 15, t0) }, "a", "deleted"},
		{func() { c.watched("a", []byte("v16"), 16, t0) }, "a", "v16"},
		{func() { c.watched("b", nil, 17, t0) }, "b", "deleted"},
		{func() { c.watched("c", nil, 18, t0.Add(2*tombstoneAge)) }, "b", "unknown"}, // swept
		{func() {}, "a", "v16"},
	} {
		step.do()
		if got := get(step.key); got != step.want {
			t.Fatalf("%s: %s, want %s", step.key, got, step.want)
		}
	}
}

// TestCachedStore: sessions and users read from the cache; this
// process's writes at once, another gateway's with the watch; a conflict
// reads the current record for the next attempt.
func TestCachedStore(t *testing.T) {
	t.Parallel()
	st, ctx := openStore(t)
	c := NewCache()
	ready := make(chan struct{})
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	go func() { _ = st.Watch(wctx, c, func() { close(ready) }, zerolog.Nop()) }()
	<-ready
	cs := CachedStore{Store: st, Cache: c}
	hash, _ := account.HashPassword("password1")

	// This process: at once.
	if _, err := cs.PutUser(ctx, account.User{Name: "alice", PasswordHash: hash}, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, known := c.accounts.get(userEntry("alice")); !known {
		t.Fatal("a user written is not cached")
	}
	_, sess, _ := account.NewSession("alice", time.Now(), time.Hour)
	if err := cs.PutSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if got, err := cs.Session(ctx, sess.ID); err != nil || got.CSRF != sess.CSRF {
		t.Fatalf("the session just written: %+v %v", got, err)
	}
	if err := cs.DeleteSession(ctx, sess.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.Session(ctx, sess.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a session ended: %v", err)
	}

	// Another gateway (the Store itself): with the watch.
	_, other, _ := account.NewSession("alice", time.Now(), time.Hour)
	if err := st.PutSession(ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.Session(ctx, other.ID); err != nil {
		t.Fatalf("a session of another gateway, before or after the watch: %v", err)
	}
	waitFor(t, func() bool { _, _, known := c.accounts.get(sessionEntry(other.ID)); return known })
	u, rev, err := cs.User(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	u2, rev2, _ := st.User(ctx, "alice")
	u2.Quota = 9
	if _, err := st.PutUser(ctx, u2, rev2); err != nil {
		t.Fatal(err)
	}
	u.Admin = true
	if _, err := cs.PutUser(ctx, u, rev); !errors.Is(err, ErrConflict) {
		t.Fatalf("a write over an old revision: %v", err)
	}
	if u, _, err := cs.User(ctx, "alice"); err != nil || u.Quota != 9 {
		t.Fatalf("after the conflict: %+v %v", u, err)
	}
	if err := st.DeleteUserSessions(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { _, err := cs.Session(ctx, other.ID); return errors.Is(err, ErrNotFound) })
	// Removed here: the user and the sessions go at once.
	_, third, _ := account.NewSession("alice", time.Now(), time.Hour)
	if err := cs.PutSession(ctx, third); err != nil {
		t.Fatal(err)
	}
	if err := cs.DeleteUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cs.User(ctx, "alice"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a removed user: %v", err)
	}
	if _, err := cs.Session(ctx, third.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a removed user's session: %v", err)
	}
	// Unknown to the cache: read from the bucket.
	if _, _, err := cs.User(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("an unknown user: %v", err)
	}
}
