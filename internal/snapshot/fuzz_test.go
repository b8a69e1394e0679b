package snapshot

import (
	"bytes"
	"testing"
)

// FuzzReader feeds arbitrary bytes to the reader: it must never panic or
// allocate beyond its bounds, and whatever it accepts must read the same
// once written again (varints may come non-minimal, so not byte for byte).
func FuzzReader(f *testing.F) {
	h, es := sample()
	f.Add(encode(f, h, es))
	f.Add(encode(f, Header{Zone: "z."}, nil))
	f.Add([]byte(magic))
	f.Fuzz(func(t *testing.T, data []byte) {
		gotH, gotE, err := readAll(data)
		if err != nil {
			return
		}
		gotH.Count = len(gotE)
		againH, againE, err := readAll(encode(t, gotH, gotE))
		if err != nil || againH != gotH || len(againE) != len(gotE) {
			t.Fatalf("accepted snapshot does not read back: %v\n%q", err, data)
		}
		for i := range gotE {
			if !bytes.Equal(againE[i].Data, gotE[i].Data) ||
				!againE[i].Expires.Equal(gotE[i].Expires) {
				t.Fatalf("entry %d reads back as %+v, was %+v", i, againE[i], gotE[i])
			}
		}
	})
}
