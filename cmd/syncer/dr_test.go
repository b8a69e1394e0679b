package main

// Disaster recovery: a fleet loses all its NATS state (every node's
// JetStream store), and an export restores it. Every PowerDNS ends as it
// was, and no RRset is deleted at any moment of the procedure.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/rrset"
	"github.com/zonecast/zonecast/internal/testenv"
)

// minServed polls every node's zone until stop and keeps, per node, the
// fewest RRsets of want it ever served.
type minServed struct {
	mu   sync.Mutex
	min  map[string]int
	stop chan struct{}
	done chan struct{}
}

func watchServed(t *testing.T, e *fleetEnv, want map[rrset.Key]rrset.Set) *minServed {
	t.Helper()
	w := &minServed{min: map[string]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	for _, n := range e.f.Nodes {
		w.min[n.ID] = len(want)
	}
	go func() {
		defer close(w.done)
		for {
			for _, n := range e.f.Nodes {
				d, err := dump(t, n)
				if err != nil {
					continue // PowerDNS busy or the zone being read: no evidence either way
				}
				served := 0
				for k, s := range want {
					if got, ok := d[k]; ok && got.Equal(s) {
						served++
					}
				}
				w.mu.Lock()
				w.min[n.ID] = min(w.min[n.ID], served)
				w.mu.Unlock()
			}
			select {
			case <-w.stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return w
}

func (w *minServed) end() map[string]int {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.min
}

// TestDisasterRecovery: export the desired state of a 3-node fleet (two
// origins, some records with leases), stop every node, wipe every
// JetStream store, start them again (an empty stream: each node holds
// every deletion and raises an alarm), restore the export with publish
// --json. The holds lift by themselves, every PowerDNS serves what it
// served before, no RRset was ever missing, and the leases kept their
// ends.
func TestDisasterRecovery(t *testing.T) {
	e := startFleet(t)
	js := e.client(t)
	pub := bus.NewPublisher(js, "ZONECAST", "zonecast.rr")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var leased []events.Message
	for i := range 120 {
		origin := []string{"ops", "dhcp"}[i%2]
		m := events.Message{Version: 1, Name: fmt.Sprintf("r%d.%s", i, fleetZone), Type: "A", Origin: origin, TTL: 60,
			Records: []string{fmt.Sprintf("203.0.113.%d", i+1)}}
		var lease time.Duration
		if i%10 == 0 {
			lease = time.Hour
			leased = append(leased, m)
		}
		if _, err := pub.Publish(ctx, m, lease); err != nil {
			t.Fatal(err)
		}
	}
	before := e.waitConverged(t, 60*time.Second)
	want := map[rrset.Key]rrset.Set{}
	for k, s := range before {
		if k.Type == "A" {
			want[k] = s
		}
	}
	if len(want) != 120 {
		t.Fatalf("fleet serves %d A RRsets, want 120", len(want))
	}
	st, err := js.Stream(ctx, "ZONECAST")
	if err != nil {
		t.Fatal(err)
	}
	leaseEnds := map[string]time.Time{}
	for _, m := range leased {
		subj := events.Subject(events.DefaultSubjectPrefix, m)
		l, err := bus.LastOf(ctx, st, subj)
		if err != nil || l.LeaseEnd.IsZero() {
			t.Fatalf("lease of %s: %+v %v", m.Name, l, err)
		}
		leaseEnds[subj] = l.LeaseEnd
	}

	// The backup, as the timer unit takes it.
	backup := filepath.Join(t.TempDir(), "desired.jsonl")
	n1 := e.f.Nodes[0]
	if out, err := n1.Run(t, "export", "--nats-url", e.urls, "--nats-password-file", e.pwFile, "--output", backup); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	lines := strings.Count(readFile(t, backup), "\n")
	if lines != 120 {
		t.Fatalf("export holds %d lines, want 120", lines)
	}

	watch := watchServed(t, e, want)
	for _, n := range e.f.Nodes {
		n.Stop(t)
	}
	for _, n := range e.f.Nodes {
		if err := os.RemoveAll(filepath.Join(n.Opts.StateDir, "jetstream")); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range e.f.Nodes {
		n.Launch(t)
	}
	for _, n := range e.f.Nodes {
		testenv.Eventually(t, 90*time.Second, n.ID+" holds every deletion", func() bool {
			v, err := n.TryMetric(`zonecast_syncer_deletions_held{zone="` + fleetZone + `"}`)
			return err == nil && v == 120
		})
		if a, _ := n.TryMetric("zonecast_syncer_stream_alarms_total"); a < 1 {
			t.Errorf("%s raised no alarm about the stream made anew", n.ID)
		}
	}

	// The restore.
	if out, err := n1.Run(t, "publish", "--json", backup, "--nats-url", e.urls, "--nats-password-file", e.pwFile); err != nil ||
		!strings.Contains(out, "published 120 messages") {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	for _, n := range e.f.Nodes {
		testenv.Eventually(t, 60*time.Second, n.ID+" holds nothing and is ready", func() bool {
			ok, _ := n.Readyz()
			v, err := n.TryMetric(`zonecast_syncer_deletions_held{zone="` + fleetZone + `"}`)
			return ok && err == nil && v == 0
		})
	}
	after := e.waitConverged(t, 60*time.Second)
	for k, s := range want {
		if got, ok := after[k]; !ok || !got.Equal(s) {
			t.Errorf("after the restore %s serves %v, want %v", k, got, s)
		}
	}
	for node, m := range watch.end() {
		if m != len(want) {
			t.Errorf("%s served only %d of the %d RRsets at one moment of the procedure", node, m, len(want))
		}
	}
	st, err = e.client(t).Stream(ctx, "ZONECAST")
	if err != nil {
		t.Fatal(err)
	}
	for subj, end := range leaseEnds {
		l, err := bus.LastOf(ctx, st, subj)
		if err != nil || !l.Found {
			t.Fatalf("restored lease %s: %v", subj, err)
		}
		if d := l.LeaseEnd.Sub(end); d < -2*time.Second || d > 2*time.Second {
			t.Errorf("%s: the restored lease ends at %v, the exported one at %v", subj, l.LeaseEnd, end)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var l jsonLine
	first, _, _ := strings.Cut(string(b), "\n")
	if err := json.Unmarshal([]byte(first), &l); err != nil || l.Name == "" {
		t.Fatalf("first export line %q: %v", first, err)
	}
	return string(b)
}
