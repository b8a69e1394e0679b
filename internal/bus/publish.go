package bus

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/retry"
	"github.com/zonecast/zonecast/internal/rrset"
)

// Publisher writes record messages to the record stream.
// Its methods are safe for concurrent use.
type Publisher struct {
	js     jetstream.JetStream
	prefix string
	stream string
	expect []jetstream.PublishOpt // WithStreamCheck
	signed bool                   // NewSignedPublisher

	mu      sync.Mutex
	pending []jetstream.PubAckFuture
}

// NewPublisher returns a publisher of messages below prefix (empty means
// events.DefaultSubjectPrefix) into the stream named stream (empty means
// DefaultStreamName). Every acknowledgement is checked against that
// stream (Check), so a message captured by another stream is reported as
// not stored rather than silently misplaced.
//
// The check is made on the acknowledgement, not with JetStream's
// Nats-Expected-Stream header: the stream keeps a message's headers, and
// every syncer would parse that one on every message it ever replays
// (docs/benchmarks.md, the gateway's section).
func NewPublisher(js jetstream.JetStream, stream, prefix string) *Publisher {
	if prefix == "" {
		prefix = events.DefaultSubjectPrefix
	}
	if stream == "" {
		stream = DefaultStreamName
	}
	return &Publisher{js: js, prefix: prefix, stream: stream}
}

// NewSignedPublisher returns a publisher of a signer's messages below
// prefix (empty means events.DefaultSignedPrefix): the types of a signed
// zone are allowed (events.EncodeSigned).
func NewSignedPublisher(js jetstream.JetStream, stream, prefix string) *Publisher {
	if prefix == "" {
		prefix = events.DefaultSignedPrefix
	}
	p := NewPublisher(js, stream, prefix)
	p.signed = true
	return p
}

// WithStreamCheck returns a copy of p whose messages carry the
// Nats-Expected-Stream header, so that JetStream itself refuses a message
// the stream does not capture (the future fails with its API error). For
// tests that need a real refusal.
func (p *Publisher) WithStreamCheck() *Publisher {
	return &Publisher{js: p.js, prefix: p.prefix, stream: p.stream, signed: p.signed,
		expect: []jetstream.PublishOpt{jetstream.WithExpectStream(p.stream)}}
}

// ErrWrongStream is the error of a message that a stream other than the
// publisher's stored: the stream's subjects overlap another stream's.
var ErrWrongStream = errors.New("stored in another stream")

// Check reports an acknowledgement from another stream than p's.
func (p *Publisher) Check(ack *jetstream.PubAck) error {
	if ack.Stream != p.stream {
		return fmt.Errorf("%w: %s, not %s (check the streams' subjects)", ErrWrongStream, ack.Stream, p.stream)
	}
	return nil
}

