// Package zonelist is the fleet's zone list as data: the zones every
// syncer manages besides its --zone flags, each with the SOA and NS it is
// created with; which zones a node manages, and which it withdraws from.
// Pure: the model, its validation and encoding. The key-value bucket that
// holds it is internal/zonestore.
package zonelist

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/rrset"
)

// Version is the format version of an encoded Zone.
const Version = 1

// MaxNS bounds a zone's NS list: more would not fit a UDP referral anyway.
const MaxNS = 13

// maxTimer is the largest SOA timer: RFC 2181 section 8 keeps them below
// 2^31.
const maxTimer = 1<<31 - 1

// ErrInvalid matches every validation error.
var ErrInvalid = errors.New("invalid zone list entry")

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Zone is one entry of the list.
type Zone struct {
	V    int    `json:"v"`
	Name string `json:"zone"` // canonical, with the final dot
	SOA  SOA    `json:"soa"`
	// NS are the apex NS records the zone is created with; empty: each
	// syncer's own --ns (or the SOA's primary name server).
	NS []string `json:"ns,omitempty"`
	// TTL is the zone's default TTL: that of the apex NS RRset, the one
	// RRset besides the SOA that the syncers write themselves (records
	// from the stream carry their own). 0: the SOA's TTL.
	TTL   uint32    `json:"ttl,omitempty"`
	Added time.Time `json:"added,omitzero"`
}

// SOA is the template of a zone's SOA record; the serial is the stream's.
// Empty MName and RName default, on each syncer, to the first NS (else
// ns1.<zone>) and hostmaster.<zone>.
type SOA struct {
	MName   string `json:"mname,omitempty"`
	RName   string `json:"rname,omitempty"`
	Refresh uint32 `json:"refresh"`
	Retry   uint32 `json:"retry"`
	Expire  uint32 `json:"expire"`
	Minimum uint32 `json:"minimum"` // negative caching TTL
	TTL     uint32 `json:"ttl"`     // of the SOA RRset
}

// DefaultSOA is the SOA template of an entry that sets none: the syncer's
// own flag defaults.
var DefaultSOA = SOA{Refresh: 10800, Retry: 3600, Expire: 604800, Minimum: 60, TTL: 3600}

// Validate checks z and returns it canonical: lowercase names with their
// final dot, NS in order without duplicates, the current Version.
func (z Zone) Validate() (Zone, error) {
	if z.V != 0 && z.V != Version {
		return Zone{}, invalidf("format version %d, want %d", z.V, Version)
	}
	z.V = Version
	name, err := canonicalZone(z.Name)
	if err != nil {
		return Zone{}, err
	}
	z.Name = name
	if len(z.NS) > MaxNS {
		return Zone{}, invalidf("zone %s: %d NS, at most %d", name, len(z.NS), MaxNS)
	}
	ns := make([]string, 0, len(z.NS))
	for _, n := range z.NS {
		cn, err := rrset.CanonicalName(n)
		if err != nil || strings.HasPrefix(cn, "*.") {
			return Zone{}, invalidf("zone %s: NS %q is not a host name", name, n)
		}
		if slices.Contains(ns, cn) {
			return Zone{}, invalidf("zone %s: NS %s listed twice", name, cn)
		}
		ns = append(ns, cn)
	}
	z.NS = nil
	if len(ns) > 0 {
		z.NS = ns
	}
	for _, p := range []struct {
		what string
		v    *string
	}{{"mname", &z.SOA.MName}, {"rname", &z.SOA.RName}} {
		if *p.v == "" {
			continue
		}
		cn, err := rrset.CanonicalName(*p.v)
		if err != nil || strings.HasPrefix(cn, "*.") {
			return Zone{}, invalidf("zone %s: SOA %s %q is not a domain name", name, p.what, *p.v)
		}
		*p.v = cn
	}
	for _, t := range []struct {
		what string
		v    uint32
	}{{"refresh", z.SOA.Refresh}, {"retry", z.SOA.Retry}, {"expire", z.SOA.Expire}} {
		if t.v == 0 || t.v > maxTimer {
			return Zone{}, invalidf("zone %s: SOA %s %d outside [1, %d]", name, t.what, t.v, maxTimer)
		}
	}
	if z.SOA.Minimum > events.MaxTTL {
		return Zone{}, invalidf("zone %s: SOA minimum %d above %d", name, z.SOA.Minimum, events.MaxTTL)
	}
	if z.SOA.TTL < events.MinTTL || z.SOA.TTL > events.MaxTTL {
		return Zone{}, invalidf("zone %s: SOA ttl %d outside [%d, %d]", name, z.SOA.TTL, events.MinTTL, events.MaxTTL)
	}
	if z.TTL > events.MaxTTL {
		return Zone{}, invalidf("zone %s: ttl %d above %d", name, z.TTL, events.MaxTTL)
	}
	if !z.Added.IsZero() {
		z.Added = z.Added.UTC()
	}
	return z, nil
}

// NSTTL returns the TTL of the zone's apex NS RRset.
func (z Zone) NSTTL() uint32 {
	if z.TTL > 0 {
		return z.TTL
	}
	return z.SOA.TTL
}

// canonicalZone checks a zone name: a domain name, not the root, no
// wildcard label.
func canonicalZone(name string) (string, error) {
	cn, err := rrset.CanonicalName(name)
	if err != nil {
		return "", invalidf("zone name: %v", err)
	}
	if strings.Contains(cn, "*") {
		return "", invalidf("zone name %q has a wildcard label", name)
	}
	return cn, nil
}

// Key returns the bucket key of zone (any case, with or without its final
// dot): the canonical name without the final dot, e.g. lxd.example.com.
func Key(zone string) (string, error) {
	cn, err := canonicalZone(zone)
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(cn, "."), nil
}

// ZoneOfKey returns the canonical zone of a bucket key; an error when the
// key is no zone's (Key(zone) must give it back).
func ZoneOfKey(key string) (string, error) {
	cn, err := canonicalZone(key + ".")
	if err != nil {
		return "", err
	}
	if strings.TrimSuffix(cn, ".") != key {
		return "", invalidf("key %q is not canonical (want %q)", key, strings.TrimSuffix(cn, "."))
	}
	return cn, nil
}

// Encode validates z and renders it as the bucket's JSON value.
func Encode(z Zone) ([]byte, error) {
	z, err := z.Validate()
	if err != nil {
		return nil, err
	}
	return json.Marshal(z)
}

// Decode parses the value stored under key: JSON of the current Version,
// unknown fields refused, valid, and naming the key's zone.
func Decode(key string, b []byte) (Zone, error) {
	zone, err := ZoneOfKey(key)
	if err != nil {
		return Zone{}, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var z Zone
	if err := dec.Decode(&z); err != nil {
		return Zone{}, invalidf("decoding %s: %v", key, err)
	}
	if dec.More() {
		return Zone{}, invalidf("decoding %s: data after the entry", key)
	}
	if z.V != Version {
		return Zone{}, invalidf("decoding %s: format version %d, want %d", key, z.V, Version)
	}
	z, err = z.Validate()
	if err != nil {
		return Zone{}, err
	}
	if z.Name != zone {
		return Zone{}, invalidf("entry %s names zone %s", key, z.Name)
	}
	return z, nil
}
