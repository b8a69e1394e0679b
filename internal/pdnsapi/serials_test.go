package pdnsapi

import (
	"context"
	"testing"

	"github.com/zonecast/zonecast/internal/rrset"
	"github.com/zonecast/zonecast/internal/testpdns"
)

// TestZoneSerials: the zone listing's serials are the SOA serials written
// through the API, on each backend, at once after the PATCH.
func TestZoneSerials(t *testing.T) {
	t.Parallel()
	for _, backend := range testpdns.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			s := testpdns.Start(t, backend)
			ctx := context.Background()
			c, _ := realClient(s)
			createZone(t, ctx, c, "a.test.")
			createZone(t, ctx, c, "b.test.")
			for serial := uint32(2); serial < 40; serial += 7 {
				soa := soaSet("a.test.", serial)
				if err := c.Patch(ctx, "a.test.", []Change{{Set: soa}}); err != nil {
					t.Fatal(err)
				}
				got, err := c.ZoneSerials(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != 2 || got["a.test."] != serial || got["b.test."] != 1 {
					t.Fatalf("ZoneSerials = %v, want a.test. %d and b.test. 1", got, serial)
				}
			}
			if err := c.Patch(ctx, "b.test.", []Change{{Set: rrset.Set{Key: rrset.Key{Name: "b.test.", Type: "SOA"}}}}); err != nil {
				t.Fatal(err)
			}
			got, err := c.ZoneSerials(ctx)
			if err != nil || got["b.test."] != 0 {
				t.Fatalf("ZoneSerials of a zone without SOA = %v, %v; want serial 0", got, err)
			}
		})
	}
}
