package sig0

import (
	"bytes"
	"context"
	"crypto"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const keyName = "host.example.test."

// keyPair is a KEY and its private half.
type keyPair struct {
	key  *dns.KEY
	priv crypto.Signer
}

// generate makes a host KEY named name, as dnssec-keygen -T KEY -n HOST
// does (flags 512, protocol 3).
func generate(t testing.TB, name string, alg uint8) keyPair {
	t.Helper()
	bits := map[uint8]int{dns.ECDSAP256SHA256: 256, dns.ECDSAP384SHA384: 384, dns.ED25519: 256, dns.RSASHA256: 2048}[alg]
	key := &dns.KEY{DNSKEY: dns.DNSKEY{
		Hdr:   dns.RR_Header{Name: name, Rrtype: dns.TypeKEY, Class: dns.ClassINET, Ttl: 3600},
		Flags: 512, Protocol: 3, Algorithm: alg,
	}}
	priv, err := key.Generate(bits)
	if err != nil {
		t.Fatalf("generating a %s key: %v", dns.AlgorithmToString[alg], err)
	}
	return keyPair{key: key, priv: priv.(crypto.Signer)}
}

// keys caches two key pairs per algorithm for the whole test binary:
// 2048-bit RSA keys take long enough under -race to matter.
var keys = struct {
	sync.Mutex
	m map[[2]uint8]keyPair
}{m: map[[2]uint8]keyPair{}}

// cachedKey returns key number n (0 or 1) of algorithm alg, named keyName.
func cachedKey(t testing.TB, alg uint8, n uint8) keyPair {
	t.Helper()
	keys.Lock()
	defer keys.Unlock()
	k, ok := keys.m[[2]uint8{alg, n}]
	if !ok {
		k = generate(t, keyName, alg)
		keys.m[[2]uint8{alg, n}] = k
	}
	return k
}

// update is the UPDATE nsupdate sends for "update add host.example.test.
// 60 A 192.0.2.1", with extra records in the additional section.
func update(extra ...dns.RR) *dns.Msg {
	m := new(dns.Msg)
	m.SetUpdate("example.test.")
	m.Id = 4711
	m.Insert([]dns.RR{&dns.A{
		Hdr: dns.RR_Header{Name: keyName, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
		A:   net.IPv4(192, 0, 2, 1),
	}})
	m.Extra = append(m.Extra, extra...)
	return m
}

// signNow signs m with k, valid from an hour ago to an hour from now by
// the wall clock, which miekg's Verify checks the period against.
func signNow(t testing.TB, m *dns.Msg, k keyPair) []byte {
	t.Helper()
	wall := time.Now()
	raw, err := Sign(m, k.key, k.priv, wall.Add(-time.Hour), wall.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func decode(t testing.TB, raw []byte) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	if err := m.Unpack(raw); err != nil {
		t.Fatalf("decoding %x: %v", raw, err)
	}
	return m
}

func TestSignVerify(t *testing.T) {
	t.Parallel()
	const fudge = 5 * time.Minute
	for _, alg := range Algorithms {
		t.Run(dns.AlgorithmToString[alg], func(t *testing.T) {
			t.Parallel()
			k := cachedKey(t, alg, 0)
			m := update()
			wall := time.Now()
			incept, expire := wall.Add(-time.Hour), wall.Add(time.Hour)
			raw, err := Sign(m, k.key, k.priv, incept, expire)
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Extra) != 0 {
				t.Fatalf("Sign added %v to the message", m.Extra)
			}
			signed := decode(t, raw)
			sig, ok := Find(signed)
			if !ok {
				t.Fatal("Find: no SIG(0) in the signed message")
			}
			if sig.Hdr.Name != "." || sig.Hdr.Class != dns.ClassANY || sig.Hdr.Ttl != 0 || sig.TypeCovered != 0 ||
				sig.Algorithm != alg || sig.KeyTag != k.key.KeyTag() || sig.SignerName != keyName {
				t.Fatalf("the SIG(0) made: %v", sig)
			}

			// The address 192.0.2.1 of the A record: changing it keeps
			// the message decodable, so only the signature can catch it.
			at := bytes.Index(raw, []byte{192, 0, 2, 1})
			if at < 0 {
				t.Fatal("no 192.0.2.1 in the signed message")
			}
			flipped := bytes.Clone(raw)
			flipped[at+3] ^= 0x01
			appended := append(bytes.Clone(raw), 0)

			other := cachedKey(t, alg, 1)
			renamed := *k.key
			renamed.Hdr.Name = "HOST.Example.TEST."
			stranger := generate(t, "other.example.test.", alg)

			cases := map[string]struct {
				raw  []byte
				key  *dns.KEY
				now  time.Time
				want []error // nil: verifies; else one of these
			}{
				"valid":                         {raw: raw, key: k.key, now: wall},
				"valid at inception":            {raw: raw, key: k.key, now: incept},
				"valid at expiration":           {raw: raw, key: k.key, now: expire},
				"within fudge after expiration": {raw: raw, key: k.key, now: expire.Add(fudge - time.Second)},
				"within fudge before inception": {raw: raw, key: k.key, now: incept.Add(-fudge + time.Second)},
				"beyond fudge after expiration": {raw: raw, key: k.key, now: expire.Add(fudge + time.Second), want: []error{ErrTime}},
				"beyond fudge before inception": {raw: raw, key: k.key, now: incept.Add(-fudge - time.Second), want: []error{ErrTime}},
				"signer name in other case":     {raw: raw, key: &renamed, now: wall},
				"a byte of the update flipped":  {raw: flipped, key: k.key, now: wall, want: []error{ErrBadSig}},
				"a byte after the SIG":          {raw: appended, key: k.key, now: wall, want: []error{ErrMalformed}},
				// Two keys share a tag once in 65536 times; then the
				// signature is what fails.
				"another key of the same name": {raw: raw, key: other.key, now: wall, want: []error{ErrSigner, ErrBadSig}},
				"a key of another name":        {raw: raw, key: stranger.key, now: wall, want: []error{ErrSigner}},
				"no key":                       {raw: raw, key: nil, now: wall, want: []error{ErrSigner}},
			}
			for name, tc := range cases {
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					err := Verify(tc.raw, decode(t, tc.raw), tc.key, tc.now, fudge)
					checkErr(t, err, tc.want...)
				})
			}
		})
	}
}

