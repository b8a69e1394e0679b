package gateway

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/nats-io/nats.go/jetstream"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/dnsupdate"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/gwstore"
	"github.com/zonecast/zonecast/internal/rrset"
)

const testZone = "dyn.example.test."

// keys is a Directory of fixed keys.
type keys map[string]gwstore.Key

func (k keys) Key(name string) (gwstore.Key, bool) { v, ok := k[name]; return v, ok }
func (k keys) Host(string) (gwstore.Host, bool)    { return gwstore.Host{}, false }
func (k keys) Dependents(string) []gwstore.Host    { return nil }
func (k keys) origin(name string) string           { return k[name].Origin() }

const testSecret = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI="

// failing publishes the messages it is told to fail into a stream that does
// not capture their subject (a real JetStream error, "expected stream does
// not match"), the others through the real publisher. While down says so,
// it publishes on subjects no stream captures: no responders, as while the
// stream has no leader.
type failing struct {
	ok, bad, none *bus.Publisher
	mu            sync.Mutex
	fail          func(events.Message) bool
	down          func() bool
}

func (f *failing) set(fail func(events.Message) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = fail
}

func (f *failing) PublishFutureIf(m events.Message, lease time.Duration, last uint64) (jetstream.PubAckFuture, error) {
	f.mu.Lock()
	bad := f.fail != nil && f.fail(m)
	down := f.down != nil && f.down()
	f.mu.Unlock()
	if down {
		return f.none.PublishFutureIf(m, lease, last)
	}
	if bad {
		return f.bad.PublishFutureIf(m, lease, last)
	}
	return f.ok.PublishFutureIf(m, lease, last)
}

func (f *failing) Check(ack *jetstream.PubAck) error { return f.ok.Check(ack) }

type rig struct {
	g   *Gateway
	js  jetstream.JetStream
	pub *failing
	dir keys
}

// newRig starts an embedded JetStream with the record stream, a gateway on
// it and its follower, and waits for the (empty) replay.
func newRig(t testing.TB) *rig { t.Helper(); return newRigWith(t, nil) }

// newRigWith is newRig with the gateway's Config adjusted by tweak.
func newRigWith(t testing.TB, tweak func(*Config)) *rig {
	t.Helper()
	dir := t.TempDir()
	srv, err := bus.StartEmbedded(bus.ServerConfig{StoreDir: filepath.Join(dir, "js"), User: "u", Password: "p",
		Name: "gw-test", Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	nc, err := bus.ConnectInProcess(srv, "u", "p", zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := bus.EnsureStream(ctx, js, bus.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "OTHER", Subjects: []string{"other.>"}}); err != nil {
		t.Fatal(err)
	}
	d := keys{"k1.": {Name: "k1.", Algorithm: dns.HmacSHA256, Secret: testSecret, Zones: []string{testZone}}}
	pub := &failing{ok: NewStreamPublisher(js, "", ""), bad: NewStreamPublisher(js, "OTHER", "").WithStreamCheck(),
		none: NewStreamPublisher(js, "", "nowhere.rr")}
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	st, err := js.Stream(ctx, bus.DefaultStreamName)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Zones: []string{testZone}, Publisher: pub, Directory: d, Log: log,
		Last: func(ctx context.Context, subject string) (bus.Last, error) { return bus.LastOf(ctx, st, subject) }}
	if tweak != nil {
		tweak(&cfg)
	}
	g := New(cfg)
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- bus.Follow(ctx, js, bus.FollowConfig{Filters: g.Filters(), Handle: g.Observe,
			Ready: func() { close(ready) }, Log: zerolog.Nop()})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("follow: %v", err)
		}
	})
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("no replay")
	}
	return &rig{g: g, js: js, pub: pub, dir: d}
}

// update sends one signed-and-verified UPDATE (the server's TSIG check is
// not under test here) and returns the rcode.
func (r *rig) update(t *testing.T, build func(m *dns.Msg)) int {
	t.Helper()
	m := new(dns.Msg)
	m.SetUpdate(testZone)
	build(m)
	m.SetTsig("k1.", dns.HmacSHA256, Fudge, time.Now().Unix())
	wire, err := m.Pack() // as received: RDLENGTH set
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Unpack(wire); err != nil {
		t.Fatal(err)
	}
	return r.g.Handle(context.Background(), m, nil, nil).Rcode
}

func a(name, addr string) dns.RR {
	rr, err := dns.NewRR(fmt.Sprintf("%s 60 IN A %s", name, addr))
	if err != nil {
		panic(err)
	}
	return rr
}