// ttlHeader renders a lease as whole seconds, rounded up, at least 1.
func ttlHeader(lease time.Duration) string {
	s := int64((lease + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(s, 1), 10)
}

// TombstoneTTL is the lease a tombstone gets when published without one:
// long enough for every follower to see it, after which the subject holds
// nothing, which means the same (no contribution). Syncers that were away
// longer remove the RRset at their start-up reconciliation, since they own
// it and nothing desires it. Without it the stream would keep one message
// per name ever published.
const TombstoneTTL = 24 * time.Hour

// msg encodes m (validating it) into a NATS message on its subject.
func (p *Publisher) msg(m events.Message, lease time.Duration) (*nats.Msg, error) {
	if lease <= 0 && m.Tombstone() {
		lease = TombstoneTTL
	}
	encode, canonicalType := events.Encode, rrset.CanonicalType
	if p.signed {
		encode, canonicalType = events.EncodeSigned, rrset.CanonicalSignedType
	}
	data, err := encode(m) // validates m
	if err != nil {
		return nil, fmt.Errorf("encoding %s %s from %s: %w", m.Name, m.Type, m.Origin, err)
	}
	// The subject needs the canonical name and type only: m is valid, so
	// neither fails, and the records are not validated a second time.
	name, err := rrset.CanonicalName(m.Name)
	if err != nil {
		return nil, err
	}
	typ, err := canonicalType(m.Type)
	if err != nil {
		return nil, err
	}
	out := nats.NewMsg(events.Subject(p.prefix, events.Message{Name: name, Type: typ, Origin: m.Origin}))
	out.Data = data
	if lease > 0 {
		out.Header.Set(jetstream.MsgTTLHeader, ttlHeader(lease))
	}
	return out, nil
}

// Publish stores m and returns its stream sequence once JetStream has
// acknowledged it. With lease > 0 the message expires after lease (whole
// seconds, at least 1s): the stream drops it then, and every reader ends
// the contribution itself (internal/lease); lease 0 keeps it until
// replaced.
func (p *Publisher) Publish(ctx context.Context, m events.Message, lease time.Duration) (uint64, error) {
	return p.publish(ctx, m, lease, p.expect)
}

// ErrWrongLastSequence is wrapped by PublishIf when the subject's last
// message is not the one expected: someone else wrote it first.
var ErrWrongLastSequence = errors.New("the subject's last message is not the one expected")

// PublishIf is Publish with compare-and-set: JetStream stores m only if
// the last message of its subject has stream sequence last (0: the
// subject holds none). Otherwise the error wraps ErrWrongLastSequence.
func (p *Publisher) PublishIf(ctx context.Context, m events.Message, lease time.Duration, last uint64) (uint64, error) {
	return p.publish(ctx, m, lease, append(slices.Clip(p.expect), jetstream.WithExpectLastSequencePerSubject(last)))
}

// publish sends m until JetStream stores it, it is refused, or ctx ends
// (RetryFor, when ctx has no deadline): while the stream cannot take it
// (Retryable: an election, a restarting server) it is sent again after a
// pause. One message at a time, so the caller's messages are stored in
// the order of its calls.
func (p *Publisher) publish(ctx context.Context, m events.Message, lease time.Duration, opts []jetstream.PublishOpt) (uint64, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, RetryFor)
		defer cancel()
	}
	var seq uint64
	subject := ""
	err := resend(ctx, AttemptTimeout, func(actx context.Context) error {
		msg, err := p.msg(m, lease) // anew: a sent message carries its reply subject
		if err != nil {
			return err
		}
		subject = msg.Subject
		ack, err := p.js.PublishMsg(actx, msg, append(slices.Clip(opts), jetstream.WithRetryAttempts(0))...)
		if err == nil {
			if err = p.Check(ack); err == nil {
				seq = ack.Sequence
				return nil
			}
		}
		return casError(err)
	})
	if err != nil && subject != "" {
		return 0, fmt.Errorf("publishing %s: %w", subject, err)
	}
	return seq, err
}

// RetryFor is how long a publish keeps trying when its context has no
// deadline: longer than a leader election of the stream.
const RetryFor = 30 * time.Second

// AttemptTimeout bounds one attempt to store a message: past it, the
// message is sent again (a leader that died with it unacknowledged).
const AttemptTimeout = 2 * time.Second

// publishBackoff paces the sends of a message the stream could not take:
// short pauses, so that publishing resumes soon after a new leader is
// elected, with jitter, so that the publishers an election refused
// together do not all come back at the same instant.
var publishBackoff = retry.Backoff{Min: 50 * time.Millisecond, Max: 500 * time.Millisecond, Jitter: 0.2}

// RetryDelay is the pause before attempt n+1 (n from 0) after a Retryable
// failure: 50 ms doubling to 500 ms, each stretched by up to a fifth.
func RetryDelay(n int) time.Duration { return publishBackoff.Delay(n) }

