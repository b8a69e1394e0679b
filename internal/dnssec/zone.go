package dnssec

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecast/zonecast/internal/rrset"
)

// Zone is a signed zone as the signer keeps it: the zone's RRsets, their
// signatures and the NSEC chain, changed incrementally. A change re-signs
// only what it touches: the RRset, the NSEC records of the names that come
// or go and of their neighbours, and what the caller passes again (the
// SOA). It is not safe for concurrent use.
type Zone struct {
	name string
	// ksks sign the DNSKEY, CDS and CDNSKEY RRsets (the first one's
	// signature is kept in sigs, the others' in kskSigs: more than one
	// during a KSK rollover), zsk everything else; published are the
	// keys of the DNSKEY RRset (more than these during a rollover).
	ksks      []Key
	zsk       Key
	published []Key
	kskSigs   map[rrset.Key][]*dns.RRSIG
	nsecTTL   uint32
	nsec3     *NSEC3Params // nil: NSEC

	sets   map[rrset.Key]rrset.Set
	types  map[string][]string // the types at each name
	sigs   map[rrset.Key]*dns.RRSIG
	auth   map[string]bool      // names that hold the zone's data (not glue)
	denial map[string]rrset.Set // NSEC or NSEC3 RRsets, by owner
	// order holds the NSEC chain's owners in canonical order, for
	// changing the chain in place (relink). NSEC only.
	order []string
	// adopted holds signatures published before (Adopt), taken instead of
	// new ones when they still verify over the RRset they are asked for.
	adopted map[rrset.Key][]*dns.RRSIG
}

// NewZone returns an empty signed zone name, signed with ksk (the DNSKEY
// RRset) and zsk (everything else), its denial of existence by NSEC, or by
// NSEC3 with nsec3's parameters when it is not nil (the caller publishes
// the apex's NSEC3PARAM RRset, see NSEC3PARAM, through Apply). nsecTTL is
// the TTL of the NSEC or NSEC3 records (the SOA minimum).
func NewZone(name string, ksk, zsk Key, nsecTTL uint32, nsec3 *NSEC3Params) *Zone {
	return &Zone{name: name, ksks: []Key{ksk}, zsk: zsk, published: []Key{ksk, zsk}, kskSigs: map[rrset.Key][]*dns.RRSIG{},
		nsecTTL: nsecTTL, nsec3: nsec3,
		sets: map[rrset.Key]rrset.Set{}, types: map[string][]string{}, sigs: map[rrset.Key]*dns.RRSIG{},
		auth: map[string]bool{}, denial: map[string]rrset.Set{}, adopted: map[rrset.Key][]*dns.RRSIG{}}
}

// Adopt offers the signatures of an RRSIG RRset published before (by an
// earlier run of the signer) for reuse: a later Apply takes a signature
// instead of making a new one when it verifies, with the zone's key of its
// tag, over the RRset it covers, and expires after notBefore. So a restart
// re-signs nothing that is still valid. Records that do not parse are
// ignored: the RRset is then signed anew.
func (z *Zone) Adopt(sigs rrset.Set, notBefore time.Time) {
	for _, c := range sigs.Records {
		rr, err := dns.NewRR(fmt.Sprintf("%s %d IN RRSIG %s", sigs.Name, sigs.TTL, c))
		sig, ok := rr.(*dns.RRSIG)
		if err != nil || !ok || int64(sig.Expiration) <= notBefore.Unix() {
			continue
		}
		k := rrset.Key{Name: sigs.Name, Type: dns.TypeToString[sig.TypeCovered]}
		z.adopted[k] = append(z.adopted[k], sig)
	}
}

// takeAdopted returns an adopted signature of k that verifies over set
// with key, and forgets them all.
func (z *Zone) takeAdopted(k rrset.Key, set rrset.Set, key Key) *dns.RRSIG {
	sigs, ok := z.adopted[k]
	if !ok {
		return nil
	}
	delete(z.adopted, k)
	rrs, err := RRs(set)
	if err != nil || len(rrs) == 0 {
		return nil
	}
	for _, sig := range sigs {
		if sig.KeyTag == key.Tag() && sig.Algorithm == key.DNSKEY.Algorithm && sig.SignerName == z.name &&
			sig.Verify(key.DNSKEY, rrs) == nil {
			return sig // another KSK's is made again
		}
	}
	return nil
}