// streamState replays the stream into a fresh index: what every follower
// would hold.
func (r *rig) streamState(t *testing.T) (*dnsupdate.Index, uint64) {
	t.Helper()
	g, seq := r.replay(t)
	return g.idx, seq
}

// replay follows the stream from the start with a fresh gateway, and
// returns it with the stream's last sequence.
func (r *rig) replay(t *testing.T) (*Gateway, uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := r.js.Stream(ctx, bus.DefaultStreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fresh := New(Config{Zones: []string{testZone}, Publisher: r.pub, Directory: r.dir, Log: zerolog.Nop()})
	ready := make(chan struct{})
	fctx, fcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- bus.Follow(fctx, r.js, bus.FollowConfig{Filters: fresh.Filters(), Handle: fresh.Observe,
			Ready: func() { close(ready) }, Log: zerolog.Nop()})
	}()
	select {
	case <-ready:
	case <-ctx.Done():
		t.Fatal("no replay")
	}
	fcancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return fresh, info.State.LastSeq
}

// settle waits until the gateway's follower has seen seq and nothing is in
// flight.
func (r *rig) settle(t *testing.T, seq uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.g.mu.Lock()
		ok := r.g.delivered >= seq && len(r.g.pendingKeys) == 0
		r.g.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("follower not at %d", seq)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *rig) own(key rrset.Key, origin string) []string {
	r.g.mu.Lock()
	defer r.g.mu.Unlock()
	return r.g.idx.Contributions(key)[origin].Records
}

// sameState compares the gateway's view with the stream replayed.
func (r *rig) sameState(t *testing.T, names []string) {
	t.Helper()
	want, seq := r.streamState(t)
	r.settle(t, seq)
	r.g.mu.Lock()
	defer r.g.mu.Unlock()
	if r.g.idx.Len() != want.Len() {
		t.Errorf("view has %d rrsets, stream %d", r.g.idx.Len(), want.Len())
	}
	for _, n := range names {
		key := rrset.Key{Name: n, Type: "A"}
		if got, w := r.g.idx.Get(key).Records, want.Get(key).Records; !slices.Equal(got, w) {
			t.Errorf("%s: view %v, stream %v", n, got, w)
		}
	}
	if len(r.g.tracks) != 0 {
		t.Errorf("%d tracks left after the follower caught up", len(r.g.tracks))
	}
}

// TestLeaseEndsInView: a record published with a lease leaves the
// gateway's view when the lease ends (the stream drops it without a
// marker), so a prerequisite "name not in use" holds again.
func TestLeaseEndsInView(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	r := newRigWith(t, func(c *Config) { c.Now = clock })
	k := r.dir["k1."]
	k.LeaseSeconds = 60
	r.dir["k1."] = k
	name := "lease." + testZone
	if rc := r.update(t, func(m *dns.Msg) { m.Insert([]dns.RR{a(name, "192.0.2.7")}) }); rc != dns.RcodeSuccess {
		t.Fatalf("add: %s", dns.RcodeToString[rc])
	}
	notInUse := func(m *dns.Msg) {
		m.NameNotUsed([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeANY, Class: dns.ClassANY}}})
		m.Insert([]dns.RR{a(name, "192.0.2.8")})
	}
	if rc := r.update(t, notInUse); rc != dns.RcodeYXDomain {
		t.Fatalf("while the lease runs: %s, want YXDOMAIN", dns.RcodeToString[rc])
	}
	mu.Lock()
	now = now.Add(61 * time.Second)
	mu.Unlock()
	// The next record without a lease: the server's clock, which stamps
	// the message, is a minute behind the gateway's here.
	k.LeaseSeconds = 0
	r.dir["k1."] = k
	if rc := r.update(t, notInUse); rc != dns.RcodeSuccess {
		t.Fatalf("after the lease: %s, want NOERROR", dns.RcodeToString[rc])
	}
	if got := r.own(rrset.Key{Name: name, Type: "A"}, r.dir.origin("k1.")); !slices.Equal(got, []string{"192.0.2.8"}) {
		t.Fatalf("view %v", got)
	}
}

