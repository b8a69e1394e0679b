// Package keystore keeps zonecast-signer's zone keys on disk, in BIND's
// files (K<zone>+<alg>+<tag>.key and .private), so that dnssec-keygen's
// keys can be imported by copying them in. Private files are mode 0600 in
// a directory of mode 0700, and a private file others may read is refused:
// the keys never leave the signer's host, and never its user.
package keystore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/zonecast/zonecast/internal/dnssec"
)

// Store is a key directory.
type Store struct{ Dir string }

// ErrExposed is returned for a private key file that others than its
// owner may read or write.
var ErrExposed = errors.New("private key file readable or writable by others than its owner (want mode 0600)")

// Keys returns the keys of zone in the directory, KSKs first, by tag.
func (s Store) Keys(zone string) ([]dnssec.Key, error) {
	pattern := filepath.Join(s.Dir, "K"+zone+"+*.private")
	files, err := filepath.Glob(pattern)
	if err != nil {
		return nil, fmt.Errorf("listing keys of %s in %s: %w", zone, s.Dir, err)
	}
	var keys []dnssec.Key
	for _, priv := range files {
		base := strings.TrimSuffix(priv, ".private")
		k, err := s.read(base)
		if err != nil {
			return nil, err
		}
		if k.DNSKEY.Hdr.Name != zone {
			return nil, fmt.Errorf("reading %s.key: a key of %s, not %s", base, k.DNSKEY.Hdr.Name, zone)
		}
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b dnssec.Key) int {
		if a.KSK() != b.KSK() {
			if a.KSK() {
				return -1
			}
			return 1
		}
		return int(a.Tag()) - int(b.Tag())
	})
	return keys, nil
}

func (s Store) read(base string) (dnssec.Key, error) {
	info, err := os.Stat(base + ".private")
	if err != nil {
		return dnssec.Key{}, fmt.Errorf("reading %s.private: %w", base, err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return dnssec.Key{}, fmt.Errorf("reading %s.private (mode %04o): %w", base, info.Mode().Perm(), ErrExposed)
	}
	pub, err := os.Open(base + ".key")
	if err != nil {
		return dnssec.Key{}, fmt.Errorf("reading %s.key: %w", base, err)
	}
	defer pub.Close()
	priv, err := os.Open(base + ".private")
	if err != nil {
		return dnssec.Key{}, fmt.Errorf("reading %s.private: %w", base, err)
	}
	defer priv.Close()
	return dnssec.ParseBIND(pub, priv, base)
}

// Save writes k's files into the directory (made with mode 0700 if
// missing): the private one with mode 0600, each written whole or not at
// all. An existing key file is never replaced.
func (s Store) Save(k dnssec.Key) error {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return fmt.Errorf("making key directory %s: %w", s.Dir, err)
	}
	base := filepath.Join(s.Dir, k.BaseName())
	if err := create(base+".private", []byte(k.PrivateText()), 0o600); err != nil {
		return err
	}
	if err := create(base+".key", []byte(k.PublicText()), 0o644); err != nil {
		os.Remove(base + ".private")
		return err
	}
	return nil
}

// Update writes k's timing into its existing .private file, replacing it
// whole (mode 0600) or not at all.
func (s Store) Update(k dnssec.Key) error {
	path := filepath.Join(s.Dir, k.BaseName()+".private")
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("updating %s: %w", path, err)
	}
	tmp, err := write(path, []byte(k.PrivateText()), 0o600)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("updating %s: %w", path, err)
	}
	return nil
}

// create writes data to a new file path with mode, through a temporary
// file and a link, so that the file appears whole or not at all and an
// existing one stays.
func create(path string, data []byte, mode fs.FileMode) error {
	tmp, err := write(path, data, mode)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// write writes data to a new temporary file with mode beside path, synced,
// and returns its name. The file belongs to the directory's owner: a key
// written by root (zonecast-signer rollover, run by an operator) stays
// readable by the signer's own user, whose directory it is.
func write(path string, data []byte, mode fs.FileMode) (string, error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path))
	if err != nil {
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	err = tmp.Chmod(mode)
	if err == nil {
		err = chownLike(tmp, dir)
	}
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	return tmp.Name(), nil
}

// Ensure returns zone's keys, generating a KSK and a ZSK of alg first
// (created at now) when the directory holds none for it; created says
// whether it did.
func (s Store) Ensure(zone string, alg uint8, ttl uint32, now time.Time) (keys []dnssec.Key, created bool, err error) {
	keys, err = s.Keys(zone)
	if err != nil || len(keys) > 0 {
		return keys, false, err
	}
	for _, ksk := range []bool{true, false} {
		k, err := dnssec.Generate(zone, alg, ksk, ttl)
		if err != nil {
			return nil, false, err
		}
		k.Created = now.UTC().Truncate(time.Second)
		if err := s.Save(k); err != nil {
			return nil, false, err
		}
	}
	keys, err = s.Keys(zone)
	return keys, err == nil, err
}

// chownLike gives f the owner and group of dir when they differ (only
// root may, and only root needs to).
func chownLike(f *os.File, dir string) error {
	di, err := os.Stat(dir)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	d, dok := di.Sys().(*syscall.Stat_t)
	o, ook := fi.Sys().(*syscall.Stat_t)
	if !dok || !ook || (d.Uid == o.Uid && d.Gid == o.Gid) {
		return nil
	}
	return f.Chown(int(d.Uid), int(d.Gid))
}
