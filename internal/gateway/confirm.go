package gateway

import (
	"context"

	"github.com/zonecast/zonecast/internal/confirm"
)

// Confirmer waits until the syncers applied stored messages, as
// --confirm all|any asks (confirm.Confirmer). nil: answer once stored.
type Confirmer interface {
	Confirm(ctx context.Context, targets []confirm.Target) error
}

// confirmStored waits for the confirmation of sent messages, stored at
// seqs. An error means they are stored but not confirmed in time.
func (g *Gateway) confirmStored(ctx context.Context, sent []inflight, seqs []uint64) error {
	if g.cfg.Confirmer == nil {
		return nil
	}
	targets := make([]confirm.Target, len(sent))
	for i, s := range sent {
		targets[i] = confirm.Target{Name: s.sub.key.Name, Seq: seqs[i]}
	}
	return g.cfg.Confirmer.Confirm(ctx, targets)
}
