package pdnsapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/zonecast/zonecast/internal/rrset"
)

const (
	// MaxBatch is the most RRsets Apply sends in one PATCH: PowerDNS 4.7
	// (gsqlite3) takes new RRsets fastest in PATCHes of a few thousand
	// (BenchmarkPatchSize in cmd/syncer, docs/benchmarks.md).
	MaxBatch = 2000
	// MaxBytes bounds the JSON body of one PATCH sent by Apply. PowerDNS
	// answers 400 above webserver-max-bodysize (default 2 MiB).
	MaxBytes = 1 << 20
)

// Change is one RRset write. Set.Records replace the RRset's records; with
// Delete (or no records) the RRset is removed: REPLACE with records [],
// which PowerDNS 4.7 treats as a delete (and a no-op for a missing RRset).
type Change struct {
	Set    rrset.Set
	Delete bool
}

// Rejection is a change PowerDNS refused (422/400) on its own, with
// PowerDNS's message.
type Rejection struct {
	Change Change
	Reason string
}

type patchRecord struct {
	Content  string `json:"content"`
	Disabled bool   `json:"disabled"`
}

type patchRRset struct {
	Name       string        `json:"name"`
	Type       string        `json:"type"`
	TTL        uint32        `json:"ttl"`
	ChangeType string        `json:"changetype"`
	Records    []patchRecord `json:"records"` // never nil: null would keep the records
}

// encoded is a change with its JSON, encoded once and reused by bisection.
type encoded struct {
	ch   Change
	js   []byte
	name string // as sent, for duplicate detection
	typ  string
}

// encoder encodes changes into one buffer: each encoded.js is a slice of
// it, so that a piece of 2,000 changes costs a few allocations instead of
// several per change. Slices handed out stay valid when the buffer grows
// (they keep the old array).
type encoder struct {
	buf  []byte
	recs []patchRecord // scratch
}

// fresh starts a new buffer with room for size bytes, leaving the
// changes encoded so far to the slices already handed out.
func (en *encoder) fresh(size int) { en.buf = make([]byte, 0, size) }

func (en *encoder) encode(ch Change) (encoded, error) {
	p := patchRRset{
		Name:       canonicalName(ch.Set.Name),
		Type:       strings.ToUpper(ch.Set.Type),
		TTL:        ch.Set.TTL,
		ChangeType: "REPLACE",
		Records:    en.recs[:0],
	}
	if p.Type == "" {
		return encoded{}, fmt.Errorf("rrset %s has no type", p.Name)
	}
	if !ch.Delete {
		for _, r := range ch.Set.Records {
			p.Records = append(p.Records, patchRecord{Content: r})
		}
	}
	en.recs = p.Records[:0]
	from := len(en.buf)
	en.buf = appendRRset(en.buf, p)
	return encoded{ch: ch, js: en.buf[from:len(en.buf):len(en.buf)], name: p.Name, typ: p.Type}, nil
}

