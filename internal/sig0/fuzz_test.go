package sig0

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The fuzz seeds are stored, not made when the test runs: a fuzzing run
// is several processes, each running FuzzVerify's setup, and keys or
// signatures made in each would not be those of the inputs the others
// hand it. Stored seeds are valid from 1970 to 2106, so that the wall
// clock, which miekg checks, never puts them out of date.
var (
	seedKeysFile = filepath.Join("testdata", "seed-keys.txt") // KEY RRs
	seedsFile    = filepath.Join("testdata", "seeds.txt")     // one hex message a line
	updateSeeds  = flag.Bool("update-seeds", false, "write new keys and signed messages to "+seedsFile)
)

// fuzzAlgs names the seed key of each algorithm.
var fuzzAlgs = map[uint8]string{
	dns.ECDSAP256SHA256: "ecdsa.seed.example.test.",
	dns.ED25519:         "ed25519.seed.example.test.",
	dns.RSASHA256:       "rsa.seed.example.test.",
}

// seedMsgs are the messages signed as seeds: nsupdate's simplest UPDATE,
// and a compressed one with an AAAA record and EDNS, as BIND would send.
func seedMsgs() []*dns.Msg {
	m := update()
	m.Compress = true
	m.Ns = append(m.Ns, &dns.AAAA{
		Hdr:  dns.RR_Header{Name: keyName, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: 60},
		AAAA: net.ParseIP("2001:db8::1"),
	})
	m.SetEdns0(1232, false)
	return []*dns.Msg{update(), m}
}

// TestSeeds checks that every stored seed verifies with its stored key,
// so that FuzzVerify starts from messages Verify accepts. With
// -update-seeds it first makes new keys and seeds.
func TestSeeds(t *testing.T) {
	if *updateSeeds {
		writeSeeds(t)
	}
	t.Parallel()
	ks, seeds := readSeeds(t)
	if len(seeds) != len(fuzzAlgs)*len(seedMsgs()) {
		t.Fatalf("%d seeds in %s, want %d", len(seeds), seedsFile, len(fuzzAlgs)*len(seedMsgs()))
	}
	for _, raw := range seeds {
		ok := false
		for _, key := range ks {
			ok = ok || Verify(raw, decode(t, raw), key, time.Now(), 0) == nil
		}
		if !ok {
			t.Errorf("seed %x verifies with none of the keys of %s", raw, seedKeysFile)
		}
	}
}

func writeSeeds(t *testing.T) {
	var keyText, seedText strings.Builder
	for _, alg := range Algorithms {
		k := generate(t, fuzzAlgs[alg], alg)
		fmt.Fprintln(&keyText, k.key.String())
		for _, m := range seedMsgs() {
			raw, err := Sign(m, k.key, k.priv, time.Unix(0, 0), time.Unix(1<<32-1, 0))
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(&seedText, hex.EncodeToString(raw))
		}
	}
	if err := os.WriteFile(seedKeysFile, []byte(keyText.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(seedsFile, []byte(seedText.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readSeeds(t testing.TB) (ks []*dns.KEY, seeds [][]byte) {
	t.Helper()
	kf, err := os.Open(seedKeysFile)
	if err != nil {
		t.Fatal(err)
	}
	defer kf.Close()
	zp := dns.NewZoneParser(kf, "", seedKeysFile)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		k, isKey := rr.(*dns.KEY)
		if !isKey {
			t.Fatalf("%s: %v is not a KEY", seedKeysFile, rr)
		}
		ks = append(ks, k)
	}
	if err := zp.Err(); err != nil {
		t.Fatal(err)
	}
	sf, err := os.Open(seedsFile)
	if err != nil {
		t.Fatal(err)
	}
	defer sf.Close()
	sc := bufio.NewScanner(sf)
	sc.Buffer(nil, 1<<17)
	for sc.Scan() {
		raw, err := hex.DecodeString(strings.TrimSpace(sc.Text()))
		if err != nil {
			t.Fatalf("%s: %v", seedsFile, err)
		}
		seeds = append(seeds, raw)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return ks, seeds
}

// FuzzVerify feeds Verify any bytes that decode, with the seeds' keys: it
// must not panic, and it may accept only a seed itself. Any other input
// accepted is a forgery, or another encoding of a signed message that the
// checks before the cryptography should have refused: the SIG's owner,
// class and TTL, which it does not sign, and ECDSA signature padding.
//
// One other encoding is beyond a fuzzer's reach, so not looked for: an
// ECDSA signature (r, s) has a twin (r, n-s) that verifies as well, and
// computing it takes the curve order, not a mutation. It changes only the
// signature, never what is signed.
func FuzzVerify(f *testing.F) {
	ks, seeds := readSeeds(f)
	for _, s := range seeds {
		f.Add(s)
	}
	unsigned, err := update().Pack()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(unsigned)
	f.Add(append(bytes.Clone(seeds[0]), 0))

	f.Fuzz(func(t *testing.T, raw []byte) {
		m := new(dns.Msg)
		if err := m.Unpack(raw); err != nil {
			return
		}
		for _, key := range ks {
			if Verify(raw, m, key, time.Now(), 5*time.Minute) != nil {
				continue
			}
			seed := false
			for _, s := range seeds {
				seed = seed || bytes.Equal(raw, s)
			}
			if !seed {
				t.Fatalf("Verify accepted %x, not a seed, with key %v", raw, key)
			}
		}
	})
}
