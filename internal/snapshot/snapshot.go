// Package snapshot is the format of a zone snapshot: the record events that
// make up one zone's desired state at a stream position, as a syncer that
// follows the stream holds them. A new node loads the snapshot and replays
// only what the stream holds after that position, instead of the whole
// stream. The format is pure framing (no I/O, no validation of the events
// themselves: the loader decodes every body like a stream delivery).
//
// Layout (integers are unsigned varints, strings and bytes are a varint
// length and the bytes); all after the version byte is one S2 stream
// (github.com/klauspost/compress/s2: record events compress about 5:1,
// and a new node fetches a fifth of the bytes):
//
//	magic "zonecast-snapshot\x00" version(1)
//	zone stream created(unix ns) seq zone_seq taken(unix ns) count
//	count x (body expires(unix ns, 0: none))
//	"end"
package snapshot

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/klauspost/compress/s2"
)

// Version is the format version this package writes and reads.
const Version = 1

// Bounds a reader enforces: a snapshot is read from the network.
const (
	MaxBodyBytes = 64 * 1024
	MaxNameBytes = 255
	MaxEntries   = 1 << 26
)

const (
	magic    = "zonecast-snapshot\x00"
	trailer  = "end"
	maxBlock = 1 << 20 // the writer's S2 blocks are 1 MiB (its default); larger ones are refused
)

// ErrFormat is wrapped by every error about a malformed snapshot.
var ErrFormat = errors.New("malformed snapshot")

// Header says what a snapshot holds.
type Header struct {
	Zone    string    // canonical zone name
	Stream  string    // the record stream's name
	Created time.Time // when that stream was created: another stream of the same name is another history
	Seq     uint64    // every message of the zone up to this stream sequence is folded in
	ZoneSeq uint64    // the zone's sequence (its SOA serial) at Seq
	Taken   time.Time // when the snapshot was taken
	Count   int       // number of entries
}

// Entry is one subject's last message, as the stream held it at Seq: its
// body (which names the subject: name, type and origin) and lease.
type Entry struct {
	Data    []byte
	Expires time.Time // when the message's lease runs out; zero: never
}

// Writer writes a snapshot entry by entry.
type Writer struct {
	w       *bufio.Writer
	z       *s2.Writer
	left    int
	scratch []byte
}

// NewWriter writes h to w and returns a Writer for exactly h.Count entries.
func NewWriter(w io.Writer, h Header) (*Writer, error) {
	if h.Count < 0 || h.Count > MaxEntries {
		return nil, fmt.Errorf("writing snapshot of %s: %d entries out of bounds", h.Zone, h.Count)
	}
	if _, err := w.Write(append([]byte(magic), Version)); err != nil {
		return nil, fmt.Errorf("writing snapshot header of %s: %w", h.Zone, err)
	}
	z := s2.NewWriter(w, s2.WriterConcurrency(1))
	sw := &Writer{w: bufio.NewWriterSize(z, 64*1024), z: z, left: h.Count}
	b := appendString(nil, h.Zone)
	b = appendString(b, h.Stream)
	b = binary.AppendUvarint(b, unixNano(h.Created))
	b = binary.AppendUvarint(b, h.Seq)
	b = binary.AppendUvarint(b, h.ZoneSeq)
	b = binary.AppendUvarint(b, unixNano(h.Taken))
	b = binary.AppendUvarint(b, uint64(h.Count))
	if _, err := sw.w.Write(b); err != nil {
		return nil, fmt.Errorf("writing snapshot header of %s: %w", h.Zone, err)
	}
	return sw, nil
}

// Add writes one entry.
func (sw *Writer) Add(e Entry) error {
	if sw.left == 0 {
		return errors.New("writing snapshot: more entries than the header announced")
	}
	if len(e.Data) > MaxBodyBytes {
		return fmt.Errorf("writing snapshot: entry of %d bytes out of bounds", len(e.Data))
	}
	sw.left--
	b := binary.AppendUvarint(sw.scratch[:0], uint64(len(e.Data)))
	b = append(b, e.Data...)
	b = binary.AppendUvarint(b, unixNano(e.Expires))
	sw.scratch = b
	if _, err := sw.w.Write(b); err != nil {
		return fmt.Errorf("writing snapshot entry: %w", err)
	}
	return nil
}

// Close writes the trailer and flushes. It fails if fewer entries than
// announced were added.
func (sw *Writer) Close() error {
	if sw.left != 0 {
		return fmt.Errorf("writing snapshot: %d announced entries missing", sw.left)
	}
	if _, err := sw.w.WriteString(trailer); err != nil {
		return fmt.Errorf("writing snapshot trailer: %w", err)
	}
	if err := sw.w.Flush(); err != nil {
		return fmt.Errorf("flushing snapshot: %w", err)
	}
	if err := sw.z.Close(); err != nil {
		return fmt.Errorf("flushing snapshot: %w", err)
	}
	return nil
}

