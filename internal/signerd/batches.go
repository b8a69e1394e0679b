package signerd

import (
	"slices"

	"github.com/zonecast/zonecast/internal/dnssec"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/signer"
)

// batches turns a zone's change into the messages to publish as origin,
// in atomic batches of at most max messages. A batch never splits the
// RRsets of one owner name (its data, its RRSIG RRset, its NSEC), so that
// a nameserver never holds a record without its signature. The apex's
// RRsets, the SOA among them, go last: the serial moves once the rest is
// in, and the SOA's signature (in the apex's RRSIG RRset) goes with it.
func batches(ch signer.Change, origin string, max int) [][]events.Message {
	type owner struct {
		name string
		msgs []events.Message
	}
	var owners []owner
	at := map[string]int{}
	apex := ""
	add := func(m events.Message) {
		i, ok := at[m.Name]
		if !ok {
			i = len(owners)
			at[m.Name] = i
			owners = append(owners, owner{name: m.Name})
		}
		owners[i].msgs = append(owners[i].msgs, m)
	}
	for _, u := range ch.Upserts {
		if u.Type == "SOA" {
			apex = u.Name
		}
		add(events.Message{Version: events.Version, Name: u.Name, Type: u.Type, Origin: origin, TTL: u.TTL, Records: u.Records})
	}
	for _, k := range ch.Deletes {
		add(events.Message{Version: events.Version, Name: k.Name, Type: k.Type, Origin: origin})
	}
	// Canonical order, so that the batches of a large change follow the
	// zone; the apex last.
	slices.SortFunc(owners, func(a, b owner) int {
		switch {
		case a.name == b.name:
			return 0
		case a.name == apex:
			return 1
		case b.name == apex:
			return -1
		}
		return dnssec.Compare(a.name, b.name)
	})
	var out [][]events.Message
	var cur []events.Message
	for _, o := range owners {
		if len(cur) > 0 && len(cur)+len(o.msgs) > max {
			out = append(out, cur)
			cur = nil
		}
		// An owner with more RRsets than a batch holds (never in
		// practice: a name has a few dozen types at most) is split.
		for len(o.msgs) > max {
			out = append(out, o.msgs[:max])
			o.msgs = o.msgs[max:]
		}
		cur = append(cur, o.msgs...)
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}
