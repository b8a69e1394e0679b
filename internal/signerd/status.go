package signerd

import (
	"context"
	"time"

	"github.com/zonecast/zonecast/internal/status"
)

// DefaultStatusEvery is how often the signer's status is published: as
// often as the syncers publish theirs.
const DefaultStatusEvery = 5 * time.Second

// statusPutTimeout bounds one put of the status; a newer one follows.
const statusPutTimeout = 2 * time.Second

// statusOf is the signer's status at now: per zone, the serial it
// published last, its earliest signature expiry, its keys and their next
// step (zonecast-syncer status shows them beside the nodes).
func statusOf(st *state, kw *keyWatch, cfg Config, started, now time.Time, ready bool) status.Node {
	n := status.Node{V: status.Version, Node: cfg.Origin, Time: now.UTC(), Version: cfg.Version, Stream: cfg.Stream,
		Started: started.UTC(), Ready: ready, Zones: []status.Zone{}, Signer: &status.Signer{}}
	for _, zone := range st.order {
		sg := st.zones[zone]
		z := status.SignedZone{Zone: zone, Keys: kw.states[zone], NextKeyEvent: kw.next[zone]}
		z.Serial, _ = sg.Serial()
		if at, ok := sg.EarliestExpiry(); ok {
			z.EarliestExpiry = at
		}
		n.Signer.Zones = append(n.Signer.Zones, z)
	}
	return n
}

// putStatus publishes the status, logging (once per failure streak) when
// it cannot.
func putStatus(ctx context.Context, cfg Config, n status.Node, failing *bool) {
	if cfg.Status == nil {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, statusPutTimeout)
	defer cancel()
	err := cfg.Status(pctx, n)
	switch {
	case err != nil && !*failing && ctx.Err() == nil:
		cfg.Log.Warn().Err(err).Msg("publishing the signer's status failed; trying again")
	case err == nil && *failing:
		cfg.Log.Info().Msg("the signer's status is published again")
	}
	*failing = err != nil
}
