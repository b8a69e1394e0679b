package pdnsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/joeig/go-powerdns/v3"

	"github.com/zonecast/zonecast/internal/rrset"
)

// EachRRset reads a whole zone as PowerDNS sends it and calls fn for every
// RRset, converted as Zone converts them, in PowerDNS's order: neither the
// answer nor the zone is ever held whole, so a caller that keeps only what
// it needs reads a large zone in little memory. fn owns the set it gets.
// An answer that breaks off or does not decode gives an error after fn
// has seen the RRsets before the fault: a caller must take what fn saw
// only once EachRRset returned nil. A missing zone gives found=false and
// no error, before any call of fn.
func (c *Client) EachRRset(ctx context.Context, zone string, fn func(rrset.Set)) (found bool, err error) {
	p := "/zones/" + url.PathEscape(canonicalName(zone))
	err = c.stream(ctx, p, nil, func(r io.Reader) error { return decodeZone(r, fn) })
	if err != nil {
		if errors.Is(err, ErrZoneNotFound) {
			return false, nil
		}
		return false, fmt.Errorf("reading zone %s: %w", zone, err)
	}
	return true, nil
}

// zoneRRset is one entry of a zone answer's "rrsets". Its fields have the
// types go-powerdns decodes them into (powerdns.RRset), so that the same
// answers decode, without a pointer per field: a null or missing field
// means the zero value to Zone either way. name and type stay pointers:
// an entry without them is dropped, one with "" is not.
type zoneRRset struct {
	Name       *string            `json:"name"`
	Type       *string            `json:"type"`
	TTL        uint32             `json:"ttl"`
	ChangeType string             `json:"changetype"`
	Records    []zoneRecord       `json:"records"`
	Comments   []powerdns.Comment `json:"comments"`
}

type zoneRecord struct {
	Content  string `json:"content"`
	Disabled bool   `json:"disabled"`
	SetPTR   bool   `json:"set-ptr"`
}

// errTwoRRsets: a zone answer with a second "rrsets" member, which
// encoding/json would read as replacing the first; decodeZone has passed
// the first one on by then.
var errTwoRRsets = errors.New("two rrsets members")

// maxInterned bounds the record types decodeZone shares one string for
// (a zone has a handful; the answer is untrusted).
const maxInterned = 64

// decodeZone decodes a zone answer (GET /zones/ZONE) from r one RRset at a
// time and calls fn for each, converted as ZoneSets converts them (not
// sorted). It accepts what decoding the answer into powerdns.Zone accepts,
// except a second "rrsets" member, and reads nothing after the zone's
// object.
func decodeZone(r io.Reader, fn func(rrset.Set)) error {
	dec := json.NewDecoder(r)
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("decoding answer: %w", err)
	}
	switch tok {
	case nil:
		return nil // null: a zone without RRsets, as encoding/json reads it
	case json.Delim('{'):
	default:
		return fmt.Errorf("decoding answer: %v where the zone's object belongs", tok)
	}
	types := map[string]string{}
	sawRRsets := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("decoding answer: %w", err)
		}
		key, _ := tok.(string) // inside an object, More guarantees a key
		// encoding/json matches member names to fields without case.
		if !strings.EqualFold(key, "rrsets") {
			if err := checkZoneMember(dec, key); err != nil {
				return fmt.Errorf("decoding answer: %w", err)
			}
			continue
		}
		if sawRRsets {
			return fmt.Errorf("decoding answer: %w", errTwoRRsets)
		}
		sawRRsets = true
		if err := decodeRRsets(dec, types, fn); err != nil {
			return fmt.Errorf("decoding answer: %w", err)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return fmt.Errorf("decoding answer: %w", err)
	}
	return nil
}

// checkZoneMember reads the value of a member other than rrsets and checks
// it as decoding into powerdns.Zone would: those members are small.
func checkZoneMember(dec *json.Decoder, key string) error {
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return err
	}
	name, err := json.Marshal(key)
	if err != nil {
		return err
	}
	obj := make([]byte, 0, len(name)+len(raw)+3)
	obj = append(append(append(append(append(obj, '{'), name...), ':'), raw...), '}')
	var z powerdns.Zone
	return json.Unmarshal(obj, &z)
}

// decodeRRsets reads the value of "rrsets": null or an array of RRsets.
func decodeRRsets(dec *json.Decoder, types map[string]string, fn func(rrset.Set)) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case nil:
		return nil
	case json.Delim('['):
	default:
		return fmt.Errorf("rrsets: %v where an array belongs", tok)
	}
	for dec.More() {
		var rs zoneRRset
		if err := dec.Decode(&rs); err != nil {
			return err
		}
		if set, ok := rs.set(types); ok {
			fn(set)
		}
	}
	_, err = dec.Token() // the closing bracket
	return err
}

// set converts the entry as ZoneSets does; ok is false for the entries Zone
// drops. types shares one string per record type across the zone.
func (rs *zoneRRset) set(types map[string]string) (rrset.Set, bool) {
	if len(rs.Records) == 0 || rs.Name == nil || rs.Type == nil {
		return rrset.Set{}, false
	}
	typ := strings.ToUpper(*rs.Type)
	if t, ok := types[typ]; ok {
		typ = t
	} else if len(types) < maxInterned {
		types[typ] = typ
	}
	s := rrset.Set{
		Key:     rrset.Key{Name: canonicalName(*rs.Name), Type: typ},
		TTL:     rs.TTL,
		Records: make([]string, 0, len(rs.Records)),
	}
	for _, r := range rs.Records {
		content := r.Content
		if cc, err := rrset.CanonicalContent(typ, content); err == nil {
			content = cc
		}
		if r.Disabled {
			content = DisabledPrefix + content
		}
		s.Records = append(s.Records, content)
	}
	return rrset.Normalize(s), true
}
