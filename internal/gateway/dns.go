package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/dnsupdate"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/rrset"
	"github.com/zonecast/zonecast/internal/sig0"
)

// Fudge is the TSIG time window accepted and written (RFC 8945 default).
const Fudge = 300

// tsigProvider signs and verifies with the keys of the directory. A key is
// only ever used with the algorithm it was created for. Decoded secrets and
// keyed HMAC states are kept per key name and used as long as the
// directory holds the same secret and algorithm for that name, so a changed
// or removed key takes effect on the next message.
type tsigProvider struct {
	dir Directory

	mu   sync.Mutex
	macs map[string]*keyMAC // by canonical key name
}

// keyMAC is one key's secret, decoded, with a pool of HMACs keyed with it.
type keyMAC struct {
	secret, algorithm string // as stored: the entry is valid while they are
	pool              sync.Pool
}

// maxKeyMACs bounds the cache: past it (keys deleted and created over a
// long life), it starts again empty.
const maxKeyMACs = 4096

func newTsigProvider(dir Directory) *tsigProvider {
	return &tsigProvider{dir: dir, macs: map[string]*keyMAC{}}
}

// keyMAC returns the HMAC pool of the key named name, or the TSIG error.
func (p *tsigProvider) keyMAC(t *dns.TSIG) (*keyMAC, error) {
	name := dns.CanonicalName(t.Hdr.Name)
	k, ok := p.dir.Key(name)
	if !ok {
		return nil, dns.ErrSecret
	}
	if dns.CanonicalName(t.Algorithm) != k.Algorithm {
		return nil, dns.ErrKeyAlg
	}
	p.mu.Lock()
	km := p.macs[name]
	p.mu.Unlock()
	if km != nil && km.secret == k.Secret && km.algorithm == k.Algorithm {
		return km, nil
	}
	secret, err := base64.StdEncoding.DecodeString(k.Secret)
	if err != nil {
		return nil, dns.ErrSecret
	}
	var h func() hash.Hash
	switch k.Algorithm {
	case dns.HmacSHA256:
		h = sha256.New
	case dns.HmacSHA384:
		h = sha512.New384
	case dns.HmacSHA512:
		h = sha512.New
	default:
		return nil, dns.ErrKeyAlg
	}
	km = &keyMAC{secret: k.Secret, algorithm: k.Algorithm}
	km.pool.New = func() any { return hmac.New(h, secret) }
	p.mu.Lock()
	if len(p.macs) >= maxKeyMACs {
		clear(p.macs)
	}
	p.macs[name] = km
	p.mu.Unlock()
	return km, nil
}

func (p *tsigProvider) mac(msg []byte, t *dns.TSIG) ([]byte, error) {
	km, err := p.keyMAC(t)
	if err != nil {
		return nil, err
	}
	h := km.pool.Get().(hash.Hash)
	h.Write(msg)
	sum := h.Sum(nil)
	h.Reset()
	km.pool.Put(h)
	return sum, nil
}

func (p *tsigProvider) Generate(msg []byte, t *dns.TSIG) ([]byte, error) { return p.mac(msg, t) }

func (p *tsigProvider) Verify(msg []byte, t *dns.TSIG) error {
	want, err := p.mac(msg, t)
	if err != nil {
		return err
	}
	got, err := hex.DecodeString(t.MAC)
	if err != nil || !hmac.Equal(got, want) {
		return dns.ErrSig // truncated MACs (RFC 8945 5.2.2.1) are not accepted either
	}
	return nil
}

// TsigProvider returns the provider the DNS server verifies and signs with.
func (g *Gateway) TsigProvider() dns.TsigProvider { return g.tsig }

// tsigError maps a verification error to the TSIG error of RFC 8945 5.2.
func tsigError(err error) (uint16, string) {
	switch {
	case errors.Is(err, dns.ErrTime):
		return dns.RcodeBadTime, "BADTIME"
	case errors.Is(err, dns.ErrSecret), errors.Is(err, dns.ErrKeyAlg):
		return dns.RcodeBadKey, "BADKEY"
	default:
		return dns.RcodeBadSig, "BADSIG"
	}
}

