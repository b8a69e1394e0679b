package bus

import (
	"errors"
	"fmt"
	"testing"
	"time"

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
