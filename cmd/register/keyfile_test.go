package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zonecast/zonecast/internal/register"
	"github.com/zonecast/zonecast/internal/testenv"
)

const keyName = "laptop.lan.example.com."

func TestLoadKeyMakesThenKeeps(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	k, err := loadKey(dir, keyName, now)
	if err != nil {
		t.Fatal(err)
	}
	if !k.created || k.key.Flags != register.KeyFlags || k.key.Protocol != 3 || k.key.Algorithm != 13 {
		t.Fatalf("made %v, key %d %d %d", k.created, k.key.Flags, k.key.Protocol, k.key.Algorithm)
	}
	base := filepath.Join(dir, register.KeyBase(k.key))
	if k.file != base+".private" {
		t.Errorf("file %q, want %q", k.file, base+".private")
	}
	for path, mode := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, base + ".private": 0o600, base + ".key": 0o644} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != mode {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode(), mode)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".tmp-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	again, err := loadKey(dir, keyName, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if again.created || again.key.PublicKey != k.key.PublicKey || again.key.KeyTag() != k.key.KeyTag() {
		t.Errorf("the second start has another key (made %v)", again.created)
	}
	// Another name gets a key of its own beside.
	other, err := loadKey(dir, "desk.lan.example.com.", now)
	if err != nil || !other.created {
		t.Fatalf("another name: %v, made %v", err, other.created)
	}
}

func TestLoadKeyRefuses(t *testing.T) {
	t.Parallel()
	now := time.Now()
	t.Run("a private file others may read", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		k, err := loadKey(dir, keyName, now)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(k.file, 0o640); err != nil {
			t.Fatal(err)
		}
		_, err = loadKey(dir, keyName, now)
		if !errors.Is(err, errExposed) || !strings.Contains(err.Error(), k.file) || !strings.Contains(err.Error(), "0640") {
			t.Fatalf("error %v, want errExposed naming the file and its mode", err)
		}
	})
	t.Run("two keys of the name", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		if _, err := newKey(dir, keyName, now); err != nil {
			t.Fatal(err)
		}
		if _, err := newKey(dir, keyName, now); err != nil {
			t.Fatal(err)
		}
		if _, err := loadKey(dir, keyName, now); err == nil || !strings.Contains(err.Error(), "2 keys") {
			t.Fatalf("error %v, want one saying there are 2 keys", err)
		}
	})
	t.Run("the public half missing", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		k, err := loadKey(dir, keyName, now)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(strings.TrimSuffix(k.file, ".private") + ".key"); err != nil {
			t.Fatal(err)
		}
		if _, err := loadKey(dir, keyName, now); err == nil {
			t.Fatal("a .private without its .key loaded")
		}
	})
}

// A key made by dnssec-keygen -T KEY -n HOST, put into the state
// directory, is the one used.
func TestLoadKeyFromDnssecKeygen(t *testing.T) {
	t.Parallel()
	bin := testenv.Tool(t, "dnssec-keygen", "bind9-utils")
	dir := t.TempDir()
	out, err := exec.Command(bin, "-K", dir, "-T", "KEY", "-n", "HOST", "-a", "ED25519", keyName).Output()
	if err != nil {
		t.Fatalf("dnssec-keygen: %v", err)
	}
	k, err := loadKey(dir, keyName, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if k.created || filepath.Base(k.file) != strings.TrimSpace(string(out))+".private" {
		t.Errorf("made %v, file %s; want dnssec-keygen's %s", k.created, k.file, out)
	}
}