// acceptMsg lets UPDATE and QUERY messages through to the handler (the
// default of miekg/dns refuses UPDATE); responses are dropped.
func acceptMsg(dh dns.Header) dns.MsgAcceptAction {
	if dh.Bits&(1<<15) != 0 {
		return dns.MsgIgnore
	}
	switch int(dh.Bits>>11) & 0xF {
	case dns.OpcodeUpdate, dns.OpcodeQuery:
	default:
		return dns.MsgRejectNotImplemented
	}
	if dh.Qdcount != 1 {
		return dns.MsgReject
	}
	return dns.MsgAccept
}

// ServeDNS answers one message.
func (g *Gateway) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	start := time.Now()
	resp := g.Handle(context.Background(), req, w.TsigStatus(), w.RemoteAddr())
	if err := w.WriteMsg(resp); err != nil {
		g.log.Warn().Err(err).Msg("writing dns response")
	}
	if req.Opcode == dns.OpcodeUpdate {
		g.m.updateSeconds.Observe(time.Since(start).Seconds())
	}
}

// Handle answers one decoded message whose TSIG the server checked
// (tsigStatus, nil when unsigned or valid). The response carries a TSIG
// stub to be signed when the request had one. Every response it returns
// packs and unpacks again, whatever the request held (FuzzServeDNS).
func (g *Gateway) Handle(ctx context.Context, req *dns.Msg, tsigStatus error, remote net.Addr) *dns.Msg {
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Authoritative = true
	if req.Opcode != dns.OpcodeQuery && req.Opcode != dns.OpcodeUpdate {
		resp.Rcode = dns.RcodeNotImplemented
		return resp
	}
	if reason := malformed(req); reason != "" {
		resp.Authoritative = false
		resp.Rcode = dns.RcodeFormatError
		if req.Opcode == dns.OpcodeUpdate {
			g.count(&updateLog{g: g, remote: remote}, resp.Rcode, "", reason, 0)
		}
		return resp
	}
	if req.Opcode == dns.OpcodeQuery {
		g.answerQuery(req, resp)
		return g.sign(req, resp, tsigStatus)
	}
	log := &updateLog{g: g, zone: req.Question[0].Name, remote: remote}
	t := req.IsTsig()
	if sig, ok := sig0.Find(req); ok && t == nil {
		return g.handleClaim(ctx, req, resp, remote, sig, log)
	}
	if t == nil {
		resp.Rcode = dns.RcodeRefused
		g.m.tsigFailures.WithLabelValues("UNSIGNED").Inc()
		g.count(log, resp.Rcode, "UNSIGNED", "update without tsig", 0)
		return resp
	}
	log.key = t.Hdr.Name
	if tsigStatus != nil {
		code, name := tsigError(tsigStatus)
		resp.Rcode = dns.RcodeNotAuth
		g.m.tsigFailures.WithLabelValues(name).Inc()
		g.count(log, resp.Rcode, name, "tsig verification failed: "+name, 0)
		return g.signError(req, resp, code)
	}
	key, ok := g.cfg.Directory.Key(dns.CanonicalName(t.Hdr.Name))
	if !ok { // removed between verification and now
		resp.Rcode = dns.RcodeNotAuth
		g.m.tsigFailures.WithLabelValues("BADKEY").Inc()
		g.count(log, resp.Rcode, "BADKEY", "key removed since verification", 0)
		return g.signError(req, resp, dns.RcodeBadKey)
	}
	origin := key.Origin()
	log.origin = origin
	if reason := g.unlistedUpdate(req, "dns"); reason != "" {
		resp.Rcode = dns.RcodeNotAuth
		g.count(log, resp.Rcode, "", reason, 0)
		return g.sign(req, resp, nil)
	}

	res, err := g.apply(ctx, dnsupdate.Request{Msg: req, Zones: g.cfg.Zones, Policy: key.Policy(), Origin: origin}, key.Lease())
	if err != nil {
		res.Rcode, res.Reason = dns.RcodeServerFailure, err.Error()
	}
	resp.Rcode = res.Rcode
	g.count(log, res.Rcode, "", res.Reason, len(res.Messages))
	if res.Rcode == dns.RcodeSuccess && g.log.GetLevel() <= zerolog.DebugLevel {
		l := log.logger()
		for _, m := range res.Messages {
			l.Debug().Str("name", m.Name).Str("type", m.Type).Strs("records", m.Records).Msg("published")
		}
	}
	return g.sign(req, resp, nil)
}

