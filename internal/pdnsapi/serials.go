package pdnsapi

import (
	"context"
	"fmt"
)

// ZoneSerials returns the SOA serial of every zone of the server, keyed by
// canonical name, from one listing of the zones: a check of many zones'
// serials costs one request, not one per zone. A zone without an SOA
// shows serial 0.
func (c *Client) ZoneSerials(ctx context.Context) (map[string]uint32, error) {
	zones, err := c.pdns.Zones.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing the zones' serials: %w", convert(err))
	}
	out := make(map[string]uint32, len(zones))
	for _, z := range zones {
		if z.Name == nil {
			continue
		}
		var serial uint32
		if z.Serial != nil {
			serial = *z.Serial
		}
		out[canonicalName(*z.Name)] = serial
	}
	return out, nil
}
