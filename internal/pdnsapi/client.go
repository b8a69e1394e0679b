// Package pdnsapi wraps the PowerDNS Authoritative HTTP API (4.7) for
// zonecast: full-zone reads normalised to rrset.Set, zone creation, batched
// PATCHes that isolate the RRsets PowerDNS rejects, zone metadata, rectify
// and cache flush. Errors carry the action and a typed *Error; IsTransient
// and IsRejected tell a retry from a permanent refusal.
//
// It uses github.com/joeig/go-powerdns/v3 where that library fits and plain
// net/http where it lacks a call or misbehaves (PATCH: it panics on a nil
// type, rewrites CNAME/MX content and cannot bound a body's size).
package pdnsapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/joeig/go-powerdns/v3"

	"github.com/zonecast/zonecast/internal/rrset"
)

// DisabledPrefix marks the content of a disabled record returned by Zone, so
// that it never equals a desired (enabled) record.
const DisabledPrefix = "disabled:"

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// Client talks to one PowerDNS server. Reads may run concurrently; writes
// of zone data (Patch, Apply, SetMetadata, Rectify) are serialised by the
// client: one writer per PowerDNS, because gsqlite3 fails with concurrent
// writers ("database is locked"). (Zone creation comes first, alone.)
type Client struct {
	base     string // scheme://host:port, without /api/v1
	apiKey   string
	serverID string
	hc       *http.Client
	pdns     *powerdns.Client

	writeMu sync.Mutex
}

// New returns a client for the API at baseURL ("http://127.0.0.1:8081"; a
// trailing "/api/v1" is accepted), authenticating with apiKey, for server
// serverID ("" means "localhost"). Every HTTP request is bounded by timeout
// (and by the ctx of the call).
func New(baseURL, apiKey, serverID string, timeout time.Duration) *Client {
	base := strings.TrimRight(baseURL, "/")
	base = strings.TrimSuffix(base, "/api/v1")
	if serverID == "" {
		serverID = "localhost"
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // the API key must not travel through an environment proxy
	hc := &http.Client{Timeout: timeout, Transport: tr}
	return &Client{
		base:     base,
		apiKey:   apiKey,
		serverID: serverID,
		hc:       hc,
		pdns:     powerdns.New(base, serverID, powerdns.WithAPIKey(apiKey), powerdns.WithHTTPClient(hc)),
	}
}

// Ping checks that the server answers and accepts the API key.
func (c *Client) Ping(ctx context.Context) error {
	if _, err := c.pdns.Servers.Get(ctx, c.serverID); err != nil {
		return fmt.Errorf("pinging powerdns server %s: %w", c.serverID, convert(err))
	}
	return nil
}

// ZoneNames lists the zones of the server, sorted, with trailing dots.
func (c *Client) ZoneNames(ctx context.Context) ([]string, error) {
	zones, err := c.pdns.Zones.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing zones: %w", convert(err))
	}
	names := make([]string, 0, len(zones))
	for _, z := range zones {
		if z.Name != nil {
			names = append(names, canonicalName(*z.Name))
		}
	}
	slices.Sort(names)
	return names, nil
}

// Zone reads a whole zone. Every RRset becomes an rrset.Set with content
// canonicalised by rrset.CanonicalContent (content that does not
// canonicalise, and types rrset does not support, are kept as PowerDNS
// returned them); RRsets without records (4.7's comment-only entries) are
// dropped; a disabled record is kept with DisabledPrefix. Sets are sorted by
// key. A missing zone gives found=false and no error. EachRRset reads the
// same without holding the zone.
func (c *Client) Zone(ctx context.Context, zone string) (sets []rrset.Set, found bool, err error) {
	sets = []rrset.Set{}
	found, err = c.EachRRset(ctx, zone, func(s rrset.Set) { sets = append(sets, s) })
	if err != nil || !found {
		return nil, found, err
	}
	sortSets(sets)
	return sets, true, nil
}

