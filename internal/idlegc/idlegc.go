// Package idlegc collects garbage while a daemon is idle, so that the next
// burst of work starts with the collector's whole runway instead of
// finding a cycle due half-way. On a small machine a cycle that starts
// during a burst takes its CPU from whatever the burst feeds (for the
// syncer: PowerDNS), and the Go runtime gives an idle-priority collector
// every processor it is not using.
package idlegc

import (
	"runtime"
	"runtime/metrics"
	"sync/atomic"
)

// Collector decides, each time it is told the program is idle, whether a
// collection is worth it.
type Collector struct {
	// MinGarbage is the least garbage worth a collection, in bytes.
	MinGarbage uint64
	running    atomic.Bool
	samples    []metrics.Sample
}

// New returns a collector that collects when at least an eighth of the
// runway to the next automatic collection is used, and at least minGarbage
// bytes.
func New(minGarbage uint64) *Collector {
	return &Collector{MinGarbage: minGarbage, samples: []metrics.Sample{
		{Name: "/gc/heap/live:bytes"},
		{Name: "/gc/heap/goal:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
	}}
}

// Idle starts a collection in the background if one is worth it, and
// reports whether it did. Call it from one goroutine at a time.
func (c *Collector) Idle() bool {
	if c.running.Load() {
		return false
	}
	metrics.Read(c.samples)
	live, goal, heap := c.samples[0].Value.Uint64(), c.samples[1].Value.Uint64(), c.samples[2].Value.Uint64()
	if !Worth(live, goal, heap, c.MinGarbage) {
		return false
	}
	c.running.Store(true)
	go func() {
		defer c.running.Store(false)
		runtime.GC()
	}()
	return true
}

// Worth reports whether a collection is worth it now: the heap (live
// objects and garbage, heap bytes) has used an eighth of the runway from the
// live heap after the last collection (live) to the next automatic one
// (goal), and holds at least minGarbage bytes more than live.
func Worth(live, goal, heap, minGarbage uint64) bool {
	if heap <= live || goal <= live {
		return false
	}
	garbage := heap - live
	return garbage >= minGarbage && garbage >= (goal-live)/8
}
