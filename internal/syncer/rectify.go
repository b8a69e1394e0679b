package syncer

import (
	"context"
	"time"
)

// API rectify is off (it would cost a whole-zone rectify per PATCH), so
// the empty non-terminals and delegation flags of a zone whose structure
// changed (zoneState.takeIn) are fixed here, once per burst: a rectify is
// due RectifyDelay after the first structural change, and waits while
// changes keep coming.

// rectifier keeps when each zone's rectify is due.
type rectifier struct {
	delay time.Duration
	now   func() time.Time
	due   map[string]time.Time
}

func newRectifier(delay time.Duration, now func() time.Time) *rectifier {
	return &rectifier{delay: delay, now: now, due: map[string]time.Time{}}
}

// schedule makes zone's rectify due a delay from now, unless one is due
// already.
func (r *rectifier) schedule(zone string) {
	if _, ok := r.due[zone]; !ok {
		r.due[zone] = r.now().Add(r.delay)
	}
}

// postpone moves every due rectify a delay from now: changes first, as a
// rectify costs a pass over the whole zone and would hold them up.
func (r *rectifier) postpone() {
	at := r.now().Add(r.delay)
	for z, due := range r.due {
		if due.Before(at) {
			r.due[z] = at
		}
	}
}

// forget drops zone's rectify, if one is due.
func (r *rectifier) forget(zone string) { delete(r.due, zone) }

// next returns when the next rectify is due.
func (r *rectifier) next() (time.Time, bool) {
	var first time.Time
	for _, due := range r.due {
		if first.IsZero() || due.Before(first) {
			first = due
		}
	}
	return first, !first.IsZero()
}

// takeDue returns the zones whose rectify is due, in zones' order, and
// forgets them.
func (r *rectifier) takeDue(zones []string) []string {
	now := r.now()
	var out []string
	for _, z := range zones {
		if due, ok := r.due[z]; ok && !due.After(now) {
			delete(r.due, z)
			out = append(out, z)
		}
	}
	return out
}

// rectifyDue rectifies the zones whose rectify is due; a failure is tried
// again a delay later.
func (s *Syncer) rectifyDue(ctx context.Context) {
	for _, zone := range s.rect.takeDue(s.allZones()) {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.WriteTimeout)
		start := time.Now()
		err := s.pdns.Rectify(wctx, zone)
		if err == nil {
			err = s.pdns.FlushCache(wctx, zone)
		}
		cancel()
		if err != nil {
			s.rect.schedule(zone)
			s.log.Warn().Err(err).Str("zone", zone).Msg("rectify failed; will retry")
			continue
		}
		s.m.Rectifies.WithLabelValues(zone).Inc()
		s.log.Debug().Str("zone", zone).Dur("took", time.Since(start)).Msg("rectified zone")
	}
}