// All returns everything the zone publishes: its data, denial records and
// RRSIG RRsets, in canonical order of names.
func (z *Zone) All() []rrset.Set {
	out := make([]rrset.Set, 0, len(z.sets)+2*len(z.denial))
	for _, s := range z.sets {
		out = append(out, s)
	}
	names := map[string]bool{}
	for n := range z.types {
		names[n] = true
	}
	for n, s := range z.denial {
		out = append(out, s)
		names[n] = true
	}
	for n := range names {
		if sig := z.rrsigs(n); len(sig.Records) > 0 {
			out = append(out, sig)
		}
	}
	slices.SortFunc(out, func(a, b rrset.Set) int {
		if c := Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Type, b.Type)
	})
	return out
}

// denialType is the type of the zone's denial records.
func (z *Zone) denialType() string {
	if z.nsec3 != nil {
		return "NSEC3"
	}
	return "NSEC"
}

// DNSKEY returns the zone's DNSKEY RRset.
func (z *Zone) DNSKEY(ttl uint32) rrset.Set {
	return rrset.Set{Key: rrset.Key{Name: z.name, Type: "DNSKEY"}, TTL: ttl,
		Records: keyRecords(z.published, func(k Key) dns.RR { return k.DNSKEY })}
}

// CDS and CDNSKEY return the RRsets that ask the parent for the DS of
// the zone's KSKs (RFC 7344).
func (z *Zone) CDS(ttl uint32) rrset.Set {
	return rrset.Set{Key: rrset.Key{Name: z.name, Type: "CDS"}, TTL: ttl,
		Records: keyRecords(z.ksks, func(k Key) dns.RR { return &dns.CDS{DS: *k.DS()} })}
}

// CDNSKEY: see CDS.
func (z *Zone) CDNSKEY(ttl uint32) rrset.Set {
	return rrset.Set{Key: rrset.Key{Name: z.name, Type: "CDNSKEY"}, TTL: ttl,
		Records: keyRecords(z.ksks, func(k Key) dns.RR { return &dns.CDNSKEY{DNSKEY: *k.DNSKEY} })}
}

func keyRecords(keys []Key, rr func(Key) dns.RR) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = Content(rr(k))
	}
	return out
}

// SetKeys makes ksks sign the DNSKEY, CDS and CDNSKEY RRsets, zsk the
// rest, and published the DNSKEY RRset (the caller applies the RRsets of
// DNSKEY, CDS and CDNSKEY again). It reports whether the ZSK changed:
// every other signature is then dropped, for the caller to make again
// (ResignAll).
func (z *Zone) SetKeys(ksks []Key, zsk Key, published []Key) (zskChanged bool) {
	if !sameKeys(ksks, z.ksks) {
		for _, t := range kskTypes {
			z.unsign(rrset.Key{Name: z.name, Type: t})
		}
	}
	z.ksks, z.published = slices.Clone(ksks), slices.Clone(published)
	if zsk.Tag() == z.zsk.Tag() && zsk.DNSKEY.Algorithm == z.zsk.DNSKEY.Algorithm {
		return false
	}
	z.zsk = zsk
	for k := range z.sigs {
		if !slices.Contains(kskTypes, k.Type) || k.Name != z.name {
			z.unsign(k)
		}
	}
	return true
}

// kskTypes are the apex types the KSKs sign.
var kskTypes = []string{"CDNSKEY", "CDS", "DNSKEY"}

func sameKeys(a, b []Key) bool {
	return slices.EqualFunc(a, b, func(x, y Key) bool {
		return x.Tag() == y.Tag() && x.DNSKEY.Algorithm == y.DNSKEY.Algorithm
	})
}

// ResignAll signs every RRset that lacks a signature (after SetKeys
// changed the ZSK) and returns the RRSIG RRsets of their names.
func (z *Zone) ResignAll(w Window) ([]rrset.Set, error) {
	var keys []rrset.Key
	for k := range z.sets {
		if z.sigs[k] == nil && z.signs(k) {
			keys = append(keys, k)
		}
	}
	for _, d := range z.denial {
		if z.sigs[d.Key] == nil {
			keys = append(keys, d.Key)
		}
	}
	return z.Resign(keys, w)
}

