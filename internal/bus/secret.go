package bus

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/zonecast/zonecast/internal/config"
	"io/fs"
	"os"
	"path/filepath"
)

// EnsurePassword returns the password stored in path, creating the file
// first if it does not exist: 32 random bytes, hex encoded, mode 0600, in a
// parent directory created with mode 0700. Two concurrent callers end up
// with the same password.
func EnsurePassword(path string) (string, error) {
	pw, err := config.ReadSecret(path)
	if err == nil {
		return pw, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("creating directory of password file %s: %w", path, err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("generating password for %s: %w", path, err)
	}
	pw = hex.EncodeToString(raw[:])
	// Write to a temporary file and link it into place: the password file
	// appears complete or not at all, and an existing one is never replaced.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".password-*")
	if err != nil {
		return "", fmt.Errorf("creating password file %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", fmt.Errorf("creating password file %s: %w", path, err)
	}
	if _, err := tmp.WriteString(pw + "\n"); err != nil {
		tmp.Close()
		return "", fmt.Errorf("writing password file %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", fmt.Errorf("writing password file %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("writing password file %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return config.ReadSecret(path) // lost a race: use the winner's
		}
		return "", fmt.Errorf("creating password file %s: %w", path, err)
	}
	return pw, nil
}
