package testport

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func TestPortsBelowEphemeralRangeAndReserved(t *testing.T) {
	seen := map[int]bool{}
	for i := 0; i < 20; i++ {
		p, err := TCPUDP()
		if err != nil {
			t.Fatal(err)
		}
		if p < lowest || p >= EphemeralLow() {
			t.Fatalf("port %d outside [%d, %d)", p, lowest, EphemeralLow())
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
		// Free now, for both protocols.
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Fatalf("port %d not free for tcp: %v", p, err)
		}
		l.Close()
		// Another process (here: another open file description) cannot
		// reserve it while this binary runs.
		if f, ok := reserve(filepath.Join(os.TempDir(), "zonecast-test-ports"), p); ok {
			f.Close()
			t.Fatalf("port %d could be reserved a second time", p)
		}
	}
}

func TestBusyPortIsSkipped(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if free(l.Addr().(*net.TCPAddr).Port, false) {
		t.Fatal("a port with a listener counts as free")
	}
}
