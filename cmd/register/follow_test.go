package main

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/zonecast/zonecast/internal/register"
)

// fakeKernel is a source whose subscriptions the test feeds.
type fakeKernel struct {
	mu   sync.Mutex
	subs []fakeSub
	err  error // what a subscription returns
}

type fakeSub struct {
	addrs chan addrEvent
	links chan linkEvent
}

func (k *fakeKernel) source(done <-chan struct{}, _ func(error)) (<-chan addrEvent, <-chan linkEvent, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.err != nil {
		return nil, nil, k.err
	}
	s := fakeSub{addrs: make(chan addrEvent), links: make(chan linkEvent)}
	k.subs = append(k.subs, s)
	return s.addrs, s.links, nil
}

func (k *fakeKernel) sub(i int) fakeSub {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.subs[i]
}

func (k *fakeKernel) count() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.subs)
}

func global(s string) register.Addr {
	return register.Addr{Prefix: netip.MustParsePrefix(s), Link: 2, Scope: unix.RT_SCOPE_UNIVERSE, Preferred: 0xffffffff}
}

var eth0 = linkEvent{link: register.Link{Index: 2, Name: "eth0"}, present: true}

func wantState(t *testing.T, d *desired, version uint64, addrs ...string) {
	t.Helper()
	v, got := d.get()
	var gs []string
	for _, a := range got {
		gs = append(gs, a.String())
	}
	if v != version || !slices.Equal(gs, addrs) {
		t.Fatalf("state version %d %v, want %d %v", v, gs, version, addrs)
	}
}

// woken reports whether the follower has made a version since the last
// look, once everything has run that can.
func woken(ch <-chan struct{}) bool {
	synctest.Wait()
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// The first state is taken a settle after subscribing, the dump read; a
// burst of changes is one version, a debounce after its first message;
// changes that select nothing new make no version.
func TestFollowerCoalesces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := &fakeKernel{}
		state := &desired{}
		wake := state.subscribe()
		f := &follower{subscribe: k.source, state: state, log: zerolog.Nop()}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- f.run(ctx) }()
		synctest.Wait()
		start := time.Now()
		s := k.sub(0)
		s.links <- eth0
		s.addrs <- addrEvent{addr: global("2001:db8::10/64"), present: true}
		s.addrs <- addrEvent{addr: global("198.51.100.7/24"), present: true}
		<-wake
		if d := time.Since(start); d != settle {
			t.Errorf("first state after %v, want the settle %v", d, settle)
		}
		wantState(t, state, 1, "198.51.100.7", "2001:db8::10")

		// A burst: added, another added, the first deleted, a ms apart.
		start = time.Now()
		s.addrs <- addrEvent{addr: global("2001:db8::20/64"), present: true}
		time.Sleep(time.Millisecond)
		s.addrs <- addrEvent{addr: global("2001:db8::30/64"), present: true}
		time.Sleep(time.Millisecond)
		s.addrs <- addrEvent{addr: global("2001:db8::20/64")}
		<-wake
		if d := time.Since(start); d != debounce {
			t.Errorf("burst sent after %v, want the debounce %v", d, debounce)
		}
		wantState(t, state, 2, "198.51.100.7", "2001:db8::10", "2001:db8::30")
		if woken(wake) {
			t.Fatal("a second version for one burst")
		}

		// Link-local, tentative: nothing to send.
		ll := global("fe80::1/64")
		ll.Scope = unix.RT_SCOPE_LINK
		tent := global("2001:db8::40/64")
		tent.Flags = unix.IFA_F_TENTATIVE
		s.addrs <- addrEvent{addr: ll, present: true}
		s.addrs <- addrEvent{addr: tent, present: true}
		time.Sleep(2 * debounce)
		if woken(wake) {
			t.Fatal("a version for addresses that are not registered")
		}
		// DAD done: the same address again, without the flag.
		tent.Flags = 0
		s.addrs <- addrEvent{addr: tent, present: true}
		<-wake
		wantState(t, state, 3, "198.51.100.7", "2001:db8::10", "2001:db8::30", "2001:db8::40")

		cancel()
		if err := <-done; err != nil {
			t.Fatalf("run: %v", err)
		}
	})
}

// A subscription that ends is made again; its dump, the same addresses,
// makes no version, and what changed meanwhile does.
func TestFollowerResubscribes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := &fakeKernel{}
		state := &desired{}
		wake := state.subscribe()
		f := &follower{filter: register.Filter{Interfaces: []string{"eth0"}}, subscribe: k.source, state: state, log: zerolog.Nop()}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go func() { _ = f.run(ctx) }()
		synctest.Wait()
		s := k.sub(0)
		s.links <- eth0
		s.addrs <- addrEvent{addr: global("2001:db8::10/64"), present: true}
		<-wake
		wantState(t, state, 1, "2001:db8::10")

		close(s.addrs) // e.g. ENOBUFS: messages lost
		began := time.Now()
		for k.count() < 2 {
			time.Sleep(time.Millisecond)
		}
		if d := time.Since(began); d < resubscribe.Min || d > resubscribe.Min*2 {
			t.Errorf("subscribed again after %v, want the backoff's first %v and its jitter", d, resubscribe.Min)
		}
		s = k.sub(1)
		s.links <- eth0
		s.addrs <- addrEvent{addr: global("2001:db8::10/64"), present: true}
		time.Sleep(2 * settle)
		if woken(wake) {
			t.Fatal("a version for the same addresses")
		}
		// A rename takes eth0's addresses out of the selection.
		s.links <- linkEvent{link: register.Link{Index: 2, Name: "enp3s0"}, present: true}
		<-wake
		wantState(t, state, 2)
	})
}

// A host without addresses still claims its name: the first state is
// made, empty.
func TestFollowerFirstStateEmpty(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := &fakeKernel{}
		state := &desired{}
		wake := state.subscribe()
		f := &follower{subscribe: k.source, state: state, log: zerolog.Nop()}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go func() { _ = f.run(ctx) }()
		<-wake
		wantState(t, state, 1)
	})
}

func TestFollowerFailsAtStart(t *testing.T) {
	t.Parallel()
	k := &fakeKernel{err: errors.New("operation not permitted")}
	f := &follower{subscribe: k.source, state: &desired{}, log: zerolog.Nop()}
	if err := f.run(t.Context()); err == nil {
		t.Fatal("a subscription refused at the start is no error")
	}
}
