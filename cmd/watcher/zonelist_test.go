package main

// End-to-end test of the watcher following the fleet's zone list, without
// LXD: the real zonecast-watcher binary as a source user (role source:
// the list read through a watch only) beside a real zonecast-syncer,
// `zonecast-syncer zone add|remove`, read through the watcher's metrics
// and log. Publishing (or not) per zone is internal/lxdwatch's
// TestUnwritableZones.

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/testenv"
	"github.com/zonecast/zonecast/internal/testpdns"
)

// TestZoneListWatcher: the watcher reads the list before it syncs LXD,
// counts its zone unlisted while the list does not hold it, writable once
// `zone add` lists it, unlisted again after `zone remove`, all without a
// restart.
func TestZoneListWatcher(t *testing.T) {
	t.Parallel()
	const wz, other = "lxd.example.test.", "other.example.test."
	users := []bus.UserSpec{{User: "w1", Role: bus.RoleSource, Origin: "h1", Zones: []string{wz}}}
	_, rolePW := testenv.UsersFile(t, users...)
	nats := testenv.StartNATSUsers(t, users)
	s := testenv.StartSyncer(t, testenv.SyncerOptions{Zones: []string{wz}, PDNS: testpdns.Start(t, "gsqlite3"), NATS: nats})
	admin := func(args ...string) {
		t.Helper()
		if out, err := s.Run(t, append(args, "--nats-url", nats.URL, "--nats-password-file", nats.PasswordFile)...); err != nil {
			t.Fatalf("zonecast-syncer %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	admin("zone", "add", other)

	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	w := testenv.StartDaemon(t, "zonecast-watcher", filepath.Join(dir, "watcher.log"), testenv.Binary(t, "watcher"),
		[]string{"--nats-url", nats.URL, "--nats-user", "w1", "--nats-password-file", rolePW, "--zone", wz,
			"--node-id", "h1", "--http-listen", addr, "--log-level", "debug",
			"--lxd-socket", filepath.Join(dir, "no-lxd.socket")}) // never an LXD: the list is read before
	w.HTTPAddr = addr
	metric := func(sample string, want float64) {
		t.Helper()
		var got float64
		testenv.Eventually(t, 20*time.Second, fmt.Sprintf("%s = %v (last %v)", sample, want, &got), func() bool {
			v, err := w.TryMetric(sample)
			got = v
			return err == nil && v == want
		})
	}
	metric("zonecast_watcher_zone_list_read", 1)
	metric(`zonecast_watcher_zone_list_zones{state="unlisted"}`, 1)
	w.WaitLog(t, 10*time.Second, "zone list read: records are written only into the zones of the flags that it lists")
	pid := w.PID()

	admin("zone", "add", wz)
	metric(`zonecast_watcher_zone_list_zones{state="writable"}`, 1)
	metric(`zonecast_watcher_zone_list_zones{state="unlisted"}`, 0)
	w.WaitLog(t, 10*time.Second, "zone listed: records there are written")

	admin("zone", "remove", wz)
	metric(`zonecast_watcher_zone_list_zones{state="unlisted"}`, 1)
	w.WaitLog(t, 10*time.Second, "zone not in the fleet's zone list: records there are refused")
	if w.PID() != pid {
		t.Fatal("the watcher restarted")
	}
	if strings.Contains(w.LogTail(400), "Permissions Violation") || strings.Contains(w.LogTail(400), "zone list unavailable") {
		t.Errorf("the source user could not follow the list:\n%s", w.LogTail(40))
	}
}
