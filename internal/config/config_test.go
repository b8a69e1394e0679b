package config

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
			got, err := ReadSecret(path)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("ReadSecret = %q, want an error", got)
				}
				if !strings.Contains(err.Error(), path) {
					t.Errorf("error %q does not name the path", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ReadSecret = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func ptr(s string) *string { return &s }
