package lxdwatch

import "time"

// Observer is told what the follower does, for metrics and readiness. Its
// methods are called from the follower's goroutines and must not block.
type Observer interface {
	// Connected is called each time the lifecycle event stream is
	// (re)connected; the first call is the initial connection.
	Connected()
	// Synced is called when a full listing of the followed instances has
	// been applied and everything it implies was published (or, in a dry
	// run, logged). instances is how many followed instances LXD listed.
	Synced(instances int, at time.Time)
}

type nopObserver struct{}

func (nopObserver) Connected()            {}
func (nopObserver) Synced(int, time.Time) {}
