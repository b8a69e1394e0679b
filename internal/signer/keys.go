package signer

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/zonecast/zonecast/internal/dnssec"
)

// KeySet is what a zone's keys do at one time.
type KeySet struct {
	KSKs      []dnssec.Key // sign DNSKEY, CDS and CDNSKEY; two during a KSK rollover, the older first
	ZSK       dnssec.Key   // signs the rest
	Published []dnssec.Key // the DNSKEY RRset
}

// Same reports whether ks and o have the same keys in the same roles.
func (ks KeySet) Same(o KeySet) bool {
	return sameTags(ks.KSKs, o.KSKs) && sameTags(ks.Published, o.Published) &&
		ks.ZSK.DNSKEY != nil && o.ZSK.DNSKEY != nil && ks.ZSK.Tag() == o.ZSK.Tag()
}

func sameTags(a, b []dnssec.Key) bool {
	return slices.EqualFunc(a, b, func(x, y dnssec.Key) bool { return x.Tag() == y.Tag() })
}

// ErrNoActiveKey is returned when the key timing leaves a zone without
// an active KSK or ZSK.
var ErrNoActiveKey = errors.New("no active key")

// started is when a key began to sign: Activate, else Created.
func started(k dnssec.Key) time.Time {
	if !k.Activate.IsZero() {
		return k.Activate
	}
	return k.Created
}

func byStart(a, b dnssec.Key) int {
	if c := started(a).Compare(started(b)); c != 0 {
		return c
	}
	return cmp.Compare(a.Tag(), b.Tag())
}

// Plan says what zone's keys do at now, from their timing, and when that
// next changes (zero: never).
func Plan(zone string, keys []dnssec.Key, now time.Time) (KeySet, time.Time, error) {
	var ks KeySet
	var zsks []dnssec.Key
	var next time.Time
	for _, k := range keys {
		for _, t := range []time.Time{k.Publish, k.Activate, k.Inactive, k.Delete} {
			if t.After(now) && (next.IsZero() || t.Before(next)) {
				next = t
			}
		}
		if k.Published(now) {
			ks.Published = append(ks.Published, k)
		}
		if !k.Active(now) {
			continue
		}
		if k.KSK() {
			ks.KSKs = append(ks.KSKs, k)
		} else {
			zsks = append(zsks, k)
		}
	}
	if len(ks.KSKs) == 0 || len(zsks) == 0 {
		return KeySet{}, next, fmt.Errorf("keys of %s at %s: %w (want an active KSK and an active ZSK, have %d and %d)",
			zone, now.UTC().Format(time.RFC3339), ErrNoActiveKey, len(ks.KSKs), len(zsks))
	}
	slices.SortFunc(ks.KSKs, byStart)
	slices.SortFunc(zsks, byStart)
	ks.ZSK = zsks[len(zsks)-1] // the newest: a successor takes over at its Activate
	slices.SortFunc(ks.Published, func(a, b dnssec.Key) int { return cmp.Compare(a.Tag(), b.Tag()) })
	return ks, next, nil
}

// ErrRolloverInProgress is returned for a rollover started while the last
// one of the same kind has not ended.
var ErrRolloverInProgress = errors.New("a rollover of this kind is in progress")

// Rollover timing of a ZSK rollover by pre-publication: the new key is
// published Prepublish before it signs (longer than the DNSKEY TTL, so
// that resolvers know it when its signatures come), and the old key
// stays published Retire after it stops signing (longer than any TTL of
// the zone, so that its signatures have left the caches).
type Rollover struct {
	Prepublish, Retire time.Duration
}

