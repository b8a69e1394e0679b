package bus

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zonecast/zonecast/internal/events"
)

func TestRetryable(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		err  error
		want bool
	}{
		"nil":                     {nil, false},
		"no stream response":      {fmt.Errorf("publishing x: %w", jetstream.ErrNoStreamResponse), true},
		"no responders":           {nats.ErrNoResponders, true},
		"ack timeout":             {jetstream.ErrAsyncPublishTimeout, true},
		"attempt deadline":        {context.DeadlineExceeded, true},
		"reconnecting":            {nats.ErrConnectionReconnecting, true},
		"cluster unavailable":     {fmt.Errorf("nats: %w", &jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}), true},
		"cas lost":                {fmt.Errorf("x: %w", ErrWrongLastSequence), false},
		"wrong stream":            {ErrWrongStream, false},
		"message too large":       {&jetstream.APIError{Code: 400, ErrorCode: 10054, Description: "message size exceeds maximum allowed"}, false},
		"cancelled by the caller": {context.Canceled, false},
		"something else":          {errors.New("boom"), false},
	} {
		if got := Retryable(c.err); got != c.want {
			t.Errorf("%s: Retryable(%v) = %v, want %v", name, c.err, got, c.want)
		}
	}
}

// createStreamAfter creates the record stream after d: until then the
// subjects have no responders, as while a stream has no leader.
func createStreamAfter(t *testing.T, js jetstream.JetStream, d time.Duration) <-chan struct{} {
	t.Helper()
	created := make(chan struct{})
	time.AfterFunc(d, func() {
		defer close(created)
		if _, err := EnsureStream(context.Background(), js, StreamConfig{}); err != nil {
			t.Errorf("creating the stream: %v", err)
		}
	})
	return created
}

// Publish sends again while the stream cannot take the message, and gives
// up at its context's end naming the last cause.
func TestPublishRetries(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t, false)
	_, js := ts.inProcess(t)
	pub := NewPublisher(js, "", "")

	short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := pub.Publish(short, msg("early.example.com.", "n1", "192.0.2.1"), 0); !errors.Is(err, jetstream.ErrNoStreamResponse) {
		t.Fatalf("without a stream, until the deadline: %v, want no response from stream", err)
	}

	created := createStreamAfter(t, js, 500*time.Millisecond)
	start := time.Now()
	seq, err := pub.Publish(ctxFor(t, 10*time.Second), msg("www.example.com.", "n1", "192.0.2.2"), 0)
	if err != nil {
		t.Fatalf("publish through the gap: %v", err)
	}
	<-created
	if took := time.Since(start); took < 500*time.Millisecond || seq != 1 {
		t.Fatalf("stored at %d after %v: before the stream existed?", seq, took)
	}
}

// PublishBatch stores every message once the stream can take them, and a
// subject ends with the batch's last message for it, never an earlier one
// sent again after it.
func TestPublishBatch(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t, false)
	_, js := ts.inProcess(t)
	pub := NewPublisher(js, "", "")
	ctx := ctxFor(t, 20*time.Second)

	var msgs []events.Message
	for i := range 50 {
		msgs = append(msgs, msg(fmt.Sprintf("h%d.example.com.", i), "n1", "192.0.2.1"))
	}
	msgs = append(msgs, msg("h7.example.com.", "n1", "192.0.2.99")) // h7 again, last
	leases := make([]time.Duration, len(msgs))
	created := createStreamAfter(t, js, 700*time.Millisecond)
	res := pub.PublishBatch(ctx, msgs, leases)
	<-created
	if len(res.Failed) != 0 || res.Stored != 50 || res.Superseded != 1 || res.Rounds < 2 {
		t.Fatalf("result %+v (first failure %v)", res, firstErr(res))
	}
	st, err := js.Stream(ctx, DefaultStreamName)
	if err != nil {
		t.Fatal(err)
	}
	last, err := LastOf(ctx, st, events.Subject(events.DefaultSubjectPrefix, msgs[50]))
	if err != nil {
		t.Fatal(err)
	}
	if m, err := events.Decode(last.Data); err != nil || m.Records[0] != "192.0.2.99" {
		t.Fatalf("h7 holds %v (%v), want the batch's last", m.Records, err)
	}

	// A batch the stream never takes: every message named, with the cause.
	none := NewPublisher(js, "ELSEWHERE", "other.rr")
	quick, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	res = none.PublishBatch(quick, msgs[:3], leases[:3])
	if res.Stored != 0 || len(res.Failed) != 3 || !errors.Is(res.Failed[2].Err, jetstream.ErrNoStreamResponse) || res.Failed[2].Index != 2 {
		t.Fatalf("result %+v (first failure %v)", res, firstErr(res))
	}
}

func firstErr(r BatchResult) error {
	if len(r.Failed) == 0 {
		return nil
	}
	return r.Failed[0].Err
}
