package cli

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestGroupFirstFailureCancelsAndWins(t *testing.T) {
	g, ctx := NewGroup(context.Background())
	first := errors.New("listening on :1: address in use")
	g.Go(func() error { return first })
	g.Go(func() error {
		<-ctx.Done()
		return errors.New("stopped: " + ctx.Err().Error())
	})
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a failed goroutine did not cancel the context")
	}
	g.Stop()
	if err := g.Err(errors.New("connecting to nats: context canceled")); err != first {
		t.Fatalf("Err = %v, want the first failure %v", err, first)
	}
}

func TestGroupErrWithoutFailure(t *testing.T) {
	g, ctx := NewGroup(context.Background())
	g.Go(func() error { <-ctx.Done(); return nil })
	own := errors.New("opening bucket: permission denied")
	if err := g.Err(own); err != own {
		t.Fatalf("Err = %v, want %v", err, own)
	}
	if err := g.Err(nil); err != nil {
		t.Fatalf("Err(nil) = %v, want nil", err)
	}
	g.Stop()
}

// Stop must end goroutines that run until the context is done even when
// the caller returns early with its own error (e.g. a bad LXD cert file
// while the HTTP server runs): it cancels before it waits.
func TestGroupStopCancelsBeforeWaiting(t *testing.T) {
	g, ctx := NewGroup(context.Background())
	g.Go(func() error { <-ctx.Done(); return nil })
	done := make(chan struct{})
	go func() { g.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not return: the goroutine was not cancelled")
	}
}

func TestGroupParentCancel(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	g, ctx := NewGroup(parent)
	defer g.Stop()
	cancel()
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the group's context did not follow its parent")
	}
	if err := g.Err(nil); err != nil {
		t.Fatalf("Err = %v after a parent cancel, want nil", err)
	}
}
