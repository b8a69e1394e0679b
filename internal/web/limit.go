package web

import (
	"math"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limitLevel is one level of the login limit: a token bucket of burst
// attempts, refilled at rate.
type limitLevel struct {
	name  string // for the log: which level refused
	rate  rate.Limit
	burst int
}

// The levels of loginLimits, finest first.
const (
	levelAddress = iota // an IPv4 address, an IPv6 /64
	levelNetwork        // an IPv6 /48: a site, with its 65,536 /64s
	levelTotal          // every address together
	levels
)

// bucket is a token bucket of one level; tokens as of last.
type bucket struct {
	tokens float64
	last   time.Time
}

// at returns b's tokens at now.
func (b *bucket) at(l limitLevel, now time.Time) float64 {
	t := b.tokens
	if d := now.Sub(b.last); d > 0 {
		t += d.Seconds() * float64(l.rate)
	}
	return min(t, float64(l.burst))
}

// untilOne is how long after now b has a token.
func (b *bucket) untilOne(l limitLevel, now time.Time) time.Duration {
	t := b.at(l, now)
	if t >= 1 {
		return 0
	}
	if l.rate <= 0 {
		return time.Hour
	}
	return time.Duration(math.Ceil((1 - t) / float64(l.rate) * float64(time.Second)))
}

type limitKey struct {
	level int
	key   string
}

// loginLimits counts login attempts at every level at once: an attempt
// needs a token of its address, of its IPv6 /48 and of the total. A
// subscriber's /64 is one address, and an attacker with a /48 gets no
// more than a site's share; the total bounds what many networks together
// can try, so that guessing across many accounts stays slow.
//
// At most max buckets of addresses and networks are kept. A full bucket is
// as good as none and is forgotten when room is needed; when no bucket is
// full, a new address is refused rather than another's count forgotten.
// The total bounds how fast buckets can be used, so this takes more
// networks than the total lets try.
type loginLimits struct {
	levels [levels]limitLevel
	max    int

	mu      sync.Mutex
	total   bucket
	buckets map[limitKey]*bucket
}

func newLoginLimits(address, network, total limitLevel, max int) *loginLimits {
	l := &loginLimits{levels: [levels]limitLevel{address, network, total}, max: max, buckets: map[limitKey]*bucket{}}
	l.total.tokens = float64(total.burst)
	return l
}

// attempt is a login attempt counted (ok), or refused: then refused names
// the level that had no token left ("table": no room for the address) and
// wait is how long until it has one.
type attempt struct {
	keys    []limitKey
	ok      bool
	refused string
	wait    time.Duration
}

// limitKeys are the buckets an attempt from remote (an address, without
// the port) takes from, finest first, the total aside. An address that
// does not parse counts as itself.
func limitKeys(remote string) []limitKey {
	ip, err := netip.ParseAddr(remote)
	if err != nil {
		return []limitKey{{levelAddress, remote}}
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return []limitKey{{levelAddress, ip.String()}}
	}
	p64, _ := ip.Prefix(64)
	p48, _ := ip.Prefix(48)
	return []limitKey{{levelAddress, p64.String()}, {levelNetwork, p48.String()}}
}

// take counts an attempt from remote at now, in every level or none.
func (l *loginLimits) take(remote string, now time.Time) attempt {
	keys := limitKeys(remote)
	l.mu.Lock()
	defer l.mu.Unlock()
	// Coarsest first: an attempt the total refuses makes no bucket.
	if w := l.total.untilOne(l.levels[levelTotal], now); w > 0 {
		return attempt{refused: l.levels[levelTotal].name, wait: w}
	}
	bs := make([]*bucket, len(keys))
	for i := len(keys) - 1; i >= 0; i-- {
		k := keys[i]
		b := l.buckets[k]
		if b == nil {
			if !l.room(now) {
				return attempt{refused: "table", wait: l.untilRoom(now)}
			}
			b = &bucket{tokens: float64(l.levels[k.level].burst), last: now}
			l.buckets[k] = b
		}
		if w := b.untilOne(l.levels[k.level], now); w > 0 {
			return attempt{refused: l.levels[k.level].name, wait: w}
		}
		bs[i] = b
	}
	l.total.tokens, l.total.last = l.total.at(l.levels[levelTotal], now)-1, now
	for i, b := range bs {
		b.tokens, b.last = b.at(l.levels[keys[i].level], now)-1, now
	}
	return attempt{keys: keys, ok: true}
}

// refund gives a's tokens back (a successful login).
func (l *loginLimits) refund(a attempt, now time.Time) {
	if !a.ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	give := func(b *bucket, lv limitLevel) {
		b.tokens, b.last = min(b.at(lv, now)+1, float64(lv.burst)), now
	}
	give(&l.total, l.levels[levelTotal])
	for _, k := range a.keys {
		// A bucket forgotten meanwhile was full.
		if b := l.buckets[k]; b != nil {
			give(b, l.levels[k.level])
		}
	}
}

// room reports whether there is room for one more bucket, forgetting the
// full ones if there is not.
func (l *loginLimits) room(now time.Time) bool {
	if len(l.buckets) < l.max {
		return true
	}
	for k, b := range l.buckets {
		if lv := l.levels[k.level]; b.at(lv, now) >= float64(lv.burst) {
			delete(l.buckets, k)
		}
	}
	return len(l.buckets) < l.max
}

// untilRoom is how long until the first bucket is full again.
func (l *loginLimits) untilRoom(now time.Time) time.Duration {
	soonest := time.Hour
	for k, b := range l.buckets {
		lv := l.levels[k.level]
		if lv.rate <= 0 {
			continue
		}
		d := time.Duration(math.Ceil((float64(lv.burst) - b.at(lv, now)) / float64(lv.rate) * float64(time.Second)))
		soonest = min(soonest, d)
	}
	return soonest
}
