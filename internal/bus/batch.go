package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/retry"
)

// Failure is a message of a batch that was not stored, and why.
type Failure struct {
	Index   int // in the batch
	Message events.Message
	Err     error
}

// BatchResult is the outcome of PublishBatch.
type BatchResult struct {
	Stored int
	// Superseded counts messages not stored because a later message of
	// the same subject in the batch was: the subject holds what it would
	// have held.
	Superseded int
	Failed     []Failure // in batch order
	Rounds     int       // sends of the batch, the first included
}

// PublishBatch stores msgs (with leases[i], see Publish) as many at a time
// as JetStream takes, and sends again those it could not take just then
// (Retryable: a leader election, a restarting server) until all are stored
// or refused, or ctx ends; give ctx a deadline longer than an election.
// It never sends a message of a subject after a later message of that
// subject in the batch, so the stream ends up with what the batch says
// last for every subject.
func (p *Publisher) PublishBatch(ctx context.Context, msgs []events.Message, leases []time.Duration) BatchResult {
	var res BatchResult
	todo := make([]int, len(msgs))
	for i := range todo {
		todo[i] = i
	}
	errs := make([]error, len(msgs))
	for attempt := 0; len(todo) > 0; attempt++ {
		res.Rounds++
		again, stored := p.sendRound(ctx, msgs, leases, todo, errs)
		res.Stored += stored
		todo = p.keepLast(msgs, again, errs, &res)
		if len(todo) == 0 {
			break
		}
		// ctx may also end just as the pause does.
		if !retry.Sleep(ctx, RetryDelay(attempt)) || ctx.Err() != nil {
			for _, i := range todo {
				errs[i] = fmt.Errorf("%w (gave up: %w)", errs[i], ctx.Err())
			}
			break
		}
	}
	for i, err := range errs {
		if err != nil {
			res.Failed = append(res.Failed, Failure{Index: i, Message: msgs[i], Err: err})
		}
	}
	return res
}

// sendRound sends the messages todo names and waits for their
// acknowledgements. It returns the indexes to send again (retryable
// failures, in batch order) and how many were stored; errs[i] is set for
// every message not stored, and cleared for those stored.
func (p *Publisher) sendRound(ctx context.Context, msgs []events.Message, leases []time.Duration, todo []int, errs []error) ([]int, int) {
	type sent struct {
		i int
		f jetstream.PubAckFuture
	}
	var out []sent
	var retry []int
	for _, i := range todo {
		msg, err := p.msg(msgs[i], leases[i])
		if err != nil {
			errs[i] = err // invalid: never stored
			continue
		}
		f, err := p.js.PublishMsgAsync(msg, append(p.expect,
			jetstream.WithRetryAttempts(0), jetstream.WithStallWait(FutureStallWait))...)
		if err != nil {
			errs[i] = fmt.Errorf("publishing %s: %w", msg.Subject, err)
			if Retryable(err) || errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
				retry = append(retry, i)
			}
			continue
		}
		out = append(out, sent{i, f})
	}
	wait, cancel := context.WithTimeout(ctx, AttemptTimeout)
	defer cancel()
	stored := 0
	for _, s := range out {
		var err error
		select {
		case ack := <-s.f.Ok():
			err = p.Check(ack)
		case err = <-s.f.Err():
		case <-wait.Done():
			err = fmt.Errorf("%w: %w", jetstream.ErrAsyncPublishTimeout, wait.Err())
		}
		if err == nil {
			errs[s.i] = nil
			stored++
			continue
		}
		errs[s.i] = fmt.Errorf("publishing %s: %w", s.f.Msg().Subject, casError(err))
		if Retryable(err) {
			retry = append(retry, s.i)
		}
	}
	slices.Sort(retry)
	return retry, stored
}

// keepLast drops from retry (sorted) every message whose subject has a
// later message in the batch: that one is stored, or is to be sent again,
// or was refused; the dropped ones count as superseded, not as failed.
func (p *Publisher) keepLast(msgs []events.Message, retry []int, errs []error, res *BatchResult) []int {
	if len(retry) == 0 {
		return nil
	}
	last := map[string]int{} // subject -> its last index in the batch
	for i, m := range msgs {
		last[events.Subject(p.prefix, m)] = i
	}
	out := retry[:0]
	for _, i := range retry {
		if last[events.Subject(p.prefix, msgs[i])] != i {
			res.Superseded++
			errs[i] = nil
			continue
		}
		out = append(out, i)
	}
	return out
}
