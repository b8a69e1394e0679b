package events

import (
	"fmt"
	"iter"
	"slices"
	"strings"

	"github.com/zonecast/zonecast/internal/rrset"
)

// DefaultSubjectPrefix is where record events live unless configured.
const DefaultSubjectPrefix = "zonecast.rr"

// DefaultSignedPrefix is where a signer (zonecast-signer) publishes the
// signed zones it makes from the record subjects, in the same stream and
// with the same subjects below it: the signer's own origin, the name's
// labels reversed, the type. Syncers of a signed zone follow
// ZoneFilter(DefaultSignedPrefix, zone) instead of the record prefix's.
const DefaultSignedPrefix = "zonecast.signed"

// wildcardToken stands for the DNS wildcard label '*', which NATS reserves.
const wildcardToken = "%2a"

// Subject returns the subject of (name, type, origin): the prefix, the
// origin, the name's labels from the root down, and the type. A zone's
// events are therefore all matched by ZoneFilter(prefix, zone), and one
// origin's events in a zone by OriginFilter: NATS permissions can confine a
// source to its own origin and zones. The arguments must be canonical (see
// Validate).
//
//	web.example.com. AAAA node1  ->  zonecast.rr.node1.com.example.web.AAAA
func Subject(prefix string, m Message) string {
	var b strings.Builder
	b.Grow(len(prefix) + len(m.Name) + len(m.Type) + len(m.Origin) + 3)
	b.WriteString(prefix)
	b.WriteByte('.')
	b.WriteString(m.Origin)
	writeReversed(&b, m.Name)
	b.WriteByte('.')
	b.WriteString(m.Type)
	return b.String()
}

func writeReversed(b *strings.Builder, name string) {
	for piece := range reversedPieces(name) {
		b.WriteString(piece)
	}
}

// reversedPieces yields, in order, the pieces of a subject that stand for
// name: a dot before each label, from the root down, and the label
// (wildcardToken for '*').
func reversedPieces(name string) iter.Seq[string] {
	return func(yield func(string) bool) {
		if name == "." {
			return // the root has no label
		}
		rest := strings.TrimSuffix(name, ".")
		if rest == "" && !yield(".") { // not canonical; as strings.Split would have it
			return
		}
		for rest != "" {
			label := rest
			if i := strings.LastIndexByte(rest, '.'); i >= 0 {
				label, rest = rest[i+1:], rest[:i]
			} else {
				rest = ""
			}
			if label == "*" {
				label = wildcardToken
			}
			if !yield(".") || !yield(label) {
				return
			}
		}
	}
}

// isSubject reports whether subject == Subject(prefix, m), without
// building it (the syncer checks every delivery).
func isSubject(subject, prefix string, m Message) bool {
	s, ok := strings.CutPrefix(subject, prefix)
	if !ok {
		return false
	}
	if s, ok = strings.CutPrefix(s, "."); !ok {
		return false
	}
	if s, ok = strings.CutPrefix(s, m.Origin); !ok {
		return false
	}
	for piece := range reversedPieces(m.Name) {
		if s, ok = strings.CutPrefix(s, piece); !ok {
			return false
		}
	}
	if s, ok = strings.CutPrefix(s, "."); !ok {
		return false
	}
	return s == m.Type
}

// ZoneFilter returns the subject filter matching every event of names in
// zone (canonical), apex included, from any origin.
func ZoneFilter(prefix, zone string) string {
	return OriginFilter(prefix, "*", zone)
}

// OriginFilter returns the subject filter matching the events of one
// origin for names in zone (canonical), apex included: what a source with
// that origin may publish.
func OriginFilter(prefix, origin, zone string) string {
	var b strings.Builder
	b.WriteString(prefix)
	b.WriteByte('.')
	b.WriteString(origin)
	writeReversed(&b, zone)
	b.WriteString(".>")
	return b.String()
}

