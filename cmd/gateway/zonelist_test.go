package main

// End-to-end test of the gateway following the fleet's zone list: the
// real zonecast-gateway binary as a gateway user (role gateway: the list
// read through a watch only), a real zonecast-syncer with its PowerDNS,
// `zonecast-syncer zone add|remove`, nsupdate and dig.

import (
	"strings"
	"testing"
	"time"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/testenv"
	"github.com/zonecast/zonecast/internal/testpdns"
)

// TestZoneListGateway: with a zone list in use, the gateway writes only
// into its zones that are listed: an update into its unlisted zone is
// refused NOTAUTH (dyndns2: nohost) and publishes nothing, one into a
// listed zone is served by the syncer; `zone add` makes the zone writable without a
// restart, `zone remove` stops it.
func TestZoneListGateway(t *testing.T) {
	t.Parallel()
	users := []bus.UserSpec{{User: "gw", Role: bus.RoleGateway, Zones: []string{zone, zone2}}}
	_, rolePW := testenv.UsersFile(t, users...)
	nats := testenv.StartNATSUsers(t, users)
	p := testpdns.Start(t, "gsqlite3")
	s := testenv.StartSyncer(t, testenv.SyncerOptions{Zones: []string{zone}, PDNS: p, NATS: nats})
	admin := func(args ...string) string {
		t.Helper()
		out, err := s.Run(t, append(args, "--nats-url", nats.URL, "--nats-password-file", nats.PasswordFile)...)
		if err != nil {
			t.Fatalf("zonecast-syncer %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	// The list holds the other zone only: the gateway's first zone,
	// which the syncer serves by its flag, is not listed.
	admin("zone", "add", zone2)
	gw := testenv.StartGateway(t, testenv.GatewayOptions{Syncer: s, Zones: []string{zone, zone2}, Dyndns: true,
		Extra: []string{"--nats-user", "gw", "--nats-password-file", rolePW}})
	e := &env{pdns: []*testpdns.Server{p}, sync: s, gw: gw}
	key := e.addKey(t, "zl", "--zone", zone, "--zone", zone2)
	host := "home." + zone
	gw.Admin(t, "host", "add", host, "--ttl", "30")
	token := strings.TrimSpace(gw.Admin(t, "token", "issue", host))
	before := e.lastSeq(t)
	if got := e.curl(t, host, token, "hostname="+host+"&myip=192.0.2.50"); got != "nohost" {
		t.Fatalf("dyndns into the unlisted zone: %q, want nohost", got)
	}
	if after := e.lastSeq(t); after != before {
		t.Fatalf("refused dyndns request published: %d -> %d", before, after)
	}
	if n := gw.Metric(t, `zonecast_gateway_zone_list_refusals_total{via="dyndns"}`); n != 1 {
		t.Errorf("dyndns refusals counted %v, want 1", n)
	}

	e.failNsupdate(t, key, "update add a."+zone+" 60 A 192.0.2.1", "NOTAUTH")
	if n := gw.Metric(t, `zonecast_gateway_zone_list_refusals_total{via="dns"}`); n != 1 {
		t.Errorf("refusals counted %v, want 1", n)
	}
	if n := gw.Metric(t, `zonecast_gateway_zone_list_zones{state="unlisted"}`); n != 1 {
		t.Errorf("unlisted zones %v, want 1", n)
	}
	e.mustNsupdate(t, key, "zone "+zone2+"\nupdate add b."+zone2+" 60 A 192.0.2.2")
	e.waitDig(t, "b."+zone2, "A", "192.0.2.2")

	// Listed now: writable without a restart of the gateway.
	pid := gw.PID()
	admin("zone", "add", zone)
	testenv.Eventually(t, 10*time.Second, "the gateway taking the added zone in", func() bool {
		v, err := gw.TryMetric(`zonecast_gateway_zone_list_zones{state="unlisted"}`)
		return err == nil && v == 0
	})
	e.mustNsupdate(t, key, "update add a."+zone+" 60 A 192.0.2.1")
	e.waitDig(t, "a."+zone, "A", "192.0.2.1")
	if got := e.curl(t, host, token, "hostname="+host+"&myip=192.0.2.50"); got != "good 192.0.2.50" {
		t.Fatalf("dyndns into the listed zone: %q", got)
	}
	e.waitDig(t, host, "A", "192.0.2.50")

	// Removed: refused again.
	admin("zone", "remove", zone2)
	testenv.Eventually(t, 10*time.Second, "the gateway taking the removal in", func() bool {
		v, err := gw.TryMetric(`zonecast_gateway_zone_list_zones{state="unlisted"}`)
		return err == nil && v == 1
	})
	e.failNsupdate(t, key, "zone "+zone2+"\nupdate add c."+zone2+" 60 A 192.0.2.3", "NOTAUTH")
	if gw.PID() != pid {
		t.Fatal("the gateway restarted")
	}
	if !strings.Contains(gw.LogTail(200), "not in the fleet's zone list") {
		t.Error("the log does not say why the updates were refused")
	}
}
