package cli

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// Group runs a daemon's long-lived goroutines (its HTTP server, followers,
// listeners): the first one that fails cancels the group's context, so the
// daemon's run returns, and its error is the one the daemon reports.
type Group struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	err    error
}

// NewGroup returns a group and its context, derived from ctx. Call Stop
// before returning (defer g.Stop()).
func NewGroup(ctx context.Context) (*Group, context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	return &Group{cancel: cancel}, ctx
}

// Go runs fn in a goroutine; when fn fails, its error is kept (the first
// one only) and the group's context is cancelled.
func (g *Group) Go(fn func() error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := fn(); err != nil {
			g.mu.Lock()
			if g.err == nil {
				g.err = err
			}
			g.mu.Unlock()
			g.cancel()
		}
	}()
}

// Err returns the first error of the group's goroutines, or err when none
// has failed: a goroutine's failure wins over the cancellation it caused.
func (g *Group) Err(err error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err != nil {
		return g.err
	}
	return err
}

// Stop cancels the group's context and waits for its goroutines.
func (g *Group) Stop() {
	g.cancel()
	g.wg.Wait()
}

// OnHUP calls fn on every SIGHUP until ctx is done: what a daemon reads
// again or reconciles on the operator's word.
func OnHUP(ctx context.Context, fn func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	go func() {
		defer signal.Stop(ch)
		for {
			select {
			case <-ctx.Done():
				return
			case <-ch:
				fn()
			}
		}
	}()
}
