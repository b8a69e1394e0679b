package status

import (
	"strings"
	"testing"
	"time"
)

func TestClassifySigner(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	opts := Options{StaleAfter: 20 * time.Second, MaxBehind: 30 * time.Second}
	signer := func(age time.Duration, expiry time.Time) Node {
		return Node{Node: "signer", Time: now.Add(-age), Signer: &Signer{Zones: []SignedZone{{Zone: "z.", Serial: 7,
			EarliestExpiry: expiry, Keys: []Key{{Tag: 1, Role: "ksk", State: "active"}, {Tag: 2, Role: "zsk", State: "active"}}}}}}
	}
	nodes := []Row{{Node: "ns1", Zone: "z.", Serial: "7"}, {Node: "ns2", Zone: "z.", Serial: "6"}, {Node: "ns1", Zone: "other.", Serial: "7"}}
	tests := map[string]struct {
		n       Node
		state   string
		failing bool
	}{
		"ok":              {n: signer(time.Second, now.Add(10*24*time.Hour)), state: "ok"},
		"stale, recent":   {n: signer(25*time.Second, now.Add(10*24*time.Hour)), state: "stale"},
		"stale, long":     {n: signer(time.Minute, now.Add(10*24*time.Hour)), state: "stale", failing: true},
		"expiring":        {n: signer(time.Second, now.Add(12*time.Hour)), state: "expiring", failing: true},
		"nothing expires": {n: signer(time.Second, time.Time{}), state: "ok"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rows := ClassifySigner(tc.n, nodes, now, opts)
			if len(rows) != 1 {
				t.Fatalf("rows %+v", rows)
			}
			r := rows[0]
			if r.State != tc.state || r.Failing != tc.failing {
				t.Errorf("state %q failing %v, want %q %v", r.State, r.Failing, tc.state, tc.failing)
			}
			if strings.Join(r.Serving, ",") != "ns1" || strings.Join(r.Nodes, ",") != "ns1,ns2" {
				t.Errorf("served by %v of %v, want ns1 of ns1,ns2", r.Serving, r.Nodes)
			}
			if r.Keys != "ksk 1 active, zsk 2 active" {
				t.Errorf("keys %q", r.Keys)
			}
		})
	}
	if rows := ClassifySigner(Node{Node: "ns1"}, nodes, now, opts); rows != nil {
		t.Errorf("a syncer's status made signer rows %v", rows)
	}
}