// appendRRset appends p as JSON, as encoding/json would write it (less its
// HTML escaping, which PowerDNS does not need), without reflection: a
// 100,000-RRset convergence encodes every one of them.
func appendRRset(b []byte, p patchRRset) []byte {
	b = append(b, `{"name":`...)
	b = appendString(b, p.Name)
	b = append(b, `,"type":`...)
	b = appendString(b, p.Type)
	b = append(b, `,"ttl":`...)
	b = strconv.AppendUint(b, uint64(p.TTL), 10)
	b = append(b, `,"changetype":`...)
	b = appendString(b, p.ChangeType)
	b = append(b, `,"records":[`...)
	for i, r := range p.Records {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"content":`...)
		b = appendString(b, r.Content)
		b = append(b, `,"disabled":`...)
		b = strconv.AppendBool(b, r.Disabled)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// as with encoding/json.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, "\\ufffd"...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

func encodeAll(changes []Change) ([]encoded, error) {
	out := make([]encoded, 0, len(changes))
	var en encoder
	en.fresh(encodedSize * len(changes))
	for _, ch := range changes {
		e, err := en.encode(ch)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// body builds {"rrsets":[...]} from the parts, in order.
func body(parts ...[]encoded) []byte {
	n := len(`{"rrsets":[]}`)
	for _, p := range parts {
		for _, e := range p {
			n += len(e.js) + 1
		}
	}
	b := make([]byte, 0, n)
	b = append(b, `{"rrsets":[`...)
	first := true
	for _, p := range parts {
		for _, e := range p {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = append(b, e.js...)
		}
	}
	return append(b, "]}"...)
}

// Patch sends the changes in exactly one PATCH (none when there are no
// changes): all or nothing, as PowerDNS applies a PATCH. It adds nothing to
// the changes; names get their trailing dot and records are sent enabled.
func (c *Client) Patch(ctx context.Context, zone string, changes []Change) error {
	enc, err := encodeAll(changes)
	if err != nil {
		return fmt.Errorf("patching %d rrsets in %s: %w", len(changes), zone, err)
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	return c.patch(ctx, zone, enc)
}

func (c *Client) patch(ctx context.Context, zone string, parts ...[]encoded) error {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	if n == 0 {
		return nil
	}
	p := "/zones/" + url.PathEscape(canonicalName(zone))
	if err := c.do(ctx, http.MethodPatch, p, nil, body(parts...), nil); err != nil {
		return fmt.Errorf("patching %d rrsets in %s: %w", n, zone, err)
	}
	return nil
}

// Apply writes changes to zone in PATCHes of at most MaxBatch RRsets and
// MaxBytes of JSON, one after the other. always (e.g. the SOA with a new
// serial; its keys must not appear in changes) rides on the last PATCH that
// succeeds, or is sent alone when there are no changes or all were rejected.
//
// A PATCH that PowerDNS rejects (422/400) is bisected until the RRsets it
// refuses on their own are found; all other changes are applied and the
// refused ones come back as rejections, in input order. A transient error
// (see IsTransient) or any other error ends the call at once, with the
// rejections found so far; REPLACE is idempotent, so the caller retries the
// whole call. A change whose key repeats an earlier one in the same call is
// sent in a later PATCH (PowerDNS refuses an RRset twice in one PATCH), so
// the last one wins. If always itself is rejected, the error says so.
func (c *Client) Apply(ctx context.Context, zone string, changes, always []Change) ([]Rejection, error) {
	alw, err := encodeAll(always)
	if err != nil {
		return nil, fmt.Errorf("applying %d changes to %s: %w", len(changes), zone, err)
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()

	// Changes are encoded a piece ahead of the PATCH in flight: the first
	// PATCH leaves as soon as its piece is encoded, PowerDNS never waits
	// for the encoding of the next one, and a large round never holds its
	// whole JSON in memory.
	a := applier{c: c, zone: zone, always: alw}
	pieces := make(chan piece, 1)
	stop := make(chan struct{})
	defer close(stop)
	go encodePieces(changes, MaxBatch-len(alw), MaxBytes-len(body(alw)), pieces, stop)
	for p := range pieces {
		if p.err != nil {
			return a.rejected, fmt.Errorf("applying %d changes to %s: %w", len(changes), zone, p.err)
		}
		if err := a.send(ctx, p.enc, p.last); err != nil {
			return a.rejected, err
		}
	}
	if len(alw) > 0 && !a.alwaysSent {
		if err := c.patch(ctx, zone, alw); err != nil {
			return a.rejected, fmt.Errorf("applying the %d always-changes to %s: %w", len(alw), zone, err)
		}
	}
	return a.rejected, nil
}

// piece is one PATCH's worth of encoded changes, or the error that ended
// the encoding; last marks the final piece.
type piece struct {
	enc  []encoded
	last bool
	err  error
}

// encodePieces encodes changes in order and hands them over in pieces
// (see chunker), then closes out; it gives up when stop is closed.
func encodePieces(changes []Change, maxCount, maxBytes int, out chan<- piece, stop <-chan struct{}) {
	defer close(out)
	put := func(p piece) bool {
		select {
		case out <- p:
			return true
		case <-stop:
			return false
		}
	}
	ck := newChunker(maxCount, maxBytes)
	var en encoder
	room := func(left int) int { return min(encodedSize*min(left, maxCount), maxBytes) }
	en.fresh(room(len(changes)))
	for i, ch := range changes {
		e, err := en.encode(ch)
		if err != nil {
			put(piece{err: err})
			return
		}
		if full := ck.add(e, len(changes)-i); full != nil {
			if !put(piece{enc: full}) {
				return
			}
			// The piece handed over keeps its buffer (which e shares);
			// the next changes go to a new one.
			en.fresh(room(len(changes) - i))
		}
	}
	put(piece{enc: ck.rest(), last: true})
}

type applier struct {
	c          *Client
	zone       string
	always     []encoded
	alwaysSent bool
	rejected   []Rejection
}

// send PATCHes piece (plus always when withAlways) and bisects it on
// rejection.
func (a *applier) send(ctx context.Context, piece []encoded, withAlways bool) error {
	if len(piece) == 0 {
		return nil
	}
	var err error
	if withAlways && len(a.always) > 0 {
		err = a.c.patch(ctx, a.zone, piece, a.always)
		if err == nil {
			a.alwaysSent = true
			return nil
		}
	} else {
		withAlways = false
		err = a.c.patch(ctx, a.zone, piece)
		if err == nil {
			return nil
		}
	}
	if !IsRejected(err) {
		return err
	}
	if len(piece) == 1 {
		if withAlways {
			// The change or always is at fault: try the change alone;
			// always then goes alone at the end of Apply.
			err = a.c.patch(ctx, a.zone, piece)
			if err == nil {
				return nil
			}
			if !IsRejected(err) {
				return err
			}
		}
		a.rejected = append(a.rejected, Rejection{Change: piece[0].ch, Reason: reason(err)})
		return nil
	}
	mid := len(piece) / 2
	if err := a.send(ctx, piece[:mid], false); err != nil {
		return err
	}
	return a.send(ctx, piece[mid:], withAlways)
}

// reason is PowerDNS's message of a rejection.
func reason(err error) string {
	var apiErr *Error
	if errors.As(err, &apiErr) && apiErr.Message != "" {
		return apiErr.Message
	}
	return err.Error()
}

// chunker splits changes, in order, into pieces of at most maxCount
// changes and at most maxBytes of PATCH body, never with the same RRset
// twice in one piece. A change larger than maxBytes on its own gets a piece
// of its own.
type chunker struct {
	maxCount, maxBytes int
	piece              []encoded
	size               int
	seen               map[[2]string]bool
}

const emptyPatch = len(`{"rrsets":[]}`)

// encodedSize is room made for one encoded change (an AAAA RRset with one
// record takes about 110 bytes).
const encodedSize = 128

func newChunker(maxCount, maxBytes int) *chunker {
	return &chunker{maxCount: max(maxCount, 1), maxBytes: maxBytes, size: emptyPatch, seen: map[[2]string]bool{}}
}

// add appends e and returns the previous piece if e did not fit in it;
// left (at least 1) is how many changes are still to come, e included.
func (c *chunker) add(e encoded, left int) (full []encoded) {
	k := [2]string{e.name, e.typ}
	n := len(c.piece)
	if n > 0 && (n >= c.maxCount || c.size+1+len(e.js) > c.maxBytes || c.seen[k]) {
		full = c.piece
		c.piece, c.size = nil, emptyPatch
		clear(c.seen)
	}
	if c.piece == nil {
		c.piece = make([]encoded, 0, min(left, c.maxCount))
	}
	if len(c.piece) > 0 {
		c.size++ // comma
	}
	c.size += len(e.js)
	c.seen[k] = true
	c.piece = append(c.piece, e)
	return full
}

// rest returns the last, unfinished piece.
func (c *chunker) rest() []encoded { return c.piece }
