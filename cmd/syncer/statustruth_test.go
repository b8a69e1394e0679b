package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zonecast/zonecast/internal/bus"
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

// firstReady returns when the test first saw a status of node's process
// started after since saying ready.
func firstReady(samples []statusSample, node string, since time.Time) (time.Time, bool) {
	for _, sm := range samples {
		if sm.node.Node == node && sm.node.Ready && sm.node.Started.After(since) {
			return sm.seen, true
		}
	}
	return time.Time{}, false
}

// servesSerial polls n's PowerDNS (UDP, every 20 ms) until it serves zone
// with SOA serial want, and returns when it first did.
func servesSerial(ctx context.Context, n *testenv.FleetNode, zone string, want uint32) (time.Time, error) {
	c := &dns.Client{Timeout: 500 * time.Millisecond}
	q := new(dns.Msg)
	q.SetQuestion(zone, dns.TypeSOA)
	for {
		if r, _, err := c.ExchangeContext(ctx, q, n.Opts.PDNS.DNSAddr); err == nil {
			for _, a := range r.Answer {
				if soa, ok := a.(*dns.SOA); ok && soa.Serial == want {
					return time.Now(), nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("%s never served serial %d in %s: %w", n.ID, want, strings.TrimSuffix(zone, "."), ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
