package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"syscall"
	"testing"
	"time"
)

func TestExitCode(t *testing.T) {
	tests := map[string]struct {
		err    error
		code   int
		stderr string
	}{
		"success":          {err: nil, code: 0},
		"help":             {err: flag.ErrHelp, code: 0},
		"wrapped help":     {err: fmt.Errorf("parsing: %w", flag.ErrHelp), code: 0},
		"usage":            {err: fmt.Errorf("%w: --zone is required", ErrUsage), code: 2, stderr: "zonecast-x sub: usage error: --zone is required\n"},
		"failure":          {err: errors.New("connecting to nats: refused"), code: 1, stderr: "zonecast-x sub: connecting to nats: refused\n"},
		"wrapped failure":  {err: fmt.Errorf("running: %w", context.Canceled), code: 1, stderr: "zonecast-x sub: running: context canceled\n"},
		"usage in a chain": {err: fmt.Errorf("config: %w", fmt.Errorf("%w: bad", ErrUsage)), code: 2, stderr: "zonecast-x sub: config: usage error: bad\n"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var w bytes.Buffer
			if got := exitCode(&w, "zonecast-x sub", tc.err); got != tc.code {
				t.Errorf("exit code %d, want %d", got, tc.code)
			}
			if w.String() != tc.stderr {
				t.Errorf("stderr %q, want %q", w.String(), tc.stderr)
			}
		})
	}
}

func TestRunPassesArgsAndCancelsOnSIGTERM(t *testing.T) {
	var got []string
	code := Run("zonecast-x", []string{"--a", "b"}, func(ctx context.Context, args []string) error {
		got = args
		if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(10 * time.Second):
			return errors.New("context not cancelled by SIGTERM")
		}
	})
	if code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	if len(got) != 2 || got[0] != "--a" || got[1] != "b" {
		t.Fatalf("args %q, want [--a b]", got)
	}
}

func TestIsVersion(t *testing.T) {
	tests := map[string]struct {
		args []string
		want bool
	}{
		"none":          {nil, false},
		"word":          {[]string{"version"}, true},
		"double dash":   {[]string{"--version"}, true},
		"single dash":   {[]string{"-version"}, true},
		"not first":     {[]string{"--zone", "version"}, false},
		"a subcommand":  {[]string{"publish", "--version"}, false},
		"other flag":    {[]string{"--verbose"}, false},
		"prefix":        {[]string{"versions"}, false},
		"empty":         {[]string{""}, false},
		"version, more": {[]string{"version", "x"}, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := IsVersion(tc.args); got != tc.want {
				t.Errorf("IsVersion(%q) = %v, want %v", tc.args, got, tc.want)
			}
		})
	}
}

func TestLoggerBadLevelIsUsage(t *testing.T) {
	l := LogFlags{Level: "loud", Format: "json"}
	if _, err := l.Logger(&bytes.Buffer{}); !errors.Is(err, ErrUsage) {
		t.Fatalf("error %v, want a usage error", err)
	}
	l = LogFlags{Level: "debug", Format: "console"}
	if _, err := l.Logger(&bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
}

func TestNewRegistryHasRuntimeCollectors(t *testing.T) {
	mfs, err := NewRegistry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, mf := range mfs {
		seen[mf.GetName()] = true
	}
	for _, want := range []string{"go_goroutines", "process_open_fds"} {
		if !seen[want] {
			t.Errorf("metric %s missing", want)
		}
	}
}
