package bus

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/rrset"
)

// OriginKeys returns the RRsets for which the stream holds a message of
// origin in one of zones: what that origin published before (sets, and
// tombstones or expiry markers not yet gone), sorted. It asks for the
// subjects only (stream info with a subject filter, which the source role
// may do), not the messages. A subject that does not parse is skipped.
func OriginKeys(ctx context.Context, js jetstream.JetStream, stream, prefix, origin string, zones []string) ([]rrset.Key, error) {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("looking up stream %s: %w", stream, err)
	}
	seen := map[rrset.Key]bool{}
	for _, z := range zones {
		filter := events.OriginFilter(prefix, origin, z)
		info, err := st.Info(ctx, jetstream.WithSubjectFilter(filter))
		if err != nil {
			return nil, fmt.Errorf("listing the subjects of %s in stream %s: %w", filter, stream, err)
		}
		for subj := range info.State.Subjects {
			k, o, err := events.ParseSubject(prefix, subj)
			if err != nil || o != origin {
				continue
			}
			seen[k] = true
		}
	}
	keys := make([]rrset.Key, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	rrset.SortKeys(keys)
	return keys, nil
}
