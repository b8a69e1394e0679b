package lxdwatch

import (
	"context"
	"errors"
	"fmt"
	"time"

	lxd "github.com/canonical/lxd/client"
	"github.com/canonical/lxd/shared/api"

	"github.com/zonecast/zonecast/internal/retry"
)

// stableAfter is how long a connection must last for the backoff to reset.
const stableAfter = time.Minute

// subscribeFunc connects to the lifecycle events of the followed projects,
// handle called for each of them, and returns wait, which blocks until the
// events end or ctx does, and disconnects.
type subscribeFunc func(ctx context.Context, handle func(api.Event)) (wait func() error, err error)

// listen keeps the lifecycle event stream connected. Every (re)connection
// asks for a full resync, after the listener is in place, so that no change
// falls between the listing and the events. Handlers run on the client's
// goroutines, in any order: they only push triggers into the loop.
func (f *Follower) listen(ctx context.Context, triggers chan<- trigger, resync chan<- struct{}) {
	backoff := f.opt.backoff()
	retries := 0
	for ctx.Err() == nil {
		started := f.opt.Now()
		err := f.listenOnce(ctx, triggers, resync)
		if ctx.Err() != nil {
			return
		}
		if f.opt.Now().Sub(started) > stableAfter {
			retries = 0
		}
		d := backoff.Delay(retries)
		retries++
		f.log.Warn().Err(err).Dur("retry_in", d).Msg("lxd event stream ended; reconnecting")
		if !retry.Sleep(ctx, d) {
			return
		}
	}
}

// listenOnce subscribes to the events and returns when they end or ctx
// ends.
func (f *Follower) listenOnce(ctx context.Context, triggers chan<- trigger, resync chan<- struct{}) error {
	handle := func(e api.Event) {
		t, ok := parseEvent(e)
		if !ok {
			return
		}
		select {
		case triggers <- t:
		case <-ctx.Done():
		}
	}
	wait, err := f.subscribe(ctx, handle)
	if err != nil {
		return err
	}
	f.log.Info().Strs("projects", f.opt.Projects).Msg("following lxd lifecycle events")
	f.opt.Observer.Connected()
	select {
	case resync <- struct{}{}:
	default: // a resync is pending already
	}
	return wait()
}

// subscribeLXD connects the listeners, one for all projects or one per
// followed project; wait returns when one of them ends.
func (f *Follower) subscribeLXD(ctx context.Context, handle func(api.Event)) (func() error, error) {
	var listeners []*lxd.EventListener
	disconnect := func() {
		for _, l := range listeners {
			l.Disconnect()
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
		if _, err := l.AddHandler([]string{api.EventTypeLifecycle}, handle); err != nil {
			return fmt.Errorf("adding lxd event handler: %w", err)
		}
		return nil
	}
	var err error
	if len(f.opt.Projects) == 0 {
		err = connect(f.srv, true, "all projects")
	} else {
		for _, p := range f.opt.Projects {
			if err = connect(f.srv.UseProject(p), false, "project "+p); err != nil {
				break
			}
		}
	}
	if err != nil {
		disconnect()
		return nil, err
	}
	wait := func() error {
		defer disconnect()
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
	return wait, nil
}
