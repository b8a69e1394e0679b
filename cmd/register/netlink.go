package main

import (
	"fmt"
	"math"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/zonecast/zonecast/internal/register"
)

// rcvbuf is the subscription sockets' receive buffer asked for (the
// kernel caps it at net.core.rmem_max): a burst larger than the buffer
// is lost, which ends the subscription and costs a new dump.
const rcvbuf = 1 << 20

// netlinkSource is the source of the kernel's own rtnetlink messages, in
// the network namespace of the process.
func netlinkSource(done <-chan struct{}, onErr func(error)) (<-chan addrEvent, <-chan linkEvent, error) {
	// Closing done ends the subscriptions through a failed read, which is
	// no error to report.
	report := func(err error) {
		select {
		case <-done:
		default:
			onErr(err)
		}
	}
	// Links first, so that the dump of addresses finds their names known.
	lch := make(chan netlink.LinkUpdate, 64)
	if err := netlink.LinkSubscribeWithOptions(lch, done, netlink.LinkSubscribeOptions{
		ListExisting: true, ErrorCallback: report, ReceiveBufferSize: rcvbuf}); err != nil {
		return nil, nil, fmt.Errorf("subscribing to links: %w", err)
	}
	ach := make(chan netlink.AddrUpdate, 256)
	if err := netlink.AddrSubscribeWithOptions(ach, done, netlink.AddrSubscribeOptions{
		ListExisting: true, ErrorCallback: report, ReceiveBufferSize: rcvbuf}); err != nil {
		go drain(lch)
		return nil, nil, fmt.Errorf("subscribing to addresses: %w", err)
	}
	addrs := make(chan addrEvent, 256)
	links := make(chan linkEvent, 64)
	go relay(ach, addrs, done, toAddrEvent)
	go relay(lch, links, done, toLinkEvent)
	return addrs, links, nil
}

// relay converts what in carries onto out until in closes, then closes
// out. After done it only drains in: netlink's reader blocks on a full
// channel, and must get back to its socket to see it closed.
func relay[T, U any](in <-chan T, out chan<- U, done <-chan struct{}, conv func(T) (U, bool)) {
	defer close(out)
	for v := range in {
		u, ok := conv(v)
		if !ok {
			continue
		}
		select {
		case out <- u:
		case <-done:
			drain(in)
			return
		}
	}
}

func drain[T any](ch <-chan T) {
	for range ch {
	}
}

func toAddrEvent(u netlink.AddrUpdate) (addrEvent, bool) {
	ip, ok := netip.AddrFromSlice(u.LinkAddress.IP)
	if !ok {
		return addrEvent{}, false
	}
	ip = ip.Unmap()
	ones, _ := u.LinkAddress.Mask.Size()
	if ip.Is4() && ones > 32 {
		ones -= 96
	}
	return addrEvent{present: u.NewAddr, addr: register.Addr{
		Prefix: netip.PrefixFrom(ip, ones), Link: u.LinkIndex, Scope: uint8(u.Scope),
		Flags: uint32(u.Flags), Preferred: uint32(min(max(u.PreferedLft, 0), math.MaxUint32)),
	}}, true
}

func toLinkEvent(u netlink.LinkUpdate) (linkEvent, bool) {
	if u.Link == nil || u.Link.Attrs() == nil {
		return linkEvent{}, false
	}
	a := u.Link.Attrs()
	return linkEvent{present: u.Header.Type != unix.RTM_DELLINK, link: register.Link{
		Index: a.Index, Name: a.Name, Loopback: a.RawFlags&unix.IFF_LOOPBACK != 0,
	}}, true
}
