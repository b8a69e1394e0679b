package sig0

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestCaptureServer sends a signed UPDATE to a real dns.Server and checks
// that its handler takes exactly the bytes sent, once.
func TestCaptureServer(t *testing.T) {
	t.Parallel()
	k := cachedKey(t, dns.ED25519, 0)
	for _, network := range []string{"udp", "packetconn", "tcp"} {
		t.Run(network, func(t *testing.T) {
			t.Parallel()
			c := NewCapture(16, time.Minute, time.Now)
			got := make(chan taken, 1)
			addr := serve(t, network, c, got)

			// Compressed, as BIND writes it, so that the bytes differ
			// from what re-packing the decoded message would give.
			m := update()
			m.Compress = true
			raw := signNow(t, m, k)

			client := &dns.Client{Net: network, Timeout: 10 * time.Second}
			if network == "packetconn" {
				client.Net = "udp"
			}
			conn, err := client.Dial(addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Write(raw); err != nil {
				t.Fatal(err)
			}
			resp, err := conn.ReadMsg()
			if err != nil {
				t.Fatalf("reading the answer: %v", err)
			}
			if resp.Rcode != dns.RcodeSuccess || resp.Id != m.Id {
				t.Fatalf("answer: %v", resp)
			}
			tk := <-got // sent before the answer
			if !tk.ok {
				t.Fatal("Take found nothing")
			}
			if !bytes.Equal(tk.raw, raw) {
				t.Fatalf("Take = %x, want the bytes sent %x", tk.raw, raw)
			}
			if tk.again {
				t.Fatal("a second Take found bytes again")
			}
			if err := Verify(tk.raw, tk.req, k.key, time.Now(), time.Minute); err != nil {
				t.Fatalf("Verify of the bytes taken: %v", err)
			}
			if n := c.Len(); n != 0 {
				t.Fatalf("Len = %d after Take, want 0", n)
			}
		})
	}
}

// clock is a fake clock for Capture.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeReader hands out msg from every read, from addr, or err.
type fakeReader struct {
	msg  []byte
	addr net.Addr
	err  error
}

func (f *fakeReader) ReadTCP(net.Conn, time.Duration) ([]byte, error) { return f.msg, f.err }

func (f *fakeReader) ReadUDP(*net.UDPConn, time.Duration) ([]byte, *dns.SessionUDP, error) {
	return f.msg, nil, f.err
}

func (f *fakeReader) ReadPacketConn(net.PacketConn, time.Duration) ([]byte, net.Addr, error) {
	return f.msg, f.addr, f.err
}

// tcpOnly is a dns.Reader without ReadPacketConn.
type tcpOnly struct{ dns.Reader }

var (
	alice = &net.UDPAddr{IP: net.IPv4(192, 0, 2, 10), Port: 5300}
	bob   = &net.UDPAddr{IP: net.IPv4(192, 0, 2, 11), Port: 5300}
)

// feed reads msg from addr through c's reader, as a server would.
func feed(t *testing.T, c *Capture, addr net.Addr, msg []byte) {
	t.Helper()
	r := c.Reader(&fakeReader{msg: msg, addr: addr}).(dns.PacketConnReader)
	got, from, err := r.ReadPacketConn(nil, 0)
	if err != nil || from != addr || !bytes.Equal(got, msg) {
		t.Fatalf("ReadPacketConn = %x, %v, %v; want %x, %v", got, from, err, msg, addr)
	}
}

// withID returns a copy of the packed message msg with the ID id.
func withID(msg []byte, id uint16) []byte {
	b := bytes.Clone(msg)
	b[0], b[1] = byte(id>>8), byte(id)
	return b
}

func TestCapture(t *testing.T) {
	t.Parallel()
	k := cachedKey(t, dns.ED25519, 0)
	signed := signNow(t, update(), k)
	req := decode(t, signed)
	// Same address and ID, another A record: a spoofed or stale packet.
	spoofedMsg := update()
	spoofedMsg.Ns[0].(*dns.A).A = net.IPv4(198, 51, 100, 1)
	spoofed := signNow(t, spoofedMsg, k)
	// Says UPDATE with one additional record, then ends.
	undecodable := bytes.Clone(signed[:headerLen+3])

	t.Run("ttl", func(t *testing.T) {
		t.Parallel()
		clk := &clock{t: time.Unix(1_700_000_000, 0)}
		c := NewCapture(10, time.Second, clk.now)
		feed(t, c, alice, signed)
		clk.advance(time.Second) // exactly ttl old: kept
		feed(t, c, bob, signed)
		if n := c.Len(); n != 2 {
			t.Fatalf("Len = %d at ttl, want 2", n)
		}
		clk.advance(time.Millisecond)
		feed(t, c, bob, withID(signed, 1))
		if n := c.Len(); n != 2 {
			t.Fatalf("Len = %d, want 2: alice's is older than ttl", n)
		}
		if _, ok := c.Take(alice, req); ok {
			t.Fatal("Take found alice's message older than ttl")
		}
		clk.advance(time.Second)
		if _, ok := c.Take(bob, req); ok {
			t.Fatal("Take found bob's message older than ttl")
		}
		if n := c.Len(); n != 1 {
			t.Fatalf("Len = %d, want 1", n)
		}
	})

	t.Run("max", func(t *testing.T) {
		t.Parallel()
		clk := &clock{t: time.Unix(1_700_000_000, 0)}
		c := NewCapture(2, time.Hour, clk.now)
		feed(t, c, alice, signed)
		feed(t, c, bob, signed)
		feed(t, c, alice, withID(signed, 1))
		if n := c.Len(); n != 2 {
			t.Fatalf("Len = %d, want max 2", n)
		}
		if _, ok := c.Take(alice, req); ok {
			t.Fatal("Take found the oldest message, pushed out by max")
		}
		if raw, ok := c.Take(bob, req); !ok || !bytes.Equal(raw, signed) {
			t.Fatalf("Take(bob) = %x, %v", raw, ok)
		}
		req1 := decode(t, withID(signed, 1))
		if _, ok := c.Take(alice, req1); !ok {
			t.Fatal("Take found not alice's newest message")
		}
	})

	t.Run("fifo", func(t *testing.T) {
		t.Parallel()
		c := NewCapture(10, time.Hour, (&clock{}).now)
		feed(t, c, alice, spoofed)
		feed(t, c, alice, undecodable)
		feed(t, c, alice, signed)
		feed(t, c, alice, signed)
		for i := range 2 {
			raw, ok := c.Take(alice, req)
			if !ok || !bytes.Equal(raw, signed) {
				t.Fatalf("Take %d = %x, %v; want %x", i, raw, ok, signed)
			}
		}
		if _, ok := c.Take(alice, req); ok {
			t.Fatal("a third Take found bytes")
		}
		// The spoofed one stays for its own message; the undecodable
		// one went on the first Take.
		if n := c.Len(); n != 1 {
			t.Fatalf("Len = %d, want 1", n)
		}
		if raw, ok := c.Take(alice, decode(t, spoofed)); !ok || !bytes.Equal(raw, spoofed) {
			t.Fatalf("Take of the spoofed message = %x, %v", raw, ok)
		}
	})

	t.Run("keeps only updates", func(t *testing.T) {
		t.Parallel()
		c := NewCapture(10, time.Hour, (&clock{}).now)
		query := new(dns.Msg).SetQuestion(keyName, dns.TypeA)
		query.SetEdns0(1232, false)
		q, err := query.Pack()
		if err != nil {
			t.Fatal(err)
		}
		unsigned, err := update().Pack()
		if err != nil {
			t.Fatal(err)
		}
		feed(t, c, alice, q)
		feed(t, c, alice, unsigned)             // ARCOUNT 0
		feed(t, c, alice, signed[:headerLen-1]) // short of a header
		if n := c.Len(); n != 0 {
			t.Fatalf("Len = %d, want 0", n)
		}
	})

	t.Run("copies", func(t *testing.T) {
		t.Parallel()
		c := NewCapture(10, time.Hour, (&clock{}).now)
		buf := bytes.Clone(signed)
		feed(t, c, alice, buf)
		clear(buf) // as the server's next read into a pooled buffer
		if raw, ok := c.Take(alice, req); !ok || !bytes.Equal(raw, signed) {
			t.Fatalf("Take = %x, %v after the read buffer was reused", raw, ok)
		}
	})

	t.Run("altered request", func(t *testing.T) {
		t.Parallel()
		c := NewCapture(10, time.Hour, (&clock{}).now)
		feed(t, c, alice, signed)
		altered := decode(t, signed)
		altered.Ns = nil
		if _, ok := c.Take(alice, altered); ok {
			t.Fatal("Take matched a request altered since decoding")
		}
		if _, ok := c.Take(alice, nil); ok {
			t.Fatal("Take matched a nil request")
		}
		if _, ok := c.Take(nil, req); ok {
			t.Fatal("Take matched a nil address")
		}
	})
}

func TestCaptureReader(t *testing.T) {
	t.Parallel()
	k := cachedKey(t, dns.ED25519, 0)
	signed := signNow(t, update(), k)
	req := decode(t, signed)
	c := NewCapture(10, time.Hour, (&clock{}).now)

	boom := errors.New("boom")
	failing := c.Reader(&fakeReader{msg: signed, addr: alice, err: boom})
	if _, err := failing.ReadTCP(nil, 0); err != boom {
		t.Fatalf("ReadTCP error = %v, want %v unchanged", err, boom)
	}
	if _, _, err := failing.ReadUDP(nil, 0); err != boom {
		t.Fatalf("ReadUDP error = %v, want %v unchanged", err, boom)
	}
	if _, _, err := failing.(dns.PacketConnReader).ReadPacketConn(nil, 0); err != boom {
		t.Fatalf("ReadPacketConn error = %v, want %v unchanged", err, boom)
	}
	if n := c.Len(); n != 0 {
		t.Fatalf("Len = %d after failed reads, want 0", n)
	}

	if _, ok := c.Reader(tcpOnly{&fakeReader{}}).(dns.PacketConnReader); ok {
		t.Fatal("the decoration of a reader without ReadPacketConn has one")
	}

	// TCP: keyed by the connection's remote address.
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	msg, err := c.Reader(&fakeReader{msg: signed}).ReadTCP(server, 0)
	if err != nil || !bytes.Equal(msg, signed) {
		t.Fatalf("ReadTCP = %x, %v", msg, err)
	}
	if _, ok := c.Take(server.RemoteAddr(), req); !ok {
		t.Fatal("Take found not the message read over TCP")
	}
}

// TestCaptureConcurrent is for -race: reads and takes from many senders.
func TestCaptureConcurrent(t *testing.T) {
	t.Parallel()
	k := cachedKey(t, dns.ED25519, 0)
	signed := signNow(t, update(), k)
	req := decode(t, signed)
	c := NewCapture(1000, time.Hour, time.Now)
	var wg sync.WaitGroup
	for i := range 8 {
		addr := &net.UDPAddr{IP: net.IPv4(192, 0, 2, byte(i)), Port: 53}
		wg.Go(func() {
			r := c.Reader(&fakeReader{msg: signed, addr: addr}).(dns.PacketConnReader)
			for range 50 {
				if _, _, err := r.ReadPacketConn(nil, 0); err != nil {
					t.Error(err)
					return
				}
				if _, ok := c.Take(addr, req); !ok {
					t.Error("Take found not the message just read")
					return
				}
			}
		})
	}
	wg.Wait()
	if n := c.Len(); n != 0 {
		t.Fatalf("Len = %d, want 0", n)
	}
}
