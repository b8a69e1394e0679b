package instance

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/canonical/lxd/shared/api"

	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/rrset"
)

// ErrName is wrapped when an instance or project name cannot become a DNS
// label: nothing is published for that instance.
var ErrName = errors.New("not a DNS label")

// Mapper turns instances into messages under one checked Config.
type Mapper struct {
	cfg Config
}

// NewMapper checks cfg and returns a Mapper.
func NewMapper(cfg Config) (*Mapper, error) {
	c, err := cfg.Check()
	if err != nil {
		return nil, err
	}
	return &Mapper{cfg: c}, nil
}

// Config returns the checked configuration.
func (m *Mapper) Config() Config { return m.cfg }

// Instance is what the mapper reads of one LXD instance: its project
// (empty means "default"), name, status, config (the expanded config when
// present) and state. State may be nil (not fetched, or stopped).
type Instance struct {
	api.Instance
	State *api.InstanceState
}

// FromFull adapts an api.InstanceFull (GET /1.0/instances?recursion=2).
func FromFull(f api.InstanceFull) Instance {
	return Instance{Instance: f.Instance, State: f.State}
}

// Result is the outcome of mapping one instance.
type Result struct {
	// Messages are the set messages (canonical, sorted by key) to publish.
	Messages []events.Message
	// Warnings describe overrides or addresses that were ignored.
	Warnings []error
}

// Records computes the set messages for one instance. An error means the
// instance cannot be named (nothing to publish); warnings do not stop it.
func (m *Mapper) Records(inst Instance) (Result, error) {
	var res Result
	cfg := m.cfg
	project := inst.Project
	if project == "" {
		project = DefaultProject
	}
	if err := checkHostLabel(inst.Name); err != nil {
		return res, fmt.Errorf("instance %s/%s: %w: %w", project, inst.Name, ErrName, err)
	}
	conf := inst.ExpandedConfig
	if conf == nil {
		conf = inst.Config
	}
	if v, ok := conf[KeyEnabled]; ok {
		on, err := parseBool(v)
		if err != nil {
			res.Warnings = append(res.Warnings, fmt.Errorf("%s=%q: %w", KeyEnabled, v, err))
		} else if !on {
			return res, nil
		}
	}
	if !running(inst) {
		return res, nil
	}
	ttl := cfg.TTL
	if v, ok := conf[KeyTTL]; ok {
		t, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
		switch {
		case err != nil:
			res.Warnings = append(res.Warnings, fmt.Errorf("%s=%q: not a number", KeyTTL, v))
		case t < events.MinTTL || t > events.MaxTTL:
			res.Warnings = append(res.Warnings, fmt.Errorf("%s=%q: outside [%d, %d]", KeyTTL, v, events.MinTTL, events.MaxTTL))
		default:
			ttl = uint32(t)
		}
	}

	rel, err := m.relativeName(project, inst.Name)
	if err != nil {
		return res, err
	}
	names := make([]string, 0, len(cfg.Zones))
	for _, z := range cfg.Zones {
		n, err := rrset.CanonicalName(rel + "." + z)
		if err != nil {
			return res, fmt.Errorf("instance %s/%s in zone %s: %w: %w", project, inst.Name, z, ErrName, err)
		}
		names = append(names, n)
	}
	primary := names[0]
	extra, warns := m.extraNames(conf[KeyNames])
	res.Warnings = append(res.Warnings, warns...)
	for _, n := range extra {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}

	var v4, v6 []string
	for _, a := range m.addresses(inst.State) {
		if a.Is4() {
			v4 = append(v4, a.String())
		} else {
			v6 = append(v6, a.String())
		}
	}
	b := builder{origin: cfg.Origin, ttl: ttl, sets: map[rrset.Key][]string{}}
	for _, n := range names {
		b.add(n, "A", v4...)
		b.add(n, "AAAA", v6...)
		if cfg.ACMEChallengeNS && len(v4)+len(v6) > 0 {
			b.add("_acme-challenge."+n, "NS", n)
		}
	}
	for _, s := range append(append([]string(nil), v4...), v6...) {
		a := netip.MustParseAddr(s)
		ptr := ReverseName(a)
		for _, rz := range cfg.ReverseZones {
			if rrset.InZone(ptr, rz) {
				b.add(ptr, "PTR", primary)
				break
			}
		}
	}
	msgs, warns := b.messages()
	res.Messages = msgs
	res.Warnings = append(res.Warnings, warns...)
	return res, nil
}

// relativeName expands the project template (or the bare instance name for
// the default project), lowercased, without the zone.
func (m *Mapper) relativeName(project, name string) (string, error) {
	name = strings.ToLower(name)
	if project == DefaultProject {
		return name, nil
	}
	if strings.Contains(m.cfg.ProjectTemplate, "{project}") {
		if err := checkHostLabel(project); err != nil {
			return "", fmt.Errorf("project %s: %w: %w", project, ErrName, err)
		}
	}
	r := strings.ReplaceAll(m.cfg.ProjectTemplate, "{instance}", name)
	return strings.ReplaceAll(r, "{project}", strings.ToLower(project)), nil
}

