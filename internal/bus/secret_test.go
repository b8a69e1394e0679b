package bus

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestEnsurePassword(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state", "secrets", "nats-password")
	// Concurrent first calls agree on one password.
	var wg sync.WaitGroup
	got := make([]string, 4)
	errs := make([]error, 4)
	for i := range got {
		wg.Go(func() { got[i], errs[i] = EnsurePassword(path) })
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if got[i] != got[0] {
			t.Fatalf("concurrent EnsurePassword returned %q and %q", got[0], got[i])
		}
	}
	pw := got[0]
	if len(pw) != 64 || strings.Trim(pw, "0123456789abcdef") != "" {
		t.Errorf("password %q is not 64 hex digits", pw)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("password file mode %v, want 0600", fi.Mode().Perm())
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Errorf("password dir mode %v, want 0700", di.Mode().Perm())
	}
	again, err := EnsurePassword(path)
	if err != nil || again != pw {
		t.Errorf("second EnsurePassword = %q, %v; want the same password", again, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the password file", len(entries))
	}
}
