package main

import (
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/testenv"
	"github.com/zonecast/zonecast/internal/testpdns"
)

// TestGatewayRole: the real gateway binary runs with a NATS user of role
// gateway (users file), confined to its zone: it loads its bucket, follows
// the stream and publishes an nsupdate's record, which the syncer writes.
func TestGatewayRole(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "gw-password")
	pw, err := bus.EnsurePassword(pwFile)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	users, err := bus.ParseUsers(strings.NewReader(`{"users":[{"user":"gw1","password_hash":"` + string(hash) +
		`","role":"gateway","zones":["` + zone + `"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	nats := testenv.StartNATSUsers(t, users)
	p := testpdns.Start(t, "gsqlite3")
	s := testenv.StartSyncer(t, testenv.SyncerOptions{Zones: []string{zone}, PDNS: p, NATS: nats})
	e := &env{pdns: []*testpdns.Server{p}, sync: s}
	e.gw = testenv.StartGateway(t, testenv.GatewayOptions{Syncer: s, Zones: []string{zone},
		Extra: []string{"--nats-user", "gw1", "--nats-password-file", pwFile}})
	// The key command runs as the harness's admin user; a gateway user
	// writing its bucket is covered by internal/bus TestGatewayPermissions.
	key := e.addKey(t, "rolekey", "--algorithm", "hmac-sha256", "--zone", zone)
	e.mustNsupdate(t, key, "update add role.dyn.example.test. 60 A 192.0.2.77")
	e.waitDig(t, "role."+zone, "A", "192.0.2.77")
}
