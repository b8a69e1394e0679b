package status

import (
	"encoding/json"
	"testing"
	"time"
)

func TestClassifyStream(t *testing.T) {
	t.Parallel()
	opts := Options{MaxBehind: 30 * time.Second}
	current := func(name string) Replica { return Replica{Name: name, Current: true, Active: 200 * time.Millisecond} }
	stream := func(leader string, replicas ...Replica) Stream {
		return Stream{Name: "ZONECAST", Leader: leader, Replicas: replicas, Msgs: 5002, LastSeq: 10004}
	}
	// elected dates the reading now and the leader's election ago before.
	elected := func(s Stream, ago time.Duration) Stream {
		s.Time = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
		since := s.Time.Add(-ago)
		s.LeaderSince = &since
		return s
	}
	tests := map[string]struct {
		s       Stream
		state   StreamState
		failing bool
		line    string
	}{
		"all current": {
			s: stream("ns1", current("ns2"), current("ns3")), state: StreamOK,
			line: "stream ZONECAST: leader ns1, replicas ns2 current, ns3 current; 5002 messages, last seq 10004",
		},
		"not clustered": {
			s: stream("nats1"), state: StreamOK,
			line: "stream ZONECAST: leader nats1, no replicas; 5002 messages, last seq 10004",
		},
		"lagging, seen lately": {
			s:     stream("ns1", current("ns2"), Replica{Name: "ns3", Lag: 120, Active: 2 * time.Second}),
			state: StreamDegraded,
			line:  "stream ZONECAST: leader ns1, replicas ns2 current, ns3 lagging 120 ops (seen 2s ago); 5002 messages, last seq 10004",
		},
		"not current, no lag, silent too long": {
			s:     stream("ns1", current("ns2"), Replica{Name: "ns3", Active: 45 * time.Second}),
			state: StreamDegraded, failing: true,
			line: "stream ZONECAST: leader ns1, replicas ns2 current, ns3 not current (seen 45s ago); 5002 messages, last seq 10004 !",
		},
		"offline briefly": {
			s:     stream("ns2", Replica{Name: "ns1", Offline: true, Active: 12 * time.Second}, current("ns3")),
			state: StreamDegraded,
			line:  "stream ZONECAST: leader ns2, replicas ns1 offline (seen 12s ago), ns3 current; 5002 messages, last seq 10004",
		},
		"offline too long": {
			s:     stream("ns2", Replica{Name: "ns1", Offline: true, Active: 31 * time.Second}, current("ns3")),
			state: StreamDegraded, failing: true,
			line: "stream ZONECAST: leader ns2, replicas ns1 offline (seen 31s ago), ns3 current; 5002 messages, last seq 10004 !",
		},
		"offline, never seen": {
			s:     stream("ns2", Replica{Name: "ns1", Offline: true}, current("ns3")),
			state: StreamDegraded, failing: true,
			line: "stream ZONECAST: leader ns2, replicas ns1 offline (never seen), ns3 current; 5002 messages, last seq 10004 !",
		},
		"lagging, unseen since an election lately": {
			s:     elected(stream("ns3", Replica{Name: "ns1", Lag: 4}, current("ns2")), 10*time.Second),
			state: StreamDegraded,
			line:  "stream ZONECAST: leader ns3, replicas ns1 lagging 4 ops (not seen since the election 10s ago), ns2 current; 5002 messages, last seq 10004",
		},
		"lagging, unseen since an election long ago": {
			s:     elected(stream("ns3", Replica{Name: "ns1", Lag: 4}, current("ns2")), 40*time.Second),
			state: StreamDegraded, failing: true,
			line: "stream ZONECAST: leader ns3, replicas ns1 lagging 4 ops (not seen since the election 40s ago), ns2 current; 5002 messages, last seq 10004 !",
		},
		"lagging, never seen, election unknown": {
			s:     stream("ns3", Replica{Name: "ns1", Lag: 4}, current("ns2")),
			state: StreamDegraded,
			line:  "stream ZONECAST: leader ns3, replicas ns1 lagging 4 ops (never seen), ns2 current; 5002 messages, last seq 10004",
		},
		"current for long is fine": {
			s:     stream("ns1", Replica{Name: "ns2", Current: true, Active: time.Hour}),
			state: StreamOK,
			line:  "stream ZONECAST: leader ns1, replicas ns2 current; 5002 messages, last seq 10004",
		},
		"leaderless answer": {
			s:     stream("", Replica{Name: "ns1"}, Replica{Name: "ns2", Current: true, Active: time.Second}),
			state: StreamNoLeader, failing: true,
			line: "stream ZONECAST: no leader, replicas ns1 not current (never seen), ns2 current; 5002 messages, last seq 10004 !",
		},
		"no answer": {
			s:     Stream{Name: "ZONECAST", Error: "no answer within 2s"},
			state: StreamNoLeader, failing: true,
			line: "stream ZONECAST: no leader (no answer within 2s) !",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := ClassifyStream(tc.s, opts)
			if r.State != tc.state || r.Failing != tc.failing {
				t.Errorf("state %s failing %v, want %s %v", r.State, r.Failing, tc.state, tc.failing)
			}
			if got := r.Line(); got != tc.line {
				t.Errorf("line\n got %q\nwant %q", got, tc.line)
			}
		})
	}
}

func TestStreamCountsAndJSON(t *testing.T) {
	t.Parallel()
	s := Stream{Name: "ZONECAST", Leader: "ns1", Replicas: []Replica{
		{Name: "ns2", Current: true}, {Name: "ns3", Lag: 4, Active: time.Second}, {Name: "ns4", Offline: true, Current: true}}}
	got := s.Counts()
	if got[ReplicaCurrent] != 1 || got[ReplicaLagging] != 1 || got[ReplicaOffline] != 1 || len(got) != 3 {
		t.Fatalf("counts %v", got)
	}
	if got := (Stream{Leader: "x"}).Counts(); len(got) != 3 || got[ReplicaCurrent] != 0 {
		t.Fatalf("counts without replicas %v", got)
	}
	// A node's status carries the reading; without one, no field at all.
	b, err := Encode(Node{Node: "ns1", StreamHealth: &s})
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(b)
	if err != nil || back.StreamHealth == nil || back.StreamHealth.Leader != "ns1" || len(back.StreamHealth.Replicas) != 3 ||
		back.StreamHealth.Replicas[1].Lag != 4 || back.StreamHealth.Replicas[1].Active != time.Second {
		t.Fatalf("round trip: %+v %v", back.StreamHealth, err)
	}
	b, _ = Encode(Node{Node: "ns1"})
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw["stream_health"]; ok {
		t.Fatalf("stream_health without a reading: %s", b)
	}
}
