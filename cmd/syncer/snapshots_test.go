package main

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/testenv"
)

// TestSnapshotsReadAhead: the snapshots of many zones are read ahead and
// handed over in the zones' order; a missing one gives its error, and one
// larger than readAheadMax is left to be streamed in turn.
func TestSnapshotsReadAhead(t *testing.T) {
	t.Parallel()
	js, ctx := testenv.JetStream(t, "readahead")
	store, err := bus.SnapshotBucket(ctx, js, "", 1, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	large := bytes.Repeat([]byte("x"), readAheadMax+1)
	want := map[string][]byte{"large.test.": large}
	var zones []string
	for i := range 3 * readAheadReaders {
		z := string(rune('a'+i)) + ".test."
		zones = append(zones, z)
		if i == 5 {
			zones = append(zones, "large.test.", "missing.test.")
		}
		want[z] = []byte("snapshot of " + z)
	}
	for z, data := range want {
		if _, err := store.Put(ctx, z, 1, time.Now(), bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	}
	sn := &snapshots{store: store, zones: zones}
	ahead := sn.readAhead(ctx)
	for i, z := range zones {
		e := <-ahead[i]
		switch z {
		case "missing.test.":
			if !errors.Is(e.err, bus.ErrNoSnapshot) {
				t.Fatalf("%s: %+v, want ErrNoSnapshot", z, e)
			}
		case "large.test.":
			if e.err != nil || e.data != nil {
				t.Fatalf("%s: read ahead (%d bytes, %v), want it left to be streamed", z, len(e.data), e.err)
			}
		default:
			if e.err != nil || !bytes.Equal(e.data, want[z]) {
				t.Fatalf("%s: %q, %v; want %q", z, e.data, e.err, want[z])
			}
		}
	}
}