func TestFailedPublishRestoresView(t *testing.T) {
	r := newRig(t)
	h := "h." + testZone
	key, origin := rrset.Key{Name: h, Type: "A"}, r.dir.origin("k1.")
	if rc := r.update(t, func(m *dns.Msg) { m.Insert([]dns.RR{a(h, "192.0.2.1")}) }); rc != dns.RcodeSuccess {
		t.Fatalf("first add: %s", dns.RcodeToString[rc])
	}
	r.pub.set(func(m events.Message) bool { return slices.Contains(m.Records, "192.0.2.66") })
	if rc := r.update(t, func(m *dns.Msg) { m.Insert([]dns.RR{a(h, "192.0.2.66")}) }); rc != dns.RcodeServerFailure {
		t.Fatalf("failing add: %s, want SERVFAIL", dns.RcodeToString[rc])
	}
	if got := r.own(key, origin); !slices.Equal(got, []string{"192.0.2.1"}) {
		t.Fatalf("after a failed publish the view holds %v, want the stored [192.0.2.1]", got)
	}
	// A prerequisite sees the stored state, not the failed change.
	rc := r.update(t, func(m *dns.Msg) {
		m.Used([]dns.RR{a(h, "192.0.2.1")})
		m.RRsetNotUsed([]dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "x." + testZone, Rrtype: dns.TypeA, Class: dns.ClassINET}}})
		m.Insert([]dns.RR{a("x."+testZone, "192.0.2.2")})
	})
	if rc != dns.RcodeSuccess {
		t.Fatalf("update with prerequisites: %s", dns.RcodeToString[rc])
	}
	r.sameState(t, []string{h, "x." + testZone})
}

// While the stream has no leader an update is sent again, and answered
// once stored; past PublishTimeout it is answered SERVFAIL, with nothing
// of it in the view.
func TestUpdateWaitsForTheStream(t *testing.T) {
	r := newRigWith(t, func(c *Config) { c.PublishTimeout = time.Second })
	h := "wait." + testZone
	key, origin := rrset.Key{Name: h, Type: "A"}, r.dir.origin("k1.")
	until := time.Now().Add(400 * time.Millisecond)
	r.pub.mu.Lock()
	r.pub.down = func() bool { return time.Now().Before(until) }
	r.pub.mu.Unlock()
	start := time.Now()
	if rc := r.update(t, func(m *dns.Msg) { m.Insert([]dns.RR{a(h, "192.0.2.7")}) }); rc != dns.RcodeSuccess {
		t.Fatalf("add during an election: %s", dns.RcodeToString[rc])
	}
	if took := time.Since(start); took < 400*time.Millisecond {
		t.Fatalf("answered after %v, before the stream could take it", took)
	}
	var retries dto.Metric
	if err := r.g.m.unavailable.Write(&retries); err != nil || retries.GetCounter().GetValue() < 1 {
		t.Fatalf("publish retries = %v (%v)", retries.GetCounter().GetValue(), err)
	}

	r.pub.mu.Lock()
	r.pub.down = func() bool { return true }
	r.pub.mu.Unlock()
	start = time.Now()
	if rc := r.update(t, func(m *dns.Msg) { m.Insert([]dns.RR{a(h, "192.0.2.8")}) }); rc != dns.RcodeServerFailure {
		t.Fatalf("add with no leader for longer than PublishTimeout: %s, want SERVFAIL", dns.RcodeToString[rc])
	}
	if took := time.Since(start); took < time.Second || took > 5*time.Second {
		t.Errorf("SERVFAIL after %v, want about PublishTimeout (1s)", took)
	}
	if got := r.own(key, origin); !slices.Equal(got, []string{"192.0.2.7"}) {
		t.Fatalf("the view holds %v, want the stored [192.0.2.7]", got)
	}
	r.pub.mu.Lock()
	r.pub.down = nil
	r.pub.mu.Unlock()
	r.sameState(t, []string{h})
}

