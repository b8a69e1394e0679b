package signerd

import (
	"fmt"
	"slices"
	"time"

	"github.com/miekg/dns"

	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/dnssec"
	"github.com/zonecast/zonecast/internal/signer"
	"github.com/zonecast/zonecast/internal/status"
)

// KeyStore holds the zones' keys (keystore.Store).
type KeyStore interface {
	Keys(zone string) ([]dnssec.Key, error)
	Save(k dnssec.Key) error
	Update(k dnssec.Key) error
}

// keyWatch follows the key files of the zones: what their timing makes
// each key do now, and the ZSK rollovers that --zsk-lifetime schedules.
type keyWatch struct {
	store    KeyStore
	lifetime time.Duration // 0: no scheduled rollover
	rollover signer.Rollover
	current  map[string]signer.KeySet
	states   map[string][]status.Key // of every key file, at the last check
	next     map[string]time.Time    // the next step of each zone's keys
	metrics  *Metrics
	log      zerolog.Logger
}

// check reads the zones' keys at now, starts a scheduled ZSK rollover
// that is due, and hands each signer whose keys changed its new ones. It
// returns what to publish and when the keys' timing next changes (zero:
// never). A zone whose keys cannot be read keeps signing with the keys it
// has.
func (w *keyWatch) check(st *state, now time.Time) ([]zoneChange, time.Time, []error) {
	var out []zoneChange
	var errs []error
	var next time.Time
	for _, zone := range st.order {
		keys, err := w.keys(zone, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ks, at, err := signer.Plan(zone, keys, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !at.IsZero() && (next.IsZero() || at.Before(next)) {
			next = at
		}
		w.states[zone], w.next[zone] = keyStates(keys, ks, now), at
		w.metrics.keys(zone, w.states[zone], at)
		if cur, ok := w.current[zone]; ok && cur.Same(ks) {
			continue
		}
		ch, err := st.zones[zone].SetKeys(ks, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		w.current[zone] = ks
		w.log.Info().Str("zone", zone).Uint16("zsk", ks.ZSK.Tag()).Uints16("ksks", tags(ks.KSKs)).
			Uints16("dnskey", tags(ks.Published)).Msg("zone keys in use")
		if !ch.Empty() {
			out = append(out, zoneChange{zone: zone, serial: st.desired.Seq(zone), Change: ch})
		}
	}
	return out, next, errs
}

// keys returns zone's keys, after starting a ZSK rollover if one is due.
func (w *keyWatch) keys(zone string, now time.Time) ([]dnssec.Key, error) {
	keys, err := w.store.Keys(zone)
	if err != nil {
		return nil, err
	}
	// A failure here only delays the old key's withdrawal: the successor
	// signs from its Activate either way.
	for _, k := range signer.Superseded(keys, w.rollover) {
		if err := w.store.Update(k); err != nil {
			w.log.Error().Err(err).Str("zone", zone).Uint16("zsk", k.Tag()).
				Msg("retiring a ZSK superseded by a newer one failed; it stays published until this succeeds")
			continue
		}
		w.log.Warn().Str("zone", zone).Uint16("zsk", k.Tag()).Time("inactive", k.Inactive).Time("deleted", k.Delete).
			Msg("ZSK superseded by a newer one without an end; retired")
		if keys, err = w.store.Keys(zone); err != nil {
			return nil, err
		}
	}
	if !signer.ZSKDue(zone, keys, now, w.lifetime) {
		return keys, nil
	}
	ks, _, err := signer.Plan(zone, keys, now)
	if err != nil {
		return nil, err
	}
	alg, ttl := ks.ZSK.DNSKEY.Algorithm, ks.ZSK.DNSKEY.Hdr.Ttl
	next, old, err := signer.ZSKRollover(zone, keys, now, w.rollover, func() (dnssec.Key, error) {
		return dnssec.Generate(zone, alg, false, ttl)
	})
	if err == nil {
		err = w.store.Save(next)
	}
	if err == nil {
		err = w.store.Update(old)
	}
	if err != nil {
		return nil, fmt.Errorf("starting the scheduled ZSK rollover of %s: %w", zone, err)
	}
	w.log.Info().Str("zone", zone).Uint16("zsk", old.Tag()).Uint16("next_zsk", next.Tag()).
		Time("signs_from", next.Activate).Time("old_deleted", old.Delete).Msg("scheduled ZSK rollover started")
	return w.store.Keys(zone)
}

func tags(keys []dnssec.Key) []uint16 {
	out := make([]uint16, len(keys))
	for i, k := range keys {
		out[i] = k.Tag()
	}
	return out
}

// keyStates says what each of keys does in ks at now: active (signs),
// published (in the DNSKEY RRset only: before or after it signs) or
// unpublished (its files remain).
func keyStates(keys []dnssec.Key, ks signer.KeySet, now time.Time) []status.Key {
	out := make([]status.Key, 0, len(keys))
	for _, k := range keys {
		sk := status.Key{Tag: k.Tag(), Role: "zsk", Algorithm: dns.AlgorithmToString[k.DNSKEY.Algorithm], State: "unpublished"}
		if k.KSK() {
			sk.Role = "ksk"
		}
		switch {
		case k.Tag() == ks.ZSK.Tag() || slices.ContainsFunc(ks.KSKs, func(a dnssec.Key) bool { return a.Tag() == k.Tag() }):
			sk.State = "active"
		case k.Published(now):
			sk.State = "published"
		}
		out = append(out, sk)
	}
	return out
}
