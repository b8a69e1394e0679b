package instance

import (
	"slices"

	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/rrset"
)

// Index merges messages (of one origin, from several instances) by key:
// two instances mapped to the same name share one RRset with the union of
// their records and the lowest TTL. The messages must be canonical (as
// Records returns them).
func Index(msgs []events.Message) map[rrset.Key]events.Message {
	out := make(map[rrset.Key]events.Message, len(msgs))
	for _, m := range msgs {
		if m.Tombstone() {
			continue
		}
		k := m.Key()
		prev, ok := out[k]
		if !ok {
			m.Records = slices.Clone(m.Records)
			out[k] = m
			continue
		}
		merged := rrset.Merge(k, []rrset.Contribution{
			{TTL: prev.TTL, Records: prev.Records},
			{TTL: m.TTL, Records: m.Records},
		})
		if len(merged.Records) > events.MaxRecords {
			merged.Records = merged.Records[:events.MaxRecords]
		}
		prev.TTL, prev.Records = merged.TTL, merged.Records
		out[k] = prev
	}
	return out
}

// Changes is what an origin must publish to go from what it last published
// to what it desires now.
type Changes struct {
	// Publish holds new or changed set messages, sorted by key.
	Publish []events.Message
	// Tombstones withdraw keys no longer desired, sorted by key.
	Tombstones []events.Message
}

// HasChanges reports whether anything must be published.
func (c Changes) HasChanges() bool { return len(c.Publish)+len(c.Tombstones) > 0 }

// Diff compares what origin last published with the full desired set (of
// all its instances, as Index returns it). A desired message equal to the
// published one (same TTL and records) is not republished.
func Diff(origin string, published, desired map[rrset.Key]events.Message) Changes {
	var c Changes
	for k, d := range desired {
		p, ok := published[k]
		if ok && p.TTL == d.TTL && slices.Equal(p.Records, d.Records) && p.Origin == d.Origin {
			continue
		}
		c.Publish = append(c.Publish, d)
	}
	for k := range published {
		if _, ok := desired[k]; ok {
			continue
		}
		c.Tombstones = append(c.Tombstones, Tombstone(origin, k))
	}
	byKey := func(a, b events.Message) int {
		if a.Key() == b.Key() {
			return 0
		}
		if a.Key().Less(b.Key()) {
			return -1
		}
		return 1
	}
	slices.SortFunc(c.Publish, byKey)
	slices.SortFunc(c.Tombstones, byKey)
	return c
}

// Tombstone returns the message withdrawing origin's contribution to k.
func Tombstone(origin string, k rrset.Key) events.Message {
	return events.Message{Version: events.Version, Name: k.Name, Type: k.Type, Origin: origin}
}
