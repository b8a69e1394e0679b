package gwstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/claim"
)

// ErrNotFound is returned for a key or host that is not in the bucket.
var ErrNotFound = errors.New("not found")

// Store reads and writes keys and hosts in the bucket.
type Store struct {
	kv jetstream.KeyValue
}

// Open opens the bucket, creating it (with replicas copies) if it is
// missing.
func Open(ctx context.Context, js jetstream.JetStream, bucket string, replicas int) (*Store, error) {
	if bucket == "" {
		bucket = DefaultBucket
	}
	kv, err := bus.KeyValueBucket(ctx, js, jetstream.KeyValueConfig{
		Bucket:      bucket,
		Description: "zonecast-gateway TSIG keys and dyndns hosts",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
	})
	if err != nil {
		return nil, err
	}
	return &Store{kv: kv}, nil
}

// PutKey validates and stores k. With create set it fails if a key of that
// name exists; it also fails if another key already publishes as the same
// origin.
func (s *Store) PutKey(ctx context.Context, k Key, create bool) (Key, error) {
	k, err := k.Validate()
	if err != nil {
		return Key{}, err
	}
	keys, err := s.Keys(ctx)
	if err != nil {
		return Key{}, err
	}
	for _, o := range keys {
		if o.Name != k.Name && o.Origin() == k.Origin() {
			return Key{}, invalidf("key %s would publish as origin %s, already used by key %s", k.Name, k.Origin(), o.Name)
		}
	}
	return k, s.put(ctx, keyEntry(k.Name), k, create)
}

// PutHost validates and stores h.
func (s *Store) PutHost(ctx context.Context, h Host, create bool) (Host, error) {
	h, err := h.Validate()
	if err != nil {
		return Host{}, err
	}
	return h, s.put(ctx, hostEntry(h.Name), h, create)
}

func (s *Store) put(ctx context.Context, entry string, v any, create bool) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", entry, err)
	}
	if create {
		_, err = s.kv.Create(ctx, entry, b)
		if errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("%w: %s %w", ErrInvalid, entry, ErrExists)
		}
	} else {
		_, err = s.kv.Put(ctx, entry, b)
	}
	if err != nil {
		return fmt.Errorf("storing %s: %w", entry, err)
	}
	return nil
}

// Key returns the key named name (canonical).
func (s *Store) Key(ctx context.Context, name string) (Key, error) {
	var k Key
	return k, s.get(ctx, keyEntry(name), &k)
}

// Host returns the host named name (canonical).
func (s *Store) Host(ctx context.Context, name string) (Host, error) {
	var h Host
	return h, s.get(ctx, hostEntry(name), &h)
}

func (s *Store) get(ctx context.Context, entry string, v any) error {
	e, err := s.kv.Get(ctx, entry)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("%s: %w", entry, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", entry, err)
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return fmt.Errorf("decoding %s: %w", entry, err)
	}
	return nil
}

// DeleteKey removes a key.
func (s *Store) DeleteKey(ctx context.Context, name string) error { return s.del(ctx, keyEntry(name)) }

// DeleteHost removes a host, its tokens and its history.
func (s *Store) DeleteHost(ctx context.Context, name string) error {
	if err := s.del(ctx, hostEntry(name)); err != nil {
		return err
	}
	if err := s.kv.Delete(ctx, histEntry(name)); err != nil {
		return fmt.Errorf("deleting %s: %w", histEntry(name), err)
	}
	return nil
}

func (s *Store) del(ctx context.Context, entry string) error {
	if _, err := s.kv.Get(ctx, entry); errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("%s: %w", entry, ErrNotFound)
	}
	if err := s.kv.Delete(ctx, entry); err != nil {
		return fmt.Errorf("deleting %s: %w", entry, err)
	}
	return nil
}

// Keys lists every key.
func (s *Store) Keys(ctx context.Context) ([]Key, error) {
	var out []Key
	err := s.list(ctx, "tsig.", func(b []byte) error {
		var k Key
		if err := json.Unmarshal(b, &k); err != nil {
			return err
		}
		out = append(out, k)
		return nil
	})
	return out, err
}

// Hosts lists every host, in the bucket's order.
func (s *Store) Hosts(ctx context.Context) ([]Host, error) {
	var out []Host
	err := s.list(ctx, "host.", func(b []byte) error {
		var h Host
		if err := json.Unmarshal(b, &h); err != nil {
			return err
		}
		out = append(out, h)
		return nil
	})
	return out, err
}

func (s *Store) list(ctx context.Context, prefix string, fn func([]byte) error) error {
	lister, err := s.kv.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("listing the bucket: %w", err)
	}
	defer func() { _ = lister.Stop() }()
	for k := range lister.Keys() {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		e, err := s.kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", k, err)
		}
		if err := fn(e.Value()); err != nil {
			return fmt.Errorf("decoding %s: %w", k, err)
		}
	}
	return nil
}

