package testenv

import (
	"context"
	"path/filepath"
	"testing"
	"time"

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
	nc, err := bus.ConnectInProcess(srv, "", "", zerolog.Nop())
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