// Many clients update few RRsets at once, some publishes fail: every
// success is stored, and once the follower has caught up, the gateway's view
// is exactly the stream's state.
func TestConcurrentUpdatesMatchStream(t *testing.T) {
	r := newRig(t)
	calls := 0
	r.pub.set(func(events.Message) bool { calls++; return calls%7 == 0 }) // under r.pub.mu
	var names []string
	for _, n := range "abcdefgh" {
		names = append(names, string(n)+"."+testZone)
	}
	const workers, each = 8, 24
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := map[string][]string{}
	failed := 0
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				n := names[(w+i)%len(names)]
				addr := fmt.Sprintf("10.0.%d.%d", w, i)
				var rc int
				if i%5 == 4 { // with a prerequisite on another name
					other := names[(w+i+1)%len(names)]
					rc = r.update(t, func(m *dns.Msg) {
						m.NameUsed([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: other, Rrtype: dns.TypeANY, Class: dns.ClassANY}}})
						m.Insert([]dns.RR{a(n, addr)})
					})
					if rc == dns.RcodeNameError {
						continue
					}
				} else {
					rc = r.update(t, func(m *dns.Msg) { m.Insert([]dns.RR{a(n, addr)}) })
				}
				switch rc {
				case dns.RcodeSuccess:
					mu.Lock()
					ok[n] = append(ok[n], addr)
					mu.Unlock()
				case dns.RcodeServerFailure:
					mu.Lock()
					failed++
					mu.Unlock()
				default:
					t.Errorf("update %s %s: %s", n, addr, dns.RcodeToString[rc])
				}
			}
		}()
	}
	wg.Wait()
	if failed == 0 || len(ok) == 0 {
		t.Fatalf("%d updates failed, %d names updated: want both outcomes", failed, len(ok))
	}
	r.sameState(t, names)
	want, _ := r.streamState(t)
	for n, addrs := range ok {
		got := want.Get(rrset.Key{Name: n, Type: "A"}).Records
		for _, addr := range addrs {
			if !slices.Contains(got, addr) {
				t.Errorf("%s: acknowledged %s is not stored (%v)", n, addr, got)
			}
		}
	}
}

// The UDP server answers updates concurrently: the same checks through
// ServeDNSOn and a real client.
func TestServeDNSConcurrent(t *testing.T) {
	r := newRig(t)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.g.ServeDNSOn(ctx, addr) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	waitDNS(t, addr)
	name := "u." + testZone
	c := &dns.Client{Net: "udp", Timeout: 5 * time.Second, TsigSecret: map[string]string{"k1.": testSecret}}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 15; i++ {
				m := new(dns.Msg)
				m.SetUpdate(testZone)
				m.Insert([]dns.RR{a(name, fmt.Sprintf("10.0.%d.%d", w, i))})
				m.SetTsig("k1.", dns.HmacSHA256, Fudge, time.Now().Unix())
				resp, _, err := c.Exchange(m, addr)
				if err != nil || resp.Rcode != dns.RcodeSuccess {
					t.Errorf("update: %v %v", err, resp)
					return
				}
			}
		}()
	}
	wg.Wait()
	r.sameState(t, []string{name})
	if got := r.own(rrset.Key{Name: name, Type: "A"}, r.dir.origin("k1.")); len(got) != 60 {
		t.Errorf("view has %d records, want 60", len(got))
	}
}

