package bus

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestReadSecretFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := map[string]struct {
		content *string // nil: no file
		want    string
		wantErr bool
	}{
		"trimmed":        {content: ptr("  s3cret\n\n"), want: "s3cret"},
		"inner space":    {content: ptr("a b\n"), want: "a b"},
		"empty":          {content: ptr(""), wantErr: true},
		"whitespace":     {content: ptr(" \n\t\n"), wantErr: true},
		"missing file":   {wantErr: true},
		"single newline": {content: ptr("\n"), wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
			if tc.content != nil {
				if err := os.WriteFile(path, []byte(*tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got, err := ReadSecretFile(path)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("ReadSecretFile = %q, want an error", got)
				}
				if !strings.Contains(err.Error(), path) {
					t.Errorf("error %q does not name the path", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ReadSecretFile = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func ptr(s string) *string { return &s }

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
