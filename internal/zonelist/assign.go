package zonelist

import (
	"maps"
	"slices"
)

// List is the zone list as a reader of the bucket sees it: the entries,
// the zones whose key was deleted, and the keys whose value does not
// decode.
type List struct {
	Zones map[string]Zone // listed, by canonical name
	// Removed are the zones whose key's last operation is a delete (or a
	// purge): taken off the list, to be withdrawn from.
	Removed map[string]bool
	// Bad are the keys whose value does not decode, with why: their zone
	// is neither listed nor removed, so a syncer neither starts nor stops
	// managing it because of them.
	Bad map[string]string
}

// NewList returns an empty list.
func NewList() *List {
	return &List{Zones: map[string]Zone{}, Removed: map[string]bool{}, Bad: map[string]string{}}
}

// Put takes in the value stored under key. A value that does not decode
// makes the key bad (and its zone neither listed nor removed); the error
// says why.
func (l *List) Put(key string, value []byte) error {
	delete(l.Bad, key)
	z, err := Decode(key, value)
	if err != nil {
		if zone, kerr := ZoneOfKey(key); kerr == nil {
			delete(l.Zones, zone)
			delete(l.Removed, zone)
		}
		l.Bad[key] = err.Error()
		return err
	}
	l.Zones[z.Name] = z
	delete(l.Removed, z.Name)
	return nil
}

// Delete takes in a delete (or purge) of key: its zone is removed. A key
// that names no zone is ignored.
func (l *List) Delete(key string) {
	delete(l.Bad, key)
	zone, err := ZoneOfKey(key)
	if err != nil {
		return
	}
	delete(l.Zones, zone)
	l.Removed[zone] = true
}

// Clone returns a copy that shares nothing with l.
func (l *List) Clone() *List {
	c := &List{Zones: maps.Clone(l.Zones), Removed: maps.Clone(l.Removed), Bad: maps.Clone(l.Bad)}
	for k, z := range c.Zones {
		z.NS = slices.Clone(z.NS)
		c.Zones[k] = z
	}
	return c
}

// Sorted returns the listed zones in name order.
func (l *List) Sorted() []Zone {
	out := make([]Zone, 0, len(l.Zones))
	for _, n := range slices.Sorted(maps.Keys(l.Zones)) {
		out = append(out, l.Zones[n])
	}
	return out
}

// Assignment is what one syncer manages: the zones of its flags and of
// the list, and the zones it withdraws from.
type Assignment struct {
	Zones []string // flags and list, in name order
	// Listed are the zones of Zones the list holds, with their settings.
	// A zone both in the flags and the list takes the list's: the list is
	// the same on every node.
	Listed map[string]Zone
	// Retiring are the zones removed from the list that the flags do not
	// name, in name order: the syncer deletes what it wrote there.
	Retiring []string
}

// Assign returns the assignment of a syncer with the canonical zones of
// its flags (--zone and --signed-zone) and the list l (nil: none).
func Assign(flags []string, l *List) Assignment {
	a := Assignment{Listed: map[string]Zone{}}
	zones := slices.Clone(flags)
	if l != nil {
		for name, z := range l.Zones {
			a.Listed[name] = z
			zones = append(zones, name)
		}
		for name := range l.Removed {
			if !slices.Contains(flags, name) {
				a.Retiring = append(a.Retiring, name)
			}
		}
	}
	slices.Sort(zones)
	a.Zones = slices.Compact(zones)
	slices.Sort(a.Retiring)
	return a
}

// Equal reports whether a and b assign the same zones with the same
// settings.
func (a Assignment) Equal(b Assignment) bool {
	return slices.Equal(a.Zones, b.Zones) && slices.Equal(a.Retiring, b.Retiring) &&
		maps.EqualFunc(a.Listed, b.Listed, func(x, y Zone) bool { return x.Equal(y) })
}

// Equal reports whether z and o are the same entry.
func (z Zone) Equal(o Zone) bool {
	return z.V == o.V && z.Name == o.Name && z.SOA == o.SOA && slices.Equal(z.NS, o.NS) && z.TTL == o.TTL &&
		z.Added.Equal(o.Added)
}

// Changes returns the zones b manages that a does not (added), and those
// a manages that b does not (dropped), in name order.
func (a Assignment) Changes(b Assignment) (added, dropped []string) {
	for _, z := range b.Zones {
		if !slices.Contains(a.Zones, z) {
			added = append(added, z)
		}
	}
	for _, z := range a.Zones {
		if !slices.Contains(b.Zones, z) {
			dropped = append(dropped, z)
		}
	}
	return added, dropped
}
