package syncer

import (
	"context"
	"maps"
	"slices"
	"sync"

	"github.com/zonecast/zonecast/internal/pdnsapi"
	"github.com/zonecast/zonecast/internal/rrset"
)

// DryRun is a PDNS that reads a real PowerDNS and writes nothing: it keeps
// what it read, applies the writes to that copy only, and records each as
// a Planned change (`zonecast-syncer plan`, --dry-run). Ownership
// metadata, rectify and cache flushes are not written either.
type DryRun struct {
	PDNS     PDNS
	OnChange func(Planned) // called for each change as it is planned (may be nil)
	// Keep keeps every change for Planned (a plan); a dry-running daemon
	// only logs them.
	Keep bool

	mu      sync.Mutex
	zones   map[string]map[rrset.Key]rrset.Set
	deleted map[string]bool // zones the dry run deleted
	planned []Planned
}

// Planned is one write a dry run did not make.
type Planned struct {
	Zone string    `json:"zone"`
	Op   string    `json:"op"` // create-zone, create, change, delete, delete-zone
	Set  rrset.Set `json:"rrset"`
	Was  rrset.Set `json:"was,omitzero"` // for change and delete: what PowerDNS serves
}

// Planned returns the changes planned so far, in order.
func (d *DryRun) Planned() []Planned {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Planned(nil), d.planned...)
}

func (d *DryRun) record(p Planned) {
	if d.Keep {
		d.planned = append(d.planned, p)
	}
	if d.OnChange != nil {
		d.OnChange(p)
	}
}

// ZoneNames lists the zones as the dry run sees them: PowerDNS's, less
// those it deleted, with those it created.
func (d *DryRun) ZoneNames(ctx context.Context) ([]string, error) {
	names, err := d.PDNS.ZoneNames(ctx)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	seen := map[string]bool{}
	for _, n := range names {
		seen[n] = true
	}
	for n := range d.zones {
		seen[n] = true
	}
	for n := range d.deleted {
		delete(seen, n)
	}
	return slices.Sorted(maps.Keys(seen)), nil
}

// EachRRset passes on the RRsets Zone returns.
func (d *DryRun) EachRRset(ctx context.Context, zone string, fn func(rrset.Set)) (bool, error) {
	sets, found, err := d.Zone(ctx, zone)
	if err != nil || !found {
		return found, err
	}
	for _, s := range sets {
		fn(s)
	}
	return true, nil
}

// Zone returns the zone as read, with the changes planned so far.
func (d *DryRun) Zone(ctx context.Context, zone string) ([]rrset.Set, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.deleted[zone] {
		return nil, false, nil
	}
	view, ok := d.zones[zone]
	if !ok {
		sets, found, err := d.PDNS.Zone(ctx, zone)
		if err != nil || !found {
			return sets, found, err
		}
		view = rrset.Keyed(sets)
		if d.zones == nil {
			d.zones = map[string]map[rrset.Key]rrset.Set{}
		}
		d.zones[zone] = view
	}
	out := make([]rrset.Set, 0, len(view))
	for _, s := range view {
		out = append(out, s)
	}
	return out, true, nil
}

// RRset reads one RRset from the copy, or from PowerDNS before the zone is
// read.
func (d *DryRun) RRset(ctx context.Context, zone string, key rrset.Key) (rrset.Set, bool, error) {
	d.mu.Lock()
	view, ok := d.zones[zone]
	if ok {
		s, found := view[key]
		d.mu.Unlock()
		return s, found, nil
	}
	d.mu.Unlock()
	return d.PDNS.RRset(ctx, zone, key)
}

// CreateZone records the zone's creation, with its SOA and NS, in the copy.
func (d *DryRun) CreateZone(_ context.Context, spec pdnsapi.ZoneSpec) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.zones == nil {
		d.zones = map[string]map[rrset.Key]rrset.Set{}
	}
	d.zones[spec.Name] = rrset.Keyed(spec.Sets())
	delete(d.deleted, spec.Name)
	d.record(Planned{Zone: spec.Name, Op: "create-zone", Set: spec.SOA})
	return nil
}

// DeleteZone records the zone's deletion: the copy no longer has it.
func (d *DryRun) DeleteZone(_ context.Context, zone string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.deleted == nil {
		d.deleted = map[string]bool{}
	}
	d.deleted[zone] = true
	delete(d.zones, zone)
	d.record(Planned{Zone: zone, Op: "delete-zone", Set: rrset.Set{Key: rrset.Key{Name: zone, Type: "SOA"}}})
	return nil
}

// Apply records the changes and applies them to the copy.
func (d *DryRun) Apply(_ context.Context, zone string, changes, always []pdnsapi.Change) ([]pdnsapi.Rejection, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	view := d.zones[zone]
	if view == nil {
		view = map[rrset.Key]rrset.Set{}
		if d.zones == nil {
			d.zones = map[string]map[rrset.Key]rrset.Set{}
		}
		d.zones[zone] = view
	}
	for _, c := range append(append([]pdnsapi.Change(nil), changes...), always...) {
		was, had := view[c.Set.Key]
		switch {
		case c.Delete:
			if had {
				delete(view, c.Set.Key)
				d.record(Planned{Zone: zone, Op: "delete", Set: rrset.Set{Key: c.Set.Key}, Was: was})
			}
		case had:
			view[c.Set.Key] = c.Set
			d.record(Planned{Zone: zone, Op: "change", Set: c.Set, Was: was})
		default:
			view[c.Set.Key] = c.Set
			d.record(Planned{Zone: zone, Op: "create", Set: c.Set})
		}
	}
	return nil, nil
}

// AllMetadata reads the zone's metadata (none for a zone the dry run
// created).
func (d *DryRun) AllMetadata(ctx context.Context, zone string) (map[string][]string, error) {
	meta, err := d.PDNS.AllMetadata(ctx, zone)
	if err != nil {
		d.mu.Lock()
		_, ours := d.zones[zone]
		d.mu.Unlock()
		if ours {
			return map[string][]string{}, nil
		}
	}
	return meta, err
}

// SetMetadata writes nothing.
func (d *DryRun) SetMetadata(context.Context, string, string, []string) error { return nil }

// Rectify does nothing.
func (d *DryRun) Rectify(context.Context, string) error { return nil }

// FlushCache does nothing.
func (d *DryRun) FlushCache(context.Context, string) error { return nil }
