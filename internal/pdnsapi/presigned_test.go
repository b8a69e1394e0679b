package pdnsapi

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/zonecast/zonecast/internal/testpdns"
)

// TestPresignedSetByPdnsutil: a zone the API created is marked presigned
// by pdnsutil (gsqlite3 with gsqlite3-dnssec), and the API's metadata
// listing then shows it; without gsqlite3-dnssec pdnsutil refuses.
func TestPresignedSetByPdnsutil(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	setup := func(extra string) (*Client, string, string) {
		s := testpdns.StartWith(t, "gsqlite3", extra)
		c, _ := realClient(s)
		const zone = "signed.test."
		if err := c.CreateZone(ctx, ZoneSpec{Name: zone, SOA: soaSet(zone, 1), NS: []string{"ns1." + zone}}); err != nil {
			t.Fatal(err)
		}
		return c, zone, s.Dir
	}
	c, zone, dir := setup("gsqlite3-dnssec=yes")
	meta, err := c.AllMetadata(ctx, zone)
	if err != nil {
		t.Fatal(err)
	}
	if Presigned(meta) {
		t.Fatal("a new zone reads as presigned")
	}
	if out, err := exec.Command("pdnsutil", "--config-dir="+dir, "set-presigned", zone).CombinedOutput(); err != nil {
		t.Fatalf("pdnsutil set-presigned: %v\n%s", err, out)
	}
	if meta, err = c.AllMetadata(ctx, zone); err != nil {
		t.Fatal(err)
	}
	if !Presigned(meta) {
		t.Fatalf("after pdnsutil set-presigned the metadata is %v", meta)
	}

	_, zone, dir = setup("")
	out, err := exec.Command("pdnsutil", "--config-dir="+dir, "set-presigned", zone).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "DNSSEC") {
		t.Fatalf("pdnsutil set-presigned without gsqlite3-dnssec: %v\n%s; want a refusal naming DNSSEC", err, out)
	}
}
