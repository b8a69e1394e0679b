package bus

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zonecast/zonecast/internal/events"
)

// PublishFuture hands back JetStream's acknowledgement: messages are stored
// in call order, on the canonical subject, with the lease header, and a
// message another stream would capture fails through its future.
func TestPublishFuture(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t, false)
	_, js := ts.inProcess(t)
	ensureTestStream(t, js, StreamConfig{})
	pub := NewPublisher(js, "", "")
	ctx := ctxFor(t, 30*time.Second)

	// Not canonical: upper case name and type; the subject is canonical.
	m := msg("WWW.Example.COM", "node1", "192.0.2.1")
	m.Type = "a"
	var fs []jetstream.PubAckFuture
	for i := 0; i < 50; i++ {
		m.Records = []string{fmt.Sprintf("192.0.2.%d", i)}
		f, err := pub.PublishFuture(m, 0)
		if err != nil {
			t.Fatal(err)
		}
		fs = append(fs, f)
	}
	lease, err := pub.PublishFuture(msg("lease.example.com.", "node1", "192.0.2.2"), 1500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	tomb, err := pub.PublishFuture(events.Message{Version: events.Version, Name: "gone.example.com.", Type: "A", Origin: "node1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	for i, f := range append(fs, lease, tomb) {
		select {
		case ack := <-f.Ok():
			if ack.Sequence <= last {
				t.Fatalf("message %d stored at %d after %d", i, ack.Sequence, last)
			}
			last = ack.Sequence
		case err := <-f.Err():
			t.Fatalf("message %d: %v", i, err)
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
	st, err := js.Stream(ctx, DefaultStreamName)
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.GetLastMsgForSubject(ctx, prefix+".node1.com.example.www.A")
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := events.Encode(m); string(got.Data) != string(want) {
		t.Errorf("stored %s, want %s", got.Data, want)
	}
	for subj, ttl := range map[string]string{prefix + ".node1.com.example.lease.A": "2", prefix + ".node1.com.example.gone.A": "86400"} {
		got, err := st.GetLastMsgForSubject(ctx, subj)
		if err != nil {
			t.Fatal(err)
		}
		if h := got.Header.Get(jetstream.MsgTTLHeader); h != ttl {
			t.Errorf("%s: ttl header %q, want %q", subj, h, ttl)
		}
	}

	// Invalid: refused before sending.
	if _, err := pub.PublishFuture(msg("bad name.example.com.", "node1", "192.0.2.1"), 0); err == nil {
		t.Error("invalid message published")
	}
	// Another stream stored it: the acknowledgement does not pass Check,
	// and Publish and Flush report it.
	other := NewPublisher(js, "OTHER", "")
	if _, err := other.Publish(ctx, msg("y.example.com.", "node1", "192.0.2.1"), 0); !errors.Is(err, ErrWrongStream) {
		t.Errorf("Publish through a publisher of another stream: %v, want ErrWrongStream", err)
	}
	if err := other.PublishAsync(ctx, msg("z.example.com.", "node1", "192.0.2.1"), 0); err != nil {
		t.Fatal(err)
	}
	if n, err := other.Flush(ctx); n != 0 || !errors.Is(err, ErrWrongStream) {
		t.Errorf("Flush = %d, %v; want 0 stored and ErrWrongStream", n, err)
	}
	// With the stream check in the message, JetStream refuses it.
	f, err := other.WithStreamCheck().PublishFuture(msg("x.example.com.", "node1", "192.0.2.1"), 0)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ack := <-f.Ok():
		t.Fatalf("stored at %d despite the stream expectation", ack.Sequence)
	case err := <-f.Err():
		var apiErr *jetstream.APIError
		if !errors.As(err, &apiErr) {
			t.Errorf("error %v, want a JetStream API error", err)
		}
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
}

// PublishAtomic stores a signer's change as one batch: followers of the
// signed subjects see its messages at consecutive sequences, with one
// batch id and the end on the last; a message published alone is a batch
// of its own. Too many messages are refused before anything is sent, and
// so is a batch a stream without atomic publishing gets.
func TestPublishAtomic(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t, false)
	_, js := ts.inProcess(t)
	ensureTestStream(t, js, StreamConfig{})
	ctx := ctxFor(t, 30*time.Second)
	pub := NewPublisher(js, "", events.DefaultSignedPrefix)
	c := follow(t, js, []string{events.ZoneFilter(events.DefaultSignedPrefix, "example.com.")})
	change := []events.Message{
		msg("new.example.com.", "signer1", "192.0.2.1"),
		msg("example.com.", "signer1", "192.0.2.2"),
		{Version: events.Version, Name: "gone.example.com.", Type: "A", Origin: "signer1"}, // a tombstone
	}
	seq, err := pub.PublishAtomic(ctx, change)
	if err != nil {
		t.Fatal(err)
	}
	alone, err := pub.Publish(ctx, msg("other.example.com.", "signer1", "192.0.2.3"), 0)
	if err != nil {
		t.Fatal(err)
	}
	got := c.waitFor(t, "the batch and the single message", 10*time.Second, func(got []events.Delivery, _ int) bool { return len(got) == 4 })
	batch := got[0].Batch
	if batch == "" {
		t.Fatalf("no batch id on %+v", got[0])
	}
	for i, d := range got[:3] {
		if d.Batch != batch || d.BatchEnd != (i == 2) || d.EndsBatch() != (i == 2) || d.Seq != seq-2+uint64(i) {
			t.Errorf("delivery %d: seq %d batch %q end %v; want seq %d batch %q end %v", i, d.Seq, d.Batch, d.BatchEnd, seq-2+uint64(i), batch, i == 2)
		}
		if want := events.Subject(events.DefaultSignedPrefix, change[i]); d.Subject != want {
			t.Errorf("delivery %d on %s, want %s", i, d.Subject, want)
		}
	}
	if got[2].Expires.IsZero() {
		t.Error("the tombstone in the batch has no lease")
	}
	if d := got[3]; d.Seq != alone || d.Batch != "" || !d.BatchEnd || !d.EndsBatch() {
		t.Errorf("single message delivered as %+v", d)
	}

	// The server's default limit is MaxBatch: a full batch is stored.
	full := make([]events.Message, MaxBatch)
	for i := range full {
		full[i] = msg(fmt.Sprintf("h%d.example.com.", i), "signer1", "192.0.2.4")
	}
	last, err := pub.PublishAtomic(ctx, full)
	if err != nil {
		t.Fatalf("a batch of MaxBatch messages: %v", err)
	}
	if last != alone+MaxBatch {
		t.Errorf("a batch of %d after seq %d committed at %d", MaxBatch, alone, last)
	}
	if _, err := pub.PublishAtomic(ctx, append(full, msg("more.example.com.", "signer1", "192.0.2.5"))); !errors.Is(err, ErrBatchTooLarge) {
		t.Errorf("a batch of MaxBatch+1: %v, want ErrBatchTooLarge", err)
	}
	if _, err := pub.PublishAtomic(ctx, nil); err == nil {
		t.Error("an empty batch published")
	}
	if _, err := pub.PublishAtomic(ctx, []events.Message{change[0], msg("bad name.example.com.", "signer1", "192.0.2.1")}); err == nil {
		t.Error("a batch with an invalid message published")
	}

	// A stream that does not allow atomic batches refuses the first
	// message, for good (not retried until ctx ends).
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "PLAIN", Subjects: []string{"plain.>"}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = NewPublisher(js, "PLAIN", "plain").PublishAtomic(ctx, change)
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || Retryable(err) || time.Since(start) > 5*time.Second {
		t.Errorf("batch into a stream without atomic publishing: %v (after %v), want a JetStream refusal", err, time.Since(start))
	}
}

// A batch that is never committed is never stored, nor delivered.
func TestUncommittedBatch(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t, false)
	nc, js := ts.inProcess(t)
	ensureTestStream(t, js, StreamConfig{})
	ctx := ctxFor(t, 30*time.Second)
	c := follow(t, js, nil)
	c.waitFor(t, "ready", 10*time.Second, func(_ []events.Delivery, ready int) bool { return ready == 1 })
	for i, m := range []events.Message{msg("a.example.com.", "signer1", "192.0.2.1"), msg("b.example.com.", "signer1", "192.0.2.2")} {
		data, err := events.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		raw := nats.NewMsg(events.Subject(events.DefaultSignedPrefix, m))
		raw.Data = data
		raw.Header.Set("Nats-Batch-Id", "never-committed")
		raw.Header.Set("Nats-Batch-Sequence", fmt.Sprint(i+1))
		if err := nc.PublishMsg(raw); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// A message published alone afterwards is stored and followed: the
	// staged ones would have come before it.
	seq, err := NewPublisher(js, "", events.DefaultSignedPrefix).Publish(ctx, msg("c.example.com.", "signer1", "192.0.2.3"), 0)
	if err != nil {
		t.Fatal(err)
	}
	got := c.waitFor(t, "the single message", 10*time.Second, func(got []events.Delivery, _ int) bool { return len(got) > 0 })
	if len(got) != 1 || got[0].Seq != seq || got[0].Batch != "" {
		t.Errorf("delivered %s, want the single message only", describe(got))
	}
	st, err := js.Stream(ctx, DefaultStreamName)
	if err != nil {
		t.Fatal(err)
	}
	if n := st.CachedInfo().State.Msgs; n != 1 {
		t.Errorf("stream holds %d messages, want 1", n)
	}
}