// malformed returns why a decoded request can only be answered FORMERR, or
// "". miekg/dns decodes both cases below without an error.
func malformed(req *dns.Msg) string {
	// A header that counts one question (acceptMsg lets no other count
	// in) and a message that ends there decode to no question at all.
	if len(req.Question) != 1 {
		return fmt.Sprintf("%d questions, want 1", len(req.Question))
	}
	// A TSIG without RDATA (RDLENGTH 0) decodes with an empty algorithm
	// name, which the response's TSIG would copy and miekg/dns pack one
	// byte longer than its RDLENGTH says. RFC 8945 5.2: a TSIG that cannot
	// be understood makes the message corrupt: FORMERR, unsigned.
	if t := req.IsTsig(); t != nil && (!dns.IsFqdn(t.Algorithm) || !dns.IsFqdn(t.Hdr.Name)) {
		return "tsig without algorithm"
	}
	return ""
}

// apply evaluates one update against the state, sends its messages and
// waits for their acknowledgement (commit.go). An update with prerequisites
// that read changes still in flight is evaluated again once they settle.
func (g *Gateway) apply(ctx context.Context, req dnsupdate.Request, lease time.Duration) (dnsupdate.Result, error) {
	var res dnsupdate.Result
	_, err := g.commit(ctx, lease, func() ([]events.Message, bool) {
		if len(req.Msg.Answer) == 0 {
			res = dnsupdate.Evaluate(g.idx, req)
		} else {
			for {
				v := pendingView{g: g}
				res = dnsupdate.Evaluate(&v, req)
				if !v.read {
					break
				}
				g.settled.Wait()
			}
		}
		return res.Messages, res.Rcode == dns.RcodeSuccess
	})
	return res, err
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// updateLog holds the fields of one update's log lines. The logger is only
// built for a line that is written: at --log-level warn, an applied update
// costs no logging.
type updateLog struct {
	g                 *Gateway
	zone, key, origin string
	remote            net.Addr
}

func (l *updateLog) logger() zerolog.Logger {
	c := l.g.log.With().Str("zone", l.zone).Str("remote", addrString(l.remote))
	if l.key != "" {
		c = c.Str("key", l.key)
	}
	if l.origin != "" {
		c = c.Str("origin", l.origin)
	}
	return c.Logger()
}

// count counts an answer and logs it: applied updates at info (with the
// number of RRsets changed, n), refused ones at warn, as many as the
// source's log limit allows (lograte.go). kind is what a summary counts the
// refusal as: a TSIG error, or "" for the rcode.
func (g *Gateway) count(log *updateLog, rcode int, kind, reason string, n int) {
	g.m.updated(rcode)
	name := dns.RcodeToString[rcode]
	if rcode == dns.RcodeSuccess {
		if g.log.GetLevel() <= zerolog.InfoLevel {
			l := log.logger()
			l.Info().Str("rcode", name).Str("detail", fmt.Sprintf("%d rrsets", n)).Msg("update applied")
		}
		return
	}
	if kind == "" {
		kind = name
	}
	if g.log.GetLevel() > zerolog.WarnLevel || !g.dnsRefusals.allow(ipOf(log.remote), kind, g.cfg.Now()) {
		return
	}
	l := log.logger()
	l.Warn().Str("rcode", name).Str("reason", reason).Msg("update refused")
}

// sign adds the TSIG stub the server signs the response with (RFC 8945
// 5.3), if the request was signed.
func (g *Gateway) sign(req, resp *dns.Msg, tsigStatus error) *dns.Msg {
	t := req.IsTsig()
	if t == nil {
		return resp
	}
	if tsigStatus != nil {
		code, _ := tsigError(tsigStatus)
		return g.signError(req, resp, code)
	}
	resp.SetTsig(t.Hdr.Name, t.Algorithm, Fudge, time.Now().Unix())
	return resp
}

// signError adds a TSIG with an error: BADKEY and BADSIG responses carry
// no MAC (miekg/dns leaves it out); BADTIME is signed and carries the
// server's time in Other Data, with the request's Time Signed.
func (g *Gateway) signError(req, resp *dns.Msg, code uint16) *dns.Msg {
	t := req.IsTsig()
	resp.SetTsig(t.Hdr.Name, t.Algorithm, Fudge, time.Now().Unix())
	rt := resp.Extra[len(resp.Extra)-1].(*dns.TSIG)
	rt.Error = code
	if code == dns.RcodeBadTime {
		rt.TimeSigned = t.TimeSigned
		now := uint64(time.Now().Unix())
		rt.OtherLen = 6
		rt.OtherData = fmt.Sprintf("%012x", now&0xffffffffffff)
	}
	return resp
}

// answerQuery answers SOA queries for names in the zones, so that clients
// (nsupdate without a zone statement) can find the zone to update. The SOA
// is a placeholder: the real one is on the nameservers.
func (g *Gateway) answerQuery(req, resp *dns.Msg) {
	q := req.Question[0] // one, Handle checked
	name, err := rrset.CanonicalName(q.Name)
	if err != nil {
		resp.Rcode = dns.RcodeRefused
		return
	}
	zone, ok := g.zoneOf(name)
	if !ok || q.Qclass != dns.ClassINET {
		resp.Rcode = dns.RcodeRefused
		return
	}
	soa := &dns.SOA{Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 0},
		Ns: zone, Mbox: "hostmaster." + zone, Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: 60}
	if name == zone && q.Qtype == dns.TypeSOA {
		resp.Answer = append(resp.Answer, soa)
		return
	}
	resp.Ns = append(resp.Ns, soa)
}