// Change is what Apply asks to publish: RRsets to write and keys to delete
// (data, RRSIG and NSEC RRsets alike).
type Change struct {
	Upserts []rrset.Set
	Deletes []rrset.Key
}

// Apply takes sets into the zone (a set without records deletes its key)
// and returns what to publish: the data, the RRSIG RRsets of every name
// whose signatures changed (PowerDNS keeps one RRSIG RRset per name, for
// all its types), and the NSEC or NSEC3 records that changed.
func (z *Zone) Apply(sets []rrset.Set, w Window) (Change, error) {
	var ch Change
	sigNames := map[string]bool{}
	var touched []string // names whose types changed
	cuts := false
	for _, s := range sets {
		if !rrset.InZone(s.Name, z.name) {
			return Change{}, fmt.Errorf("signing %s: not in zone %s", s.Key, z.name)
		}
		old, had := z.sets[s.Key]
		if s.Type == "NS" && s.Name != z.name {
			cuts = true
		}
		if len(s.Records) == 0 {
			if !had {
				continue
			}
			delete(z.sets, s.Key)
			z.unsign(s.Key)
			z.types[s.Name] = slices.DeleteFunc(z.types[s.Name], func(t string) bool { return t == s.Type })
			if len(z.types[s.Name]) == 0 {
				delete(z.types, s.Name)
			}
			touched = append(touched, s.Name) // the name's type bitmap, or the name itself
			ch.Deletes = append(ch.Deletes, s.Key)
			sigNames[s.Name] = true
			continue
		}
		if had && old.Equal(s) && z.sigs[s.Key] != nil {
			continue
		}
		z.sets[s.Key] = s
		if !had {
			z.types[s.Name] = append(z.types[s.Name], s.Type)
			touched = append(touched, s.Name)
		}
		ch.Upserts = append(ch.Upserts, s)
		z.replaced(s.Key)
		sigNames[s.Name] = true
	}
	denied := map[string]bool{} // owners whose denial record went
	if len(touched) > 0 || cuts {
		// Only the records that differ are published (and signed) again.
		var changed, gone []string
		if z.relinks(len(touched), cuts) {
			changed, gone = z.relink(touched)
		} else {
			changed, gone = z.rechain()
		}
		for _, n := range changed {
			sigNames[n] = true
		}
		for _, n := range gone {
			sigNames[n], denied[n] = true, true
		}
	}
	for n := range sigNames {
		if err := z.signName(n, w); err != nil {
			return Change{}, err
		}
	}
	names := make([]string, 0, len(sigNames))
	for n := range sigNames {
		names = append(names, n)
	}
	slices.SortFunc(names, Compare)
	for _, n := range names {
		if s, ok := z.denial[n]; ok {
			ch.Upserts = append(ch.Upserts, s)
		} else if denied[n] {
			ch.Deletes = append(ch.Deletes, rrset.Key{Name: n, Type: z.denialType()})
		}
		if sig := z.rrsigs(n); len(sig.Records) > 0 {
			ch.Upserts = append(ch.Upserts, sig)
		} else {
			ch.Deletes = append(ch.Deletes, sig.Key)
		}
	}
	return ch, nil
}

// rechain rebuilds the denial chain and returns the owners whose record
// changed or came, and those whose record went.
func (z *Zone) rechain() (changed, gone []string) {
	owners := make([]Owner, 0, len(z.types))
	for n, ts := range z.types {
		owners = append(owners, Owner{Name: n, Types: ts})
	}
	clear(z.auth)
	for _, o := range Authoritative(z.name, owners) {
		z.auth[o.Name] = true
	}
	var chain []rrset.Set
	if z.nsec3 != nil {
		chain = NSEC3Chain(z.name, owners, *z.nsec3, z.nsecTTL)
	} else {
		chain = NSECChain(z.name, owners, z.nsecTTL)
	}
	next := make(map[string]rrset.Set, len(chain))
	for _, s := range chain {
		next[s.Name] = s
		if old, ok := z.denial[s.Name]; !ok || !old.Equal(s) {
			changed = append(changed, s.Name)
			z.replaced(s.Key)
		}
	}
	for n, s := range z.denial {
		if _, ok := next[n]; !ok {
			gone = append(gone, n)
			z.unsign(s.Key)
		}
	}
	z.denial = next
	z.order = z.order[:0]
	if z.nsec3 == nil {
		for _, s := range chain {
			z.order = append(z.order, s.Name)
		}
	}
	return changed, gone
}

