package bus

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestStartEmbeddedRefusesOpenListener(t *testing.T) {
	t.Parallel()
	_, err := StartEmbedded(ServerConfig{StoreDir: t.TempDir(), Listen: "127.0.0.1:0", Log: testLog()})
	if err == nil {
		t.Fatal("StartEmbedded with a TCP listener and no password succeeded")
	}
}

// TestAuth connects over TCP with no, a wrong and the right password.
func TestAuth(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t, true)
	wrong := filepath.Join(t.TempDir(), "wrong")
	if err := os.WriteFile(wrong, []byte("not-the-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		cfg     ClientConfig
		wantErr error
	}{
		"no credentials": {cfg: ClientConfig{URL: ts.url()}, wantErr: nats.ErrAuthorization},
		"wrong password": {cfg: ClientConfig{URL: ts.url(), User: testUser, PasswordFile: wrong}, wantErr: nats.ErrAuthorization},
		"wrong user":     {cfg: ClientConfig{URL: ts.url(), User: "other", PasswordFile: ts.pwFile}, wantErr: nats.ErrAuthorization},
		"right password": {cfg: ClientConfig{URL: ts.url(), User: testUser, PasswordFile: ts.pwFile, Name: "auth-test"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			nc, err := Connect(ctxFor(t, 20*time.Second), tc.cfg, testLog())
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Connect error = %v, want %v", err, tc.wantErr)
				}
				if time.Since(start) > 5*time.Second {
					t.Errorf("refused connection took %s: authentication errors must not be retried", time.Since(start))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				t.Fatal(err)
			}
			ensureTestStream(t, js, StreamConfig{})
			seq, err := NewPublisher(js, "", "").Publish(ctxFor(t, 10*time.Second), msg("a.example.com.", "node1", "192.0.2.1"), 0)
			if err != nil || seq == 0 {
				t.Fatalf("Publish = %d, %v", seq, err)
			}
		})
	}
}

func TestConnectBadConfig(t *testing.T) {
	t.Parallel()
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := map[string]ClientConfig{
		"empty password file":   {URL: "nats://127.0.0.1:1", User: "u", PasswordFile: empty},
		"missing password file": {URL: "nats://127.0.0.1:1", User: "u", PasswordFile: empty + ".missing"},
		"password without user": {URL: "nats://127.0.0.1:1", PasswordFile: empty},
		"user without password": {URL: "nats://127.0.0.1:1", User: "u"},
		"empty token file":      {URL: "nats://127.0.0.1:1", TokenFile: empty},
		"cert without key":      {URL: "nats://127.0.0.1:1", TLSCertFile: empty},
	}
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			if nc, err := Connect(ctxFor(t, 5*time.Second), cfg, testLog()); err == nil {
				nc.Close()
				t.Fatal("Connect succeeded")
			}
		})
	}
}

// TestConnectRetriesUntilServerUp starts the server after the client.
func TestConnectRetriesUntilServerUp(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t, true)
	url := ts.url()
	port := ts.srv.Addr().(interface{ String() string }).String()
	ts.stop()
	type result struct {
		nc  *nats.Conn
		err error
	}
	res := make(chan result, 1)
	go func() {
		nc, err := Connect(ctxFor(t, 30*time.Second), ClientConfig{URL: url, User: testUser, PasswordFile: ts.pwFile}, testLog())
		res <- result{nc, err}
	}()
	time.Sleep(500 * time.Millisecond)
	cfg := ts.cfg
	cfg.Listen = port
	srv, err := StartEmbedded(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts.srv = srv
	r := <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	r.nc.Close()
}