// Retryable reports whether a publish failed because the stream could not
// take messages just then, so that sending the same message again may
// succeed: no server answered for the stream (no leader during an
// election, a server restarting), the acknowledgement did not come in
// time, or JetStream said it is unavailable. Refusals are not retryable:
// a compare-and-set that lost, another stream's acknowledgement, a
// message the stream rejects.
func Retryable(err error) bool {
	switch {
	case err == nil, errors.Is(err, ErrWrongLastSequence), errors.Is(err, ErrWrongStream):
		return false
	case errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrNoResponders),
		errors.Is(err, jetstream.ErrAsyncPublishTimeout), errors.Is(err, nats.ErrTimeout),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrConnectionReconnecting),
		errors.Is(err, nats.ErrDisconnected):
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.Code == 503 ||
		apiErr.ErrorCode == jetstream.JSErrCodeJetStreamNotEnabled || apiErr.ErrorCode == jsErrCodeClusterNotAvailable)
}

// jsErrCodeClusterNotAvailable is JetStream's "JetStream system
// temporarily unavailable" (JSClusterNotAvailErr).
const jsErrCodeClusterNotAvailable jetstream.ErrorCode = 10008

// casError marks JetStream's refusals of a compare-and-set (code 10071,
// or 10164 from a replicated stream) with ErrWrongLastSequence.
func casError(err error) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
		return fmt.Errorf("%w: %w", ErrWrongLastSequence, err)
	}
	return err
}

// PublishAsync sends m without waiting for its acknowledgement; Flush waits
// for all of them. It blocks (until ctx is done) while too many
// acknowledgements are outstanding. An error here means m was not sent;
// storage errors are reported by Flush.
func (p *Publisher) PublishAsync(ctx context.Context, m events.Message, lease time.Duration) error {
	msg, err := p.msg(m, lease)
	if err != nil {
		return err
	}
	for {
		f, err := p.js.PublishMsgAsync(msg, append(p.expect, jetstream.WithStallWait(time.Second))...)
		if err == nil {
			p.mu.Lock()
			p.pending = append(p.pending, f)
			p.mu.Unlock()
			return nil
		}
		if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			return fmt.Errorf("publishing %s: %w", msg.Subject, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("publishing %s: %w", msg.Subject, ctx.Err())
		default:
		}
	}
}

// FutureStallWait is how long PublishFuture waits for room while too many
// acknowledgements are outstanding before it gives up.
const FutureStallWait = 5 * time.Second

// PublishFuture sends m and returns JetStream's acknowledgement future
// (jetstream.PublishMsgAsync) to the caller, who must read it; Flush does
// not wait for it. The client never resends: a resend after a "no
// responders" status could land after a later message of the same subject
// and undo it, so messages sent by one caller on one connection are stored
// in the order of the calls (those that are stored). It waits up to
// FutureStallWait for room among the outstanding acknowledgements. An error
// means m was not sent. The caller passes the acknowledgement to Check.
func (p *Publisher) PublishFuture(m events.Message, lease time.Duration) (jetstream.PubAckFuture, error) {
	msg, err := p.msg(m, lease)
	if err != nil {
		return nil, err
	}
	f, err := p.js.PublishMsgAsync(msg, append(p.expect,
		jetstream.WithRetryAttempts(0), jetstream.WithStallWait(FutureStallWait))...)
	if err != nil {
		return nil, fmt.Errorf("publishing %s: %w", msg.Subject, err)
	}
	return f, nil
}

// PublishFutureIf is PublishFuture with compare-and-set (see PublishIf):
// JetStream stores m only if the last message of its subject has sequence
// last (0: none), and the future fails otherwise, with an error that
// IsWrongLastSequence reports.
func (p *Publisher) PublishFutureIf(m events.Message, lease time.Duration, last uint64) (jetstream.PubAckFuture, error) {
	msg, err := p.msg(m, lease)
	if err != nil {
		return nil, err
	}
	f, err := p.js.PublishMsgAsync(msg, append(slices.Clip(p.expect), jetstream.WithExpectLastSequencePerSubject(last),
		jetstream.WithRetryAttempts(0), jetstream.WithStallWait(FutureStallWait))...)
	if err != nil {
		return nil, fmt.Errorf("publishing %s: %w", msg.Subject, err)
	}
	return f, nil
}