// Cache is an in-memory copy of the bucket, kept current by Watch. Its
// lookups are safe for concurrent use.
type Cache struct {
	mu     sync.RWMutex
	keys   map[string]Key         // by canonical name
	hosts  map[string]Host        // by canonical name
	claims map[string]claim.Claim // by canonical name
	revs   map[string]uint64      // the claims' revisions in the bucket
	// bySubnet indexes claims by the subnet they came from (claim.Subnet),
	// for the cap per subnet: a count per update reads only its subnet's.
	bySubnet map[netip.Prefix]map[string]bool
	// byRouter indexes hosts by their PrefixFrom: a router's update
	// finds the hosts behind it without a scan.
	byRouter map[string]map[string]bool
}

// NewCache returns an empty cache.
func NewCache() *Cache {
	return &Cache{keys: map[string]Key{}, hosts: map[string]Host{}, claims: map[string]claim.Claim{}, revs: map[string]uint64{},
		bySubnet: map[netip.Prefix]map[string]bool{}, byRouter: map[string]map[string]bool{}}
}

// Key returns the key named name (canonical).
func (c *Cache) Key(name string) (Key, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	k, ok := c.keys[name]
	return k, ok
}

// Host returns the host named name (canonical).
func (c *Cache) Host(name string) (Host, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	h, ok := c.hosts[name]
	return h, ok
}

// Hosts returns every host, by name.
func (c *Cache) Hosts() []Host {
	c.mu.RLock()
	out := make([]Host, 0, len(c.hosts))
	for _, h := range c.hosts {
		out = append(out, h)
	}
	c.mu.RUnlock()
	slices.SortFunc(out, func(a, b Host) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Dependents returns the hosts whose PrefixFrom is name (canonical), by
// name.
func (c *Cache) Dependents(name string) []Host {
	c.mu.RLock()
	out := make([]Host, 0, len(c.byRouter[name]))
	for n := range c.byRouter[name] {
		out = append(out, c.hosts[n])
	}
	c.mu.RUnlock()
	slices.SortFunc(out, func(a, b Host) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// setHost puts h in the cache, or takes name out when h is nil, and
// keeps byRouter along. Caller holds c.mu.
func (c *Cache) setHost(name string, h *Host) {
	if old, ok := c.hosts[name]; ok && old.PrefixFrom != "" {
		delete(c.byRouter[old.PrefixFrom], name)
		if len(c.byRouter[old.PrefixFrom]) == 0 {
			delete(c.byRouter, old.PrefixFrom)
		}
	}
	if h == nil {
		delete(c.hosts, name)
		return
	}
	c.hosts[name] = *h
	if h.PrefixFrom != "" {
		if c.byRouter[h.PrefixFrom] == nil {
			c.byRouter[h.PrefixFrom] = map[string]bool{}
		}
		c.byRouter[h.PrefixFrom][name] = true
	}
}

// Len returns the numbers of keys and hosts.
func (c *Cache) Len() (keys, hosts int) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.keys), len(c.hosts)
}

// update applies one bucket entry (value nil: deleted).
func (c *Cache) update(entry string, value []byte, log zerolog.Logger) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case strings.HasPrefix(entry, "tsig."):
		name := strings.TrimPrefix(entry, "tsig.") + "."
		if value == nil {
			delete(c.keys, name)
			return
		}
		var k Key
		if err := json.Unmarshal(value, &k); err != nil {
			log.Error().Err(err).Str("entry", entry).Msg("ignoring undecodable key")
			delete(c.keys, name)
			return
		}
		if k, err := k.Validate(); err == nil {
			c.keys[k.Name] = k
		} else {
			log.Error().Err(err).Str("entry", entry).Msg("ignoring invalid key")
			delete(c.keys, name)
		}
	case strings.HasPrefix(entry, "host."):
		name := strings.TrimPrefix(entry, "host.") + "."
		if value == nil {
			c.setHost(name, nil)
			return
		}
		var h Host
		if err := json.Unmarshal(value, &h); err != nil {
			log.Error().Err(err).Str("entry", entry).Msg("ignoring undecodable host")
			c.setHost(name, nil)
			return
		}
		if h, err := h.Validate(); err == nil && h.Name == name {
			c.setHost(name, &h)
		} else {
			if err == nil {
				err = invalidf("entry of another name: %s", h.Name)
			}
			log.Error().Err(err).Str("entry", entry).Msg("ignoring invalid host")
			c.setHost(name, nil)
		}
	}
}

// Watch loads the bucket into the cache, calls ready once it is loaded,
// and keeps the cache current until ctx is done.
func (s *Store) Watch(ctx context.Context, c *Cache, ready func(), log zerolog.Logger) error {
	return bus.FollowKV(ctx, s.kv, "the key-value bucket", func(e jetstream.KeyValueEntry) {
		var value []byte
		if e.Operation() == jetstream.KeyValuePut {
			value = e.Value()
		}
		switch k := e.Key(); {
		case strings.HasPrefix(k, "claim."):
			c.updateClaim(k, value, e.Revision(), log)
		case strings.HasPrefix(k, "user."), strings.HasPrefix(k, "session."), strings.HasPrefix(k, "hist."):
			// The web page's: read from the bucket when needed, not cached.
		default:
			c.update(k, value, log)
		}
	}, ready)
}
