package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// fakeWatcher is a bucket whose watcher delivers what the test sends.
type fakeWatcher struct {
	updates chan jetstream.KeyValueEntry
	err     error // of WatchAll
	stopped bool
}

func (f *fakeWatcher) WatchAll(context.Context, ...jetstream.WatchOpt) (jetstream.KeyWatcher, error) {
	if f.err != nil {
		return nil, f.err
	}
	return f, nil
}

func (f *fakeWatcher) Updates() <-chan jetstream.KeyValueEntry { return f.updates }
func (f *fakeWatcher) Stop() error                             { f.stopped = true; return nil }

// fakeEntry is a put of key (the other methods are not called).
type fakeEntry struct {
	jetstream.KeyValueEntry
	key string
}

func (e fakeEntry) Key() string { return e.key }

// TestFollowKV: the current values, then loaded once, then the changes;
// nil once ctx ends, an error when the watcher stops by itself.
func TestFollowKV(t *testing.T) {
	t.Parallel()
	t.Run("values, loaded, changes", func(t *testing.T) {
		t.Parallel()
		f := &fakeWatcher{updates: make(chan jetstream.KeyValueEntry)}
		var got []string
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			done <- FollowKV(ctx, f, "the test bucket", func(e jetstream.KeyValueEntry) { got = append(got, e.Key()) },
				func() { got = append(got, "loaded") })
		}()
		// The channel is unbuffered: each send returns once FollowKV has
		// taken it, and it handles one before taking the next.
		for _, e := range []jetstream.KeyValueEntry{fakeEntry{key: "a"}, fakeEntry{key: "b"}, nil, fakeEntry{key: "c"}, nil, fakeEntry{key: "d"}} {
			f.updates <- e
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("FollowKV returned %v after cancel", err)
		}
		if want := "a b loaded c d"; strings.Join(got, " ") != want {
			t.Fatalf("got %q, want %q", strings.Join(got, " "), want)
		}
		if !f.stopped {
			t.Fatal("watcher not stopped")
		}
	})
	t.Run("no loaded", func(t *testing.T) {
		t.Parallel()
		f := &fakeWatcher{updates: make(chan jetstream.KeyValueEntry)}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- FollowKV(ctx, f, "the test bucket", func(jetstream.KeyValueEntry) {}, nil) }()
		f.updates <- nil
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
	t.Run("watcher stops", func(t *testing.T) {
		t.Parallel()
		f := &fakeWatcher{updates: make(chan jetstream.KeyValueEntry)}
		close(f.updates)
		err := FollowKV(t.Context(), f, "the test bucket", func(jetstream.KeyValueEntry) {}, nil)
		if !errors.Is(err, errWatchStopped) || !strings.Contains(err.Error(), "the test bucket") {
			t.Fatalf("error %v, want one naming the bucket and wrapping %v", err, errWatchStopped)
		}
	})
	t.Run("watch refused", func(t *testing.T) {
		t.Parallel()
		refused := errors.New("permissions violation")
		err := FollowKV(t.Context(), &fakeWatcher{err: refused}, "the test bucket", func(jetstream.KeyValueEntry) {}, nil)
		if !errors.Is(err, refused) || !strings.Contains(err.Error(), "watching the test bucket") {
			t.Fatalf("error %v, want watching the test bucket: %v", err, refused)
		}
	})
}

// TestFollowKVBucket: against a real bucket, the current values come
// before loaded, and puts and deletes after.
func TestFollowKVBucket(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t, false)
	_, js := ts.inProcess(t)
	ctx := ctxFor(t, 30*time.Second)
	kv, err := KeyValueBucket(ctx, js, jetstream.KeyValueConfig{Bucket: "follow", History: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b"} {
		if _, err := kv.Put(ctx, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	seen := make(chan string, 16)
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- FollowKV(fctx, kv, "the bucket", func(e jetstream.KeyValueEntry) {
			seen <- fmt.Sprintf("%s %s", e.Operation(), e.Key())
		}, func() { seen <- "loaded" })
	}()
	next := func() string {
		select {
		case s := <-seen:
			return s
		case <-ctx.Done():
			t.Fatal("timed out waiting for the bucket's entries")
			return ""
		}
	}
	var got []string
	for range 3 {
		got = append(got, next())
	}
	if _, err := kv.Put(ctx, "c", []byte("c")); err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	got = append(got, next(), next())
	want := fmt.Sprintf("%[1]s a, %[1]s b, loaded, %[1]s c, %[2]s a", jetstream.KeyValuePut, jetstream.KeyValueDelete)
	if strings.Join(got, ", ") != want {
		t.Fatalf("got %q, want %q", strings.Join(got, ", "), want)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("FollowKV returned %v after cancel", err)
	}
}
