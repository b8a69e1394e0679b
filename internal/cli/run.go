package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/logging"
)

// ErrUsage marks an error in how a command was called (flags, arguments):
// Run exits 2 on it. Wrap it: fmt.Errorf("%w: --zone: %v", cli.ErrUsage, err).
var ErrUsage = errors.New("usage error")

// Run runs a command's entry point fn with args and a context that is
// cancelled on SIGINT or SIGTERM, and returns the process exit code: 0 on
// success or after --help (flag.ErrHelp), 2 on a usage error (ErrUsage), 1
// on any other error. Errors are printed to standard error after name,
// e.g. "zonecast-syncer publish: usage error: --name and --type are required".
func Run(name string, args []string, fn func(ctx context.Context, args []string) error) int {
	return run(os.Stderr, name, args, fn)
}

// run is Run printing errors on w.
func run(w io.Writer, name string, args []string, fn func(ctx context.Context, args []string) error) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return exitCode(w, name, fn(ctx, args))
}

// exitCode prints err after name on w, unless it is nil or help, and
// returns its exit code.
func exitCode(w io.Writer, name string, err error) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintf(w, "%s: %v\n", name, err)
	if errors.Is(err, ErrUsage) {
		return 2
	}
	return 1
}

// IsVersion reports whether args ask for the version: version, --version
// or -version as the first argument.
func IsVersion(args []string) bool {
	if len(args) == 0 {
		return false
	}
	switch args[0] {
	case "version", "--version", "-version":
		return true
	}
	return false
}

// NewRegistry returns a Prometheus registry with the Go runtime and
// process collectors, the base of every daemon's /metrics.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// ConnectCommand connects a command-line tool (publish, status, export,
// approve) named name: the local syncer's password file by default
// (LocalAuthDefaults), warnings and errors logged to standard error.
func ConnectCommand(ctx context.Context, c *bus.ClientConfig, name string) (*nats.Conn, jetstream.JetStream, zerolog.Logger, error) {
	LocalAuthDefaults(c)
	c.Name = name
	log, _ := logging.New(os.Stderr, "warn", "console")
	nc, js, err := ConnectJetStream(ctx, *c, log)
	return nc, js, log, err
}

// ConnectJetStream connects to NATS with c and opens JetStream on the
// connection; the caller closes the connection.
func ConnectJetStream(ctx context.Context, c bus.ClientConfig, log zerolog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := bus.Connect(ctx, c, log)
	if err != nil {
		return nil, nil, err // says "connecting to nats"
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("opening jetstream: %w", err)
	}
	return nc, js, nil
}
