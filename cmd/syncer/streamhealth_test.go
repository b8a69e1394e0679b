package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zonecast/zonecast/internal/status"
	"github.com/zonecast/zonecast/internal/testenv"
)

// runStatus runs `zonecast-syncer status` against the fleet and returns
// its standard output, standard error and exit code.
func (e *fleetEnv) runStatus(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(testenv.Binary(t, "syncer"), append([]string{"status", "--nats-url", e.urls,
		"--nats-password-file", e.pwFile}, args...)...)
	var errOut strings.Builder
	cmd.Stderr = &errOut
	out, err := cmd.Output()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), errOut.String(), 0
	case errors.As(err, &exit):
		return string(out), errOut.String(), exit.ExitCode()
	}
	t.Fatalf("running status: %v", err)
	return "", "", 0
}

// streamLine is the last line of the status table's output.
func streamLine(out string) string {
	out = strings.TrimRight(out, "\n")
	return out[strings.LastIndex(out, "\n")+1:]
}

// statusJSON runs `zonecast-syncer status --json`; why is set when the
// command printed no report (NATS unreachable, a read failed).
func (e *fleetEnv) statusJSON(t *testing.T, args ...string) (rep report, code int, why string) {
	t.Helper()
	out, errOut, code := e.runStatus(t, append([]string{"--json"}, args...)...)
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Stream == nil {
		return report{}, code, fmt.Sprintf("exit %d, no report: %s", code, strings.TrimSpace(errOut))
	}
	return rep, code, ""
}

// eventually polls cond every 200 ms until it holds; on timeout, the test
// fails with what and the last reason cond gave.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %s", timeout, what, why)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func replicaState(s *status.StreamRow, name string) (status.ReplicaState, bool) {
	for _, r := range s.Replicas {
		if r.Name == name {
			return r.State(), true
		}
	}
	return "", false
}

// getJSON fetches url into v and returns the HTTP status.
func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Logf("GET %s: %v", url, err)
		return 0
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		t.Logf("GET %s: %d, %v: %s", url, resp.StatusCode, err, b)
	}
	return resp.StatusCode
}

// metricsSay reports whether node n's /metrics hold every sample of want.
func metricsSay(n *testenv.FleetNode, want map[string]float64) (bool, string) {
	for sample, v := range want {
		got, err := n.TryMetric(sample)
		if err != nil {
			return false, err.Error()
		}
		if got != v {
			return false, fmt.Sprintf("%s: %s = %v, want %v", n.ID, sample, got, v)
		}
	}
	return true, ""
}

