// Package owner records which RRsets of a zone the syncer owns, in the
// zone's own metadata, so that ownership travels with the PowerDNS data
// (backups, restores) and works on every backend: lmdb refuses RRset
// comments, but every backend stores custom X- metadata.
//
// The record has two parts:
//
//   - compact buckets: Buckets metadata kinds (X-ZONECAST-OWNED-00 .. -3F),
//     keys spread by a hash; each kind holds one value, the space-separated
//     list "name/TYPE ..." with names relative to the zone ("@" the apex);
//   - a journal: kinds X-ZONECAST-JOURNAL-<n> (n increasing), each holding
//     "+name/TYPE" (claimed) and "-name/TYPE" (released) entries.
//
// A claim or release is one journal write, however many keys it covers, so
// a burst of new RRsets costs one metadata write, not one per bucket. The
// owned set is the buckets plus the journal applied in order; compaction
// folds the journal into the buckets it touches and then empties it. Applying
// a journal again on top of its own compacted result changes nothing, so a
// crash during compaction loses nothing. The encoding is pure; Ledger
// (ledger.go) keeps the record through a small Metadata interface.
package owner

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"hash/fnv"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/zonecast/zonecast/internal/rrset"
)

// KindPrefix starts every ownership metadata kind.
const KindPrefix = "X-ZONECAST-OWNED-"

// Buckets is the number of ownership metadata kinds per zone.
const Buckets = 64

// Bucket returns the bucket of key.
func Bucket(k rrset.Key) int {
	h := fnv.New32a()
	h.Write([]byte(k.Name))
	h.Write([]byte{'/'})
	h.Write([]byte(k.Type))
	return int(h.Sum32() % Buckets)
}

// Kind returns the metadata kind of bucket b.
func Kind(b int) string { return fmt.Sprintf("%s%02X", KindPrefix, b) }

// Set is the owned keys of one zone.
type Set map[rrset.Key]struct{}

// Has reports whether k is owned.
func (s Set) Has(k rrset.Key) bool { _, ok := s[k]; return ok }

// JournalPrefix starts every ownership journal kind.
const JournalPrefix = "X-ZONECAST-JOURNAL-"

// MaxJournalBytes bounds the value of one journal kind, keeping each
// metadata write well below PowerDNS's default 2 MiB request limit. With
// zone-relative names that is tens of thousands of entries per write.
const MaxJournalBytes = 1 << 20

// JournalKind returns the metadata kind of journal entry n.
func JournalKind(n uint64) string { return fmt.Sprintf("%s%016X", JournalPrefix, n) }

// Record is the decoded ownership record of a zone.
type Record struct {
	Owned   Set
	Journal []string // journal kinds present, in order
	NextSeq uint64   // the number the next journal kind takes
}

// Entries name RRsets relative to the zone, which keeps the record small:
// "web/AAAA" is web.<zone> AAAA and "@/TXT" the apex.
func entry(k rrset.Key, zone string) string {
	rel := strings.TrimSuffix(k.Name, "."+zone)
	if k.Name == zone {
		rel = "@"
	}
	return rel + "/" + k.Type
}

func parseKey(e, kind, zone string) (rrset.Key, error) {
	name, typ, ok := strings.Cut(e, "/")
	if !ok || name == "" || typ == "" {
		return rrset.Key{}, fmt.Errorf("decoding ownership entry %q in %s: want name/TYPE", e, kind)
	}
	if name == "@" {
		return rrset.Key{Name: zone, Type: typ}, nil
	}
	return rrset.Key{Name: name + "." + zone, Type: typ}, nil
}

// Decode rebuilds the ownership record from a zone's metadata (all kinds;
// others are ignored). A malformed entry is an error: guessing could make
// the syncer delete data it does not own.
func Decode(zone string, meta map[string][]string) (Record, error) {
	r := Record{Owned: Set{}}
	err := eachBucketKey(zone, meta, func(_ int, k rrset.Key) { r.Owned[k] = struct{}{} })
	if err != nil {
		return Record{}, err
	}
	ops, err := journalOps(zone, meta, &r)
	if err != nil {
		return Record{}, err
	}
	for _, o := range ops {
		o.apply(r.Owned)
	}
	return r, nil
}