// checkErr fails t unless err is nil when want is empty, or one of want.
func checkErr(t *testing.T, err error, want ...error) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("Verify: %v, want nil", err)
		}
		return
	}
	for _, w := range want {
		if errors.Is(err, w) {
			t.Logf("Verify: %v", err)
			return
		}
	}
	t.Fatalf("Verify: %v, want one of %v", err, want)
}

func TestVerifyRefuses(t *testing.T) {
	t.Parallel()
	k := cachedKey(t, dns.ED25519, 0)
	wall := time.Now()
	signed := signNow(t, update(), k)

	// A SIG(0) built by hand, for the forms Sign never writes; its
	// signature is junk, the checks before the cryptography refuse it.
	handSig := func(edit func(*dns.SIG)) []byte {
		s := &dns.SIG{RRSIG: dns.RRSIG{
			Hdr:       dns.RR_Header{Name: ".", Rrtype: dns.TypeSIG, Class: dns.ClassANY},
			Algorithm: dns.ED25519, KeyTag: k.key.KeyTag(), SignerName: keyName,
			Inception: uint32(wall.Add(-time.Hour).Unix()), Expiration: uint32(wall.Add(time.Hour).Unix()),
			Signature: "AAAA",
		}}
		edit(s)
		raw, err := update(s).Pack()
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	unsigned, err := update().Pack()
	if err != nil {
		t.Fatal(err)
	}
	sigFirst, err := update(&dns.SIG{RRSIG: dns.RRSIG{
		Hdr:       dns.RR_Header{Name: ".", Rrtype: dns.TypeSIG, Class: dns.ClassANY},
		Algorithm: dns.ED25519, KeyTag: 1, SignerName: keyName, Signature: "AAAA",
	}}, &dns.A{Hdr: dns.RR_Header{Name: keyName, Rrtype: dns.TypeA, Class: dns.ClassINET}, A: net.IPv4(192, 0, 2, 2)}).Pack()
	if err != nil {
		t.Fatal(err)
	}
	// 256 additional records: 255 of them and the SIG(0). miekg would
	// hash the count 255 right, but the rule is one byte (maxArcount).
	var many []dns.RR
	for i := range 255 {
		many = append(many, &dns.A{Hdr: dns.RR_Header{Name: keyName, Rrtype: dns.TypeA, Class: dns.ClassINET},
			A: net.IPv4(192, 0, 2, byte(i))})
	}
	crowded := signNow(t, update(many...), k)

	ecdsaKey := cachedKey(t, dns.ECDSAP256SHA256, 0)

	// Two other encodings of a signed message, each of which miekg's
	// Verify accepts as it is: the SIG's owner, unsigned, written as a
	// pointer to the root that ends the question's name; and an ECDSA
	// signature whose halves r and s are each padded with a zero byte.
	sigAt := len(unsigned) // Sign appends the SIG to the message packed
	rootPointer := slices.Concat(signed[:sigAt], []byte{0xc0, byte(bytes.IndexByte(signed[headerLen:], 0) + headerLen)},
		signed[sigAt+1:])
	ecdsaSigned := signNow(t, update(), ecdsaKey)
	rs := ecdsaSigned[len(ecdsaSigned)-64:]
	padded := slices.Concat(ecdsaSigned[:len(ecdsaSigned)-64], []byte{0}, rs[:32], []byte{0}, rs[32:])
	rdlen := padded[sigAt+1+2+2+4:]
	binary.BigEndian.PutUint16(rdlen, binary.BigEndian.Uint16(rdlen)+2)

	otherID := update()
	otherID.Id++
	p384 := generate(t, keyName, dns.ECDSAP384SHA384)

	cases := map[string]struct {
		raw  []byte
		m    *dns.Msg // nil: the decoding of raw
		key  *dns.KEY
		now  time.Time // zero: wall
		want error
	}{
		"unsigned":                 {raw: unsigned, key: k.key, want: ErrNoSig},
		"SIG not last":             {raw: sigFirst, key: k.key, want: ErrNoSig},
		"message without records":  {raw: signed, m: &dns.Msg{}, key: k.key, want: ErrNoSig},
		"short of a header":        {raw: signed[:11], m: decode(t, signed), key: k.key, want: ErrMalformed},
		"truncated SIG":            {raw: signed[:len(signed)-1], m: decode(t, signed), key: k.key, want: ErrMalformed},
		"message not of the bytes": {raw: signed, m: decode(t, signNow(t, otherID, k)), key: k.key, want: ErrMalformed},
		"covers type A":            {raw: handSig(func(s *dns.SIG) { s.TypeCovered = dns.TypeA }), key: k.key, want: ErrMalformed},
		"owner not the root":       {raw: handSig(func(s *dns.SIG) { s.Hdr.Name = "example.test." }), key: k.key, want: ErrMalformed},
		"class IN":                 {raw: handSig(func(s *dns.SIG) { s.Hdr.Class = dns.ClassINET }), key: k.key, want: ErrMalformed},
		"TTL 60":                   {raw: handSig(func(s *dns.SIG) { s.Hdr.Ttl = 60 }), key: k.key, want: ErrMalformed},
		"256 additional records":   {raw: crowded, key: k.key, want: ErrMalformed},
		"ECDSAP384SHA384":          {raw: signNow(t, update(), p384), key: p384.key, want: ErrAlgorithm},
		"key of another algorithm": {raw: signed, key: ecdsaKey.key, want: ErrAlgorithm},
		"root owner as a pointer":  {raw: rootPointer, key: k.key, want: ErrMalformed},
		"ECDSA signature padded":   {raw: padded, key: ecdsaKey.key, want: ErrBadSig},
		// Inside the period as Verify is told, outside it by the wall
		// clock, which miekg checks: still ErrTime.
		"period over by wall clock": {raw: mustSign(t, k, wall.Add(-3*time.Hour), wall.Add(-2*time.Hour)), key: k.key,
			now: wall.Add(-2 * time.Hour), want: ErrTime},
		"key tag of another key":     {raw: handSig(func(s *dns.SIG) { s.KeyTag++ }), key: k.key, want: ErrSigner},
		"signed by another name":     {raw: handSig(func(s *dns.SIG) { s.SignerName = "other.example.test." }), key: k.key, want: ErrSigner},
		"junk signature, right form": {raw: handSig(func(*dns.SIG) {}), key: k.key, want: ErrBadSig},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m := tc.m
			if m == nil {
				m = decode(t, tc.raw)
			}
			now := tc.now
			if now.IsZero() {
				now = wall
			}
			checkErr(t, Verify(tc.raw, m, tc.key, now, time.Minute), tc.want)
		})
	}
}

