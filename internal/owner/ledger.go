package owner

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/zonecast/zonecast/internal/rrset"
)

// Metadata is what a Ledger needs of PowerDNS: a zone's metadata.
type Metadata interface {
	AllMetadata(ctx context.Context, zone string) (map[string][]string, error)
	SetMetadata(ctx context.Context, zone, kind string, values []string) error
}

// WAL is a local write-ahead log of claims (internal/claimlog). With one, a
// claim costs a local write instead of a metadata write before the PATCH
// that needs it; the ledger copies logged claims into the zone metadata
// later (a checkpoint), and a restart merges what the log still holds into
// the ownership read from PowerDNS.
type WAL interface {
	Append(zone string, keys []rrset.Key, claim bool) error
	Load() (map[string]Set, int, error)
	Clear() error
}

// LedgerConfig configures a Ledger.
type LedgerConfig struct {
	Meta Metadata
	// WAL, if set, takes claims first (see WAL).
	WAL WAL
	// CheckpointDelay is how long logged claims wait before a checkpoint
	// is due (default 1s); a busy writer postpones it.
	CheckpointDelay time.Duration
	// Now is the clock of checkpoints; default time.Now.
	Now func() time.Time
}

// CompactAfter is the journal length at which a zone's ownership record is
// due to be folded into its buckets.
const CompactAfter = 16

// BulkCheckpoint is the number of logged claims of one zone from which a
// checkpoint that copies more claims than the zone owned before writes the
// zone's buckets instead of a journal. Below it the journal is a write or
// two, and its keys are few to decode.
const BulkCheckpoint = 10000

// Ledger keeps the ownership record of the syncer's zones: the owned sets,
// their journals in the zone metadata, and the claims a WAL holds that the
// metadata does not have yet. It is not safe for concurrent use: the
// syncer's writer owns it.
type Ledger struct {
	cfg     LedgerConfig
	zones   map[string]*book
	pending map[string][]rrset.Key // logged, not yet in the zone metadata (may repeat)
	due     time.Time              // when a checkpoint is due; zero: none
}

// book is one zone's ownership record as the ledger knows it.
type book struct {
	owned   Set
	journal []string     // journal kinds not yet compacted
	touched map[int]bool // buckets the journal touches
	next    uint64       // the next journal kind's number
}

