package signerd

import (
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/dnssec"
	"github.com/zonecast/zonecast/internal/signer"
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
		if cur, ok := w.current[zone]; ok && cur.Same(ks) {
			continue
		}
		ch, err := st.zones[zone].SetKeys(ks, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		w.current[zone] = ks
		w.metrics.keys(zone, keys, ks, at, now)
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