// DecodeOnto is Decode for a zone whose owned set is known already: prev,
// from an earlier Decode and the claims and releases since, changed in
// place into the record's set with the claims extra added (logged, not in
// the metadata yet). Reading the record again then costs no second set of
// the zone's keys beside prev, with strings of their own: at a million
// RRsets that is most of what a reconciliation holds. prev's keys that
// the record and extra mention are its strings still. A record that is
// not as this package writes it (a key in another bucket than its own) is
// decoded in full, and prev is brought in line with that. On error prev is
// left as it was.
func DecodeOnto(zone string, meta map[string][]string, prev Set, extra []rrset.Key) (Record, error) {
	r := Record{}
	ops, err := journalOps(zone, meta, &r)
	if err != nil {
		return Record{}, err
	}
	for _, k := range extra {
		ops = append(ops, op{k: k, claim: true})
	}
	// The keys the journal and extra mention are settled apart, in order;
	// every other key of the result is a bucket key, so prev is right for
	// those once it holds them all and only them.
	mentioned := make(map[rrset.Key]bool, len(ops)) // key -> in a bucket
	for _, o := range ops {
		mentioned[o.k] = false
	}
	others := len(prev)
	for k := range mentioned {
		if prev.Has(k) {
			others--
		}
	}
	var added []rrset.Key
	seen, misplaced := 0, false
	bucket := Set{} // one bucket's keys: an entry listed twice counts once
	last := -1
	err = eachBucketKey(zone, meta, func(b int, k rrset.Key) {
		if b != last {
			clear(bucket)
			last = b
		}
		if b != Bucket(k) {
			misplaced = true
		}
		if bucket.Has(k) {
			return
		}
		bucket[k] = struct{}{}
		if _, ok := mentioned[k]; ok {
			mentioned[k] = true
			return
		}
		if prev.Has(k) {
			seen++
		} else {
			added = append(added, k)
		}
	})
	if err != nil {
		return Record{}, err
	}
	if misplaced || seen != others {
		full, err := Decode(zone, meta)
		if err != nil {
			return Record{}, err
		}
		for _, k := range extra {
			full.Owned[k] = struct{}{}
		}
		for k := range prev {
			if !full.Owned.Has(k) {
				delete(prev, k)
			}
		}
		for k := range full.Owned {
			if !prev.Has(k) {
				prev[k] = struct{}{}
			}
		}
		full.Owned = prev
		return full, nil
	}
	for _, k := range added {
		prev[k] = struct{}{}
	}
	for k, inBucket := range mentioned {
		if !inBucket {
			delete(prev, k)
		} else if !prev.Has(k) {
			prev[k] = struct{}{}
		}
	}
	for _, o := range ops {
		o.apply(prev)
	}
	r.Owned = prev
	return r, nil
}

// op is one journal entry: a key claimed or released.
type op struct {
	k     rrset.Key
	claim bool
}

func (o op) apply(s Set) {
	if o.claim {
		if !s.Has(o.k) { // an owned key keeps its strings
			s[o.k] = struct{}{}
		}
	} else {
		delete(s, o.k)
	}
}

// eachBucketKey calls f with every entry of the bucket kinds, one kind
// after the other, and the bucket the kind names as Kind writes it (-1: a
// kind that names none that way, never the bucket of a key).
func eachBucketKey(zone string, meta map[string][]string, f func(b int, k rrset.Key)) error {
	for kind, values := range meta {
		if !strings.HasPrefix(kind, KindPrefix) {
			continue
		}
		b := -1
		if n, err := strconv.ParseUint(strings.TrimPrefix(kind, KindPrefix), 16, 8); err == nil && n < Buckets && kind == Kind(int(n)) {
			b = int(n)
		}
		for _, v := range values {
			v, err := unpack(v, kind)
			if err != nil {
				return err
			}
			for _, e := range strings.Fields(v) {
				k, err := parseKey(e, kind, zone)
				if err != nil {
					return err
				}
				f(b, k)
			}
		}
	}
	return nil
}

// journalOps returns the journal's entries in order, and sets r's journal
// kinds and next number.
func journalOps(zone string, meta map[string][]string, r *Record) ([]op, error) {
	type journal struct {
		n      uint64
		kind   string
		values []string
	}
	var journals []journal
	for kind, values := range meta {
		if !strings.HasPrefix(kind, JournalPrefix) {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimPrefix(kind, JournalPrefix), 16, 64)
		if err != nil {
			return nil, fmt.Errorf("decoding ownership journal kind %s: %w", kind, err)
		}
		if len(values) > 0 {
			journals = append(journals, journal{n, kind, values})
		}
		r.NextSeq = max(r.NextSeq, n+1)
	}
	slices.SortFunc(journals, func(a, b journal) int { return cmp.Compare(a.n, b.n) })
	var ops []op
	for _, j := range journals {
		r.Journal = append(r.Journal, j.kind)
		for _, v := range j.values {
			v, err := unpack(v, j.kind)
			if err != nil {
				return nil, err
			}
			for _, e := range strings.Fields(v) {
				if len(e) < 2 || (e[0] != '+' && e[0] != '-') {
					return nil, fmt.Errorf("decoding ownership journal entry %q in %s: want +name/TYPE or -name/TYPE", e, j.kind)
				}
				k, err := parseKey(e[1:], j.kind, zone)
				if err != nil {
					return nil, err
				}
				ops = append(ops, op{k: k, claim: e[0] == '+'})
			}
		}
	}
	return ops, nil
}

