package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/zonecast/zonecast/internal/testenv"
)

// TestRectifyOnlyWhenDeep: names one label below the apex of a flat zone
// are served without a rectify (none is asked for), and a name deeper down
// gets its empty non-terminal from one: the name above it answers NOERROR,
// not NXDOMAIN (which a resolver doing RFC 8020 would take as "nothing
// below"), and NXDOMAIN again once the deep name is gone.
func TestRectifyOnlyWhenDeep(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, false)
		rectifies := func() float64 { return e.sync.Metric(t, `zonecast_syncer_rectifies_total{zone="`+zone+`"}`) }
		for i := range 5 {
			e.publish(t, fmt.Sprintf("flat%d.%s", i, zone), "A", "node1", 60, fmt.Sprintf("192.0.2.%d", i+1))
		}
		e.publish(t, "flat0."+zone, "AAAA", "node1", 60, "2001:db8::1")
		e.publish(t, "flat4."+zone, "A", "node1", 0)
		e.waitCaughtUp(t)
		e.waitDig(t, "flat3."+zone, "A", "192.0.2.4")
		e.waitDig(t, "flat0."+zone, "AAAA", "2001:db8::1")
		e.waitStatus(t, "flat4."+zone, "A", "NXDOMAIN")
		// A rectify would be due a second (RectifyDelay) after the
		// writes: give it three.
		time.Sleep(3 * time.Second)
		if n := rectifies(); n != 0 {
			t.Fatalf("%v rectifies of a flat zone, want 0", n)
		}

		e.publish(t, "h.rack1."+zone, "A", "node1", 60, "192.0.2.99")
		e.waitDig(t, "h.rack1."+zone, "A", "192.0.2.99")
		e.waitStatus(t, "rack1."+zone, "A", "NOERROR")
		testenv.Eventually(t, 10*time.Second, "one rectify", func() bool { return rectifies() == 1 })

		e.publish(t, "h.rack1."+zone, "A", "node1", 0)
		e.waitStatus(t, "h.rack1."+zone, "A", "NXDOMAIN")
		e.waitStatus(t, "rack1."+zone, "A", "NXDOMAIN")
		testenv.Eventually(t, 10*time.Second, "a second rectify", func() bool { return rectifies() == 2 })
	})
}
