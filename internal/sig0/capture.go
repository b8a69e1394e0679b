package sig0

import (
	"bytes"
	"container/list"
	"encoding/binary"
	"net"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Capture keeps the raw bytes of the UPDATEs a dns.Server reads, so that
// its handler can verify a SIG(0) over them: the server decodes each
// message and hands the handler only the *dns.Msg. Install Reader as the
// server's DecorateReader and call Take in the handler. Safe for
// concurrent use.
type Capture struct {
	max int
	ttl time.Duration
	now func() time.Time

	mu    sync.Mutex
	order *list.List                     // of *entry, oldest first, for the ttl and max
	byKey map[captureKey][]*list.Element // FIFO per key, oldest first
}

type captureKey struct {
	remote string
	id     uint16
}

type entry struct {
	key captureKey
	at  time.Time
	raw []byte
}

// NewCapture returns a Capture that keeps at most max messages in all,
// each for at most ttl by the clock now. ttl need only cover the time from
// the server's read to the handler's Take; the bound on max keeps a flood
// of UPDATEs nobody takes from growing memory.
func NewCapture(max int, ttl time.Duration, now func() time.Time) *Capture {
	if max < 1 {
		panic("sig0: NewCapture: max must be at least 1")
	}
	return &Capture{
		max:   max,
		ttl:   ttl,
		now:   now,
		order: list.New(),
		byKey: make(map[captureKey][]*list.Element),
	}
}

// Len is the number of messages held.
func (c *Capture) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

// Take returns and forgets the bytes of req as read from remote: the
// first message kept for remote and req.Id whose decoding is req itself.
// Address and ID alone do not bind the bytes to req: anyone can send a
// packet with a victim's source address and a guessed ID, and if that
// packet's bytes were verified while the handler applied req, a genuine
// signature over the spoofed bytes would authorise the unsigned or
// differently signed req. Matching the decoding closes that gap. Messages
// kept under the key that no longer decode are dropped on the way.
//
// Call Take before changing req: a req altered since the server decoded
// it matches nothing.
func (c *Capture) Take(remote net.Addr, req *dns.Msg) ([]byte, bool) {
	if remote == nil || req == nil {
		return nil, false
	}
	k := captureKey{remote: remote.String(), id: req.Id}
	c.mu.Lock()
	c.expire()
	cands := slices.Clone(c.byKey[k])
	c.mu.Unlock()
	// Decoding happens outside the lock: the entries under one key are
	// the sender's to choose, up to max of them, and unpacking them all
	// must not stall the reads of every other sender.
	for _, el := range cands {
		e := el.Value.(*entry)
		var m dns.Msg
		if err := m.Unpack(e.raw); err != nil {
			c.remove(el)
			continue
		}
		if !reflect.DeepEqual(&m, req) {
			continue
		}
		// A concurrent Take of an identical message may have had this
		// one; a later identical copy then serves.
		if c.remove(el) {
			return e.raw, true
		}
	}
	return nil, false
}

// keep stores a copy of msg read from remote if it may be a signed
// UPDATE: opcode UPDATE and at least one additional record. Others are
// not kept, so that queries, which a server reads far more of, cost
// nothing and cannot push UPDATEs out.
func (c *Capture) keep(remote net.Addr, msg []byte) {
	if remote == nil || len(msg) < headerLen {
		return
	}
	if int(msg[2]>>3)&0xF != dns.OpcodeUpdate || binary.BigEndian.Uint16(msg[10:]) == 0 {
		return
	}
	e := &entry{
		key: captureKey{remote: remote.String(), id: binary.BigEndian.Uint16(msg)},
		at:  c.now(),
		// The server returns UDP buffers to a pool before the handler
		// runs, and the next read overwrites them.
		raw: bytes.Clone(msg),
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire()
	for c.order.Len() >= c.max {
		c.removeLocked(c.order.Front())
	}
	el := c.order.PushBack(e)
	c.byKey[e.key] = append(c.byKey[e.key], el)
}

// expire drops the messages older than ttl. c.mu is held.
func (c *Capture) expire() {
	now := c.now()
	for el := c.order.Front(); el != nil; el = c.order.Front() {
		if now.Sub(el.Value.(*entry).at) <= c.ttl {
			return
		}
		c.removeLocked(el)
	}
}

// remove forgets el and reports whether it was still held.
func (c *Capture) remove(el *list.Element) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.removeLocked(el)
}

// removeLocked is remove with c.mu held.
func (c *Capture) removeLocked(el *list.Element) bool {
	e := el.Value.(*entry)
	q := c.byKey[e.key]
	i := slices.Index(q, el)
	if i < 0 {
		return false
	}
	c.order.Remove(el)
	if q = slices.Delete(q, i, i+1); len(q) == 0 {
		delete(c.byKey, e.key)
	} else {
		c.byKey[e.key] = q
	}
	return true
}

// Reader decorates r, the server's reader, to keep what it reads. Use it
// as dns.Server.DecorateReader. The reader returned implements
// dns.PacketConnReader when r does, as miekg's default reader does; the
// server needs it to serve a PacketConn that is not a *net.UDPConn.
func (c *Capture) Reader(r dns.Reader) dns.Reader {
	if pr, ok := r.(dns.PacketConnReader); ok {
		return packetReader{reader{c: c, r: r}, pr}
	}
	return reader{c: c, r: r}
}

type reader struct {
	c *Capture
	r dns.Reader
}

func (rd reader) ReadTCP(conn net.Conn, timeout time.Duration) ([]byte, error) {
	msg, err := rd.r.ReadTCP(conn, timeout)
	if err == nil {
		rd.c.keep(conn.RemoteAddr(), msg)
	}
	return msg, err
}

func (rd reader) ReadUDP(conn *net.UDPConn, timeout time.Duration) ([]byte, *dns.SessionUDP, error) {
	msg, s, err := rd.r.ReadUDP(conn, timeout)
	if err == nil && s != nil {
		rd.c.keep(s.RemoteAddr(), msg)
	}
	return msg, s, err
}

type packetReader struct {
	reader
	pr dns.PacketConnReader
}

var _ dns.PacketConnReader = packetReader{}

func (rd packetReader) ReadPacketConn(conn net.PacketConn, timeout time.Duration) ([]byte, net.Addr, error) {
	msg, addr, err := rd.pr.ReadPacketConn(conn, timeout)
	if err == nil {
		rd.c.keep(addr, msg)
	}
	return msg, addr, err
}