// relinks reports whether a change of the types at n names is cheaper
// done in place (relink) than by rebuilding the chain: few names against
// the zone's (each insertion moves the order's tail), no delegation that
// came or went (the names below it would change sides), and NSEC (an
// NSEC3 chain also has empty non-terminals, and it is rebuilt).
func (z *Zone) relinks(n int, cuts bool) bool {
	return z.nsec3 == nil && !cuts && len(z.order) > 0 && (n <= 256 || n*64 <= len(z.order))
}

// relink changes the NSEC chain in place for the names whose types
// changed (touched), and returns the owners whose record changed or came,
// and those whose record went, as rechain does: a name that comes or goes
// changes its own record and its predecessor's.
func (z *Zone) relink(touched []string) (changed, gone []string) {
	for _, n := range touched {
		i, found := slices.BinarySearchFunc(z.order, n, Compare)
		_, exists := z.types[n]
		switch auth := exists && !z.belowCut(n); {
		case auth && !found:
			z.order = slices.Insert(z.order, i, n)
			z.auth[n] = true
		case !auth && found:
			z.order = slices.Delete(z.order, i, i+1)
			delete(z.auth, n)
			if s, ok := z.denial[n]; ok {
				gone = append(gone, n)
				z.unsign(s.Key)
				delete(z.denial, n)
			}
		}
	}
	seen := map[string]bool{}
	for _, n := range touched {
		i, found := slices.BinarySearchFunc(z.order, n, Compare)
		if found {
			changed = z.relinkAt(i, seen, changed)
		}
		if i > 0 {
			changed = z.relinkAt(i-1, seen, changed)
		}
	}
	return changed, gone
}

// relinkAt makes the NSEC record of the chain's i-th owner again, and
// appends the owner to changed when the record differs.
func (z *Zone) relinkAt(i int, seen map[string]bool, changed []string) []string {
	o := z.order[i]
	if seen[o] {
		return changed
	}
	seen[o] = true
	next := z.name
	if i+1 < len(z.order) {
		next = z.order[i+1]
	}
	owner := Owner{Name: o, Types: z.types[o]}
	if IsCut(z.name, owner) {
		owner = AtCut(owner)
	}
	s := NSEC(owner, next, z.nsecTTL)
	if old, ok := z.denial[o]; ok && old.Equal(s) {
		return changed
	}
	z.denial[o] = s
	z.replaced(s.Key)
	return append(changed, o)
}

// belowCut reports whether name is below a delegation of the zone: glue,
// not the zone's data.
func (z *Zone) belowCut(name string) bool {
	for p := parent(name); p != "" && p != z.name && dns.IsSubDomain(z.name, p); p = parent(p) {
		if slices.Contains(z.types[p], "NS") {
			return true
		}
	}
	return false
}

// signs reports whether the RRset at key is signed: the zone's data, and
// at a delegation only its DS (not its NS, nor data the delegation
// hides); denial records always.
func (z *Zone) signs(key rrset.Key) bool {
	if key.Type == z.denialType() {
		return true
	}
	if !z.auth[key.Name] {
		return false
	}
	if IsCut(z.name, Owner{Name: key.Name, Types: z.types[key.Name]}) {
		return key.Type == "DS"
	}
	return true
}

