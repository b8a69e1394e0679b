package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/miekg/dns"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/register"
	"github.com/zonecast/zonecast/internal/retry"
)

// backoff spaces the retries to one gateway. Its longest pause is also
// the retry of a name another key holds: that key's claim may lapse, and
// a minute is a small load on a gateway.
var backoff = retry.Backoff{Min: time.Second, Max: time.Minute, Jitter: 0.1}

// sender keeps one gateway holding the desired state: it sends each new
// version, refreshes it every half lease, and retries on its own
// schedule (register.Schedule), so that no gateway waits for another.
type sender struct {
	gateway string
	claim   register.Claim
	key     hostKey
	timeout time.Duration
	tcp     bool
	state   *desired
	wake    <-chan struct{}
	m       *metrics
	log     zerolog.Logger
	onAck   func() // after every acknowledgement; may be nil
	sched   register.Schedule
}

func newSender(gateway string, c register.Claim, k hostKey, cfg *registerConfig, state *desired, m *metrics, log zerolog.Logger) *sender {
	return &sender{gateway: gateway, claim: c, key: k, timeout: cfg.timeout, tcp: cfg.tcp, state: state,
		wake: state.subscribe(), m: m, log: log.With().Str("gateway", gateway).Logger(),
		sched: register.Schedule{Backoff: backoff}}
}

// run sends until ctx ends. An update in flight then is let finish
// (within the timeout), so that a withdrawal sent after run returns is
// never overtaken by it.
func (s *sender) run(ctx context.Context) error {
	for {
		v, addrs := s.state.get()
		s.sched.Want(v)
		now := time.Now()
		due, ok := s.sched.Due(now)
		var fire <-chan time.Time
		var t *time.Timer
		if ok {
			t = time.NewTimer(due.Sub(now))
			fire = t.C
		}
		fired := false
		select {
		case <-ctx.Done():
		case <-s.wake:
		case <-fire:
			fired = true
		}
		if t != nil {
			t.Stop()
		}
		switch {
		case ctx.Err() != nil:
			return nil
		case fired:
			s.send(context.WithoutCancel(ctx), v, addrs)
		}
	}
}

// send sends version v, addrs, once, and schedules what follows.
func (s *sender) send(ctx context.Context, v uint64, addrs []netip.Addr) {
	rep, err := s.update(ctx, addrs)
	now := time.Now()
	switch {
	case err != nil:
		s.m.failed.WithLabelValues(s.gateway, "error").Inc()
		d := s.sched.Failed(v, now, false)
		s.log.Warn().Err(err).Dur("retry_in", d).Msg("update failed")
	case rep.Rcode == dns.RcodeSuccess:
		refresh := rep.Refresh(s.claim.Lease)
		s.sched.Acked(v, now, refresh)
		s.m.acked.WithLabelValues(s.gateway).Inc()
		s.m.lastAck.WithLabelValues(s.gateway).Set(float64(now.UnixNano()) / 1e9)
		s.log.Info().Str("name", s.claim.Name).Strs("records", rep.Records()).Dur("lease", rep.Lease).
			Dur("key_lease", rep.KeyLease).Dur("refresh_in", refresh).Uint64("version", v).Msg("gateway stored")
		if s.onAck != nil {
			s.onAck()
		}
	case rep.Rcode == dns.RcodeYXDomain:
		s.m.failed.WithLabelValues(s.gateway, dns.RcodeToString[rep.Rcode]).Inc()
		d := s.sched.Failed(v, now, true)
		s.log.Error().Str("name", s.claim.Name).Str("rcode", dns.RcodeToString[rep.Rcode]).Dur("retry_in", d).
			Msg("another key holds the name: this host's updates are refused until that claim lapses (or use another --name)")
	default:
		s.m.failed.WithLabelValues(s.gateway, rcodeString(rep.Rcode)).Inc()
		d := s.sched.Failed(v, now, false)
		s.log.Warn().Str("name", s.claim.Name).Str("rcode", rcodeString(rep.Rcode)).Dur("retry_in", d).Msg("update refused")
	}
}

// withdraw sends the update that deletes the records and keeps the
// claim; an error says it was not acknowledged.
func (s *sender) withdraw(ctx context.Context) error {
	rep, err := s.update(ctx, nil)
	if err != nil {
		return err
	}
	if rep.Rcode != dns.RcodeSuccess {
		return fmt.Errorf("withdrawal refused: %s", rcodeString(rep.Rcode))
	}
	s.m.acked.WithLabelValues(s.gateway).Inc()
	return nil
}

// update signs and sends the update of addrs, and reads the answer,
// within the timeout.
func (s *sender) update(ctx context.Context, addrs []netip.Addr) (register.Reply, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	q := s.claim.Update(addrs)
	raw, err := register.Sign(q, s.key.key, s.key.priv, time.Now())
	if err != nil {
		return register.Reply{}, err
	}
	s.m.sent.WithLabelValues(s.gateway).Inc()
	r, err := exchange(ctx, s.gateway, raw, q.Id, s.tcp)
	if err != nil {
		return register.Reply{}, err
	}
	return register.ParseReply(q, r)
}

// exchange sends raw, a signed message, to addr and returns the answer:
// over UDP, and again over TCP when that answer is truncated; over TCP
// only with tcp, or when raw is longer than register.MaxUDPRequest. The
// message is sent as signed: packing it again could change the bytes the
// signature covers.
func exchange(ctx context.Context, addr string, raw []byte, id uint16, tcp bool) (*dns.Msg, error) {
	if !tcp && len(raw) <= register.MaxUDPRequest {
		r, err := exchangeOver(ctx, "udp", addr, raw, id)
		if err != nil || !r.Truncated {
			return r, err
		}
	}
	return exchangeOver(ctx, "tcp", addr, raw, id)
}

func exchangeOver(ctx context.Context, network, addr string, raw []byte, id uint16) (*dns.Msg, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s over %s: %w", addr, network, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	defer context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })()
	co := &dns.Conn{Conn: c, UDPSize: dns.MaxMsgSize}
	if _, err := co.Write(raw); err != nil {
		return nil, fmt.Errorf("sending to %s over %s: %w", addr, network, err)
	}
	for {
		r, err := co.ReadMsg()
		if err != nil {
			return nil, fmt.Errorf("reading the answer of %s over %s: %w", addr, network, err)
		}
		// A datagram of another exchange (a late answer to an earlier
		// socket on the same port) is not the answer: wait on.
		if r.Id == id || network == "tcp" {
			return r, nil
		}
	}
}

func rcodeString(rcode int) string {
	if s, ok := dns.RcodeToString[rcode]; ok {
		return s
	}
	return fmt.Sprintf("RCODE%d", rcode)
}