// ZoneSets converts the RRsets of a zone answer decoded by go-powerdns as
// Zone does.
func ZoneSets(in []powerdns.RRset) []rrset.Set {
	sets := make([]rrset.Set, 0, len(in))
	for _, rs := range in {
		if len(rs.Records) == 0 || rs.Name == nil || rs.Type == nil {
			continue
		}
		typ := strings.ToUpper(string(*rs.Type))
		s := rrset.Set{
			Key:     rrset.Key{Name: canonicalName(*rs.Name), Type: typ},
			TTL:     powerdns.Uint32Value(rs.TTL),
			Records: make([]string, 0, len(rs.Records)),
		}
		for _, r := range rs.Records {
			content := powerdns.StringValue(r.Content)
			if cc, err := rrset.CanonicalContent(typ, content); err == nil {
				content = cc
			}
			if powerdns.BoolValue(r.Disabled) {
				content = DisabledPrefix + content
			}
			s.Records = append(s.Records, content)
		}
		sets = append(sets, rrset.Normalize(s))
	}
	sortSets(sets)
	return sets
}

func sortSets(sets []rrset.Set) {
	slices.SortFunc(sets, func(a, b rrset.Set) int { return rrset.CompareKeys(a.Key, b.Key) })
}

// ZoneSpec describes a zone to create.
type ZoneSpec struct {
	Name    string    // canonical zone name
	SOA     rrset.Set // the apex SOA: one record
	NS      []string  // apex NS targets, fully qualified
	NSTTL   uint32    // TTL of the apex NS RRset; 0: the SOA's
	Account string    // the zone's account field
}

// Sets returns the RRsets a zone created from spec holds, as Zone reads
// them back: the apex SOA and NS.
func (spec ZoneSpec) Sets() []rrset.Set {
	name := canonicalName(spec.Name)
	ns := rrset.Set{Key: rrset.Key{Name: name, Type: "NS"}, TTL: spec.nsTTL()}
	for _, n := range spec.NS {
		ns.Records = append(ns.Records, canonicalName(n))
	}
	soa := rrset.Set{Key: rrset.Key{Name: name, Type: "SOA"}, TTL: spec.SOA.TTL, Records: slices.Clone(spec.SOA.Records)}
	out := []rrset.Set{soa, ns}
	for i := range out {
		for j, r := range out[i].Records {
			if cc, err := rrset.CanonicalContent(out[i].Type, r); err == nil {
				out[i].Records[j] = cc
			}
		}
		out[i] = rrset.Normalize(out[i])
	}
	sortSets(out)
	return out
}

// nsTTL is the apex NS RRset's TTL: NSTTL, or the SOA's.
func (spec ZoneSpec) nsTTL() uint32 {
	if spec.NSTTL == 0 {
		return spec.SOA.TTL
	}
	return spec.NSTTL
}

// CreateZone creates a Native zone with its SOA and NS RRsets, soa_edit_api
// "" (the caller writes the serial) and api_rectify false (metadata
// API-RECTIFY "0": the caller rectifies when names change). An existing
// zone gives an error matching ErrConflict.
func (c *Client) CreateZone(ctx context.Context, spec ZoneSpec) error {
	name := canonicalName(spec.Name)
	if len(spec.SOA.Records) != 1 {
		return fmt.Errorf("creating zone %s: SOA needs exactly one record, got %d", name, len(spec.SOA.Records))
	}
	if len(spec.NS) == 0 {
		return fmt.Errorf("creating zone %s: no NS records", name)
	}
	soa := powerdns.RRset{
		Name:    powerdns.String(name),
		Type:    powerdns.RRTypePtr(powerdns.RRTypeSOA),
		TTL:     powerdns.Uint32(spec.SOA.TTL),
		Records: []powerdns.Record{{Content: powerdns.String(spec.SOA.Records[0]), Disabled: powerdns.Bool(false)}},
	}
	ns := powerdns.RRset{
		Name: powerdns.String(name),
		Type: powerdns.RRTypePtr(powerdns.RRTypeNS),
		TTL:  powerdns.Uint32(spec.nsTTL()),
	}
	for _, n := range spec.NS {
		ns.Records = append(ns.Records, powerdns.Record{Content: powerdns.String(canonicalName(n)), Disabled: powerdns.Bool(false)})
	}
	z := &powerdns.Zone{
		Name:       powerdns.String(name),
		Kind:       powerdns.ZoneKindPtr(powerdns.NativeZoneKind),
		SOAEditAPI: powerdns.String(""),
		APIRectify: powerdns.Bool(false),
		Account:    powerdns.String(spec.Account),
		RRsets:     []powerdns.RRset{soa, ns},
	}
	if _, err := c.pdns.Zones.Add(ctx, z); err != nil {
		return fmt.Errorf("creating zone %s: %w", name, convert(err))
	}
	return nil
}