// signName makes the missing signatures of name's RRsets and NSEC.
func (z *Zone) signName(name string, w Window) error {
	keys := make([]rrset.Key, 0, len(z.types[name])+1)
	for _, t := range z.types[name] {
		keys = append(keys, rrset.Key{Name: name, Type: t})
	}
	if d, ok := z.denial[name]; ok {
		keys = append(keys, d.Key)
	}
	for _, k := range keys {
		set, ok := z.sets[k]
		if d, isDenial := z.denial[name]; isDenial && k == d.Key {
			set, ok = d, true
		}
		if !ok || !z.signs(k) {
			z.unsign(k)
			continue
		}
		if z.sigs[k] != nil {
			continue
		}
		key := z.zsk
		byKSK := k.Name == z.name && slices.Contains(kskTypes, k.Type)
		if byKSK {
			key = z.ksks[0]
		}
		sig := z.takeAdopted(k, set, key)
		if sig == nil {
			var err error
			if sig, err = Sign(set, key, w.For(k)); err != nil {
				return err
			}
		}
		z.sigs[k] = sig
		delete(z.kskSigs, k)
		if byKSK {
			for _, other := range z.ksks[1:] {
				sig, err := Sign(set, other, w.For(k))
				if err != nil {
					return err
				}
				z.kskSigs[k] = append(z.kskSigs[k], sig)
			}
		}
	}
	return nil
}

// rrsigs returns name's RRSIG RRset: the signatures of all its types.
func (z *Zone) rrsigs(name string) rrset.Set {
	out := rrset.Set{Key: rrset.Key{Name: name, Type: "RRSIG"}}
	types := slices.Clone(z.types[name])
	types = append(types, z.denialType())
	slices.Sort(types)
	for _, t := range types {
		k := rrset.Key{Name: name, Type: t}
		if sig := z.sigs[k]; sig != nil {
			out.Records = append(out.Records, Content(sig))
			out.TTL = max(out.TTL, sig.Hdr.Ttl)
			for _, p := range z.kskSigs[k] {
				out.Records = append(out.Records, Content(p))
			}
		}
	}
	return out
}

// Expiring returns the keys whose signature expires before at, so that the
// caller re-signs them (Resign) ahead of time.
func (z *Zone) Expiring(at time.Time) []rrset.Key {
	var out []rrset.Key
	for k, sig := range z.sigs {
		if int64(sig.Expiration) < at.Unix() {
			out = append(out, k)
		}
	}
	rrset.SortKeys(out)
	return out
}

// Resign makes new signatures for keys over w and returns the RRSIG RRsets
// of their names.
func (z *Zone) Resign(keys []rrset.Key, w Window) ([]rrset.Set, error) {
	names := map[string]bool{}
	old := make(map[rrset.Key]*dns.RRSIG, len(keys))
	for _, k := range keys {
		old[k] = z.sigs[k]
		z.unsign(k) // the RRset is as before: its new signature replaces all
		names[k.Name] = true
	}
	var out []rrset.Set
	for n := range names {
		if err := z.signName(n, w); err != nil {
			// What was published stays: those not signed again keep
			// their signature, and are due again at the next check.
			for k, sig := range old {
				if z.sigs[k] == nil && sig != nil {
					z.sigs[k] = sig
				}
			}
			return nil, err
		}
		out = append(out, z.rrsigs(n))
	}
	slices.SortFunc(out, func(a, b rrset.Set) int { return Compare(a.Name, b.Name) })
	return out, nil
}

// replaced drops k's signature, its content having changed. No
// signature of the earlier content stays beside the new one: validators
// that stop at the first signature that fails (BIND since 9.18.24) would
// refuse the RRset when it comes first, and the signer cannot put it
// last: PowerDNS's API sorts the records by their text (the earlier
// signature, which expires first, leads) and its UDP answers shuffle them.
func (z *Zone) replaced(k rrset.Key) { delete(z.sigs, k) }

// unsign drops k's signatures (the other KSKs' too).
func (z *Zone) unsign(k rrset.Key) {
	delete(z.sigs, k)
	delete(z.kskSigs, k)
}

// EarliestExpiry returns when the first of the zone's signatures expires,
// and false if it holds none.
func (z *Zone) EarliestExpiry() (time.Time, bool) {
	var first uint32
	for _, sig := range z.sigs {
		if first == 0 || sig.Expiration < first {
			first = sig.Expiration
		}
	}
	if first == 0 {
		return time.Time{}, false
	}
	return time.Unix(int64(first), 0).UTC(), true
}

// Signatures returns how many RRsets the zone holds a signature of.
func (z *Zone) Signatures() int { return len(z.sigs) }
