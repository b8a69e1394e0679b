package testenv

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
)

// SignerOptions configures a zonecast-signer process.
type SignerOptions struct {
	// Syncer whose NATS (embedded, or the one it joined) the signer uses.
	Syncer *Syncer
	Zones  []string
	NS     []string // the zones' apex NS
	// User and PasswordFile authenticate the signer (a signer role user
	// of the syncer's users file); empty: the syncer's own user.
	User, PasswordFile string
	KeyDir             string   // default: a new temp dir
	Dir                string   // log directory, default a new temp dir
	Extra              []string // further flags
}

// Signer is a running zonecast-signer process.
type Signer struct {
	proc // HTTPAddr, LogPath; Ready, Stop, Kill, PID, LogTail, Metric
	Opts SignerOptions
}

// StartSigner starts zonecast-signer and waits until /readyz answers (the
// zones are signed and published). It is stopped with SIGTERM when the
// test ends.
func StartSigner(t testing.TB, opts SignerOptions) *Signer {
	t.Helper()
	if opts.Syncer == nil {
		t.Fatal("StartSigner: no syncer")
	}
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.KeyDir == "" {
		opts.KeyDir = filepath.Join(t.TempDir(), "keys")
	}
	s := &Signer{Opts: opts}
	s.label = "zonecast-signer"
	s.LogPath = filepath.Join(opts.Dir, "signer.log")
	s.Start(t)
	s.stopAtCleanup(t, 60)
	return s
}

// Start (re)starts the process with the same options and HTTP port, and
// waits until /readyz answers.
func (s *Signer) Start(t testing.TB) {
	t.Helper()
	s.start(t, Binary(t, "signer"), s.args(t))
}

// Launch (re)starts the process without waiting for /readyz.
func (s *Signer) Launch(t testing.TB) {
	t.Helper()
	s.spawn(t, Binary(t, "signer"), s.args(t))
}

func (s *Signer) args(t testing.TB) []string {
	t.Helper()
	if s.HTTPAddr == "" {
		s.HTTPAddr = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	}
	url, pwFile := s.Opts.Syncer.natsClient()
	user := "zonecast"
	if s.Opts.User != "" {
		user, pwFile = s.Opts.User, s.Opts.PasswordFile
	}
	args := []string{"--nats-url", url, "--nats-user", user, "--nats-password-file", pwFile,
		"--key-dir", s.Opts.KeyDir, "--http-listen", s.HTTPAddr, "--log-level", "debug"}
	for _, z := range s.Opts.Zones {
		args = append(args, "--zone", z)
	}
	for _, n := range s.Opts.NS {
		args = append(args, "--ns", n)
	}
	return append(args, s.Opts.Extra...)
}

// Run runs the signer binary with args (a command such as ds) and returns
// its standard output.
func (s *Signer) Run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(Binary(t, "signer"), args...).Output()
	if err != nil {
		var stderr []byte
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		t.Fatalf("zonecast-signer %v: %v\n%s", args, err, stderr)
	}
	return string(out)
}