// TestFleetStreamHealth: the status command, /status, /status/fleet and
// the metrics name the record stream's leader and show its replicas
// current; after kill -9 of the leader's node they name a new leader and
// the killed node offline or not current, and the exit code follows
// --max-behind. Three real syncers with clustered embedded NATS.
func TestFleetStreamHealth(t *testing.T) {
	if testing.Short() {
		t.Skip("fleet test")
	}
	t0 := time.Now()
	e := startFleet(t)
	t.Logf("fleet of 3 ready in %s", time.Since(t0).Round(time.Millisecond))
	js := e.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var done atomic.Int64
	if err := publishBurst(ctx, t, js, 50, 50, 50, 0, &done); err != nil {
		t.Fatal(err)
	}

	// A healthy stream: a leader, both other nodes current, exit 0.
	var rep report
	eventually(t, time.Minute, "status: a leader and two current replicas", func() (bool, string) {
		var code int
		var why string
		if rep, code, why = e.statusJSON(t); why != "" {
			return false, why
		}
		s := rep.Stream
		return code == 0 && s.State == status.StreamOK && e.f.Node(s.Leader) != nil && len(s.Replicas) == 2 &&
			s.LastSeq >= 50 && !s.Failing, fmt.Sprintf("exit %d, %s", code, s.Line())
	})
	leader := e.f.Node(rep.Stream.Leader)
	out, errOut, code := e.runStatus(t)
	line := streamLine(out)
	if code != 0 || !strings.HasPrefix(line, "stream ZONECAST: leader "+leader.ID+", replicas ") ||
		strings.Count(line, " current") != 2 || strings.HasSuffix(line, "!") {
		t.Fatalf("status (exit %d):\n%s%s", code, out, errOut)
	}
	t.Logf("healthy, at %s:\n%s", time.Since(t0).Round(time.Millisecond), out)
	for _, n := range e.f.Nodes {
		want := map[string]float64{
			"zonecast_syncer_stream_has_leader":                         1,
			`zonecast_syncer_stream_leader{server="` + leader.ID + `"}`: 1,
			`zonecast_syncer_stream_replicas{state="current"}`:          2,
			`zonecast_syncer_stream_replicas{state="offline"}`:          0,
			"zonecast_syncer_stream_is_leader":                          map[bool]float64{true: 1}[n == leader],
		}
		eventually(t, 30*time.Second, n.ID+"'s metrics of a healthy stream", func() (bool, string) { return metricsSay(n, want) })
		var node status.Node
		if code := getJSON(t, "http://"+n.HTTPAddr+"/status", &node); code != http.StatusOK ||
			node.StreamHealth == nil || node.StreamHealth.Leader != leader.ID || len(node.StreamHealth.Replicas) != 2 {
			t.Fatalf("%s /status: %d %+v", n.ID, code, node.StreamHealth)
		}
	}
	var fleet report
	if code := getJSON(t, "http://"+e.f.Nodes[0].HTTPAddr+"/status/fleet", &fleet); code != http.StatusOK ||
		fleet.Stream == nil || fleet.Stream.Leader != leader.ID || fleet.Stream.State != status.StreamOK {
		t.Fatalf("/status/fleet: %d %+v", code, fleet.Stream)
	}

	// kill -9 the leader's node: its syncer and its nats-server.
	leader.Kill(t)
	killedAt := time.Now()
	var survivors []*testenv.FleetNode
	var urls []string
	for _, n := range e.f.Nodes {
		if n != leader {
			survivors = append(survivors, n)
			urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", n.NATSPort))
		}
	}
	e.urls = strings.Join(urls, ",")
	eventually(t, 2*time.Minute, "status: a new leader, the killed node not current", func() (bool, string) {
		var why string
		if rep, _, why = e.statusJSON(t, "--max-behind", "1h"); why != "" {
			return false, why
		}
		s := rep.Stream
		st, found := replicaState(s, leader.ID)
		return s.Leader != "" && s.Leader != leader.ID && e.f.Node(s.Leader) != nil && found && st != status.ReplicaCurrent, s.Line()
	})
	newLeader := e.f.Node(rep.Stream.Leader)
	t.Logf("new leader %s named %s after the kill", newLeader.ID, time.Since(killedAt).Round(time.Millisecond))
	// Within --max-behind a replica gone is not failing yet...
	eventually(t, 30*time.Second, "status exits 0 with --max-behind 1h", func() (bool, string) {
		r, code, why := e.statusJSON(t, "--max-behind", "1h", "--stale-after", "1h")
		if why != "" {
			return false, why
		}
		return code == 0 && r.Stream.State == status.StreamDegraded && !r.Stream.Failing && !r.Failing,
			fmt.Sprintf("exit %d, %s", code, r.Stream.Line())
	})
	// ... past it, it is (and the killed node's status has gone stale).
	eventually(t, time.Minute, "status fails on the replica gone for longer than --max-behind", func() (bool, string) {
		out, errOut, code = e.runStatus(t, "--max-behind", "5s")
		line := streamLine(out)
		return code == 1 && strings.HasPrefix(line, "stream ZONECAST: leader "+newLeader.ID+", ") &&
			strings.Contains(line, " "+leader.ID+" ") && !strings.Contains(line, " "+leader.ID+" current") &&
			strings.HasSuffix(line, " !"), fmt.Sprintf("exit %d: %s%s", code, out, errOut)
	})
	t.Logf("after kill -9 of %s, at %s after it (exit %d):\n%s%s", leader.ID, time.Since(killedAt).Round(time.Millisecond),
		code, out, errOut)
	if r, code, why := e.statusJSON(t, "--max-behind", "5s"); why != "" || code != 1 || !r.Stream.Failing || !r.Failing {
		t.Fatalf("status --json --max-behind 5s: exit %d %s, %+v", code, why, r.Stream)
	}

	// The survivors' metrics name the new leader.
	for _, n := range survivors {
		want := map[string]float64{
			"zonecast_syncer_stream_has_leader":                            1,
			`zonecast_syncer_stream_leader{server="` + newLeader.ID + `"}`: 1,
			`zonecast_syncer_stream_leader{server="` + leader.ID + `"}`:    0, // the series is gone
			`zonecast_syncer_stream_replicas{state="current"}`:             1,
			"zonecast_syncer_stream_is_leader":                             map[bool]float64{true: 1}[n == newLeader],
		}
		eventually(t, 30*time.Second, n.ID+"'s metrics after the kill", func() (bool, string) {
			if ok, why := metricsSay(n, want); !ok {
				return false, why
			}
			gone := 0.0
			for _, st := range []string{"lagging", "offline"} {
				v, err := n.TryMetric(`zonecast_syncer_stream_replicas{state="` + st + `"}`)
				if err != nil {
					return false, err.Error()
				}
				gone += v
			}
			return gone == 1, fmt.Sprintf("%v replicas lagging or offline, want 1", gone)
		})
	}
	// A survivor's fleet report fails the same way (HTTP 503).
	var after report
	if code := getJSON(t, "http://"+survivors[0].HTTPAddr+"/status/fleet?max-behind=5s", &after); code != http.StatusServiceUnavailable ||
		after.Stream == nil || after.Stream.Leader != newLeader.ID || !after.Stream.Failing {
		t.Fatalf("/status/fleet after the kill: %d %+v", code, after.Stream)
	}
	t.Logf("whole test: %s", time.Since(t0).Round(time.Millisecond))
}