func mustSign(t *testing.T, k keyPair, incept, expire time.Time) []byte {
	t.Helper()
	raw, err := Sign(update(), k.key, k.priv, incept, expire)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestFind(t *testing.T) {
	t.Parallel()
	sig := &dns.SIG{}
	a := &dns.A{}
	cases := map[string]struct {
		m    *dns.Msg
		want *dns.SIG
	}{
		"nil":          {m: nil},
		"no extra":     {m: &dns.Msg{}},
		"SIG last":     {m: &dns.Msg{Extra: []dns.RR{a, sig}}, want: sig},
		"SIG not last": {m: &dns.Msg{Extra: []dns.RR{sig, a}}},
		"SIG in Ns":    {m: &dns.Msg{Ns: []dns.RR{sig}}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, ok := Find(tc.m)
			if got != tc.want || ok != (tc.want != nil) {
				t.Fatalf("Find = %v, %v; want %v", got, ok, tc.want)
			}
		})
	}
}

// TestNsupdate verifies what BIND's nsupdate sends, signed with keys from
// dnssec-keygen, as a gateway's server captures it.
func TestNsupdate(t *testing.T) {
	t.Parallel()
	keygen := lookTool(t, "dnssec-keygen", "bind9-utils")
	nsupdate := lookTool(t, "nsupdate", "bind9-dnsutils (or dnsutils)")
	for _, alg := range []string{"ECDSAP256SHA256", "ED25519"} {
		for _, network := range []string{"udp", "tcp"} {
			t.Run(alg+"/"+network, func(t *testing.T) {
				t.Parallel()
				ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
				defer cancel()
				dir := t.TempDir()
				out, err := exec.CommandContext(ctx, keygen, "-K", dir, "-T", "KEY", "-n", "HOST", "-a", alg, "host.example.test").Output()
				if err != nil {
					t.Fatalf("dnssec-keygen: %v: %s", err, stderrOf(err))
				}
				base := filepath.Join(dir, strings.TrimSpace(string(out)))
				key := readKey(t, base+".key")

				c := NewCapture(16, time.Minute, time.Now)
				got := make(chan taken, 1)
				addr := serve(t, network, c, got)

				cmd := exec.CommandContext(ctx, nsupdate, "-t", "20", "-k", base+".private")
				if network == "tcp" {
					cmd.Args = append(cmd.Args, "-v")
				}
				host, port, _ := net.SplitHostPort(addr)
				cmd.Stdin = strings.NewReader("server " + host + " " + port + "\nzone example.test\n" +
					"update add host.example.test. 60 A 192.0.2.1\nsend\n")
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				// nsupdate's exit is no concern of this test, only what
				// it sent: it may dislike an unsigned answer.
				defer func() { cancel(); _ = cmd.Wait() }()

				var tk taken
				select {
				case tk = <-got:
				case <-ctx.Done():
					t.Fatalf("nsupdate sent nothing: %v; stderr: %s", ctx.Err(), stderr.String())
				}
				if !tk.ok {
					t.Fatal("Take found no bytes for the UPDATE nsupdate sent")
				}
				if err := Verify(tk.raw, tk.req, key, time.Now(), 5*time.Minute); err != nil {
					t.Fatalf("Verify of nsupdate's UPDATE: %v", err)
				}
				if repacked, err := tk.req.Pack(); err == nil && !bytes.Equal(repacked, tk.raw) {
					t.Logf("re-packed, the message differs from what nsupdate sent (%d and %d bytes)", len(repacked), len(tk.raw))
				}
			})
		}
	}
}

