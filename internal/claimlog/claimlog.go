// Package claimlog is the syncer's local write-ahead log of ownership
// claims. Before the syncer creates an RRset it must have recorded that it
// owns it, or a crash right after the PATCH would leave an RRset that looks
// foreign forever. Recording the claim in PowerDNS's zone metadata is one
// more PowerDNS write per batch, on the critical path of every burst; an
// fsync'ed line in a local file is far cheaper. The syncer copies the
// claims into the zone metadata (internal/owner) when it is idle, then
// clears the log; at start-up it merges what the log still holds.
//
// A line is "<zone> <value> <crc>", value being an ownership journal value
// of internal/owner (uncompressed) and crc the CRC-32 (IEEE, hex)
// of "<zone> <value>": one Append writes one or more lines. A torn last
// line fails its checksum and is skipped when the log is read: a cut that
// happens to fall between two entries must not claim a shorter list.
//
// Append does not fsync. A write() survives a crash of the syncer, which
// is what the log is for; an fsync per batch would cost as much as the
// metadata write it replaces, while PowerDNS's SQLite syncs its own writes
// on the same disk. After a power loss in the second
// or so before a checkpoint, the claims of the last batches can be lost:
// their RRsets then look foreign, are reported as conflicts and are never
// touched (the safe side) until an operator removes them.
package claimlog

import (
	"bufio"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strings"

	"github.com/zonecast/zonecast/internal/owner"
	"github.com/zonecast/zonecast/internal/rrset"
)

// Log is an open claim log file.
type Log struct {
	path string
	f    *os.File
}

// Open opens (creating it, mode 0600) the log at path for appending.
func Open(path string) (*Log, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening claim log: %w", err)
	}
	return &Log{path: path, f: f}, nil
}

// Path returns the file's path.
func (l *Log) Path() string { return l.path }

// Append records keys of zone as claimed (or, with claim false, released
// again before their claim reached the metadata).
func (l *Log) Append(zone string, keys []rrset.Key, claim bool) error {
	if len(keys) == 0 {
		return nil
	}
	var b []byte
	for _, values := range owner.EncodeJournalRaw(zone, keys, claim) {
		for _, v := range values {
			from := len(b)
			b = append(append(append(b, zone...), ' '), v...)
			sum := crc32.ChecksumIEEE(b[from:])
			b = append(appendCRC(append(b, ' '), sum), '\n')
		}
	}
	if _, err := l.f.Write(b); err != nil {
		return fmt.Errorf("appending to claim log %s: %w", l.path, err)
	}
	return nil
}

// appendCRC appends c as 8 lowercase hex digits (as %08x).
func appendCRC(b []byte, c uint32) []byte {
	const hex = "0123456789abcdef"
	for shift := 28; shift >= 0; shift -= 4 {
		b = append(b, hex[c>>uint(shift)&0xf])
	}
	return b
}

// Sync flushes the log to the disk.
func (l *Log) Sync() error {
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("syncing claim log %s: %w", l.path, err)
	}
	return nil
}

// Load reads every claim in the log, per zone, and the number of lines
// that could not be read (a torn last line).
func (l *Log) Load() (map[string]owner.Set, int, error) {
	if _, err := l.f.Seek(0, io.SeekStart); err != nil {
		return nil, 0, fmt.Errorf("reading claim log %s: %w", l.path, err)
	}
	claims, bad, err := Parse(l.f)
	if err != nil {
		return nil, 0, fmt.Errorf("reading claim log %s: %w", l.path, err)
	}
	return claims, bad, nil
}

// Clear empties the log, once its claims are in the zone metadata.
func (l *Log) Clear() error {
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("clearing claim log %s: %w", l.path, err)
	}
	return nil
}

// Close closes the file.
func (l *Log) Close() error { return l.f.Close() }

// ReadOnly reads the log at Path, which another process writes, and
// writes nothing: a dry run beside the running syncer sees its claims.
type ReadOnly struct{ Path string }

// Load reads the log as Log.Load does; a missing file holds no claims.
func (r ReadOnly) Load() (map[string]owner.Set, int, error) {
	f, err := os.Open(r.Path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]owner.Set{}, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("reading claim log: %w", err)
	}
	defer f.Close()
	claims, bad, err := Parse(f)
	if err != nil {
		return nil, 0, fmt.Errorf("reading claim log %s: %w", r.Path, err)
	}
	return claims, bad, nil
}

// Append writes nothing.
func (ReadOnly) Append(string, []rrset.Key, bool) error { return nil }

// Clear writes nothing.
func (ReadOnly) Clear() error { return nil }

// Parse reads log lines: the claims per zone, releases applied in order,
// and how many lines were not valid (skipped).
func Parse(r io.Reader) (map[string]owner.Set, int, error) {
	journals := map[string]map[string][]string{} // zone -> journal kind -> value, one kind per line
	var line uint64
	bad := 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 2*owner.MaxJournalBytes+1024)
	for sc.Scan() {
		text := sc.Text()
		i := strings.LastIndexByte(text, ' ')
		if i < 0 || string(appendCRC(nil, crc32.ChecksumIEEE([]byte(text[:i])))) != text[i+1:] {
			bad++
			continue
		}
		zone, value, ok := strings.Cut(text[:i], " ")
		if !ok || zone == "" {
			bad++
			continue
		}
		if z, err := rrset.CanonicalName(zone); err != nil || z != zone {
			bad++
			continue
		}
		if _, err := owner.Decode(zone, map[string][]string{owner.JournalKind(0): {value}}); err != nil {
			bad++
			continue
		}
		if journals[zone] == nil {
			journals[zone] = map[string][]string{}
		}
		journals[zone][owner.JournalKind(line)] = []string{value}
		line++
	}
	if err := sc.Err(); err != nil {
		return nil, 0, err
	}
	out := make(map[string]owner.Set, len(journals))
	for zone, meta := range journals {
		rec, err := owner.Decode(zone, meta) // in line order
		if err != nil {
			return nil, 0, err // each line decoded on its own above
		}
		out[zone] = rec.Owned
	}
	return out, bad, nil
}
