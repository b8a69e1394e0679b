package bus

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zonecast/zonecast/internal/status"
)

func TestStreamHealthOf(t *testing.T) {
	t.Parallel()
	elected := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	info := &jetstream.StreamInfo{
		Config: jetstream.StreamConfig{Name: "ZONECAST"},
		State:  jetstream.StreamState{Msgs: 7, LastSeq: 9},
		Cluster: &jetstream.ClusterInfo{Name: "zonecast", Leader: "n2", LeaderSince: &elected, Replicas: []*jetstream.PeerInfo{
			{Name: "n1", Current: false, Offline: true, Active: 14 * time.Second, Lag: 3},
			nil,
			{Name: "n3", Current: true, Active: 120 * time.Millisecond},
		}},
	}
	got := StreamHealthOf(info)
	want := status.Stream{Name: "ZONECAST", Cluster: "zonecast", Leader: "n2", Msgs: 7, LastSeq: 9, Replicas: []status.Replica{
		{Name: "n1", Offline: true, Active: 14 * time.Second, Lag: 3},
		{Name: "n3", Current: true, Active: 120 * time.Millisecond},
	}}
	if got.Name != want.Name || got.Cluster != want.Cluster || got.Leader != want.Leader ||
		got.LeaderSince == nil || !got.LeaderSince.Equal(elected) || got.Msgs != 7 || got.LastSeq != 9 ||
		len(got.Replicas) != 2 || got.Replicas[0] != want.Replicas[0] || got.Replicas[1] != want.Replicas[1] {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if s := StreamHealthOf(&jetstream.StreamInfo{Config: jetstream.StreamConfig{Name: "X"}}); s.State() != status.StreamOK {
		t.Fatalf("stream without cluster info: %+v is %s", s, s.State())
	}
}

// TestReadStreamHealth reads a real server's stream: a standalone server
// leads its streams; a missing stream is an error in the reading.
func TestReadStreamHealth(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t, false)
	_, js := ts.inProcess(t)
	ctx := ctxFor(t, 10*time.Second)
	if s := ReadStreamHealth(ctx, js, DefaultStreamName); s.Error != "stream not found" || s.State() != status.StreamNoLeader {
		t.Fatalf("missing stream: %+v", s)
	}
	ensureTestStream(t, js, StreamConfig{})
	for _, subj := range []string{"zonecast.rr.a.x", "zonecast.rr.a.y", "zonecast.rr.a.x"} {
		if _, err := js.Publish(ctx, subj, []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	before := time.Now()
	s := ReadStreamHealth(ctx, js, DefaultStreamName)
	if s.Error != "" || s.Leader != ts.srv.Name() || len(s.Replicas) != 0 || s.Msgs != 2 || s.LastSeq != 3 ||
		s.Name != DefaultStreamName || s.Time.Before(before.Add(-time.Second)) {
		t.Fatalf("reading %+v (server %s)", s, ts.srv.Name())
	}
	if s.State() != status.StreamOK {
		t.Fatalf("state %s", s.State())
	}
}

// hangingLookup never answers before its context ends, like a stream
// during an election.
type hangingLookup struct{}

func (hangingLookup) Stream(ctx context.Context, _ string) (jetstream.Stream, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestReadStreamHealthTimeout: a reading gives up after
// StreamHealthTimeout, whatever the caller's context. (Fake time.)
func TestReadStreamHealthTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		s := ReadStreamHealth(context.Background(), hangingLookup{}, "ZONECAST")
		if took := time.Since(start); took != StreamHealthTimeout {
			t.Errorf("reading took %s", took)
		}
		if !strings.Contains(s.Error, "no answer within 2s") || s.State() != status.StreamNoLeader || s.Name != "ZONECAST" {
			t.Fatalf("reading %+v", s)
		}
	})
}