// waitDNS waits until a DNS server answers on addr.
func waitDNS(t testing.TB, addr string) {
	t.Helper()
	for try := 0; try < 100; try++ {
		q := new(dns.Msg)
		q.SetQuestion(testZone, dns.TypeSOA)
		if _, _, err := (&dns.Client{Net: "udp", Timeout: 100 * time.Millisecond}).Exchange(q, addr); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("dns server not answering")
}

// BenchmarkServeDNS profiles the gateway in one process: 16 UDP clients
// sending signed single-record adds through ServeDNSOn to an embedded
// JetStream (clients and server share the CPU with it).
//
//	go test -run '^$' -bench ServeDNS -cpuprofile cpu.out ./internal/gateway
func BenchmarkServeDNS(b *testing.B) {
	r := newRig(b)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.g.ServeDNSOn(ctx, addr) }()
	defer func() { cancel(); <-done }()
	waitDNS(b, addr)
	var next atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &dns.Client{Net: "udp", Timeout: 5 * time.Second, TsigSecret: map[string]string{"k1.": testSecret}}
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				m := new(dns.Msg)
				m.SetUpdate(testZone)
				m.Insert([]dns.RR{&dns.A{Hdr: dns.RR_Header{Name: fmt.Sprintf("h%d.%s", i, testZone), Rrtype: dns.TypeA,
					Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(10, byte(i>>16), byte(i>>8), byte(i))}})
				m.SetTsig("k1.", dns.HmacSHA256, Fudge, time.Now().Unix())
				resp, _, err := c.Exchange(m, addr)
				if err != nil || resp.Rcode != dns.RcodeSuccess {
					b.Errorf("update: %v %v", err, resp)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// ServeDNSOn returns when its context ends before the servers started
// (miekg/dns's ShutdownContext leaves a server not yet started running).
func TestServeDNSOnCancelledAtStart(t *testing.T) {
	g := New(Config{Zones: []string{testZone}, Directory: keys{}, Log: zerolog.Nop()})
	for i := 0; i < 20; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		done := make(chan error, 1)
		go func() { done <- g.ServeDNSOn(ctx, "127.0.0.1:0") }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("ServeDNSOn did not return after its context ended")
		}
	}
}

// TestTwoGatewaysKeepEveryUpdate: two gateways on one stream take updates
// of one RRset, signed by one key (one origin), at the same time; each
// evaluates on what it has followed so far, so without compare-and-set the
// later write would drop the other's record. Every record acknowledged ends
// in the stream, and some updates had to be evaluated again.
func TestTwoGatewaysKeepEveryUpdate(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	last := r.g.cfg.Last
	m2 := NewMetrics(nil)
	g2 := New(Config{Zones: []string{testZone}, Publisher: NewStreamPublisher(r.js, "", ""), Directory: r.dir,
		Last: last, Metrics: m2, Log: zerolog.Nop()})
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- bus.Follow(ctx, r.js, bus.FollowConfig{Filters: g2.Filters(), Handle: g2.Observe,
			Ready: func() { close(ready) }, Log: zerolog.Nop()})
	}()
	t.Cleanup(func() { cancel(); <-done })
	<-ready
	name := "shared." + testZone
	send := func(g *Gateway, addr string) int {
		m := new(dns.Msg)
		m.SetUpdate(testZone)
		m.Insert([]dns.RR{a(name, addr)})
		m.SetTsig("k1.", dns.HmacSHA256, Fudge, time.Now().Unix())
		wire, err := m.Pack()
		if err != nil {
			t.Error(err)
			return -1
		}
		if err := m.Unpack(wire); err != nil {
			t.Error(err)
			return -1
		}
		return g.Handle(context.Background(), m, nil, nil).Rcode
	}
	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	for gi, g := range []*Gateway{r.g, g2} {
		for w := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 10 { // 60 records in all: a message holds at most 64
					addr := fmt.Sprintf("10.%d.%d.%d", gi, w, i)
					if rc := send(g, addr); rc == dns.RcodeSuccess {
						mu.Lock()
						acked = append(acked, addr)
						mu.Unlock()
					}
				}
			}()
		}
	}
	wg.Wait()
	if len(acked) < 50 {
		t.Fatalf("only %d of 60 updates acknowledged", len(acked))
	}
	idx, _ := r.streamState(t)
	stored := idx.Contributions(rrset.Key{Name: name, Type: "A"})[r.dir.origin("k1.")].Records
	var lost []string
	for _, addr := range acked {
		if !slices.Contains(stored, addr) {
			lost = append(lost, addr)
		}
	}
	if len(lost) > 0 {
		t.Fatalf("%d acknowledged records not in the stream: %v", len(lost), lost)
	}
	var retried float64
	for _, g := range []*Gateway{r.g, g2} {
		var m dto.Metric
		if err := g.m.casConflicts.WithLabelValues("retried").Write(&m); err != nil {
			t.Fatal(err)
		}
		retried += m.GetCounter().GetValue()
	}
	if retried == 0 {
		t.Error("no update was evaluated again: the two gateways never raced, the test proves nothing")
	}
	t.Logf("%d acknowledged, %d stored, %v evaluated again", len(acked), len(stored), retried)
}

// TestReaddAfterDelete: the gateway knows the sequence of the tombstone it
// published, so adding the name again is no write conflict.
func TestReaddAfterDelete(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	name := "again." + testZone
	add := func(m *dns.Msg) { m.Insert([]dns.RR{a(name, "192.0.2.1")}) }
	del := func(m *dns.Msg) {
		m.RemoveRRset([]dns.RR{&dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET}}})
	}
	st, err := r.js.Stream(context.Background(), bus.DefaultStreamName)
	if err != nil {
		t.Fatal(err)
	}
	for i, step := range []func(*dns.Msg){add, del, add, del, add} {
		if rc := r.update(t, step); rc != dns.RcodeSuccess {
			t.Fatalf("step %d: %s", i+1, dns.RcodeToString[rc])
		}
		info, err := st.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		r.settle(t, info.State.LastSeq) // the view, not a track, holds the sequence now
	}
	var m dto.Metric
	if err := r.g.m.casConflicts.WithLabelValues("retried").Write(&m); err != nil {
		t.Fatal(err)
	}
	if v := m.GetCounter().GetValue(); v != 0 {
		t.Fatalf("%v updates evaluated again with no other gateway", v)
	}
}
