package snapshot

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
)

func encode(t testing.TB, h Header, es []Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, h)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if err := w.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readAll reads a whole snapshot.
func readAll(data []byte) (Header, []Entry, error) {
	r, err := NewReader(bytes.NewReader(data))
	if err != nil {
		return Header{}, nil, err
	}
	var es []Entry
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			return r.Header(), es, nil
		}
		if err != nil {
			return r.Header(), es, err
		}
		e.Data = bytes.Clone(e.Data) // reused by the next Next
		es = append(es, e)
	}
}

func sample() (Header, []Entry) {
	h := Header{Zone: "example.org.", Stream: "ZONECAST", Created: time.Unix(1700000000, 123).UTC(),
		Seq: 42, ZoneSeq: 40, Taken: time.Unix(1800000000, 0).UTC(), Count: 3}
	es := []Entry{
		{Data: []byte(`{"v":1}`)},
		{Data: []byte(`{"v":1,"x":2}`), Expires: time.Unix(1800000300, 5).UTC()},
		{Data: []byte{}},
	}
	return h, es
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	h, es := sample()
	gotH, gotE, err := readAll(encode(t, h, es))
	if err != nil {
		t.Fatal(err)
	}
	if gotH != h {
		t.Errorf("header %+v, want %+v", gotH, h)
	}
	if len(gotE) != len(es) {
		t.Fatalf("%d entries, want %d", len(gotE), len(es))
	}
	for i := range es {
		if !bytes.Equal(gotE[i].Data, es[i].Data) || !gotE[i].Expires.Equal(es[i].Expires) {
			t.Errorf("entry %d: %+v, want %+v", i, gotE[i], es[i])
		}
	}
}

func TestMalformed(t *testing.T) {
	t.Parallel()
	h, es := sample()
	good := encode(t, h, es)
	// header: zone "z.", stream "", created, seq, zone seq, taken, then the count
	header := []byte{2, 'z', '.', 0, 0, 0, 0, 0}
	for name, data := range map[string][]byte{
		"empty":              nil,
		"not a snapshot":     []byte("hello world, this is not it"),
		"other version":      append([]byte(magic), 2),
		"truncated":          good[:len(good)/2],
		"not compressed":     append(append([]byte(magic), Version), append(header, 0, 'e', 'n', 'd')...),
		"trailing data":      append(bytes.Clone(good), 'x'),
		"no trailer":         compressed(t, append(header, 0)),
		"data after trailer": compressed(t, append(header, 0, 'e', 'n', 'd', 'x')),
		"count too big":      compressed(t, append(header, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)),
		"body too big":       compressed(t, append(header, 1, 0xff, 0xff, 0x7f)),
		"zone seq after seq": encode(t, Header{Zone: "z.", Seq: 1, ZoneSeq: 2}, nil),
	} {
		if _, _, err := readAll(data); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: error %v, want ErrFormat", name, err)
		}
	}
}

// compressed is a snapshot made of body as it is, past the magic.
func compressed(t *testing.T, body []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	buf.WriteString(magic)
	buf.WriteByte(Version)
	z := s2.NewWriter(&buf)
	if _, err := z.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestWriterCounts(t *testing.T) {
	t.Parallel()
	w, err := NewWriter(io.Discard, Header{Zone: "z.", Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err == nil {
		t.Error("Close with a missing entry succeeded")
	}
	if err := w.Add(Entry{Data: []byte("a")}); err != nil {
		t.Fatal(err)
	}
	if err := w.Add(Entry{Data: []byte("b")}); err == nil {
		t.Error("Add beyond the announced count succeeded")
	}
	if err := w.Add(Entry{Data: make([]byte, MaxBodyBytes+1)}); err == nil {
		t.Error("Add of an oversize body succeeded")
	}
}
