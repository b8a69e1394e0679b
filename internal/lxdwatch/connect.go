// Package lxdwatch follows an LXD server and publishes its instances as
// record messages: a full resync at start and after every reconnect of the
// event stream, a resync of one instance per lifecycle event, a quick poll
// of an instance's state after it starts (addresses appear 1-3 s later and
// LXD emits no event for them), a poll of everything every poll interval,
// and a refresh of every published record before its lease runs out.
package lxdwatch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	lxd "github.com/canonical/lxd/client"
)

// SocketPaths are the local LXD sockets tried in order when none is given:
// Debian's package, then the snap.
var SocketPaths = []string{"/var/lib/lxd/unix.socket", "/var/snap/lxd/common/lxd/unix.socket"}

// ConnectConfig says how to reach LXD: a unix socket (Socket, or detected
// from SocketPaths), or a remote HTTPS URL with a client certificate and key
// and the server's certificate (PEM files).
type ConnectConfig struct {
	Socket         string
	URL            string
	CertFile       string
	KeyFile        string
	ServerCertFile string
	UserAgent      string
}

// ErrNoSocket is returned when no LXD socket is configured or found.
var ErrNoSocket = errors.New("no LXD unix socket found")

// DetectSocket returns the socket LXD's own clients would use: $LXD_SOCKET,
// else $LXD_DIR/unix.socket, else the first of SocketPaths that is a unix
// socket. A socket named by the environment is used even if absent (the
// follower retries), never passed over for another LXD.
func DetectSocket() (string, error) {
	if s := os.Getenv("LXD_SOCKET"); s != "" {
		return s, nil
	}
	if d := os.Getenv("LXD_DIR"); d != "" {
		return filepath.Join(d, "unix.socket"), nil
	}
	for _, p := range SocketPaths {
		if fi, err := os.Stat(p); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w (tried %v; is LXD running? scripts/lxd.sh up)", ErrNoSocket, SocketPaths)
}

// Connect returns a client for LXD. It does not contact the server (the
// follower retries until LXD answers), so a watcher may start before LXD.
// ctx bounds the client's life.
func Connect(ctx context.Context, cfg ConnectConfig) (lxd.InstanceServer, error) {
	ua := cfg.UserAgent
	if ua == "" {
		ua = "zonecast-watcher"
	}
	if cfg.URL != "" {
		if cfg.Socket != "" {
			return nil, errors.New("connecting to lxd: give either a socket or a URL, not both")
		}
		args := &lxd.ConnectionArgs{UserAgent: ua, SkipGetServer: true}
		for _, f := range []struct {
			path, what string
			dst        *string
		}{
			{cfg.CertFile, "client certificate", &args.TLSClientCert},
			{cfg.KeyFile, "client key", &args.TLSClientKey},
			{cfg.ServerCertFile, "server certificate", &args.TLSServerCert},
		} {
			if f.path == "" {
				if f.dst == &args.TLSServerCert {
					continue // the system CAs may vouch for the server
				}
				return nil, fmt.Errorf("connecting to lxd at %s: no %s file", cfg.URL, f.what)
			}
			b, err := os.ReadFile(f.path)
			if err != nil {
				return nil, fmt.Errorf("reading lxd %s: %w", f.what, err)
			}
			*f.dst = string(b)
		}
		c, err := lxd.ConnectLXDWithContext(ctx, cfg.URL, args)
		if err != nil {
			return nil, fmt.Errorf("connecting to lxd at %s: %w", cfg.URL, err)
		}
		return c, nil
	}
	sock := cfg.Socket
	if sock == "" {
		var err error
		if sock, err = DetectSocket(); err != nil {
			return nil, err
		}
	}
	c, err := lxd.ConnectLXDUnixWithContext(ctx, sock, &lxd.ConnectionArgs{UserAgent: ua, SkipGetServer: true})
	if err != nil {
		return nil, fmt.Errorf("connecting to lxd at %s: %w", sock, err)
	}
	return c, nil
}
