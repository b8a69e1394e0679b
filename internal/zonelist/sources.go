package zonelist

import "slices"

// Record sources (zonecast-gateway, zonecast-watcher) follow the list too:
// they write only into zones that are both theirs (their --zone flags,
// which their NATS role allows) and listed, so that an update into a zone
// no nameserver serves is refused at the source instead of acknowledged
// and dropped by every syncer.

// InUse reports whether l is a list record sources obey: it holds at
// least one key, a listed zone, a removed zone's delete marker or an
// entry that does not read. A missing bucket (l nil) or an empty one is
// no list: a single node run with --zone flags alone writes into its
// flags' zones. A delete marker keeps the list in use, so that removing
// its last zone does not open every --zone again.
func (l *List) InUse() bool {
	return l != nil && len(l.Zones)+len(l.Removed)+len(l.Bad) > 0
}

// Writable splits own, the canonical zones a record source may write into
// by its flags, into those it may write into under l and those it may not
// (unlisted), each in name order. With no list in use every zone of own
// is writable; with one, only those l lists: a zone removed from it, one
// never added and one whose entry does not read are refused alike.
func Writable(own []string, l *List) (writable, unlisted []string) {
	for _, z := range own {
		if !l.InUse() {
			writable = append(writable, z)
			continue
		}
		if _, ok := l.Zones[z]; ok {
			writable = append(writable, z)
		} else {
			unlisted = append(unlisted, z)
		}
	}
	slices.Sort(writable)
	slices.Sort(unlisted)
	return slices.Compact(writable), slices.Compact(unlisted)
}
