package testenv

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/bus"
)

// JetStream starts an embedded NATS server of the test's own, named name,
// and returns its JetStream on an in-process connection, with a context
// that ends with the test (or after 20 seconds). Server and connection
// are closed when the test ends.
func JetStream(t testing.TB, name string) (jetstream.JetStream, context.Context) {
	t.Helper()
	srv, err := bus.StartEmbedded(bus.ServerConfig{StoreDir: filepath.Join(t.TempDir(), "js"), Name: name, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	return inProcess(t, srv, "", "")
}

// CommandNATS is an embedded nats-server with password authentication on
// a loopback port, for tests that run a program's commands against it.
type CommandNATS struct {
	// Flags reach the server: --nats-url and --nats-password-file.
	Flags    []string
	srv      *server.Server
	password string
}

// StartCommandNATS starts a CommandNATS named name; it is shut down when
// the test ends.
func StartCommandNATS(t testing.TB, name string) *CommandNATS {
	t.Helper()
	dir, password := t.TempDir(), name+"-password"
	srv, err := bus.StartEmbedded(bus.ServerConfig{StoreDir: filepath.Join(dir, "js"), Listen: "127.0.0.1:0",
		User: "zonecast", Password: password, Name: name, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	pw := filepath.Join(dir, "nats-password")
	if err := os.WriteFile(pw, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return &CommandNATS{Flags: []string{"--nats-url", "nats://" + srv.Addr().String(), "--nats-password-file", pw},
		srv: srv, password: password}
}

// JetStream returns the server's JetStream on an in-process connection,
// with a context that ends with the test (or after 20 seconds).
func (n *CommandNATS) JetStream(t testing.TB) (jetstream.JetStream, context.Context) {
	t.Helper()
	return inProcess(t, n.srv, "zonecast", n.password)
}

// inProcess connects to srv in process, closed when the test ends.
func inProcess(t testing.TB, srv *server.Server, user, password string) (jetstream.JetStream, context.Context) {
	t.Helper()
	nc, err := bus.ConnectInProcess(srv, user, password, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return js, ctx
}
