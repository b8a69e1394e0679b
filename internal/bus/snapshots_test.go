package bus

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"
)

// TestSnapshotStore: a syncer user creates the bucket, stores a zone's
// snapshot, replaces it and reads it back with its position; a source user
// can neither read nor write snapshots.
func TestSnapshotStore(t *testing.T) {
	t.Parallel()
	ps := startPermServer(t, "snap", func(h string) string {
		return `{"users":[
		{"user":"w1","password_hash":"` + h + `","role":"source","origin":"h1","zones":["a.example"]},
		{"user":"ns2","password_hash":"` + h + `","role":"syncer","node":"ns2"}]}`
	})
	ctx := ps.ctx
	sjs := ps.js(t, "ns2", ps.userPW)
	st, err := SnapshotBucket(ctx, sjs, "", 1, testLog())
	if err != nil {
		t.Fatalf("syncer user opening the snapshot bucket: %v", err)
	}
	if _, err := st.Info(ctx, "a.example."); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("info of a missing snapshot: %v", err)
	}
	if _, _, err := st.Open(ctx, "a.example."); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("opening a missing snapshot: %v", err)
	}
	created := time.Unix(1700000000, 5).UTC()
	big := bytes.Repeat([]byte("0123456789abcdef"), 100000) // several chunks
	for i, data := range [][]byte{[]byte("first"), big} {
		if _, err := st.Put(ctx, "a.example.", uint64(10+i), created, bytes.NewReader(data)); err != nil {
			t.Fatalf("syncer user storing a snapshot: %v", err)
		}
	}
	info, err := st.Info(ctx, "a.example.")
	if err != nil || info.Seq != 11 || info.Size != uint64(len(big)) || !info.Created.Equal(created) {
		t.Fatalf("info %+v, %v; want seq 11 and %d bytes", info, err, len(big))
	}
	r, info, err := st.Open(ctx, "a.example.")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	_ = r.Close()
	if err != nil || !bytes.Equal(got, big) || info.Seq != 11 {
		t.Fatalf("read back %d bytes (seq %d), %v; want the second snapshot", len(got), info.Seq, err)
	}

	// A refused request gets no answer: short deadlines.
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	src, err := ps.js(t, "w1", ps.userPW).ObjectStore(sctx, DefaultSnapshotBucket)
	cancel()
	if err == nil {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, perr := src.PutBytes(sctx, "a.example.", []byte("poison"))
		cancel()
		sctx, cancel = context.WithTimeout(ctx, 2*time.Second)
		_, gerr := src.GetBytes(sctx, "a.example.")
		cancel()
		if perr == nil || gerr == nil {
			t.Errorf("source user reached the snapshots: put %v, get %v", perr, gerr)
		}
	}
	if info, err := st.Info(ctx, "a.example."); err != nil || info.Seq != 11 {
		t.Errorf("after the source user: %+v, %v", info, err)
	}
}
