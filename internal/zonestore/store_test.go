package zonestore

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/zonecast/zonecast/internal/testenv"
	"github.com/zonecast/zonecast/internal/zonelist"
)

func zone(name string) zonelist.Zone {
	return zonelist.Zone{Name: name, SOA: zonelist.DefaultSOA}
}

func TestAddRemove(t *testing.T) {
	t.Parallel()
	js, ctx := testenv.JetStream(t, "zonestore-test")
	if _, err := Open(ctx, js, ""); !errors.Is(err, ErrNoBucket) {
		t.Fatalf("Open before the bucket exists: %v, want ErrNoBucket", err)
	}
	st, err := Ensure(ctx, js, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	if st.Bucket() != DefaultBucket {
		t.Fatalf("bucket %q", st.Bucket())
	}
	z := zone("C1.Example.com")
	z.NS = []string{"ns1.example.net"}
	got, err := st.Add(ctx, z)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "c1.example.com." || got.V != zonelist.Version || !slices.Equal(got.NS, []string{"ns1.example.net."}) {
		t.Fatalf("added %+v", got)
	}
	// Listed twice: refused, and the first entry stays.
	other := zone("c1.example.com")
	other.SOA.TTL = 60
	if _, err := st.Add(ctx, other); !errors.Is(err, ErrExists) {
		t.Fatalf("adding again: %v, want ErrExists", err)
	}
	// Invalid: refused before anything is written.
	if _, err := st.Add(ctx, zonelist.Zone{Name: "c2.example.com"}); !errors.Is(err, zonelist.ErrInvalid) {
		t.Fatalf("adding an invalid entry: %v", err)
	}
	// Opened by a command, the bucket shows the same.
	st2, err := Open(ctx, js, "")
	if err != nil {
		t.Fatal(err)
	}
	if e, err := st2.Get(ctx, "c1.example.com."); err != nil || !e.Equal(got) {
		t.Fatalf("get: %+v, %v", e, err)
	}
	if _, err := st2.Get(ctx, "c2.example.com"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get of an unlisted zone: %v", err)
	}
	removed, err := st2.Remove(ctx, "C1.example.com")
	if err != nil || !removed.Equal(got) {
		t.Fatalf("remove: %+v, %v", removed, err)
	}
	if _, err := st2.Remove(ctx, "c1.example.com"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removing again: %v, want ErrNotFound", err)
	}
	if _, err := st2.Remove(ctx, "*.example.com"); !errors.Is(err, zonelist.ErrInvalid) {
		t.Fatalf("removing a bad name: %v", err)
	}
	l, err := st.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Zones) != 0 || !l.Removed["c1.example.com."] {
		t.Fatalf("after remove: zones %v, removed %v", l.Zones, l.Removed)
	}
	// Listed again after its removal, with other settings.
	if _, err := st.Add(ctx, other); err != nil {
		t.Fatalf("adding a removed zone again: %v", err)
	}
	l, err = st.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := l.Zones["c1.example.com."]; !ok || e.SOA.TTL != 60 || len(l.Removed) != 0 {
		t.Fatalf("after adding again: zones %v, removed %v", l.Zones, l.Removed)
	}
}

// TestBadEntry: a value that does not decode (written by other hands) is
// neither listed nor removed, and may be removed.
func TestBadEntry(t *testing.T) {
	t.Parallel()
	js, ctx := testenv.JetStream(t, "zonestore-test")
	st, err := Ensure(ctx, js, "zones_bad", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.kv.Put(ctx, "bad.example", []byte(`{"v":9}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.kv.Put(ctx, "NotAZone", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	l, err := st.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Zones) != 0 || len(l.Removed) != 0 || len(l.Bad) != 2 {
		t.Fatalf("zones %v, removed %v, bad %v", l.Zones, l.Removed, l.Bad)
	}
	if _, err := st.Get(ctx, "bad.example"); !errors.Is(err, zonelist.ErrInvalid) {
		t.Fatalf("get of a bad entry: %v", err)
	}
	if z, err := st.Remove(ctx, "bad.example"); err != nil || z.Name != "bad.example." {
		t.Fatalf("removing a bad entry: %+v, %v", z, err)
	}
	if l, err = st.Load(ctx); err != nil || !l.Removed["bad.example."] || len(l.Bad) != 1 {
		t.Fatalf("after removing the bad entry: %v, %v", l, err)
	}
}

func TestFollow(t *testing.T) {
	t.Parallel()
	js, ctx := testenv.JetStream(t, "zonestore-test")
	st, err := Ensure(ctx, js, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Add(ctx, zone("a.example")); err != nil {
		t.Fatal(err)
	}
	updates := make(chan *zonelist.List, 16)
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- st.Follow(fctx, func(l *zonelist.List) { updates <- l }) }()
	next := func(what string) *zonelist.List {
		t.Helper()
		select {
		case l := <-updates:
			return l
		case <-ctx.Done():
			t.Fatalf("no update: %s", what)
			return nil
		}
	}
	if l := next("loaded"); len(l.Zones) != 1 {
		t.Fatalf("loaded %v", l.Zones)
	}
	// A second syncer starting at the same time makes no second bucket.
	if _, err := Ensure(ctx, js, "", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Add(ctx, zone("b.example")); err != nil {
		t.Fatal(err)
	}
	l := next("b added")
	if len(l.Zones) != 2 {
		t.Fatalf("after add: %v", l.Zones)
	}
	if _, err := st.Remove(ctx, "a.example"); err != nil {
		t.Fatal(err)
	}
	l2 := next("a removed")
	if _, ok := l2.Zones["a.example."]; ok || !l2.Removed["a.example."] {
		t.Fatalf("after remove: %v %v", l2.Zones, l2.Removed)
	}
	// Each update is a copy of its own.
	if len(l.Zones) != 2 || l.Removed["a.example."] {
		t.Fatal("an earlier update changed")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("follow: %v", err)
	}
}