// ZoneFilters returns the subject filters of a set of canonical zones,
// leaving out zones below another zone of the set: JetStream refuses a
// consumer whose filters overlap, and the parent's filter covers them.
func ZoneFilters(prefix string, zones []string) []string {
	var out []string
	for _, z := range zones {
		covered := false
		for _, p := range zones {
			if p != z && rrset.InZone(z, p) {
				covered = true
				break
			}
		}
		if !covered && !slices.Contains(out, ZoneFilter(prefix, z)) {
			out = append(out, ZoneFilter(prefix, z))
		}
	}
	return out
}

// ParseSubject splits a subject into its name, type and origin. The type
// must be one a source may publish (rrset.CanonicalType).
func ParseSubject(prefix, subject string) (rrset.Key, string, error) {
	return parseSubject(prefix, subject, rrset.CanonicalType)
}

// parseSubject is ParseSubject with the check of the type token given:
// a signer's subjects (DefaultSignedPrefix) carry the types of a signed
// zone too.
func parseSubject(prefix, subject string, canonicalType func(string) (string, error)) (rrset.Key, string, error) {
	rest, ok := strings.CutPrefix(subject, prefix+".")
	if !ok {
		return rrset.Key{}, "", invalidf("subject %q is not below %q", subject, prefix)
	}
	tokens := strings.Split(rest, ".")
	if len(tokens) < 3 {
		return rrset.Key{}, "", invalidf("subject %q has too few tokens", subject)
	}
	origin := tokens[0]
	typ := tokens[len(tokens)-1]
	labels := tokens[1 : len(tokens)-1]
	slices.Reverse(labels)
	for i, l := range labels {
		if l == wildcardToken {
			labels[i] = "*"
		}
	}
	name, err := rrset.CanonicalName(strings.Join(labels, "."))
	if err != nil {
		return rrset.Key{}, "", fmt.Errorf("parsing subject %q: %w", subject, err)
	}
	if typ != strings.ToUpper(typ) {
		return rrset.Key{}, "", invalidf("subject %q: type token not upper case", subject)
	}
	if typ, err = canonicalType(typ); err != nil {
		return rrset.Key{}, "", fmt.Errorf("parsing subject %q: %w", subject, err)
	}
	if err := CheckOrigin(origin); err != nil {
		return rrset.Key{}, "", fmt.Errorf("parsing subject %q: %w", subject, err)
	}
	// Only the subject Subject would write is accepted: an upper-case label
	// or a literal '*' token names the same RRset on another subject, where
	// a second message (and its lease) would outlive the canonical one
	// despite MaxMsgsPerSubject=1.
	m := Message{Name: name, Type: typ, Origin: origin}
	if want := Subject(prefix, m); want != subject {
		return rrset.Key{}, "", invalidf("subject %q is not canonical (want %q)", subject, want)
	}
	return rrset.Key{Name: name, Type: typ}, origin, nil
}

// DecodeWithSubject decodes a body and checks that it agrees with the
// subject it arrived on, so that a publisher allowed one subject cannot
// write another RRset through the body.
func DecodeWithSubject(prefix, subject string, data []byte) (Message, error) {
	return decodeWithSubject(prefix, subject, data, Decode, ParseSubject)
}

func decodeWithSubject(prefix, subject string, data []byte, decode func([]byte) (Message, error),
	parse func(prefix, subject string) (rrset.Key, string, error)) (Message, error) {
	m, err := decode(data)
	if err == nil && isSubject(subject, prefix, m) {
		return m, nil // the body's own subject: canonical and matching
	}
	// Something is wrong: parse the subject to say what, subject first.
	key, origin, perr := parse(prefix, subject)
	if perr != nil {
		return Message{}, perr
	}
	if err != nil {
		return Message{}, err
	}
	if m.Key() != key || m.Origin != origin {
		return Message{}, invalidf("body (%s %s %s) does not match subject %q", m.Name, m.Type, m.Origin, subject)
	}
	return m, nil
}