// EncodeJournal returns the values of journal kinds recording keys as
// claimed (claim) or released, at most MaxJournalBytes per kind.
func EncodeJournal(zone string, keys []rrset.Key, claim bool) [][]string {
	return encodeJournal(zone, keys, claim, pack)
}

// EncodeJournalRaw is EncodeJournal without compression, for a local log
// where the bytes cost less than the CPU.
func EncodeJournalRaw(zone string, keys []rrset.Key, claim bool) [][]string {
	return encodeJournal(zone, keys, claim, func(v string) string { return v })
}

func encodeJournal(zone string, keys []rrset.Key, claim bool, pack func(string) string) [][]string {
	sign := "-"
	if claim {
		sign = "+"
	}
	var out [][]string
	var b strings.Builder
	for _, k := range keys {
		e := sign + entry(k, zone)
		if b.Len() > 0 && b.Len()+1+len(e) > MaxJournalBytes {
			out = append(out, []string{pack(b.String())})
			b.Reset()
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(e)
	}
	if b.Len() > 0 {
		out = append(out, []string{pack(b.String())})
	}
	return out
}

// EncodeBuckets returns, for each of the given buckets, the metadata
// values holding the owned set's keys in that bucket: one value with the
// sorted entries, or none when the bucket is empty. One pass over the set.
// The zone's apex NS is never recorded: the syncer makes it with the zone
// and does not publish it, and the writer of a signed zone owns it in
// memory only, for the signer's to replace; recorded, it would be owned
// and undesired once the zone is no longer signed, and deleted.
func EncodeBuckets(zone string, s Set, buckets []int) map[int][]string {
	want := make(map[int][]string, len(buckets))
	for _, b := range buckets {
		want[b] = nil
	}
	apexNS := rrset.Key{Name: zone, Type: "NS"}
	for k := range s {
		if k == apexNS {
			continue
		}
		b := Bucket(k)
		if entries, ok := want[b]; ok {
			want[b] = append(entries, entry(k, zone))
		}
	}
	out := make(map[int][]string, len(want))
	for b, entries := range want {
		if len(entries) == 0 {
			out[b] = []string{}
			continue
		}
		slices.Sort(entries)
		out[b] = []string{pack(strings.Join(entries, " "))}
	}
	return out
}

// Touched returns the sorted, distinct buckets of keys.
func Touched(keys []rrset.Key) []int {
	seen := map[int]bool{}
	var out []int
	for _, k := range keys {
		if b := Bucket(k); !seen[b] {
			seen[b] = true
			out = append(out, b)
		}
	}
	slices.Sort(out)
	return out
}

// Values longer than packMin are stored gzip-compressed and base64-encoded
// behind packPrefix: entries repeat their patterns, so a claim of 100,000
// RRsets is a few hundred KB for PowerDNS to take instead of over 1 MB.
const (
	packPrefix = "z:"
	packMin    = 4096
)

func pack(v string) string {
	if len(v) < packMin {
		return v
	}
	var buf bytes.Buffer
	buf.WriteString(packPrefix)
	enc := base64.NewEncoder(base64.StdEncoding, &buf)
	zw := gzip.NewWriter(enc)
	_, _ = zw.Write([]byte(v)) // writes to memory cannot fail
	_ = zw.Close()
	_ = enc.Close()
	return buf.String()
}

// maxUnpacked bounds a decompressed value: a corrupt or hostile value must
// not exhaust memory.
const maxUnpacked = 64 << 20

func unpack(v, kind string) (string, error) {
	rest, ok := strings.CutPrefix(v, packPrefix)
	if !ok {
		return v, nil
	}
	zr, err := gzip.NewReader(base64.NewDecoder(base64.StdEncoding, strings.NewReader(rest)))
	if err != nil {
		return "", fmt.Errorf("decoding ownership value of %s: %w", kind, err)
	}
	b, err := io.ReadAll(io.LimitReader(zr, maxUnpacked+1))
	if err != nil {
		return "", fmt.Errorf("decoding ownership value of %s: %w", kind, err)
	}
	if len(b) > maxUnpacked {
		return "", fmt.Errorf("decoding ownership value of %s: larger than %d bytes", kind, maxUnpacked)
	}
	return string(b), nil
}
