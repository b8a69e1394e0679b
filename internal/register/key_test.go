package register

import (
	"crypto"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecast/zonecast/internal/testenv"
)

func TestKeyFilesRoundTrip(t *testing.T) {
	t.Parallel()
	k, priv, err := NewKey(name)
	if err != nil {
		t.Fatal(err)
	}
	if k.Flags != 512 || k.Protocol != 3 || k.Algorithm != dns.ECDSAP256SHA256 {
		t.Errorf("key %d %d %d, want 512 3 13", k.Flags, k.Protocol, k.Algorithm)
	}
	base := KeyBase(k)
	if want := "K" + name + "+013+"; !strings.HasPrefix(base, want) || len(base) != len(want)+5 {
		t.Errorf("base name %q, want %s<5 digits>", base, want)
	}
	created := time.Date(2026, 12, 3, 8, 40, 41, 0, time.UTC)
	pub, secret := PublicText(k), PrivateText(k, priv, created)
	if want := name + " IN KEY 512 3 13 " + k.PublicKey + "\n"; pub != want {
		t.Errorf(".key %q, want %q", pub, want)
	}
	for _, line := range []string{"Private-key-format: v1.3\n", "Algorithm: 13 (ECDSAP256SHA256)\n", "PrivateKey: ", "Created: 20261203084041\n", "Activate: 20261203084041\n"} {
		if !strings.Contains(secret, line) {
			t.Errorf(".private lacks %q", line)
		}
	}
	k2, priv2, err := ParseKey(strings.NewReader(pub), strings.NewReader(secret), base, name)
	if err != nil {
		t.Fatal(err)
	}
	if k2.PublicKey != k.PublicKey || k2.KeyTag() != k.KeyTag() || !priv2.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(priv.Public()) {
		t.Error("the key read back is another")
	}

	// The halves of two keys, a key of another name, not a KEY.
	other, otherPriv, _ := NewKey(name)
	bad := map[string][2]string{
		"mismatched halves":  {pub, PrivateText(other, otherPriv, created)},
		"another name":       {strings.Replace(pub, "laptop.", "desk.", 1), secret},
		"a DNSKEY":           {strings.Replace(pub, " KEY ", " DNSKEY ", 1), secret},
		"protocol 2":         {strings.Replace(pub, " 512 3 ", " 512 2 ", 1), secret},
		"an empty .key":      {"", secret},
		"a .private cut off": {pub, "Private-key-format: v1.3\n"},
	}
	for what, files := range bad {
		if _, _, err := ParseKey(strings.NewReader(files[0]), strings.NewReader(files[1]), base, name); !errors.Is(err, ErrKey) {
			t.Errorf("%s: error %v, want ErrKey", what, err)
		}
	}
}

// A key made by BIND's dnssec-keygen -T KEY -n HOST, as the worked example
// of docs/register.md makes one, reads as one of ours; ours are written as
// it writes its own.
func TestKeyFromDnssecKeygen(t *testing.T) {
	t.Parallel()
	bin := testenv.Tool(t, "dnssec-keygen", "bind9-utils")
	for _, alg := range []string{"ECDSAP256SHA256", "ED25519", "RSASHA256"} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			out, err := exec.Command(bin, "-K", dir, "-T", "KEY", "-n", "HOST", "-a", alg, name).Output()
			if err != nil {
				t.Fatalf("dnssec-keygen: %v", err)
			}
			base := strings.TrimSpace(string(out))
			pub, err := os.ReadFile(filepath.Join(dir, base+".key"))
			if err != nil {
				t.Fatal(err)
			}
			priv, err := os.Open(filepath.Join(dir, base+".private"))
			if err != nil {
				t.Fatal(err)
			}
			defer priv.Close()
			k, _, err := ParseKey(strings.NewReader(string(pub)), priv, base, name)
			if err != nil {
				t.Fatal(err)
			}
			if KeyBase(k) != base {
				t.Errorf("base name %q, dnssec-keygen's %q", KeyBase(k), base)
			}
			if alg == "ECDSAP256SHA256" {
				// dnssec-keygen splits the key in two words; the record is
				// the same.
				got := strings.Fields(PublicText(k))
				want := strings.Fields(string(pub))
				if strings.Join(got, "") != strings.Join(want, "") || k.Flags != KeyFlags {
					t.Errorf(".key %q, dnssec-keygen's %q", got, want)
				}
			}
		})
	}
}