// Reader reads a snapshot entry by entry.
type Reader struct {
	r    *bufio.Reader
	h    Header
	left int
	buf  []byte // the last entry's body
}

// NewReader reads and checks the header of a snapshot.
func NewReader(r io.Reader) (*Reader, error) {
	m := make([]byte, len(magic)+1)
	if _, err := io.ReadFull(r, m); err != nil {
		return nil, formatf("reading magic: %v", err)
	}
	if string(m[:len(magic)]) != magic {
		return nil, formatf("not a zonecast snapshot")
	}
	if m[len(magic)] != Version {
		return nil, formatf("version %d, want %d", m[len(magic)], Version)
	}
	br := bufio.NewReaderSize(s2.NewReader(r, s2.ReaderMaxBlockSize(maxBlock)), 64*1024)
	sr := &Reader{r: br}
	var err error
	h := &sr.h
	if h.Zone, err = sr.string(MaxNameBytes); err != nil {
		return nil, formatf("reading zone: %v", err)
	}
	if h.Stream, err = sr.string(MaxNameBytes); err != nil {
		return nil, formatf("reading stream: %v", err)
	}
	var created, taken, count uint64
	for _, f := range []struct {
		name string
		v    *uint64
	}{{"created", &created}, {"seq", &h.Seq}, {"zone seq", &h.ZoneSeq}, {"taken", &taken}, {"count", &count}} {
		if *f.v, err = binary.ReadUvarint(br); err != nil {
			return nil, formatf("reading %s: %v", f.name, err)
		}
	}
	if count > MaxEntries {
		return nil, formatf("%d entries exceed %d", count, MaxEntries)
	}
	if h.ZoneSeq > h.Seq {
		return nil, formatf("zone sequence %d after the snapshot's sequence %d", h.ZoneSeq, h.Seq)
	}
	h.Created, h.Taken, h.Count = fromUnixNano(created), fromUnixNano(taken), int(count)
	sr.left = h.Count
	return sr, nil
}

// Header returns the snapshot's header.
func (sr *Reader) Header() Header { return sr.h }

// Next returns the next entry, or io.EOF after the last one, once the
// trailer is checked. Data is only valid until the next call: the reader
// reuses it (a snapshot holds megabytes of bodies the caller decodes).
func (sr *Reader) Next() (Entry, error) {
	if sr.left == 0 {
		t := make([]byte, len(trailer))
		if _, err := io.ReadFull(sr.r, t); err != nil || string(t) != trailer {
			return Entry{}, formatf("missing trailer after %d entries", sr.h.Count)
		}
		if _, err := sr.r.ReadByte(); err != io.EOF {
			if err != nil {
				return Entry{}, formatf("after the trailer: %v", err) // e.g. a digest mismatch
			}
			return Entry{}, formatf("data after the trailer")
		}
		return Entry{}, io.EOF
	}
	var e Entry
	n, err := binary.ReadUvarint(sr.r)
	if err == nil && n > MaxBodyBytes {
		err = fmt.Errorf("length %d exceeds %d", n, MaxBodyBytes)
	}
	if err == nil {
		if uint64(cap(sr.buf)) < n {
			sr.buf = make([]byte, n, max(n, 1024))
		}
		e.Data = sr.buf[:n]
		_, err = io.ReadFull(sr.r, e.Data)
	}
	if err != nil {
		return Entry{}, formatf("entry %d: reading body: %v", sr.h.Count-sr.left, err)
	}
	exp, err := binary.ReadUvarint(sr.r)
	if err != nil {
		return Entry{}, formatf("entry %d: reading expiry: %v", sr.h.Count-sr.left, err)
	}
	e.Expires = fromUnixNano(exp)
	sr.left--
	return e, nil
}

func (sr *Reader) bytes(limit int) ([]byte, error) {
	n, err := binary.ReadUvarint(sr.r)
	if err != nil {
		return nil, err
	}
	if n > uint64(limit) {
		return nil, fmt.Errorf("length %d exceeds %d", n, limit)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(sr.r, b); err != nil {
		return nil, err
	}
	return b, nil
}

func (sr *Reader) string(limit int) (string, error) {
	b, err := sr.bytes(limit)
	return string(b), err
}

func formatf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func unixNano(t time.Time) uint64 {
	if t.IsZero() || t.UnixNano() <= 0 {
		return 0
	}
	return uint64(t.UnixNano())
}

func fromUnixNano(n uint64) time.Time {
	if n == 0 || n > 1<<63-1 {
		return time.Time{}
	}
	return time.Unix(0, int64(n)).UTC()
}
