package cli

import (
	"context"
	"io"
	"os"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/health"
)

// Daemon is what the main of every zonecast daemon does around its run:
// the logger its flags describe, a line when it starts and one when it
// stops.
type Daemon struct {
	Name    string // the program, e.g. zonecast-gateway: its start and stop lines name it
	Version string
	Node    string   // this node's id, the node field of every line logged
	Log     LogFlags // --log-level and --log-format
	// Start, when set, adds the fields of the start line (what the
	// daemon serves) to e.
	Start func(e *zerolog.Event) *zerolog.Event
	// Stderr is where the logger writes; nil means os.Stderr.
	Stderr io.Writer
}

// Run builds the logger, logs "starting <Name>" with the version, runs
// run with the logger, and logs "<Name> stopped", or "<Name> stopped on
// error" with run's error, which it returns. A bad log level or format
// is a usage error, returned before anything is logged.
func (d Daemon) Run(ctx context.Context, run func(ctx context.Context, log zerolog.Logger) error) error {
	log, err := d.Log.Logger(or(d.Stderr, os.Stderr))
	if err != nil {
		return err
	}
	log = log.With().Str("node", d.Node).Logger()
	e := log.Info().Str("version", d.Version)
	if d.Start != nil {
		e = d.Start(e)
	}
	e.Msg("starting " + d.Name)
	if err := run(ctx, log); err != nil {
		log.Error().Err(err).Msg(d.Name + " stopped on error")
		return err
	}
	log.Info().Msg(d.Name + " stopped")
	return nil
}

// ConnectStream connects a daemon to NATS with c and waits for its
// record stream, which only the syncers create; meanwhile ready says
// which of the two it waits for. The caller closes the connection.
func ConnectStream(ctx context.Context, c bus.ClientConfig, stream string, ready *health.Ready, log zerolog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	ready.NotReady("connecting to nats")
	nc, js, err := ConnectJetStream(ctx, c, log)
	if err != nil {
		return nil, nil, err
	}
	ready.NotReady("waiting for stream " + stream)
	if err := bus.WaitStream(ctx, js, stream, log); err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}
