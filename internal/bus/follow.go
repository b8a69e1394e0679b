package bus

import (
	"context"
	"errors"
	"fmt"
	"github.com/zonecast/zonecast/internal/events"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/retry"
)

// LeaseEnd returns when a message stored at stored with the Nats-TTL
// header value ttl (seconds or a Go duration; "never" and "" mean none)
// expires; zero if never.
func LeaseEnd(stored time.Time, ttl string) time.Time {
	if ttl == "" {
		return time.Time{}
	}
	if d, err := time.ParseDuration(ttl); err == nil && d > 0 {
		return stored.Add(d)
	}
	if n, err := strconv.ParseInt(ttl, 10, 64); err == nil && n > 0 {
		return stored.Add(time.Duration(n) * time.Second)
	}
	return time.Time{}
}

// FollowConfig says what to follow and where deliveries go.
type FollowConfig struct {
	Stream  string   // stream name, default DefaultStreamName
	Filters []string // subject filters (e.g. events.ZoneFilter); none = whole stream
	// After, if set, skips the messages up to this sequence: the replay
	// starts after a snapshot that holds them.
	After uint64
	// Handle is called for every delivery, sequentially from one goroutine,
	// in stream order. It should not block for long: Follow does nothing
	// while it runs (the server buffers).
	Handle func(events.Delivery)
	// Ready, if set, is called exactly once, from the same goroutine as
	// Handle, when the initial replay is complete: right after the Handle of
	// the last message that existed when Follow started (or of a message
	// after which nothing was pending), and before any later Handle. On an
	// empty stream (or empty filtered part) it is called before any Handle.
	Ready func()
	Log   zerolog.Logger
}

// Follow replays the stream from its first message (or after cfg.After),
// then follows it, with
// an ordered consumer (no durable state on the server, nothing
// acknowledged). It blocks until ctx is done (then it returns nil) or a
// fatal error: the stream does not exist, or a bad configuration.
//
// Disconnections and server restarts are survived: the ordered consumer
// recreates itself after the last delivered sequence, and if that fails
// Follow starts a new one there, retrying with backoff. No sequence is
// delivered twice. Messages removed from the stream while the follower was
// away are simply not delivered.
func Follow(ctx context.Context, js jetstream.JetStream, cfg FollowConfig) error {
	if cfg.Handle == nil {
		return errors.New("following stream: no handler")
	}
	if cfg.Stream == "" {
		cfg.Stream = DefaultStreamName
	}
	f := &follower{cfg: cfg, js: js, last: cfg.After,
		log: cfg.Log.With().Str("component", "follow").Str("stream", cfg.Stream).Logger()}
	err := retry.Loop{
		Backoff:   reconnectBackoff,
		Retryable: func(err error) bool { return !errors.Is(err, jetstream.ErrStreamNotFound) },
		Notify:    func(_ int, err error, d time.Duration) { f.interrupted(err, d) },
	}.Do(ctx, func(ctx context.Context) error {
		var err error
		f.target, err = f.lastSeq(ctx)
		return err
	})
	if ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return err
	}
	// Not a retry.Loop: a session that delivered something starts the
	// backoff over, and none ever succeeds for good.
	for retries := 0; ; retries++ {
		delivered, err := f.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("following stream %s: %w", cfg.Stream, err)
		}
		if delivered {
			retries = 0
		}
		d := reconnectBackoff.Delay(retries)
		f.interrupted(err, d)
		if !retry.Sleep(ctx, d) {
			return nil
		}
	}
}

type follower struct {
	cfg    FollowConfig
	js     jetstream.JetStream
	log    zerolog.Logger
	target uint64 // last matching sequence when Follow started
	last   uint64 // last delivered sequence
	ready  bool
}

// interrupted logs err, after which following resumes in d.
func (f *follower) interrupted(err error, d time.Duration) {
	f.log.Warn().Err(err).Uint64("seq", f.last).Dur("retry_in", d).Msg("following interrupted, resuming")
}