func lookTool(t *testing.T, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is needed for this test; install the package %s: %v", name, pkg, err)
	}
	return path
}

func stderrOf(err error) []byte {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.Stderr
	}
	return nil
}

// readKey reads the KEY RR of a dnssec-keygen .key file.
func readKey(t *testing.T, path string) *dns.KEY {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rr, err := dns.ReadRR(f, path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	key, ok := rr.(*dns.KEY)
	if !ok {
		t.Fatalf("%s holds %v, not a KEY", path, rr)
	}
	return key
}

// taken is what a test handler's Take returned.
type taken struct {
	req   *dns.Msg
	raw   []byte
	ok    bool
	again bool // a second Take of the same message found bytes
}

// serve starts a dns.Server on 127.0.0.1 for network (udp, tcp, or
// packetconn: UDP through a net.PacketConn that is not a *net.UDPConn),
// capturing with c. Its handler takes each message's bytes, reports them
// on got, and answers NOERROR. It returns the address served.
func serve(t *testing.T, network string, c *Capture, got chan<- taken) string {
	t.Helper()
	started := make(chan struct{})
	srv := &dns.Server{
		DecorateReader:    c.Reader,
		NotifyStartedFunc: func() { close(started) },
		MsgAcceptFunc:     acceptUpdate,
		Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
			raw, ok := c.Take(w.RemoteAddr(), req)
			_, again := c.Take(w.RemoteAddr(), req)
			select {
			case got <- taken{req: req, raw: raw, ok: ok, again: again}:
			default:
			}
			resp := new(dns.Msg)
			resp.SetReply(req)
			_ = w.WriteMsg(resp)
		}),
	}
	var addr string
	switch network {
	case "udp", "packetconn":
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = pc.LocalAddr().String()
		srv.PacketConn = pc
		if network == "packetconn" {
			srv.PacketConn = hiddenUDP{pc}
		}
	case "tcp":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = ln.Addr().String()
		srv.Listener = ln
	default:
		t.Fatalf("network %q", network)
	}
	served := make(chan error, 1)
	go func() { served <- srv.ActivateAndServe() }()
	select {
	case <-started:
	case err := <-served:
		t.Fatalf("serving %s: %v", network, err)
	}
	t.Cleanup(func() {
		if err := srv.Shutdown(); err != nil {
			t.Errorf("shutting the %s server down: %v", network, err)
		}
		<-served
	})
	return addr
}

// hiddenUDP hides that its PacketConn is a *net.UDPConn, so that the
// server reads it through ReadPacketConn.
type hiddenUDP struct{ net.PacketConn }

// acceptUpdate lets UPDATEs through, which miekg's default refuses.
func acceptUpdate(dh dns.Header) dns.MsgAcceptAction {
	if dh.Bits&(1<<15) != 0 {
		return dns.MsgIgnore
	}
	return dns.MsgAccept
}