// NewLedger returns an empty ledger; Recover and Load fill it.
func NewLedger(cfg LedgerConfig) *Ledger {
	if cfg.CheckpointDelay <= 0 {
		cfg.CheckpointDelay = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Ledger{cfg: cfg, zones: map[string]*book{}, pending: map[string][]rrset.Key{}}
}

// Logged reports whether claims go to a WAL first.
func (l *Ledger) Logged() bool { return l.cfg.WAL != nil }

// Recover reads the claims a previous run logged but did not copy into the
// zone metadata; they count as owned from the next Load on, and a
// checkpoint is due at once. It returns how many there are, and how many
// log lines were unreadable (a write cut short by a crash).
func (l *Ledger) Recover() (claims, bad int, err error) {
	if l.cfg.WAL == nil {
		return 0, 0, nil
	}
	logged, bad, err := l.cfg.WAL.Load()
	if err != nil {
		return 0, bad, fmt.Errorf("reading the claim log: %w", err)
	}
	for zone, set := range logged {
		claims += len(set)
		for k := range set {
			l.pending[zone] = append(l.pending[zone], k)
		}
	}
	if claims > 0 {
		l.due = l.cfg.Now()
	}
	return claims, bad, nil
}

// Load reads zone's ownership record from its metadata, with the logged
// claims the metadata does not have yet, and returns the owned set. The
// set is the ledger's own: Claim and Release change it.
func (l *Ledger) Load(ctx context.Context, zone string) (Set, error) {
	meta, err := l.cfg.Meta.AllMetadata(ctx, zone)
	if err != nil {
		return nil, fmt.Errorf("reading ownership metadata: %w", err)
	}
	return l.take(zone, meta)
}

// LoadNew is Load for a zone just created, whose metadata holds no
// ownership record: nothing is read.
func (l *Ledger) LoadNew(zone string) Set {
	owned, _ := l.take(zone, nil) // an empty record always decodes
	return owned
}

// take makes meta zone's ownership record, with the logged claims it does
// not have yet.
func (l *Ledger) take(zone string, meta map[string][]string) (Set, error) {
	var rec Record
	var err error
	if old := l.zones[zone]; old != nil && old.owned != nil {
		// Keep the set the ledger has, brought in line with the record:
		// its keys' strings are those the desired and actual state hold,
		// and each reconciliation reads the record again; a set of new
		// keys would stay beside them after it.
		rec, err = DecodeOnto(zone, meta, old.owned, l.pending[zone])
	} else if rec, err = Decode(zone, meta); err == nil {
		for _, k := range l.pending[zone] {
			rec.Owned[k] = struct{}{}
		}
	}
	if err != nil {
		return nil, err
	}
	b := &book{owned: rec.Owned, journal: rec.Journal, next: rec.NextSeq, touched: map[int]bool{}}
	if len(rec.Journal) > 0 {
		for i := 0; i < Buckets; i++ {
			b.touched[i] = true // which buckets the journal touches is not kept
		}
	}
	l.zones[zone] = b
	return b.owned, nil
}

// Owned returns zone's owned set (nil before Load).
func (l *Ledger) Owned(zone string) Set {
	if b := l.zones[zone]; b != nil {
		return b.owned
	}
	return nil
}

// Claim records ownership of keys before they are written: in the WAL if
// there is one, in the zone metadata otherwise.
func (l *Ledger) Claim(ctx context.Context, zone string, keys []rrset.Key) error {
	if len(keys) == 0 {
		return nil
	}
	b := l.zones[zone]
	if b == nil {
		return fmt.Errorf("claiming %d rrsets of %s: ownership not loaded", len(keys), zone)
	}
	if l.cfg.WAL != nil {
		if err := l.cfg.WAL.Append(zone, keys, true); err != nil {
			return fmt.Errorf("claiming %d rrsets: %w", len(keys), err)
		}
		l.pending[zone] = append(l.pending[zone], keys...)
		if l.due.IsZero() {
			l.due = l.cfg.Now().Add(l.cfg.CheckpointDelay)
		}
		for _, k := range keys {
			b.owned[k] = struct{}{}
		}
		return nil
	}
	for _, k := range keys {
		b.owned[k] = struct{}{}
	}
	if err := l.write(ctx, zone, b, keys, true); err != nil {
		for _, k := range keys {
			delete(b.owned, k)
		}
		return fmt.Errorf("claiming %d rrsets: %w", len(keys), err)
	}
	return nil
}

// Release drops ownership of keys after they are gone. On failure the
// metadata still claims them, which is safe: the next reconciliation
// releases them again.
func (l *Ledger) Release(ctx context.Context, zone string, keys []rrset.Key) error {
	b := l.zones[zone]
	if len(keys) == 0 || b == nil {
		return nil
	}
	for _, k := range keys {
		delete(b.owned, k)
	}
	if pending := l.pending[zone]; len(pending) > 0 {
		// A restart must not take them for owned.
		gone := make(map[rrset.Key]bool, len(keys))
		for _, k := range keys {
			gone[k] = true
		}
		l.pending[zone] = slices.DeleteFunc(pending, func(k rrset.Key) bool { return gone[k] })
		if err := l.cfg.WAL.Append(zone, keys, false); err != nil {
			return fmt.Errorf("releasing %d rrsets: %w", len(keys), err)
		}
	}
	if err := l.write(ctx, zone, b, keys, false); err != nil {
		return fmt.Errorf("releasing %d rrsets: %w", len(keys), err)
	}
	return nil
}

// write appends claims or releases to the zone's journal: one metadata
// write per MaxJournalBytes of entries.
func (l *Ledger) write(ctx context.Context, zone string, b *book, keys []rrset.Key, claim bool) error {
	for _, values := range EncodeJournal(zone, keys, claim) {
		kind := JournalKind(b.next)
		if err := l.cfg.Meta.SetMetadata(ctx, zone, kind, values); err != nil {
			return fmt.Errorf("writing ownership journal %s: %w", kind, err)
		}
		b.next++
		b.journal = append(b.journal, kind)
	}
	for _, i := range Touched(keys) {
		b.touched[i] = true
	}
	return nil
}

// CompactDue reports whether zone's journal is long enough to fold.
func (l *Ledger) CompactDue(zone string) bool {
	b := l.zones[zone]
	return b != nil && len(b.journal) >= CompactAfter
}

// Compact folds zone's journal into the buckets it touched, then empties
// the journal kinds. A failure leaves a valid record behind.
func (l *Ledger) Compact(ctx context.Context, zone string) error {
	b := l.zones[zone]
	if b == nil {
		return nil
	}
	buckets := make([]int, 0, len(b.touched))
	for i := range b.touched {
		buckets = append(buckets, i)
	}
	slices.Sort(buckets)
	values := EncodeBuckets(zone, b.owned, buckets)
	for _, i := range buckets {
		if err := l.cfg.Meta.SetMetadata(ctx, zone, Kind(i), values[i]); err != nil {
			return fmt.Errorf("compacting ownership bucket %s: %w", Kind(i), err)
		}
	}
	for len(b.journal) > 0 {
		if err := l.cfg.Meta.SetMetadata(ctx, zone, b.journal[0], []string{}); err != nil {
			return fmt.Errorf("emptying ownership journal %s: %w", b.journal[0], err)
		}
		b.journal = b.journal[1:]
	}
	clear(b.touched)
	return nil
}

// CheckpointDue returns when logged claims are due to be copied into the
// zone metadata.
func (l *Ledger) CheckpointDue() (time.Time, bool) { return l.due, !l.due.IsZero() }

// Postpone moves a due checkpoint one CheckpointDelay on: the writer is
// busy with changes.
func (l *Ledger) Postpone() {
	if !l.due.IsZero() {
		l.due = l.cfg.Now().Add(l.cfg.CheckpointDelay)
	}
}

// Checkpoint copies the logged claims into the zones' metadata, then
// clears the log, and returns how many it copied. On failure everything
// stays logged, and the next checkpoint is due a CheckpointDelay later.
// Claims of a zone not loaded stay in the log until it is (and a later
// claim makes a checkpoint due again).
func (l *Ledger) Checkpoint(ctx context.Context) (int, error) {
	l.due = time.Time{}
	if len(l.pending) == 0 {
		return 0, nil
	}
	n := 0
	for zone, pending := range l.pending {
		b := l.zones[zone]
		if b == nil {
			continue
		}
		// In place: after a new node's first pass the log holds every
		// RRset of its zones, and a copy would double that at the peak.
		// What it drops (released keys, repeats) stays unowned either way.
		keys := slices.DeleteFunc(pending, func(k rrset.Key) bool { return !b.owned.Has(k) })
		rrset.SortKeys(keys)
		keys = slices.Compact(keys)
		l.pending[zone] = keys
		var err error
		if len(keys) >= BulkCheckpoint && len(keys) > len(b.owned)/2 {
			// Most of the record would be journal (a new node's first
			// pass): written as buckets instead, every later read of the
			// record decodes onto the owned set (DecodeOnto) rather than
			// building a journal's worth of keys beside it.
			for i := range Buckets {
				b.touched[i] = true
			}
			err = l.Compact(ctx, zone)
		} else {
			err = l.write(ctx, zone, b, keys, true)
		}
		if err != nil {
			l.due = l.cfg.Now().Add(l.cfg.CheckpointDelay)
			return n, fmt.Errorf("copying logged claims of %s into the zone metadata: %w", zone, err)
		}
		n += len(keys)
		delete(l.pending, zone)
	}
	if len(l.pending) > 0 || l.cfg.WAL == nil {
		return n, nil
	}
	if err := l.cfg.WAL.Clear(); err != nil {
		l.due = l.cfg.Now().Add(l.cfg.CheckpointDelay)
		return n, fmt.Errorf("clearing the claim log: %w", err)
	}
	return n, nil
}

// Forget drops zone from the ledger once the syncer no longer manages it
// (its zone deleted, or left to others): its owned set and the claims the
// WAL holds of it, which would otherwise wait for a Load that never comes
// and keep the log from being cleared. With nothing else pending, the WAL
// is cleared.
func (l *Ledger) Forget(zone string) error {
	delete(l.zones, zone)
	delete(l.pending, zone)
	if len(l.pending) > 0 || l.cfg.WAL == nil {
		return nil
	}
	l.due = time.Time{}
	if err := l.cfg.WAL.Clear(); err != nil {
		return fmt.Errorf("clearing the claim log: %w", err)
	}
	return nil
}

// Pending reports whether logged claims wait for a checkpoint.
func (l *Ledger) Pending() bool { return len(l.pending) > 0 }
