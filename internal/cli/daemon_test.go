package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// Not parallel: logging.New sets zerolog's time format, a global.
func TestDaemonRunLogsStartAndStop(t *testing.T) {
	failed := errors.New("listening on :1: address in use")
	tests := map[string]struct {
		err  error
		last map[string]string
	}{
		"stopped":  {last: map[string]string{"level": "info", "message": "zonecast-x stopped"}},
		"on error": {err: failed, last: map[string]string{"level": "error", "message": "zonecast-x stopped on error", "error": failed.Error()}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			d := Daemon{Name: "zonecast-x", Version: "1.2", Node: "n1", Log: LogFlags{Level: "info", Format: "json"}, Stderr: &out,
				Start: func(e *zerolog.Event) *zerolog.Event { return e.Strs("zones", []string{"a.example."}) }}
			var logged bool
			err := d.Run(context.Background(), func(_ context.Context, log zerolog.Logger) error {
				log.Info().Msg("working")
				logged = true
				return tc.err
			})
			if err != tc.err || !logged {
				t.Fatalf("Run = %v (ran: %v), want %v", err, logged, tc.err)
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(lines) != 3 {
				t.Fatalf("logged %d lines, want 3:\n%s", len(lines), out.String())
			}
			var start, mid, last map[string]any
			for i, v := range []*map[string]any{&start, &mid, &last} {
				if err := json.Unmarshal([]byte(lines[i]), v); err != nil {
					t.Fatal(err)
				}
				if (*v)["node"] != "n1" {
					t.Errorf("line %d without node n1: %s", i+1, lines[i])
				}
			}
			if start["message"] != "starting zonecast-x" || start["version"] != "1.2" || start["level"] != "info" {
				t.Errorf("start line %s", lines[0])
			}
			if z, _ := start["zones"].([]any); len(z) != 1 || z[0] != "a.example." {
				t.Errorf("start line without the fields of Start: %s", lines[0])
			}
			if mid["message"] != "working" {
				t.Errorf("run's logger: %s", lines[1])
			}
			for k, v := range tc.last {
				if last[k] != v {
					t.Errorf("stop line %s: %s = %v, want %q", lines[2], k, last[k], v)
				}
			}
		})
	}
}

func TestDaemonRunBadLogLevel(t *testing.T) {
	var out bytes.Buffer
	d := Daemon{Name: "zonecast-x", Log: LogFlags{Level: "loud", Format: "json"}, Stderr: &out}
	err := d.Run(context.Background(), func(context.Context, zerolog.Logger) error {
		t.Error("run called with a bad log level")
		return nil
	})
	if !errors.Is(err, ErrUsage) || out.Len() != 0 {
		t.Fatalf("Run = %v, logged %q; want a usage error and nothing logged", err, out.String())
	}
}