// ZSKRollover starts a ZSK rollover at now: next, a new ZSK made by gen,
// is published now and signs from now+Prepublish; the active ZSK, retired
// then, is returned with its Inactive and Delete set.
func ZSKRollover(zone string, keys []dnssec.Key, now time.Time, r Rollover, gen func() (dnssec.Key, error)) (next, old dnssec.Key, err error) {
	ks, _, err := Plan(zone, keys, now)
	if err != nil {
		return next, old, err
	}
	for _, k := range keys {
		if !k.KSK() && started(k).After(now) {
			return next, old, fmt.Errorf("rolling the ZSK of %s: %w: ZSK %d signs from %s", zone, ErrRolloverInProgress,
				k.Tag(), k.Activate.UTC().Format(time.RFC3339))
		}
	}
	if next, err = gen(); err != nil {
		return next, old, err
	}
	at := now.UTC().Truncate(time.Second)
	next.Created, next.Publish, next.Activate = at, at, at.Add(r.Prepublish)
	old = ks.ZSK
	old.Inactive, old.Delete = next.Activate, next.Activate.Add(r.Retire)
	return next, old, nil
}

// Superseded returns the ZSKs of keys that a newer ZSK follows while they
// have no end: the old key of a rollover whose retirement was not
// written (its key file failed to update after the successor's was
// saved). Left so, it would stay in the DNSKEY RRset for good. Each is
// returned to be written back retired as ZSKRollover retires it: inactive
// when its successor signs, deleted Retire after.
func Superseded(keys []dnssec.Key, r Rollover) []dnssec.Key {
	var zsks []dnssec.Key
	for _, k := range keys {
		if !k.KSK() {
			zsks = append(zsks, k)
		}
	}
	slices.SortFunc(zsks, byStart)
	var out []dnssec.Key
	for i, k := range zsks {
		if i == len(zsks)-1 || !k.Inactive.IsZero() || !k.Delete.IsZero() {
			continue
		}
		succ := zsks[i+1]
		if !started(succ).After(started(k)) {
			continue // two ZSKs that start together: the operator's choice
		}
		k.Inactive = started(succ)
		k.Delete = k.Inactive.Add(r.Retire)
		out = append(out, k)
	}
	return out
}

// ZSKDue reports whether the active ZSK has signed for lifetime by now
// and no successor is on its way: a scheduled rollover is due.
func ZSKDue(zone string, keys []dnssec.Key, now time.Time, lifetime time.Duration) bool {
	ks, _, err := Plan(zone, keys, now)
	if err != nil || lifetime <= 0 || !ks.ZSK.Inactive.IsZero() {
		return false
	}
	for _, k := range keys {
		if !k.KSK() && started(k).After(now) {
			return false
		}
	}
	return !started(ks.ZSK).IsZero() && !now.Before(started(ks.ZSK).Add(lifetime))
}

// KSKRollover starts a KSK rollover at now: a new KSK made by gen,
// published and signing the DNSKEY RRset beside the current one at once,
// and announced to the parent in the CDS and CDNSKEY RRsets with it.
// CompleteKSKRollover ends it.
func KSKRollover(zone string, keys []dnssec.Key, now time.Time, gen func() (dnssec.Key, error)) (dnssec.Key, error) {
	ks, _, err := Plan(zone, keys, now)
	if err != nil {
		return dnssec.Key{}, err
	}
	if len(ks.KSKs) > 1 {
		return dnssec.Key{}, fmt.Errorf("rolling the KSK of %s: %w: %d KSKs active (complete it first)", zone, ErrRolloverInProgress, len(ks.KSKs))
	}
	k, err := gen()
	if err != nil {
		return dnssec.Key{}, err
	}
	at := now.UTC().Truncate(time.Second)
	k.Created, k.Publish, k.Activate = at, at, at
	return k, nil
}

// CompleteKSKRollover ends a KSK rollover once the parent serves the new
// KSK's DS: the older KSKs stop signing and leave the DNSKEY, CDS and
// CDNSKEY RRsets at now. They are returned with their new timing.
func CompleteKSKRollover(zone string, keys []dnssec.Key, now time.Time) ([]dnssec.Key, error) {
	ks, _, err := Plan(zone, keys, now)
	if err != nil {
		return nil, err
	}
	if len(ks.KSKs) < 2 {
		return nil, fmt.Errorf("completing the KSK rollover of %s: only KSK %d is active: no rollover to complete", zone, ks.KSKs[0].Tag())
	}
	at := now.UTC().Truncate(time.Second)
	old := ks.KSKs[:len(ks.KSKs)-1]
	for i := range old {
		old[i].Inactive, old[i].Delete = at, at
	}
	return old, nil
}
