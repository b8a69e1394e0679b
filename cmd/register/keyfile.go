package main

import (
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecast/zonecast/internal/register"
)

// errExposed is returned for a private key file that others than its
// owner may read or write: whoever reads it is the host, for as long as
// the claim lasts.
var errExposed = errors.New("private key file readable or writable by others than its owner (want mode 0600)")

// hostKey is the key the name is claimed with.
type hostKey struct {
	key     *dns.KEY
	priv    crypto.Signer
	file    string // the .private file
	created bool   // made by this start
}

// loadKey returns name's key from dir, making one (and dir, mode 0700)
// when dir holds none: the same key on every start is what keeps the
// claim. A key made by dnssec-keygen -T KEY -n HOST may be put there
// instead.
func loadKey(dir, name string, now time.Time) (hostKey, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return hostKey{}, fmt.Errorf("making key directory %s: %w", dir, err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "K"+name+"+*.private"))
	if err != nil {
		return hostKey{}, fmt.Errorf("listing keys of %s in %s: %w", name, dir, err)
	}
	switch len(files) {
	case 0:
		return newKey(dir, name, now)
	case 1:
	default:
		return hostKey{}, fmt.Errorf("%d keys of %s in %s (%s): keep the one that holds the claim", len(files), name, dir, strings.Join(files, ", "))
	}
	base := strings.TrimSuffix(files[0], ".private")
	info, err := os.Stat(files[0])
	if err != nil {
		return hostKey{}, fmt.Errorf("reading %s: %w", files[0], err)
	}
	if !info.Mode().IsRegular() {
		return hostKey{}, fmt.Errorf("reading %s: not a regular file", files[0])
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return hostKey{}, fmt.Errorf("reading %s (mode %04o): %w", files[0], perm, errExposed)
	}
	pub, err := os.Open(base + ".key")
	if err != nil {
		return hostKey{}, fmt.Errorf("reading the public half of %s: %w", files[0], err)
	}
	defer pub.Close()
	priv, err := os.Open(files[0])
	if err != nil {
		return hostKey{}, fmt.Errorf("reading %s: %w", files[0], err)
	}
	defer priv.Close()
	k, signer, err := register.ParseKey(pub, priv, base, name)
	if err != nil {
		return hostKey{}, err
	}
	return hostKey{key: k, priv: signer, file: files[0]}, nil
}

// newKey makes a key for name and writes its files into dir.
func newKey(dir, name string, now time.Time) (hostKey, error) {
	k, priv, err := register.NewKey(name)
	if err != nil {
		return hostKey{}, err
	}
	base := filepath.Join(dir, register.KeyBase(k))
	if err := create(base+".private", []byte(register.PrivateText(k, priv, now)), 0o600); err != nil {
		return hostKey{}, err
	}
	if err := create(base+".key", []byte(register.PublicText(k)), 0o644); err != nil {
		os.Remove(base + ".private")
		return hostKey{}, err
	}
	return hostKey{key: k, priv: priv, file: base + ".private", created: true}, nil
}

// create writes data to the new file path with mode through a temporary
// file and a link, so that the file appears whole or not at all, and an
// existing one is never replaced.
func create(path string, data []byte, mode fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(mode)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
