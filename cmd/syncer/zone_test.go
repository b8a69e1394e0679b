package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/zonecast/zonecast/internal/testenv"
	"github.com/zonecast/zonecast/internal/zonestore"
)

// The zone commands, each run as the program runs it, against an
// embedded nats-server: what they print, their exit codes, and that bad
// input changes nothing.
func TestZoneCommands(t *testing.T) {
	// Not parallel: it replaces zoneOut.
	ns := testenv.StartCommandNATS(t, "zone-test")
	natsFlags := ns.Flags
	var out bytes.Buffer
	old := zoneOut
	zoneOut = &out
	t.Cleanup(func() { zoneOut = old })
	run := func(t *testing.T, code int, args ...string) (string, string) {
		t.Helper()
		out.Reset()
		p := program()
		var stderr bytes.Buffer
		p.Stderr = &stderr
		if got := p.Main(append(args, natsFlags...)); got != code {
			t.Fatalf("%s: exit code %d, want %d; stderr %q", strings.Join(args, " "), got, code, stderr.String())
		}
		return out.String(), stderr.String()
	}
	// Before any syncer made the bucket.
	if _, stderr := run(t, 1, "zone", "list"); !strings.Contains(stderr, "no zone list bucket") {
		t.Fatalf("zone list without a bucket: %q", stderr)
	}
	js, ctx := ns.JetStream(t)
	st, err := zonestore.Ensure(ctx, js, "", 1)
	if err != nil {
		t.Fatal(err)
	}

	const header = `ZONE\s+NS\s+TTL\s+SOA MNAME RNAME REFRESH RETRY EXPIRE MINIMUM TTL\s+ADDED\n`
	steps := []struct {
		args []string
		code int
		out  string // a regular expression for the whole standard output
	}{
		{[]string{"zone", "add", "C1.Example.com", "--ns", "ns1.example.net", "--ns", "ns2.example.net", "--ttl", "300",
			"--soa-rname", "dns.example.net", "--soa-minimum", "30"}, 0,
			`^` + header + `c1\.example\.com\.\s+ns1\.example\.net\.,ns2\.example\.net\.\s+300\s+- dns\.example\.net\. 10800 3600 604800 30 3600\s+\d{4}-\d\d-\d\dT\S+Z\n$`},
		{[]string{"zone", "add", "c1.example.com."}, 1, `^$`}, // listed already
		{[]string{"zone", "add", "c2.example.com"}, 0, `^` + header + `c2\.example\.com\.\s+\(each syncer's --ns\)\s+3600\s+- - 10800 3600 604800 60 3600\s+\S+\n$`},
		// Bad input: a usage error, and nothing written.
		{[]string{"zone", "add", "*.example.com"}, 2, `^$`},
		{[]string{"zone", "add", "c3.example.com", "--soa-ttl", "0"}, 2, `^$`},
		{[]string{"zone", "add", "c3.example.com", "--soa-refresh", "4294967296"}, 2, `^$`},
		{[]string{"zone", "add", "c3.example.com", "--ns", "a..b"}, 2, `^$`},
		{[]string{"zone", "add", "c3.example.com", "--ns", "x.example", "--ns", "X.example."}, 2, `^$`},
		{[]string{"zone", "add", "c3.example.com", "C3.example.com."}, 2, `^$`},
		{[]string{"zone", "add", "c3.example.com", "*.example.com"}, 2, `^$`},
		{[]string{"zone", "add"}, 2, `^$`},
		{[]string{"zone", "remove", "c3.example.com"}, 1, `^$`}, // not listed
		{[]string{"zone", "remove", "a b"}, 2, `^$`},
		{[]string{"zone", "list"}, 0, `^` + header + `c1\.example\.com\..*\nc2\.example\.com\..*\n$`},
		{[]string{"zone", "list", "--json"}, 0, `^\{"v":1,"zone":"c1\.example\.com\.",.*"ns":\["ns1\.example\.net\.","ns2\.example\.net\."\],"ttl":300,.*\}\n\{"v":1,"zone":"c2\.example\.com\.".*\}\n$`},
		{[]string{"zone", "remove", "C2.example.com."}, 0, `^removed zone c2\.example\.com\. from the zone list zonecast_zones\n$`},
		{[]string{"zone", "list", "--removed"}, 0, `^c2\.example\.com\.\n$`},
		{[]string{"zone", "list", "--removed", "--json"}, 0, `^\{"removed":true,"zone":"c2\.example\.com\."\}\n$`},
		{[]string{"zone", "list"}, 0, `^` + header + `c1\.example\.com\..*\n$`},
		{[]string{"zone", "add", "c2.example.com", "--soa-ttl", "60"}, 0, `^` + header + `c2\.example\.com\.\s+\(each syncer's --ns\)\s+60\s+- - 10800 3600 604800 60 60\s+\S+\n$`},
		{[]string{"zone", "list", "--removed"}, 0, `^$`},
		// Several zones: all or nothing.
		{[]string{"zone", "add", "c3.example.com", "c1.example.com"}, 1, `^$`},
		{[]string{"zone", "remove", "c3.example.com"}, 1, `^$`}, // so c3 was not added
		{[]string{"zone", "add", "c3.example.com", "c4.example.com", "--ttl", "60"}, 0,
			`^` + header + `c3\.example\.com\.\s+\(each syncer's --ns\)\s+60\s.*\nc4\.example\.com\.\s+\(each syncer's --ns\)\s+60\s.*\n$`},
		{[]string{"zone", "remove", "c3.example.com", "c5.example.com"}, 1, `^$`},
		{[]string{"zone", "remove", "c3.example.com", "c3.example.com."}, 2, `^$`},
		{[]string{"zone", "remove"}, 2, `^$`},
		{[]string{"zone", "remove", "c3.example.com", "c4.example.com"}, 0,
			`^removed zone c3\.example\.com\. from the zone list zonecast_zones\nremoved zone c4\.example\.com\. from the zone list zonecast_zones\n$`},
		{[]string{"zone", "add", "c3.example.com"}, 0, `^` + header + `c3\.example\.com\..*\n$`}, // removed, added again
		{[]string{"zone", "remove", "c3.example.com"}, 0, `^removed zone c3\.example\.com\. .*\n$`},
		{[]string{"zone", "list", "--removed"}, 0, `^c3\.example\.com\.\nc4\.example\.com\.\n$`},
	}
	for _, s := range steps {
		got, _ := run(t, s.code, s.args...)
		if !regexp.MustCompile(s.out).MatchString(got) {
			t.Fatalf("%s: output %q, want %s", strings.Join(s.args, " "), got, s.out)
		}
	}
	l, err := st.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Zones) != 2 || len(l.Removed) != 2 || len(l.Bad) != 0 {
		t.Fatalf("the list holds %v, removed %v, bad %v", l.Zones, l.Removed, l.Bad)
	}
}
