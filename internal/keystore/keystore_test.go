package keystore

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zonecast/zonecast/internal/dnssec"
	"github.com/zonecast/zonecast/internal/testenv"
)

const zone = "example.org."

func TestEnsureMakesKeysOnceWithTheirModes(t *testing.T) {
	t.Parallel()
	s := Store{Dir: filepath.Join(t.TempDir(), "keys")}
	keys, created, err := s.Ensure(zone, dnssec.ECDSAP256SHA256, 3600, time.Now())
	if err != nil || !created || len(keys) != 2 || !keys[0].KSK() || keys[1].KSK() {
		t.Fatalf("Ensure = %d keys (created %v), %v; want a KSK then a ZSK", len(keys), created, err)
	}
	again, created, err := s.Ensure(zone, dnssec.ECDSAP256SHA256, 3600, time.Now())
	if err != nil || created || len(again) != 2 || again[0].Tag() != keys[0].Tag() || again[1].Tag() != keys[1].Tag() {
		t.Fatalf("second Ensure = %d keys (created %v), %v; want the same two keys", len(again), created, err)
	}
	info, err := os.Stat(s.Dir)
	if err != nil || info.Mode().Perm() != 0o700 {
		t.Fatalf("key directory mode %v (%v), want 0700", info.Mode().Perm(), err)
	}
	for _, k := range keys {
		base := filepath.Join(s.Dir, k.BaseName())
		if info, err := os.Stat(base + ".private"); err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("%s.private mode %v (%v), want 0600", base, info.Mode().Perm(), err)
		}
	}
	if err := s.Save(keys[0]); err == nil {
		t.Error("Save replaced an existing key file")
	}
	leftovers, _ := filepath.Glob(filepath.Join(s.Dir, ".tmp-*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestExposedPrivateKeyRefused(t *testing.T) {
	t.Parallel()
	s := Store{Dir: t.TempDir()}
	keys, _, err := s.Ensure(zone, dnssec.ED25519, 3600, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	priv := filepath.Join(s.Dir, keys[1].BaseName()+".private")
	if err := os.Chmod(priv, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Keys(zone); !errors.Is(err, ErrExposed) {
		t.Fatalf("Keys with a world-readable private file = %v, want ErrExposed", err)
	}
}

// TestImportsDNSSECKeygenFiles: keys dnssec-keygen wrote into the
// directory are the zone's keys.
func TestImportsDNSSECKeygenFiles(t *testing.T) {
	t.Parallel()
	keygen, err := exec.LookPath("dnssec-keygen")
	if err != nil {
		t.Fatalf("dnssec-keygen not found (scripts/deps.sh dnssec installs bind9-utils): %v", err)
	}
	dir := t.TempDir()
	out, err := exec.Command(keygen, "-K", dir, "-a", "ED25519", "-f", "KSK", zone).Output()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, strings.TrimSpace(string(out))+".private"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := Store{Dir: dir}.Keys(zone)
	if err != nil || len(keys) != 1 || !keys[0].KSK() || keys[0].DNSKEY.Algorithm != dnssec.ED25519 {
		t.Fatalf("Keys = %v, %v; want dnssec-keygen's ED25519 KSK", keys, err)
	}
	if want := strings.TrimSpace(string(out)); keys[0].BaseName() != want {
		t.Errorf("base name %s, dnssec-keygen wrote %s", keys[0].BaseName(), want)
	}
}

// TestKeysBelongToTheDirectoryOwner: a key that root writes into a key
// directory of another user (zonecast-signer rollover by an operator)
// belongs to that user, who can then read it.
func TestKeysBelongToTheDirectoryOwner(t *testing.T) {
	testenv.RequireRoot(t, "writing as root into another user's directory")
	dir := filepath.Join(t.TempDir(), "keys")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	s := Store{Dir: dir}
	keys, _, err := s.Ensure("owned.example.", dnssec.ECDSAP256SHA256, 3600, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	keys[1].Inactive = time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	if err := s.Update(keys[1]); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) != 4 {
		t.Fatalf("files %v, want two keys' .key and .private", files)
	}
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 65534 || st.Gid != 65534 {
			t.Errorf("%s belongs to %d:%d, want the directory's 65534:65534", f, st.Uid, st.Gid)
		}
	}
}