// IsWrongLastSequence reports whether err is JetStream's refusal of a
// compare-and-set: another publisher wrote the subject first.
func IsWrongLastSequence(err error) bool { return errors.Is(casError(err), ErrWrongLastSequence) }

// Flush waits for the acknowledgement of every PublishAsync made so far and
// returns how many were stored and, if some were not, an error naming the
// first few failures. Messages still unacknowledged when ctx ends count as
// failed; give ctx a deadline, since an acknowledgement lost in a
// disconnection never arrives unless the JetStream context has an async
// publish timeout (jetstream.WithPublishAsyncTimeout).
func (p *Publisher) Flush(ctx context.Context) (int, error) {
	p.mu.Lock()
	pending := p.pending
	p.pending = nil
	p.mu.Unlock()
	const keep = 5
	stored, failed := 0, 0
	var errs []error
wait:
	for i, f := range pending {
		select {
		case ack := <-f.Ok():
			if err := p.Check(ack); err != nil {
				if failed++; failed <= keep {
					errs = append(errs, fmt.Errorf("publishing %s: %w", f.Msg().Subject, err))
				}
				continue
			}
			stored++
		case err := <-f.Err():
			if failed++; failed <= keep {
				errs = append(errs, fmt.Errorf("publishing %s: %w", f.Msg().Subject, err))
			}
		case <-ctx.Done():
			failed += len(pending) - i
			errs = append(errs, fmt.Errorf("waiting for %d acknowledgements: %w", len(pending)-i, ctx.Err()))
			break wait
		}
	}
	if failed == 0 {
		return stored, nil
	}
	return stored, fmt.Errorf("%d of %d messages not stored: %w", failed, len(pending), errors.Join(errs...))
}

// MaxBatch is the most messages PublishAtomic sends as one batch: the
// server's default limit of an atomic batch (its max_batch_size, which a
// server may lower).
const MaxBatch = 1000

// ErrBatchTooLarge is wrapped by PublishAtomic for more than MaxBatch
// messages: split the change, or it cannot be stored all or nothing.
var ErrBatchTooLarge = errors.New("batch too large")

// batchAckEvery: PublishAtomic sends the first message of a batch, and
// every batchAckEvery-th after it, as a request, which the server answers
// once it has staged the message, so that a refusal (batches disabled, a
// message too large) is reported where it happened and the client never
// runs far ahead of the server; the others are plain publishes, whose
// refusal the commit reports as an incomplete batch.
const batchAckEvery = 100

// PublishAtomic stores msgs as one JetStream atomic batch: the stream keeps
// all of them, under consecutive sequences, or none, and followers see
// them together (events.Delivery's Batch and BatchEnd). It returns the
// stream sequence of the last message, the batch's commit, once JetStream
// has acknowledged it. The messages carry no lease (tombstones get
// TombstoneTTL, as with Publish). An attempt the
// stream could not take (Retryable) is sent again as a new batch, as
// Publish does; until the server drops an abandoned batch, it counts
// against the stream's few batches in flight (50 by default).
//
// Unlike PublishBatch, which stores as many messages as it can, one at a
// time, it is all or nothing. At most MaxBatch messages (ErrBatchTooLarge), at least one; they are all
// validated before anything is sent. The stream must allow atomic
// publishing (EnsureStream turns it on).
func (p *Publisher) PublishAtomic(ctx context.Context, msgs []events.Message) (uint64, error) {
	switch {
	case len(msgs) == 0:
		return 0, errors.New("publishing a batch: no messages")
	case len(msgs) > MaxBatch:
		return 0, fmt.Errorf("publishing a batch of %d messages: %w (at most %d)", len(msgs), ErrBatchTooLarge, MaxBatch)
	}
	out := make([]*nats.Msg, len(msgs))
	for i, m := range msgs {
		var err error
		if out[i], err = p.msg(m, 0); err != nil { // a tombstone gets TombstoneTTL, as with Publish
			return 0, fmt.Errorf("publishing a batch: message %d: %w", i+1, err)
		}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, RetryFor)
		defer cancel()
	}
	per := AttemptTimeout * time.Duration(1+len(out)/batchAckEvery)
	var seq uint64
	err := resend(ctx, per, func(actx context.Context) error {
		var err error
		seq, err = p.sendBatch(actx, out)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("publishing a batch of %d messages (first %s): %w", len(out), out[0].Subject, err)
	}
	return seq, nil
}