// ServeDNSOn answers on addr, UDP and TCP, until ctx is done.
func (g *Gateway) ServeDNSOn(ctx context.Context, addr string) error {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("listening for dns on udp %s: %w", addr, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		pc.Close()
		return fmt.Errorf("listening for dns on tcp %s: %w", addr, err)
	}
	prov := g.TsigProvider()
	undecodable := func([]byte, error) { g.m.undecodable.Inc() }
	servers := []*dns.Server{
		// UDPSize: miekg/dns reads 512 bytes of a datagram by default, and
		// an UPDATE of a few signed records is longer.
		{PacketConn: pc, Handler: g, TsigProvider: prov, MsgAcceptFunc: acceptMsg, MsgInvalidFunc: undecodable,
			DecorateReader: g.capture.Reader, UDPSize: dns.MaxMsgSize},
		{Listener: ln, Handler: g, TsigProvider: prov, MsgAcceptFunc: acceptMsg, MsgInvalidFunc: undecodable,
			ReadTimeout: 10 * time.Second, DecorateReader: g.capture.Reader},
	}
	errs := make(chan error, len(servers))
	var wg sync.WaitGroup
	// The summaries of refusals not logged, DNS and dyndns alike: the
	// daemon always answers DNS.
	sctx, stop := context.WithCancel(ctx)
	wg.Go(func() { g.summarise(sctx, time.Second) })
	for _, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.ActivateAndServe()
		}()
	}
	g.log.Info().Str("addr", addr).Msg("answering dns updates")
	var first error
	select {
	case <-ctx.Done():
	case first = <-errs:
	}
	for _, s := range servers {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = s.ShutdownContext(sctx)
		cancel()
	}
	// A server not started yet when ShutdownContext ran ("server not
	// started") would go on serving: closing its socket ends it.
	pc.Close()
	ln.Close()
	stop()
	wg.Wait()
	if first != nil && ctx.Err() == nil {
		return fmt.Errorf("serving dns on %s: %w", addr, first)
	}
	return nil
}
