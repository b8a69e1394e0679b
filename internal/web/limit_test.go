package web

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func TestLimitKeys(t *testing.T) {
	t.Parallel()
	cases := map[string][]limitKey{
		"192.0.2.7":                    {{levelAddress, "192.0.2.7"}},
		"::ffff:192.0.2.7":             {{levelAddress, "192.0.2.7"}},
		"2001:db8:1:2:3:4:5:6":         {{levelAddress, "2001:db8:1:2::/64"}, {levelNetwork, "2001:db8:1::/48"}},
		"fe80::1%eth0":                 {{levelAddress, "fe80::/64"}, {levelNetwork, "fe80::/48"}},
		"2001:db8:1:ffff:ffff::1":      {{levelAddress, "2001:db8:1:ffff::/64"}, {levelNetwork, "2001:db8:1::/48"}},
		"@unix-socket, not an address": {{levelAddress, "@unix-socket, not an address"}},
	}
	for remote, want := range cases {
		if got := limitKeys(remote); !slices.Equal(got, want) {
			t.Errorf("limitKeys(%q) = %v, want %v", remote, got, want)
		}
	}
}

// testLimits: 5 per address, one more per 10 s; 20 per /48, one more per
// 2.5 s; total as given.
func testLimits(totalBurst, max int) *loginLimits {
	r := rate.Every(10 * time.Second)
	return newLoginLimits(limitLevel{"address", r, 5}, limitLevel{"network", 4 * r, 20},
		limitLevel{"total", 1, totalBurst}, max)
}

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func TestLoginLimitsAddress(t *testing.T) {
	t.Parallel()
	l := testLimits(100, 100)
	for i := range 5 {
		if a := l.take("198.51.100.7", t0); !a.ok {
			t.Fatalf("attempt %d refused by %s", i, a.refused)
		}
	}
	a := l.take("198.51.100.7", t0)
	if a.ok || a.refused != "address" || a.wait != 10*time.Second {
		t.Fatalf("sixth attempt: %+v", a)
	}
	// A refused attempt takes nothing of the total.
	if got := l.total.at(l.levels[levelTotal], t0); got != 95 {
		t.Fatalf("total %v after 5 attempts and a refused one, want 95", got)
	}
	if a := l.take("198.51.100.8", t0); !a.ok {
		t.Fatalf("another address refused by %s", a.refused)
	}
	if a := l.take("198.51.100.7", t0.Add(9*time.Second)); a.ok || a.wait != time.Second {
		t.Fatalf("9 s later: %+v", a)
	}
	if a := l.take("198.51.100.7", t0.Add(10*time.Second)); !a.ok {
		t.Fatalf("10 s later refused by %s", a.refused)
	}
}

func TestLoginLimitsRefund(t *testing.T) {
	t.Parallel()
	l := testLimits(3, 100)
	// Successful logins give everything back: many in a row are fine.
	for i := range 50 {
		a := l.take("2001:db8::1", t0)
		if !a.ok {
			t.Fatalf("login %d refused by %s", i, a.refused)
		}
		l.refund(a, t0)
	}
	lv := l.levels
	if tot, a64, a48 := l.total.at(lv[levelTotal], t0), l.buckets[limitKey{levelAddress, "2001:db8::/64"}].at(lv[levelAddress], t0),
		l.buckets[limitKey{levelNetwork, "2001:db8::/48"}].at(lv[levelNetwork], t0); tot != 3 || a64 != 5 || a48 != 20 {
		t.Fatalf("after refunds: total %v, /64 %v, /48 %v; want all whole", tot, a64, a48)
	}
	l.refund(attempt{}, t0) // a refused attempt has nothing to give back
	if got := l.total.at(lv[levelTotal], t0); got != 3 {
		t.Fatalf("total %v after refunding a refused attempt", got)
	}
}

func TestLoginLimitsNetwork(t *testing.T) {
	t.Parallel()
	l := testLimits(1000, 1000)
	// An attacker with a /48 takes a new /64 for every attempt: the /48
	// stops them after the network's burst, not 65,536 × 5 attempts.
	n := 0
	for i := range 100 {
		a := l.take("2001:db8:7:"+strconv.FormatInt(int64(i), 16)+"::1", t0)
		if !a.ok {
			if a.refused != "network" || a.wait != 2500*time.Millisecond {
				t.Fatalf("attempt %d: %+v", i, a)
			}
			break
		}
		n++
	}
	if n != 20 {
		t.Fatalf("%d attempts from one /48, want 20", n)
	}
	// The /64s it refused keep their tokens; another /48 is apart.
	if a := l.take("2001:db8:8::1", t0); !a.ok {
		t.Fatalf("another /48 refused by %s", a.refused)
	}
}

func TestLoginLimitsTotal(t *testing.T) {
	t.Parallel()
	l := testLimits(3, 100)
	for i := range 3 {
		if a := l.take("192.0.2."+strconv.Itoa(i+1), t0); !a.ok {
			t.Fatalf("attempt %d refused by %s", i, a.refused)
		}
	}
	a := l.take("192.0.2.9", t0)
	if a.ok || a.refused != "total" || a.wait != time.Second {
		t.Fatalf("fourth address: %+v", a)
	}
	// The total refused before a bucket was made for the address.
	if _, ok := l.buckets[limitKey{levelAddress, "192.0.2.9"}]; ok {
		t.Fatal("a refused attempt made a bucket")
	}
}

func TestLoginLimitsTable(t *testing.T) {
	t.Parallel()
	l := testLimits(1000, 3)
	// Three addresses in use fill the table.
	for _, r := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
		if a := l.take(r, t0); !a.ok {
			t.Fatalf("%s refused by %s", r, a.refused)
		}
	}
	for range 4 {
		l.take("192.0.2.1", t0) // the attacker's bucket, now empty
	}
	// A new address is refused rather than the others forgotten, and
	// told when there is room.
	a := l.take("192.0.2.4", t0)
	if a.ok || a.refused != "table" || a.wait != 10*time.Second {
		t.Fatalf("a fourth address in a full table: %+v", a)
	}
	if a := l.take("192.0.2.1", t0); a.ok || a.refused != "address" {
		t.Fatalf("the attacker's address after the refusal: %+v", a)
	}
	// 10 s on, 192.0.2.2 and .3 are full again and make room; the
	// attacker's bucket, not full yet, is kept.
	now := t0.Add(10 * time.Second)
	if a := l.take("192.0.2.4", now); !a.ok {
		t.Fatalf("a fourth address once there is room: refused by %s", a.refused)
	}
	if b := l.buckets[limitKey{levelAddress, "192.0.2.1"}]; b == nil || b.at(l.levels[levelAddress], now) != 1 {
		t.Fatalf("the attacker's bucket: %+v", b)
	}
}
