package dnssec

import (
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecast/zonecast/internal/rrset"
)

// Window is a signature's validity: from Inception to Expiration. With a
// Jitter, each RRset's signature expires up to Jitter earlier, by an amount
// fixed per RRset (For), so that signatures made together are not all due
// for refresh together.
type Window struct {
	Inception, Expiration time.Time
	Jitter                time.Duration
}

// For returns the window of key's signature: Expiration moved earlier by
// key's share of Jitter, derived from its name and type.
func (w Window) For(key rrset.Key) Window {
	if w.Jitter <= 0 {
		return w
	}
	h := fnv.New64a()
	h.Write([]byte(key.Name))
	h.Write([]byte{0})
	h.Write([]byte(key.Type))
	out := w
	out.Expiration = w.Expiration.Add(-time.Duration(h.Sum64() % uint64(w.Jitter)))
	out.Jitter = 0
	return out
}

// RRs turns set into miekg/dns records (the name, TTL and each record's
// content).
func RRs(set rrset.Set) ([]dns.RR, error) {
	out := make([]dns.RR, 0, len(set.Records))
	for _, content := range set.Records {
		rr, err := dns.NewRR(fmt.Sprintf("%s %d IN %s %s", set.Name, set.TTL, set.Type, content))
		if err != nil {
			return nil, fmt.Errorf("parsing %s %s %q: %w", set.Name, set.Type, content, err)
		}
		if rr == nil {
			return nil, fmt.Errorf("parsing %s %s %q: empty record", set.Name, set.Type, content)
		}
		out = append(out, rr)
	}
	return out, nil
}

// Sign returns the signature of set by key over w, as an RRSIG record.
// The signer's name is the key's owner: the zone.
func Sign(set rrset.Set, key Key, w Window) (*dns.RRSIG, error) {
	rrs, err := RRs(set)
	if err != nil {
		return nil, fmt.Errorf("signing %s: %w", set.Key, err)
	}
	if len(rrs) == 0 {
		return nil, fmt.Errorf("signing %s: no records", set.Key)
	}
	sig := &dns.RRSIG{
		Hdr:        dns.RR_Header{Name: set.Name, Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: set.TTL},
		Algorithm:  key.DNSKEY.Algorithm,
		OrigTtl:    set.TTL,
		KeyTag:     key.Tag(),
		SignerName: key.DNSKEY.Hdr.Name,
		Inception:  uint32(w.Inception.Unix()),
		Expiration: uint32(w.Expiration.Unix()),
	}
	if err := sig.Sign(key.Private, rrs); err != nil {
		return nil, fmt.Errorf("signing %s with key %d: %w", set.Key, key.Tag(), err)
	}
	return sig, nil
}

// Content is an RRSIG's record content as PowerDNS's API takes it: the
// record without owner, TTL, class and type.
func Content(rr dns.RR) string {
	hdr := rr.Header().String()
	return strings.TrimSpace(strings.TrimPrefix(rr.String(), hdr))
}

// Verify checks sig over set with key at now: the signature itself and its
// validity window.
func Verify(set rrset.Set, sig *dns.RRSIG, key Key, now time.Time) error {
	rrs, err := RRs(set)
	if err != nil {
		return fmt.Errorf("verifying %s: %w", set.Key, err)
	}
	if err := sig.Verify(key.DNSKEY, rrs); err != nil {
		return fmt.Errorf("verifying %s with key %d: %w", set.Key, key.Tag(), err)
	}
	if !sig.ValidityPeriod(now) {
		return fmt.Errorf("verifying %s: the signature is not valid at %s", set.Key, now.UTC().Format(time.RFC3339))
	}
	return nil
}