// Headers of an atomic batch (nats-server's JSBatchId, JSBatchSeq,
// JSBatchCommit). The stream stores them with each message, and a
// consumer receives them: Follow reads them into events.Delivery.
const (
	batchIDHeader     = "Nats-Batch-Id"
	batchSeqHeader    = "Nats-Batch-Sequence"
	batchCommitHeader = "Nats-Batch-Commit"
)

// batchAck is the server's answer to a batch's commit: a publish
// acknowledgement with the batch's id and size, or an error.
type batchAck struct {
	Error  *jetstream.APIError `json:"error,omitempty"`
	Stream string              `json:"stream"`
	Seq    uint64              `json:"seq"`
	Batch  string              `json:"batch"`
	Count  int                 `json:"count"`
}

// sendBatch sends msgs as one new batch and returns the commit's sequence.
// The server answers a staged message's request with an empty body, a
// refusal with an error acknowledgement, and only the commit with a real
// one.
func (p *Publisher) sendBatch(ctx context.Context, msgs []*nats.Msg) (uint64, error) {
	nc := p.js.Conn()
	id, err := newBatchID()
	if err != nil {
		return 0, err
	}
	for i, orig := range msgs {
		m := nats.NewMsg(orig.Subject) // anew: a sent message carries its reply subject
		m.Data = orig.Data
		for k, v := range orig.Header {
			m.Header[k] = v
		}
		m.Header.Set(batchIDHeader, id)
		m.Header.Set(batchSeqHeader, strconv.Itoa(i+1))
		last := i == len(msgs)-1
		if last {
			m.Header.Set(batchCommitHeader, "1")
		}
		if !last && i%batchAckEvery != 0 {
			if err := nc.PublishMsg(m); err != nil {
				return 0, fmt.Errorf("sending message %d (%s): %w", i+1, m.Subject, err)
			}
			continue
		}
		resp, err := nc.RequestMsgWithContext(ctx, m)
		if err != nil {
			return 0, fmt.Errorf("sending message %d (%s): %w", i+1, m.Subject, err)
		}
		if !last && len(resp.Data) == 0 {
			continue // staged
		}
		var ack batchAck
		if err := json.Unmarshal(resp.Data, &ack); err != nil {
			return 0, fmt.Errorf("message %d (%s): undecodable answer %q: %w", i+1, m.Subject, resp.Data, err)
		}
		if ack.Error != nil {
			return 0, fmt.Errorf("message %d (%s) refused: %w", i+1, m.Subject, ack.Error)
		}
		if err := p.Check(&jetstream.PubAck{Stream: ack.Stream, Sequence: ack.Seq}); err != nil {
			return 0, err
		}
		if !last || ack.Batch != id || ack.Count != len(msgs) {
			return 0, fmt.Errorf("message %d of %d: unexpected acknowledgement %s", i+1, len(msgs), resp.Data)
		}
		return ack.Seq, nil
	}
	return 0, errors.New("empty batch") // not reached: msgs is not empty
}

// newBatchID returns a random batch id: 22 characters, within the 64 the
// server allows.
func newBatchID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("making a batch id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