// lastSeq returns the sequence of the last message matching the filters
// (0 if none).
func (f *follower) lastSeq(ctx context.Context) (uint64, error) {
	st, err := f.js.Stream(ctx, f.cfg.Stream)
	if err != nil {
		return 0, fmt.Errorf("looking up stream %s: %w", f.cfg.Stream, err)
	}
	if len(f.cfg.Filters) == 0 {
		return st.CachedInfo().State.LastSeq, nil
	}
	var last uint64
	for _, flt := range f.cfg.Filters {
		m, err := st.GetLastMsgForSubject(ctx, flt)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("looking up last message of %s in %s: %w", flt, f.cfg.Stream, err)
		}
		last = max(last, m.Sequence)
	}
	return last, nil
}

func (f *follower) markReady() {
	if f.ready {
		return
	}
	f.ready = true
	f.log.Debug().Uint64("seq", f.last).Msg("replay complete")
	if f.cfg.Ready != nil {
		f.cfg.Ready()
	}
}

// session follows with one ordered consumer from f.last+1 until ctx ends
// or the consumer fails. It reports whether anything was delivered.
func (f *follower) session(ctx context.Context) (bool, error) {
	occ := jetstream.OrderedConsumerConfig{
		FilterSubjects: f.cfg.Filters,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		// One reset attempt by the library (immediately, e.g. after a
		// reconnect); if it fails, Follow retries with its own backoff, which
		// ctx can interrupt.
		MaxResetAttempts: 1,
	}
	if f.last > 0 {
		occ.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		occ.OptStartSeq = f.last + 1
	}
	cons, err := f.js.OrderedConsumer(ctx, f.cfg.Stream, occ)
	if err != nil {
		return false, fmt.Errorf("creating ordered consumer on %s: %w", f.cfg.Stream, err)
	}
	if info := cons.CachedInfo(); info != nil && info.NumPending == 0 {
		f.markReady()
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(pullBatch))
	if err != nil {
		return false, fmt.Errorf("consuming %s: %w", f.cfg.Stream, err)
	}
	defer func() {
		it.Stop()
		// The server would drop the consumer after its inactivity threshold
		// anyway; deleting it now keeps the consumer list clean.
		if info := cons.CachedInfo(); info != nil {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			_ = f.js.DeleteConsumer(dctx, f.cfg.Stream, info.Name)
			cancel()
		}
	}()
	delivered := false
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return delivered, nil
			}
			return delivered, fmt.Errorf("receiving from %s: %w", f.cfg.Stream, err)
		}
		md, err := msg.Metadata()
		if err != nil {
			return delivered, fmt.Errorf("reading metadata of a message on %s: %w", msg.Subject(), err)
		}
		seq := md.Sequence.Stream
		if seq <= f.last {
			continue // never deliver a sequence twice
		}
		f.last = seq
		delivered = true
		d := events.Delivery{Subject: msg.Subject(), Data: msg.Data(), Seq: seq, Pending: md.NumPending, Stored: md.Timestamp,
			BatchEnd: true}
		if h := msg.Headers(); h != nil {
			if h.Get(jetstream.MarkerReasonHeader) != "" {
				d.Removed = true
			} else {
				d.Expires = LeaseEnd(md.Timestamp, h.Get(jetstream.MsgTTLHeader))
			}
			// The stream keeps a batch's headers on each message.
			if d.Batch = h.Get(batchIDHeader); d.Batch != "" {
				d.BatchEnd = h.Get(batchCommitHeader) != ""
			}
		}
		f.cfg.Handle(d)
		if !f.ready && (md.NumPending == 0 || seq >= f.target) {
			f.markReady()
		}
	}
}

// pullBatch is how many messages the follower asks the server for at once.
// Large pulls keep a replay or a burst streaming instead of waiting on a
// round trip every few hundred messages.
const pullBatch = 8192
