package lxdwatch

import (
	"context"
	"errors"
	"fmt"
	"time"

	lxd "github.com/canonical/lxd/client"
	"github.com/canonical/lxd/shared/api"
)

// stableAfter is how long a connection must last for the backoff to reset.
const stableAfter = time.Minute

// listen keeps the lifecycle event stream connected. Every (re)connection
// asks for a full resync, after the listener is in place, so that no change
// falls between the listing and the events. Handlers run on the client's
// goroutines, in any order: they only push triggers into the loop.
func (f *Follower) listen(ctx context.Context, triggers chan<- trigger, resync chan<- struct{}) {
	attempt := 0
	for ctx.Err() == nil {
		started := time.Now()
		err := f.listenOnce(ctx, triggers, resync)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > stableAfter {
			attempt = 0
		}
		d := backoff(f.opt.BackoffMin, f.opt.BackoffMax, attempt)
		attempt++
		f.log.Warn().Err(err).Dur("retry_in", d).Msg("lxd event stream ended; reconnecting")
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// listenOnce connects the listeners (one for all projects, or one per
// followed project) and returns when one of them ends or ctx ends.
func (f *Follower) listenOnce(ctx context.Context, triggers chan<- trigger, resync chan<- struct{}) error {
	var listeners []*lxd.EventListener
	defer func() {
		for _, l := range listeners {
			l.Disconnect()
		}
	}()
	handler := func(e api.Event) {
		t, ok := parseEvent(e)
		if !ok {
			return
		}
		select {
		case triggers <- t:
		case <-ctx.Done():
		}
	}
	connect := func(c lxd.InstanceServer, all bool, what string) error {
		var l *lxd.EventListener
		var err error
		if all {
			l, err = c.GetEventsAllProjects()
		} else {
			l, err = c.GetEvents()
		}
		if err != nil {
			return fmt.Errorf("connecting to lxd events of %s: %w", what, err)
		}
		listeners = append(listeners, l)
		if _, err := l.AddHandler([]string{api.EventTypeLifecycle}, handler); err != nil {
			return fmt.Errorf("adding lxd event handler: %w", err)
		}
		return nil
	}
	if len(f.opt.Projects) == 0 {
		if err := connect(f.srv, true, "all projects"); err != nil {
			return err
		}
	} else {
		for _, p := range f.opt.Projects {
			if err := connect(f.srv.UseProject(p), false, "project "+p); err != nil {
				return err
			}
		}
	}
	f.log.Info().Strs("projects", f.opt.Projects).Msg("following lxd lifecycle events")
	f.opt.Observer.Connected()
	select {
	case resync <- struct{}{}:
	default: // a resync is pending already
	}

	ended := make(chan error, len(listeners))
	for _, l := range listeners {
		go func() { ended <- l.Wait() }()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case err := <-ended:
		if err == nil {
			err = errors.New("listener closed")
		}
		return err
	}
}
