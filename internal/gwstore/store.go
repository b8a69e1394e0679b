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
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/claim"
	"github.com/zonecast/zonecast/internal/retry"
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

// PutHost validates and stores h over revision rev of its entry, and
// returns it canonical with the new revision. Rev 0 creates it (ErrExists
// if it is there); otherwise another write since rev (a token issued or
// revoked elsewhere, the host deleted) makes it fail with ErrConflict:
// read again, apply again (UpdateHost).
func (s *Store) PutHost(ctx context.Context, h Host, rev uint64) (Host, uint64, error) {
	h, err := h.Validate()
	if err != nil {
		return Host{}, 0, err
	}
	b, err := json.Marshal(h)
	if err != nil {
		return Host{}, 0, fmt.Errorf("encoding host %s: %w", h.Name, err)
	}
	entry := hostEntry(h.Name)
	var n uint64
	if rev == 0 {
		n, err = s.kv.Create(ctx, entry, b)
		if errors.Is(err, jetstream.ErrKeyExists) {
			return Host{}, 0, fmt.Errorf("host %s: %w", h.Name, ErrExists)
		}
	} else {
		n, err = s.kv.Update(ctx, entry, b, rev)
		if isWrongSequence(err) {
			return Host{}, 0, fmt.Errorf("storing host %s: %w", h.Name, ErrConflict)
		}
	}
	if err != nil {
		return Host{}, 0, fmt.Errorf("storing host %s: %w", h.Name, err)
	}
	return h, n, nil
}

// HostStore reads and writes hosts by revision (Store; the web page's
// fakes).
type HostStore interface {
	Host(ctx context.Context, name string) (Host, uint64, error)
	PutHost(ctx context.Context, h Host, rev uint64) (Host, uint64, error)
}

// hostAttempts bounds the compare-and-set rounds of one UpdateHost: only
// the writers of one host race for its entry (a page, a CLI), a few at
// most.
const hostAttempts = 8

// UpdateHost reads the host name (canonical) from st, applies change and
// stores the result compare-and-set; when another write came between, it
// reads the host again and applies change anew. An error of change ends
// it, returned as it is. A host deleted meanwhile is ErrNotFound: change
// never brings a deleted host back.
func UpdateHost(ctx context.Context, st HostStore, name string, change func(*Host) error) (Host, error) {
	// Writers that collided take turns rather than collide again at once.
	turns := retry.Backoff{Min: time.Millisecond, Max: 50 * time.Millisecond, Jitter: 1}
	for n := range hostAttempts {
		if n > 0 && !retry.Sleep(ctx, turns.Delay(n-1)) {
			return Host{}, fmt.Errorf("storing host %s: %w", name, ctx.Err())
		}
		h, rev, err := st.Host(ctx, name)
		if err != nil {
			return Host{}, err
		}
		if err := change(&h); err != nil {
			return Host{}, err
		}
		h, _, err = st.PutHost(ctx, h, rev)
		if errors.Is(err, ErrConflict) {
			continue
		}
		return h, err
	}
	return Host{}, fmt.Errorf("storing host %s: %w", name, ErrConflict)
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

// Host returns the host named name (canonical) and the revision of its
// entry (for PutHost).
func (s *Store) Host(ctx context.Context, name string) (Host, uint64, error) {
	e, err := s.kv.Get(ctx, hostEntry(name))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Host{}, 0, fmt.Errorf("host %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return Host{}, 0, fmt.Errorf("reading host %s: %w", name, err)
	}
	var h Host
	if err := json.Unmarshal(e.Value(), &h); err != nil {
		return Host{}, 0, fmt.Errorf("decoding host %s: %w", name, err)
	}
	return h, e.Revision(), nil
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

// OwnedHosts lists the hosts of owner (an account name), by name, as the
// bucket holds them now: what a quota is counted on, where the Cache may
// lag behind another gateway's write.
func (s *Store) OwnedHosts(ctx context.Context, owner string) ([]Host, error) {
	hosts, err := s.Hosts(ctx)
	if err != nil {
		return nil, err
	}
	hosts = slices.DeleteFunc(hosts, func(h Host) bool { return h.Owner != owner })
	slices.SortFunc(hosts, func(a, b Host) int { return strings.Compare(a.Name, b.Name) })
	return hosts, nil
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
	// byOwner indexes hosts by their Owner: a user's list of hosts is
	// read without a scan of the fleet's.
	byOwner map[string]map[string]bool
	// accounts are the web page's users and sessions (CachedStore).
	accounts entries
}

// NewCache returns an empty cache.
func NewCache() *Cache {
	return &Cache{keys: map[string]Key{}, hosts: map[string]Host{}, claims: map[string]claim.Claim{}, revs: map[string]uint64{},
		bySubnet: map[netip.Prefix]map[string]bool{}, byRouter: map[string]map[string]bool{}, byOwner: map[string]map[string]bool{}}
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
func (c *Cache) Dependents(name string) []Host { return c.indexed(c.byRouter, name) }

// Owned returns the hosts whose Owner is user, by name; user "" gives the
// operator's.
func (c *Cache) Owned(user string) []Host { return c.indexed(c.byOwner, user) }

// indexed returns the hosts of index[k], by name.
func (c *Cache) indexed(index map[string]map[string]bool, k string) []Host {
	c.mu.RLock()
	out := make([]Host, 0, len(index[k]))
	for n := range index[k] {
		out = append(out, c.hosts[n])
	}
	c.mu.RUnlock()
	slices.SortFunc(out, func(a, b Host) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// setHost puts h in the cache, or takes name out when h is nil, and
// keeps byRouter and byOwner along. Caller holds c.mu.
func (c *Cache) setHost(name string, h *Host) {
	if old, ok := c.hosts[name]; ok {
		if old.PrefixFrom != "" {
			unindex(c.byRouter, old.PrefixFrom, name)
		}
		unindex(c.byOwner, old.Owner, name)
	}
	if h == nil {
		delete(c.hosts, name)
		return
	}
	c.hosts[name] = *h
	if h.PrefixFrom != "" {
		index(c.byRouter, h.PrefixFrom, name)
	}
	index(c.byOwner, h.Owner, name)
}

func index(idx map[string]map[string]bool, k, name string) {
	if idx[k] == nil {
		idx[k] = map[string]bool{}
	}
	idx[k][name] = true
}

func unindex(idx map[string]map[string]bool, k, name string) {
	delete(idx[k], name)
	if len(idx[k]) == 0 {
		delete(idx, k)
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
		case strings.HasPrefix(k, "user."), strings.HasPrefix(k, "session."):
			c.accounts.watched(k, value, e.Revision(), time.Now())
		case strings.HasPrefix(k, "hist."):
			// The web page's: read from the bucket when needed, not cached.
		default:
			c.update(k, value, log)
		}
	}, ready)
}