// extraNames parses user.zonecast.names.
func (m *Mapper) extraNames(v string) ([]string, []error) {
	var out []string
	var warns []error
	for _, raw := range strings.Split(v, ",") {
		s := strings.TrimSpace(raw)
		if s == "" {
			continue
		}
		if strings.HasSuffix(s, ".") {
			n, err := rrset.CanonicalName(s)
			if err != nil {
				warns = append(warns, fmt.Errorf("%s: name %q: %w", KeyNames, s, err))
				continue
			}
			if _, ok := rrset.ZoneOf(n, m.cfg.Zones); !ok || strings.HasPrefix(n, "*.") {
				warns = append(warns, fmt.Errorf("%s: name %q is not inside a zone of this watcher", KeyNames, s))
				continue
			}
			out = append(out, n)
			continue
		}
		for _, z := range m.cfg.Zones {
			n, err := rrset.CanonicalName(s + "." + z)
			if err != nil || strings.HasPrefix(n, "*.") {
				warns = append(warns, fmt.Errorf("%s: name %q in zone %s is not valid", KeyNames, s, z))
				continue
			}
			out = append(out, n)
		}
	}
	return out, warns
}

// running reports whether the instance has addresses worth publishing:
// it runs, or is paused or being paused (LXD freezes a running container
// for a second while it copies it: its addresses stay valid).
func running(inst Instance) bool {
	status := inst.Status
	if inst.State != nil && inst.State.Status != "" {
		status = inst.State.Status
	}
	switch status {
	case "Running", "Frozen", "Freezing", "Thawed", "Ready":
		return true
	}
	return false
}

// addresses returns the instance's publishable addresses, sorted.
func (m *Mapper) addresses(st *api.InstanceState) []netip.Addr {
	if st == nil {
		return nil
	}
	var out []netip.Addr
	for nic, n := range st.Network {
		if nic == "lo" || n.Type == "loopback" {
			continue
		}
		if len(m.cfg.NICs) > 0 && !slices.Contains(m.cfg.NICs, nic) {
			continue
		}
		for _, a := range n.Addresses {
			addr, ok := m.keep(a)
			if ok {
				out = append(out, addr)
			}
		}
	}
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return slices.Compact(out)
}

func (m *Mapper) keep(a api.InstanceStateNetworkAddress) (netip.Addr, bool) {
	addr, err := netip.ParseAddr(a.Address)
	if err != nil {
		return netip.Addr{}, false
	}
	addr = addr.WithZone("").Unmap()
	switch {
	case a.Scope == "link" || a.Scope == "local" || a.Scope == "host":
		return netip.Addr{}, false
	case !addr.IsGlobalUnicast():
		// link-local, loopback, multicast, unspecified
		return netip.Addr{}, false
	case addr.Is4() && m.cfg.NoA, addr.Is6() && m.cfg.NoAAAA:
		return netip.Addr{}, false
	}
	for _, p := range m.cfg.Deny {
		if p.Contains(addr) {
			return netip.Addr{}, false
		}
	}
	if len(m.cfg.Allow) == 0 {
		return addr, true
	}
	for _, p := range m.cfg.Allow {
		if p.Contains(addr) {
			return addr, true
		}
	}
	return netip.Addr{}, false
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "1", "yes", "on":
		return true, nil
	case "false", "0", "no", "off":
		return false, nil
	}
	return false, errors.New("not a boolean (true/false)")
}

// builder collects records per key and emits validated messages.
type builder struct {
	origin string
	ttl    uint32
	sets   map[rrset.Key][]string
}

func (b *builder) add(name, typ string, records ...string) {
	if len(records) == 0 {
		return
	}
	k := rrset.Key{Name: name, Type: typ}
	b.sets[k] = append(b.sets[k], records...)
}

func (b *builder) messages() ([]events.Message, []error) {
	keys := make([]rrset.Key, 0, len(b.sets))
	for k := range b.sets {
		keys = append(keys, k)
	}
	rrset.SortKeys(keys)
	var out []events.Message
	var warns []error
	for _, k := range keys {
		recs := b.sets[k]
		if len(recs) > events.MaxRecords {
			warns = append(warns, fmt.Errorf("%s: %d records, only the first %d published", k, len(recs), events.MaxRecords))
			recs = recs[:events.MaxRecords]
		}
		m, err := events.Validate(events.Message{
			Version: events.Version, Name: k.Name, Type: k.Type, Origin: b.origin, TTL: b.ttl, Records: recs,
		})
		if err != nil {
			warns = append(warns, fmt.Errorf("%s: %w", k, err))
			continue
		}
		out = append(out, m)
	}
	return out, warns
}
