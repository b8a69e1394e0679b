package claimlog

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zonecast/zonecast/internal/rrset"
)

func keys(n int, zone string) []rrset.Key {
	var out []rrset.Key
	for i := 0; i < n; i++ {
		out = append(out, rrset.Key{Name: fmt.Sprintf("h%d.%s", i, zone), Type: "AAAA"})
	}
	return out
}

func TestAppendLoadClear(t *testing.T) {
	path := filepath.Join(t.TempDir(), "claims.log")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Append("a.test.", keys(3, "a.test."), true); err != nil {
		t.Fatal(err)
	}
	if err := l.Append("b.test.", keys(20000, "b.test."), true); err != nil { // a packed value
		t.Fatal(err)
	}
	if err := l.Append("a.test.", []rrset.Key{{Name: "a.test.", Type: "TXT"}}, true); err != nil {
		t.Fatal(err)
	}
	// Reopened, as after a restart.
	l2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	got, bad, err := l2.Load()
	if err != nil || bad != 0 {
		t.Fatalf("Load: %v, %d bad lines", err, bad)
	}
	if len(got["a.test."]) != 4 || len(got["b.test."]) != 20000 || !got["a.test."].Has(rrset.Key{Name: "a.test.", Type: "TXT"}) {
		t.Fatalf("loaded %d and %d claims", len(got["a.test."]), len(got["b.test."]))
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	// A release after the claim wins; a claim after it wins again.
	rel := keys(2, "b.test.")
	if err := l2.Append("b.test.", rel, false); err != nil {
		t.Fatal(err)
	}
	if err := l2.Append("b.test.", rel[:1], true); err != nil {
		t.Fatal(err)
	}
	got, _, _ = l2.Load()
	if len(got["b.test."]) != 19999 || !got["b.test."].Has(rel[0]) || got["b.test."].Has(rel[1]) {
		t.Fatalf("after release and re-claim: %d claims", len(got["b.test."]))
	}
	if err := l2.Clear(); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := l2.Load(); len(got) != 0 {
		t.Fatalf("after Clear: %v", got)
	}
	if err := l2.Append("c.test.", keys(1, "c.test."), true); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := l2.Load(); len(got["c.test."]) != 1 || len(got) != 1 {
		t.Fatalf("append after Clear: %v", got)
	}
}

// TestTornLineClaimsNothing: a line cut anywhere (a crash in the middle of
// Append) claims nothing, not even a prefix of its entries, and the
// complete lines before it still count.
func TestTornLineClaimsNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "claims.log")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Append("z.test.", keys(1, "z.test."), true); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(path)
	if err := l.Append("z.test.", []rrset.Key{{Name: "a.z.test.", Type: "A"}, {Name: "b.z.test.", Type: "AAAA"}}, true); err != nil {
		t.Fatal(err)
	}
	all, _ := os.ReadFile(path)
	// The last cut leaves the whole line, less its newline: complete, valid.
	for cut := len(first); cut < len(all)-1; cut++ {
		got, bad, err := Parse(strings.NewReader(string(all[:cut])))
		if err != nil {
			t.Fatal(err)
		}
		if len(got["z.test."]) != 1 || !got["z.test."].Has(keys(1, "z.test.")[0]) {
			t.Fatalf("cut at %d (%q): claims %v", cut, all[len(first):cut], got)
		}
		if cut > len(first) && bad != 1 {
			t.Fatalf("cut at %d: %d bad lines, want 1", cut, bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("z.test. +h1/AAAA 00000000\n")
	f.Add("z.test. +h1/AAAA +@/TXT 1b2c3d4e\nz.test. z:H4sI 00000000")
	f.Fuzz(func(t *testing.T, s string) {
		got, _, err := Parse(strings.NewReader(s))
		if err != nil {
			return // a line longer than the scanner takes
		}
		for zone, set := range got {
			for k := range set {
				if !rrset.InZone(k.Name, zone) {
					t.Fatalf("claim %v outside its zone %s", k, zone)
				}
			}
		}
	})
}
