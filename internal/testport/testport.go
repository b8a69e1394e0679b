// Package testport hands out loopback ports to the processes tests start
// and restart (nats-server routes, PowerDNS, HTTP listeners).
//
// A port from a ":0" listener is in the kernel's ephemeral range, so after
// the test closes it any outgoing connection may take it, and a process
// restarted on the same port then fails with "address already in use".
// Ports from here come from below the ephemeral range, which the kernel
// never hands out on its own, and each is reserved by an flock on a file
// under the temp directory for the life of the test binary, so that test
// binaries running side by side never pick the same port.
package testport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// lowest is the bottom of the range ports are picked from; well-known
// defaults (PowerDNS 8081, NATS 4222/6222/8222) are all below it.
const lowest = 20000

var (
	mu   sync.Mutex
	held []*os.File // lock files kept open: closing one releases its port
)

// TCP returns a loopback port free for TCP and reserved for this process.
func TCP() (int, error) { return pick(false) }

// TCPUDP returns a loopback port free for both TCP and UDP (DNS), reserved
// for this process.
func TCPUDP() (int, error) { return pick(true) }

func pick(udp bool) (int, error) {
	top := EphemeralLow() - 1
	if top <= lowest {
		return 0, fmt.Errorf("picking a test port: ephemeral range starts at %d, no room below it", top+1)
	}
	dir := filepath.Join(os.TempDir(), "zonecast-test-ports")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, fmt.Errorf("picking a test port: %w", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 0; i < 200; i++ {
		port := lowest + rand.IntN(top-lowest+1)
		f, ok := reserve(dir, port)
		if !ok {
			continue
		}
		if free(port, udp) {
			held = append(held, f)
			return port, nil
		}
		f.Close()
	}
	return 0, errors.New("picking a test port: no free loopback port found in 200 tries")
}

// reserve takes the port's lock file without waiting.
func reserve(dir string, port int) (*os.File, bool) {
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(port)), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, false
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, false
	}
	return f, true
}

// free says whether nothing listens on the port now.
func free(port int, udp bool) bool {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	l.Close()
	if udp {
		u, err := net.ListenPacket("udp", addr)
		if err != nil {
			return false
		}
		u.Close()
	}
	return true
}

// EphemeralLow is the first port of the kernel's ephemeral range (32768
// when it cannot be read): the ports below it are the ones this package
// hands out, and a process that picks ports of its own (unbound's
// outgoing queries) keeps clear of them by staying at or above it.
func EphemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return n
}
