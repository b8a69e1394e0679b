package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/register"
	"github.com/zonecast/zonecast/internal/retry"
)

// Coalescing of the kernel's messages. A change is sent debounce after
// the first message of its burst (an address added with its route, DAD
// ending on several addresses): short enough that an address reaches the
// nameservers well within 100 ms, long enough to send a burst as one
// update. After a (re)subscription the dump of what exists comes first,
// and rtnetlink does not say where the dump ends, so the first state is
// taken settle after subscribing: a dump of thousands of addresses is
// read in a few milliseconds.
const (
	debounce = 15 * time.Millisecond
	settle   = 200 * time.Millisecond
)

// resubscribe spaces the subscriptions again after one ends (the socket's
// buffer overflowed, and messages were lost).
var resubscribe = retry.Backoff{Min: 100 * time.Millisecond, Max: 10 * time.Second, Jitter: 0.2}

// addrEvent is an RTM_NEWADDR (present) or RTM_DELADDR.
type addrEvent struct {
	addr    register.Addr
	present bool
}

// linkEvent is an RTM_NEWLINK (present) or RTM_DELLINK.
type linkEvent struct {
	link    register.Link
	present bool
}

// source subscribes to the kernel's address and link messages, those of
// what exists first. Both channels close when the subscription ends: done
// closed, or a failure, which onErr is told of.
type source func(done <-chan struct{}, onErr func(error)) (<-chan addrEvent, <-chan linkEvent, error)

// errEnded says a subscription's channel closed.
var errEnded = errors.New("the kernel's messages ended")

// desired is the host's desired state: the addresses to register, with a
// version that grows on every change. Senders are woken by a change.
type desired struct {
	mu      sync.Mutex
	version uint64
	addrs   []netip.Addr
	wake    []chan struct{}
}

// subscribe returns a channel that receives a value after changes.
func (d *desired) subscribe() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	ch := make(chan struct{}, 1)
	d.wake = append(d.wake, ch)
	return ch
}

// set makes addrs the desired addresses; the first call makes a version
// even of none (a host without addresses still claims its name, and
// clears what an earlier run left). It reports whether it made one.
func (d *desired) set(addrs []netip.Addr) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.version > 0 && slices.Equal(addrs, d.addrs) {
		return false
	}
	d.version++
	d.addrs = addrs
	for _, ch := range d.wake {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	return true
}

// get returns the desired version and addresses (not to be changed).
func (d *desired) get() (uint64, []netip.Addr) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.version, d.addrs
}

// follower keeps the desired state equal to the kernel's addresses as
// the filter selects them.
type follower struct {
	filter    register.Filter
	subscribe source
	state     *desired
	onChange  func(addrs []netip.Addr) // e.g. the gauge; may be nil
	log       zerolog.Logger
}

// run follows the kernel until ctx ends. A subscription that fails at
// the start is an error; one that ends later is made again, with
// backoff, and its dump rebuilds the state.
func (f *follower) run(ctx context.Context) error {
	for n, first := 0, true; ; first = false {
		done := make(chan struct{})
		addrs, links, err := f.subscribe(done, func(err error) {
			f.log.Warn().Err(err).Msg("netlink subscription error")
		})
		if err == nil {
			began := time.Now()
			err = f.follow(ctx, addrs, links)
			if time.Since(began) > time.Minute {
				n = 0
			}
		}
		close(done)
		switch {
		case ctx.Err() != nil:
			return nil
		case first && !errors.Is(err, errEnded):
			return fmt.Errorf("subscribing to the kernel's addresses: %w", err)
		}
		d := resubscribe.Delay(n)
		n++
		f.log.Warn().Err(err).Dur("retry_in", d).Msg("following the kernel's addresses again")
		if !retry.Sleep(ctx, d) {
			return nil
		}
	}
}

// follow applies one subscription's messages until ctx ends (nil) or
// the subscription does (errEnded).
func (f *follower) follow(ctx context.Context, addrs <-chan addrEvent, links <-chan linkEvent) error {
	var h register.Host
	timer := time.NewTimer(settle)
	defer timer.Stop()
	armed := true
	arm := func() {
		if !armed {
			timer.Reset(debounce)
			armed = true
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-addrs:
			if !ok {
				return errEnded
			}
			if e.present {
				h.SetAddr(e.addr)
			} else {
				h.DelAddr(e.addr)
			}
			if f.log.Debug().Enabled() {
				l := h.Link(e.addr.Link)
				f.log.Debug().Str("address", e.addr.Prefix.String()).Str("interface", l.Name).Bool("present", e.present).
					Uint32("flags", e.addr.Flags).Uint8("scope", e.addr.Scope).Str("skip", f.filter.Skip(e.addr, l)).Msg("address message")
			}
			arm()
		case e, ok := <-links:
			if !ok {
				return errEnded
			}
			if e.present {
				h.SetLink(e.link)
			} else {
				h.DelLink(e.link.Index)
			}
			arm()
		case <-timer.C:
			armed = false
			sel := h.Select(f.filter)
			if f.state.set(sel) {
				v, _ := f.state.get()
				f.log.Info().Strs("addresses", addrStrings(sel)).Uint64("version", v).Msg("addresses to register")
				if f.onChange != nil {
					f.onChange(sel)
				}
			}
		}
	}
}

func addrStrings(as []netip.Addr) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	return out
}
