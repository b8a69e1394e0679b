package config

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestApplyEnv(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	var zones List
	fs.Var(&zones, "zone", "")
	url := fs.String("pdns-url", "default", "")
	key := fs.String("pdns-api-key-file", "", "")
	d := fs.Duration("reconcile-interval", time.Minute, "")
	env := map[string]string{
		"ZONECAST_ZONE":               "a.example, b.example",
		"ZONECAST_PDNS_URL":           "from-env",
		"ZONECAST_PDNS_API_KEY_FILE":  "/k",
		"ZONECAST_RECONCILE_INTERVAL": "5s",
	}
	if err := fs.Parse([]string{"--pdns-url", "from-flag"}); err != nil {
		t.Fatal(err)
	}
	err := ApplyEnv(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if *url != "from-flag" {
		t.Errorf("flag must win over env, got %q", *url)
	}
	if *key != "/k" || *d != 5*time.Second {
		t.Errorf("env not applied: %q %v", *key, *d)
	}
	if !slices.Equal(zones, List{"a.example", "b.example"}) {
		t.Errorf("list from env: %v", zones)
	}
}

func TestApplyEnvBadValue(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.Duration("reconcile-interval", time.Minute, "")
	_ = fs.Parse(nil)
	err := ApplyEnv(fs, func(k string) (string, bool) { return "soon", k == "ZONECAST_RECONCILE_INTERVAL" })
	if err == nil {
		t.Fatal("a bad duration from the environment must be an error")
	}
}

func TestReadSecret(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	empty := filepath.Join(dir, "empty")
	os.WriteFile(good, []byte("  s3cret\n"), 0o600)
	os.WriteFile(empty, []byte(" \n"), 0o600)
	if s, err := ReadSecret(good); err != nil || s != "s3cret" {
		t.Fatalf("ReadSecret = %q, %v", s, err)
	}
	if _, err := ReadSecret(empty); err == nil {
		t.Fatal("empty secret accepted")
	}
	if _, err := ReadSecret(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("missing file accepted")
	}
}
