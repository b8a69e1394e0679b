package lxdwatch

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestDetectSocket(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "unix.socket")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	plain := filepath.Join(dir, "not-a-socket")
	if err := os.WriteFile(plain, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		socket, dir string
		paths       []string
		want        string
		err         error
	}{
		"LXD_SOCKET first":          {socket: "/s/given", dir: "/d", paths: []string{sock}, want: "/s/given"},
		"then LXD_DIR":              {dir: "/d", paths: []string{sock}, want: "/d/unix.socket"},
		"then the first socket":     {paths: []string{filepath.Join(dir, "absent"), plain, sock}, want: sock},
		"none: ErrNoSocket":         {paths: []string{filepath.Join(dir, "absent")}, err: ErrNoSocket},
		"a file is not a socket":    {paths: []string{plain}, err: ErrNoSocket},
		"LXD_DIR even when missing": {dir: filepath.Join(dir, "nothing"), paths: []string{sock}, want: filepath.Join(dir, "nothing", "unix.socket")},
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("LXD_SOCKET", c.socket)
			t.Setenv("LXD_DIR", c.dir)
			old := SocketPaths
			SocketPaths = c.paths
			t.Cleanup(func() { SocketPaths = old })
			got, err := DetectSocket()
			if !errors.Is(err, c.err) || got != c.want {
				t.Fatalf("DetectSocket() = %q, %v; want %q, %v", got, err, c.want, c.err)
			}
		})
	}
}