// DeleteZone deletes a zone with everything in it: its RRsets, metadata
// and keys. A zone PowerDNS does not have gives an error matching
// ErrNotFound.
func (c *Client) DeleteZone(ctx context.Context, zone string) error {
	name := canonicalName(zone)
	if err := c.pdns.Zones.Delete(ctx, name); err != nil {
		return fmt.Errorf("deleting zone %s: %w", name, convert(err))
	}
	return nil
}

// Metadata returns the values of one metadata kind of a zone ([] if none).
// PowerDNS 4.7 refuses a GET of some kinds by name (422 "Unsupported
// metadata kind 'API-RECTIFY'") that its full list does show: those are read
// from the list.
func (c *Client) Metadata(ctx context.Context, zone, kind string) ([]string, error) {
	m, err := c.pdns.Metadata.Get(ctx, canonicalName(zone), powerdns.MetadataKind(kind))
	if err != nil {
		err = convert(err)
		if IsRejected(err) {
			all, lerr := c.AllMetadata(ctx, zone)
			if lerr != nil {
				return nil, lerr
			}
			if v, ok := all[kind]; ok {
				return v, nil
			}
			return []string{}, nil
		}
		return nil, fmt.Errorf("reading metadata %s of zone %s: %w", kind, zone, err)
	}
	if m.Metadata == nil {
		return []string{}, nil
	}
	return m.Metadata, nil
}

// AllMetadata returns every metadata kind of a zone with its values.
func (c *Client) AllMetadata(ctx context.Context, zone string) (map[string][]string, error) {
	list, err := c.pdns.Metadata.List(ctx, canonicalName(zone))
	if err != nil {
		return nil, fmt.Errorf("reading metadata of zone %s: %w", zone, convert(err))
	}
	out := make(map[string][]string, len(list))
	for _, m := range list {
		if m.Kind == nil {
			continue
		}
		v := m.Metadata
		if v == nil {
			v = []string{}
		}
		out[string(*m.Kind)] = v
	}
	return out, nil
}

// SetMetadata replaces the values of one metadata kind of a zone (custom
// kinds start with "X-"). No values removes the kind.
func (c *Client) SetMetadata(ctx context.Context, zone, kind string, values []string) error {
	if values == nil {
		values = []string{} // go-powerdns would omit the field: 422
	}
	body, err := json.Marshal(struct {
		Kind     string   `json:"kind"`
		Metadata []string `json:"metadata"`
	}{kind, values})
	if err != nil {
		return fmt.Errorf("setting metadata %s of zone %s: %w", kind, zone, err)
	}
	p := "/zones/" + url.PathEscape(canonicalName(zone)) + "/metadata/" + url.PathEscape(kind)
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.do(ctx, http.MethodPut, p, nil, body, nil); err != nil {
		return fmt.Errorf("setting metadata %s of zone %s: %w", kind, zone, err)
	}
	return nil
}

