package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/pdnsapi"
	"github.com/zonecast/zonecast/internal/rrset"
	"github.com/zonecast/zonecast/internal/status"
	"github.com/zonecast/zonecast/internal/testenv"
)

// statusSample is one status a node published, when the test saw it.
type statusSample struct {
	seen time.Time
	node status.Node
}

// statusSampler reads every node's status from the status bucket every
// 50 ms (each revision kept once) while a fault run goes on, so that the
// run's statuses can be checked against what PowerDNS served. It reads
// key by key with short timeouts: a read that meets an election is
// skipped, not waited for.
type statusSampler struct {
	mu      sync.Mutex
	samples []statusSample
	led     []time.Time // every reading of the bucket's stream that named a leader
	stop    context.CancelFunc
	done    chan struct{}
}

func sampleStatuses(t *testing.T, js jetstream.JetStream, nodes []*testenv.FleetNode) *statusSampler {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &statusSampler{stop: cancel, done: make(chan struct{})}
	t.Cleanup(s.close)
	go func() {
		defer close(s.done)
		var kv jetstream.KeyValue
		last := map[string]uint64{}
		for ctx.Err() == nil {
			if kv == nil {
				rctx, rcancel := context.WithTimeout(ctx, time.Second)
				kv, _ = js.KeyValue(rctx, bus.DefaultStatusBucket)
				rcancel()
			}
			// Reads may come from any replica; only the leader stores.
			rctx, rcancel := context.WithTimeout(ctx, 500*time.Millisecond)
			if st, err := js.Stream(rctx, "KV_"+bus.DefaultStatusBucket); err == nil {
				if c := st.CachedInfo().Cluster; c != nil && c.Leader != "" {
					s.mu.Lock()
					s.led = append(s.led, time.Now())
					s.mu.Unlock()
				}
			}
			rcancel()
			for _, n := range nodes {
				if kv == nil {
					break
				}
				rctx, rcancel := context.WithTimeout(ctx, 500*time.Millisecond)
				e, err := kv.Get(rctx, n.ID)
				rcancel()
				if err != nil || e.Revision() == last[n.ID] {
					continue
				}
				last[n.ID] = e.Revision()
				st, err := status.Decode(e.Value())
				if err != nil {
					continue
				}
				s.mu.Lock()
				s.samples = append(s.samples, statusSample{seen: time.Now(), node: st})
				s.mu.Unlock()
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return s
}

func (s *statusSampler) close() { s.stop(); <-s.done }

// all returns the samples taken so far.
func (s *statusSampler) all() []statusSample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]statusSample(nil), s.samples...)
}

// writableAfter returns the first time at or after t from which the
// status bucket kept a leader for 2 s (readings at most a second apart):
// while it elects one no status can be stored (its replicas still answer
// reads with the last ones), so a new status can be seen no earlier.
func (s *statusSampler) writableAfter(t time.Time) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.led {
		if s.led[i].Before(t) {
			continue
		}
		for j := i + 1; j < len(s.led) && s.led[j].Sub(s.led[j-1]) <= time.Second; j++ {
			if s.led[j].Sub(s.led[i]) >= 2*time.Second {
				return s.led[i]
			}
		}
	}
	return t
}

// falseMismatches lists the samples of a ready node, its PowerDNS
// reachable, whose served serial is not the serial of its applied
// sequence: the status command would show serial-mismatch, "lost data",
// although PowerDNS lost nothing (no PowerDNS loses data while they are
// taken).
func falseMismatches(samples []statusSample) []string {
	var out []string
	for _, sm := range samples {
		n := sm.node
		if !n.Ready || !n.PDNSReachable {
			continue
		}
		for _, z := range n.Zones {
			if z.SerialKnown && !z.Missing && z.Serial != uint32(z.AppliedSeq) {
				out = append(out, fmt.Sprintf("%s at %s: applied %d, serial %d", n.Node,
					n.Time.Format("15:04:05.000"), z.AppliedSeq, z.Serial))
			}
		}
	}
	return out
}

// firstCaughtUp returns when the test first saw node's status say zone
// caught up at seq: ready, PowerDNS reachable, applied seq and serving it.
func firstCaughtUp(samples []statusSample, node, zone string, seq uint64) (time.Time, bool) {
	for _, sm := range samples {
		n := sm.node
		if n.Node != node || !n.Ready || !n.PDNSReachable {
			continue
		}
		for _, z := range n.Zones {
			if z.Zone == zone && z.AppliedSeq == seq && z.SerialKnown && z.Serial == uint32(seq) {
				return sm.seen, true
			}
		}
	}
	return time.Time{}, false
}

// firstReady returns the first status the test saw of node's process
// started after since saying ready.
func firstReady(samples []statusSample, node string, since time.Time) (statusSample, bool) {
	for _, sm := range samples {
		if sm.node.Node == node && sm.node.Ready && sm.node.Started.After(since) {
			return sm, true
		}
	}
	return statusSample{}, false
}

// servesSerial polls n's PowerDNS (its API, every 20 ms: DNS answers may
// come from its packet cache) until zone's SOA has serial want, and
// returns when it first had.
func servesSerial(ctx context.Context, n *testenv.FleetNode, zone string, want uint32) (time.Time, error) {
	api := pdnsapi.New(n.Opts.PDNS.APIURL, n.Opts.PDNS.APIKey, "localhost", 5*time.Second)
	for {
		set, found, err := api.RRset(ctx, zone, rrset.Key{Name: zone, Type: "SOA"})
		if err == nil && found && len(set.Records) == 1 {
			if f := strings.Fields(set.Records[0]); len(f) > 2 && f[2] == fmt.Sprint(want) {
				return time.Now(), nil
			}
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("%s never served serial %d in %s: %w", n.ID, want, zone, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
