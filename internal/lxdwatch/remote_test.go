package lxdwatch

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/canonical/lxd/shared"

	"github.com/zonecast/zonecast/internal/instance"
	"github.com/zonecast/zonecast/internal/testenv"
)

// TestRemoteHTTPS follows the same LXD over HTTPS on the loopback, with a
// client certificate it trusts for the duration of the test.
func TestRemoteHTTPS(t *testing.T) {
	t.Parallel()
	requireLXD(t)
	addr := strings.TrimSpace(lxc(t, "config", "get", "core.https_address"))
	if addr == "" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = l.Addr().String()
		_ = l.Close()
		lxc(t, "config", "set", "core.https_address", addr)
		t.Cleanup(func() { lxc(t, "config", "unset", "core.https_address") })
	}
	if strings.HasPrefix(addr, "[::]") || strings.HasPrefix(addr, ":") {
		addr = "127.0.0.1" + addr[strings.LastIndex(addr, ":"):]
	}

	certPEM, keyPEM, err := shared.GenerateMemCert(true, shared.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	fp, err := shared.CertFingerprintStr(string(certPEM))
	if err != nil {
		t.Fatal(err)
	}
	lxc(t, "config", "trust", "add", certFile, "--name", "zc-remote-test")
	t.Cleanup(func() { lxc(t, "config", "trust", "remove", fp) })

	// The private LXD scripts/lxd.sh starts beside another listens in its
	// own network namespace: reach it through a forwarder on the host's
	// loopback.
	if ns := testenv.LXDNetns(); ns != "" {
		addr = testenv.ForwardFromNetns(t, ns, addr)
	}
	cfg := ConnectConfig{URL: "https://" + addr, CertFile: certFile, KeyFile: keyFile,
		ServerCertFile: filepath.Join(testenv.LXDDir(), "server.crt")}
	srv, err := Connect(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec := startFollower(t, srv, instance.Config{}, Options{PollInterval: 5 * time.Second})
	name := uniqueName(t, "remote")
	launch(t, name)
	took := rec.waitFor(t, 15*time.Second, "records over https", func() bool {
		return has(rec.get(fqdn(name), "AAAA"), isV6) && has(rec.get(fqdn(name), "A"), isV4)
	})
	t.Logf("remote https: records in %v", took)

	// A wrong server certificate is refused.
	bad := cfg
	bad.ServerCertFile = certFile
	c, err := Connect(context.Background(), bad)
	if err == nil {
		_, _, err = c.GetServer()
	}
	if err == nil {
		t.Error("connected with a wrong server certificate")
	}
}