// Rectify rectifies a zone (ordername, auth and empty non-terminals). It
// does not purge the cache: see FlushCache.
func (c *Client) Rectify(ctx context.Context, zone string) error {
	p := "/zones/" + url.PathEscape(canonicalName(zone)) + "/rectify"
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.do(ctx, http.MethodPut, p, nil, nil, nil); err != nil {
		return fmt.Errorf("rectifying zone %s: %w", zone, err)
	}
	return nil
}

// Settings reads the server's configuration (GET /config): each
// setting's value, by name, as pdns.conf spells them.
func (c *Client) Settings(ctx context.Context) (map[string]string, error) {
	var list []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	if err := c.do(ctx, http.MethodGet, "/config", nil, nil, &list); err != nil {
		return nil, fmt.Errorf("reading the server's configuration: %w", err)
	}
	out := make(map[string]string, len(list))
	for _, s := range list {
		out[s.Name] = s.Value
	}
	return out, nil
}

// AllZones, given to FlushCache, purges every name PowerDNS has cached:
// every name is at or below the root.
const AllZones = "."

// FlushCache purges the packet and query caches of a zone and its names
// (of every zone: AllZones).
func (c *Client) FlushCache(ctx context.Context, zone string) error {
	if _, err := c.pdns.Servers.CacheFlush(ctx, c.serverID, canonicalName(zone)); err != nil {
		return fmt.Errorf("flushing cache of zone %s: %w", zone, convert(err))
	}
	return nil
}

// do sends one request to /api/v1/servers/ID+path with a JSON body (if
// any), decodes a 2xx answer into out (if not nil) and turns any other
// answer into *Error.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body []byte, out any) error {
	var read func(io.Reader) error
	if out != nil {
		read = func(r io.Reader) error {
			if err := json.NewDecoder(r).Decode(out); err != nil {
				return fmt.Errorf("decoding answer: %w", err)
			}
			return nil
		}
	}
	return c.send(ctx, method, path, query, body, read)
}

// stream sends a GET as do does and hands a 2xx answer's body to read as it
// arrives.
func (c *Client) stream(ctx context.Context, path string, query url.Values, read func(io.Reader) error) error {
	return c.send(ctx, http.MethodGet, path, query, nil, read)
}

func (c *Client) send(ctx context.Context, method, path string, query url.Values, body []byte, read func(io.Reader) error) error {
	u := c.base + "/api/v1/servers/" + url.PathEscape(c.serverID) + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("X-API-Key", c.apiKey)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return readError(resp)
	}
	if read != nil && resp.StatusCode != http.StatusNoContent {
		if err := read(resp.Body); err != nil {
			return err
		}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return nil
}

func readError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &Error{StatusCode: resp.StatusCode}
	var j struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &j) == nil && j.Error != "" {
		e.Message = j.Error
	} else {
		e.Message = strings.TrimSpace(string(b))
	}
	return e
}

// canonicalName adds the trailing dot; PowerDNS answers lowercase names.
func canonicalName(n string) string {
	n = strings.ToLower(n)
	if !strings.HasSuffix(n, ".") {
		n += "."
	}
	return n
}

// RRset reads one RRset of a zone (GET with rrset_name and rrset_type). 4.7
// also returns every commented RRset as an empty phantom: only the
// requested key counts. found is false when the RRset does not exist.
func (c *Client) RRset(ctx context.Context, zone string, key rrset.Key) (set rrset.Set, found bool, err error) {
	q := url.Values{"rrset_name": {key.Name}, "rrset_type": {key.Type}}
	var z powerdns.Zone
	p := "/zones/" + url.PathEscape(canonicalName(zone))
	if err := c.do(ctx, http.MethodGet, p, q, nil, &z); err != nil {
		return rrset.Set{}, false, fmt.Errorf("reading rrset %s in %s: %w", key, zone, err)
	}
	for _, s := range ZoneSets(z.RRsets) {
		if s.Key == key {
			return s, true, nil
		}
	}
	return rrset.Set{}, false, nil
}
