package gwstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/claim"
)

// ErrConflict is returned when another gateway wrote a claim first.
var ErrConflict = errors.New("written meanwhile by another gateway")

func claimEntry(name string) string { return "claim." + strings.TrimSuffix(name, ".") }

// Claim returns the claim stored for name (canonical) with its revision,
// lapsed or not.
func (s *Store) Claim(ctx context.Context, name string) (claim.Claim, uint64, error) {
	e, err := s.kv.Get(ctx, claimEntry(name))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return claim.Claim{}, 0, fmt.Errorf("claim of %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return claim.Claim{}, 0, fmt.Errorf("reading the claim of %s: %w", name, err)
	}
	var c claim.Claim
	if err := json.Unmarshal(e.Value(), &c); err != nil {
		return claim.Claim{}, 0, fmt.Errorf("decoding the claim of %s: %w", name, err)
	}
	if c, err = c.Validate(); err != nil {
		return claim.Claim{}, 0, fmt.Errorf("the claim of %s: %w", name, err)
	}
	return c, e.Revision(), nil
}

// PutClaim stores c over revision rev of its entry (0: only if there is
// none) and returns the new revision. The bucket decides between gateways
// that claim one name at once: the second gets ErrConflict, reads the
// claim again and decides again.
func (s *Store) PutClaim(ctx context.Context, c claim.Claim, rev uint64) (uint64, error) {
	c, err := c.Validate()
	if err != nil {
		return 0, err
	}
	b, err := json.Marshal(c)
	if err != nil {
		return 0, fmt.Errorf("encoding the claim of %s: %w", c.Name, err)
	}
	var n uint64
	if rev == 0 {
		n, err = s.kv.Create(ctx, claimEntry(c.Name), b)
	} else {
		n, err = s.kv.Update(ctx, claimEntry(c.Name), b, rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || isWrongSequence(err) {
		return 0, fmt.Errorf("storing the claim of %s: %w", c.Name, ErrConflict)
	}
	if err != nil {
		return 0, fmt.Errorf("storing the claim of %s: %w", c.Name, err)
	}
	return n, nil
}

// isWrongSequence reports whether err is JetStream refusing a write over
// a revision that is no longer the last.
func isWrongSequence(err error) bool {
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// DeleteClaim removes the claim of name if its entry is still at rev.
func (s *Store) DeleteClaim(ctx context.Context, name string, rev uint64) error {
	err := s.kv.Delete(ctx, claimEntry(name), jetstream.LastRevision(rev))
	if isWrongSequence(err) {
		return fmt.Errorf("deleting the claim of %s: %w", name, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("deleting the claim of %s: %w", name, err)
	}
	return nil
}

// Claims returns every claim stored, lapsed ones included.
func (s *Store) Claims(ctx context.Context) ([]claim.Claim, error) {
	var out []claim.Claim
	err := s.list(ctx, "claim.", func(b []byte) error {
		var c claim.Claim
		if err := json.Unmarshal(b, &c); err != nil {
			return err
		}
		out = append(out, c)
		return nil
	})
	return out, err
}

// CachedClaim returns the claim of name as the cache last saw it, and its
// revision. It may lag behind the bucket by a delivery: a write over its
// revision then conflicts, and the writer reads the bucket (Claim).
func (c *Cache) CachedClaim(name string) (claim.Claim, uint64, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	cl, ok := c.claims[name]
	return cl, c.revs[name], ok
}

// updateClaim applies one claim entry, stored at rev, to the cache (value
// nil: deleted).
func (c *Cache) updateClaim(entry string, value []byte, rev uint64, log zerolog.Logger) {
	c.mu.Lock()
	defer c.mu.Unlock()
	name := strings.TrimPrefix(entry, "claim.") + "."
	c.unindexClaim(name)
	if value == nil {
		return
	}
	var cl claim.Claim
	err := json.Unmarshal(value, &cl)
	if err == nil {
		cl, err = cl.Validate()
	}
	if err != nil {
		log.Error().Err(err).Str("entry", entry).Msg("ignoring invalid claim")
		return
	}
	c.claims[cl.Name], c.revs[cl.Name] = cl, rev
	if a, err := netip.ParseAddr(cl.Source); err == nil {
		s := claim.Subnet(a)
		if c.bySubnet[s] == nil {
			c.bySubnet[s] = map[string]bool{}
		}
		c.bySubnet[s][cl.Name] = true
	}
}

// unindexClaim forgets the claim of name. Caller holds c.mu.
func (c *Cache) unindexClaim(name string) {
	cl, ok := c.claims[name]
	if !ok {
		return
	}
	delete(c.claims, name)
	delete(c.revs, name)
	if a, err := netip.ParseAddr(cl.Source); err == nil {
		s := claim.Subnet(a)
		delete(c.bySubnet[s], name)
		if len(c.bySubnet[s]) == 0 {
			delete(c.bySubnet, s)
		}
	}
}

// SubnetClaims counts the claims live at now that were made from subnet
// (claim.Subnet), but the one of name.
func (c *Cache) SubnetClaims(subnet netip.Prefix, name string, now time.Time) int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n := 0
	for other := range c.bySubnet[subnet] {
		if other != name && c.claims[other].Live(now) {
			n++
		}
	}
	return n
}
