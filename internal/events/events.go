// Package events is zonecast's wire format: the record event a source
// publishes to JetStream, its subject, and its validation. It is pure: no
// I/O. docs/wire-format.md describes the same format for third parties.
package events

import (
	"encoding/json"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/zonecast/zonecast/internal/rrset"
)

// Version is the format version this package writes and accepts.
const Version = 1

// Bounds on what one message may carry.
const (
	MaxMessageBytes = 32 * 1024
	MaxRecords      = 64
	MinTTL          = 1
	MaxTTL          = 604800 // one week
	MaxOriginLen    = 64
)

// ErrInvalid is wrapped by every error that rejects a message for good:
// retrying the same bytes can never succeed.
var ErrInvalid = rrset.ErrInvalid

// Message is the complete desired contribution of one origin to one RRset.
// A message without records is a tombstone: the origin no longer contributes.
type Message struct {
	Version int      `json:"v"`
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	Origin  string   `json:"origin"`
	TTL     uint32   `json:"ttl"`
	Records []string `json:"records"`
}

// Tombstone reports whether m withdraws the origin's contribution.
func (m Message) Tombstone() bool { return len(m.Records) == 0 }

// Key returns the RRset the message is about.
func (m Message) Key() rrset.Key { return rrset.Key{Name: m.Name, Type: m.Type} }

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Decode parses and validates one message body. Unknown fields (names are
// case-sensitive), duplicate fields, a missing or unknown version, trailing
// data and oversize bodies are rejected.
func Decode(data []byte) (Message, error) { return decode(data, Validate) }

// DecodeSigned is Decode for a signer's message (zonecast-signer's
// subjects): the types of a signed zone are allowed too (SOA, DNSKEY,
// RRSIG, NSEC, NSEC3, ...), see ValidateSigned.
func DecodeSigned(data []byte) (Message, error) { return decode(data, ValidateSigned) }

func decode(data []byte, validate func(Message) (Message, error)) (Message, error) {
	if len(data) > MaxMessageBytes {
		return Message{}, invalidf("message of %d bytes exceeds %d", len(data), MaxMessageBytes)
	}
	if !utf8.Valid(data) {
		// encoding/json would silently turn each bad byte into U+FFFD,
		// publishing something else than what the sender meant.
		return Message{}, invalidf("message is not valid UTF-8")
	}
	m, err := decodeObject(data)
	if err != nil {
		return Message{}, err
	}
	v, err := validate(m)
	if err != nil {
		return Message{}, err
	}
	// The canonical form can be larger than the body (TXT words become
	// quoted strings, JSON escapes): accept only what Encode can write back.
	// Canonicalisation grows content at most about five times, so small
	// bodies need no check.
	if len(data)*6+1024 >= MaxMessageBytes {
		if _, err := marshal(v); err != nil {
			return Message{}, err
		}
	}
	return v, nil
}

// decodeObject reads one JSON object into a Message. Field names must match
// exactly and appear at most once: encoding/json alone matches names without
// regard to case and keeps the last of duplicates, so {"name":"a.","NAME":"b."}
// would mean b. here and a. to a stricter reader of the same stream.
func decodeObject(data []byte) (Message, error) {
	if m, ok := decodeFast(data); ok {
		return m, nil
	}
	return decodeGeneral(data)
}

// decodeGeneral is decodeObject for any input, with encoding/json.
func decodeGeneral(data []byte) (Message, error) {
	var seen [len(fieldNames)]bool
	err := scanKeys(data, func(key []byte) error {
		i := 0
		for i < len(fieldNames) && fieldNames[i] != string(key) {
			i++
		}
		switch {
		case i == len(fieldNames):
			return invalidf("decoding json: unknown field %q", key)
		case seen[i]:
			return invalidf("decoding json: duplicate field %q", key)
		}
		seen[i] = true
		return nil
	})
	if err != nil {
		return Message{}, err
	}
	// The keys are now known to be exact and distinct, so encoding/json's
	// case-insensitive matching cannot pick another field.
	var m Message
	if err := json.Unmarshal(data, &m); err != nil {
		return Message{}, invalidf("decoding json: %v", err)
	}
	return m, nil
}

var fieldNames = [...]string{"v", "name", "type", "origin", "ttl", "records"}

// scanKeys walks the top level of one JSON object and calls visit with
// each key's raw bytes. Keys with escapes are refused (no field name needs
// one). Values are skipped, not validated: json.Unmarshal does that. Any
// structural surprise is an error.
func scanKeys(data []byte, visit func([]byte) error) error {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return invalidf("decoding json: not a json object")
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		if skipSpace(data, i+1) != len(data) {
			return invalidf("trailing data after the json object")
		}
		return nil
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return invalidf("decoding json: expected a field name")
		}
		end := i + 1
		for end < len(data) && data[end] != '"' {
			if data[end] == '\\' {
				return invalidf("decoding json: escaped field name")
			}
			end++
		}
		if end >= len(data) {
			return invalidf("decoding json: unterminated field name")
		}
		if err := visit(data[i+1 : end]); err != nil {
			return err
		}
		i = skipSpace(data, end+1)
		if i >= len(data) || data[i] != ':' {
			return invalidf("decoding json: expected ':'")
		}
		var err error
		if i, err = skipValue(data, skipSpace(data, i+1)); err != nil {
			return err
		}
		i = skipSpace(data, i)
		if i >= len(data) {
			return invalidf("decoding json: unterminated object")
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			if skipSpace(data, i+1) != len(data) {
				return invalidf("trailing data after the json object")
			}
			return nil
		default:
			return invalidf("decoding json: expected ',' or '}'")
		}
	}
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index just after the JSON value starting at i.
func skipValue(data []byte, i int) (int, error) {
	depth := 0
	for i < len(data) {
		switch c := data[i]; c {
		case '"':
			i++
			for i < len(data) && data[i] != '"' {
				if data[i] == '\\' {
					i++
				}
				i++
			}
			if i >= len(data) {
				return 0, invalidf("decoding json: unterminated string")
			}
			i++
		case '{', '[':
			depth++
			i++
		case '}', ']':
			if depth == 0 {
				return i, nil
			}
			depth--
			i++
		case ',':
			if depth == 0 {
				return i, nil
			}
			i++
		default:
			i++
		}
		if depth == 0 && i < len(data) && (data[i] == ',' || data[i] == '}' || data[i] == ' ' ||
			data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
			return i, nil
		}
	}
	return 0, invalidf("decoding json: unterminated value")
}

// Validate checks m and returns its canonical form: name lowercased and
// fully qualified, type upper case, records canonical, sorted and distinct.
func Validate(m Message) (Message, error) { return validate(m, rrset.CanonicalType) }

// ValidateSigned is Validate for a signer's message: its type may also be
// one of rrset.SignedTypes.
func ValidateSigned(m Message) (Message, error) { return validate(m, rrset.CanonicalSignedType) }

func validate(m Message, canonicalType func(string) (string, error)) (Message, error) {
	if m.Version != Version {
		return Message{}, invalidf("format version %d, want %d", m.Version, Version)
	}
	name, err := rrset.CanonicalName(m.Name)
	if err != nil {
		return Message{}, fmt.Errorf("validating name: %w", err)
	}
	typ, err := canonicalType(m.Type)
	if err != nil {
		return Message{}, fmt.Errorf("validating type: %w", err)
	}
	if err := CheckOrigin(m.Origin); err != nil {
		return Message{}, err
	}
	out := Message{Version: Version, Name: name, Type: typ, Origin: m.Origin}
	if len(m.Records) == 0 {
		return out, nil // tombstone: TTL is irrelevant
	}
	if m.TTL < MinTTL || m.TTL > MaxTTL {
		return Message{}, invalidf("ttl %d outside [%d, %d]", m.TTL, MinTTL, MaxTTL)
	}
	if len(m.Records) > MaxRecords {
		return Message{}, invalidf("%d records exceed %d", len(m.Records), MaxRecords)
	}
	out.TTL = m.TTL
	out.Records = make([]string, 0, len(m.Records))
	for _, r := range m.Records {
		c, err := rrset.CanonicalContent(typ, r)
		if err != nil {
			return Message{}, fmt.Errorf("validating record: %w", err)
		}
		out.Records = append(out.Records, c)
	}
	slices.Sort(out.Records)
	out.Records = slices.Compact(out.Records)
	if typ == "CNAME" && len(out.Records) > 1 {
		return Message{}, invalidf("CNAME with %d records", len(out.Records))
	}
	return out, nil
}

// CheckOrigin validates an origin id: 1-64 characters of a-z, 0-9, '-' and
// '_', starting with a letter or digit. It is used as one subject token.
func CheckOrigin(o string) error {
	if o == "" || len(o) > MaxOriginLen {
		return invalidf("origin %q must have 1 to %d characters", o, MaxOriginLen)
	}
	for i := 0; i < len(o); i++ {
		c := o[i]
		alnum := (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
		if alnum || (i > 0 && (c == '-' || c == '_')) {
			continue
		}
		return invalidf("origin %q has character %q (allowed: a-z 0-9 - _, starting with a-z 0-9)", o, c)
	}
	return nil
}

// Encode validates m and returns its canonical wire form.
func Encode(m Message) ([]byte, error) {
	v, err := Validate(m)
	if err != nil {
		return nil, err
	}
	return marshal(v)
}

// EncodeSigned is Encode for a signer's message (see ValidateSigned).
func EncodeSigned(m Message) ([]byte, error) {
	v, err := ValidateSigned(m)
	if err != nil {
		return nil, err
	}
	return marshal(v)
}

// marshal writes a validated message in its wire form, within MaxMessageBytes.
func marshal(v Message) ([]byte, error) {
	if v.Records == nil {
		v.Records = []string{}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding message: %w", err)
	}
	if len(b) > MaxMessageBytes {
		return nil, invalidf("canonical message of %d bytes exceeds %d", len(b), MaxMessageBytes)
	}
	return b, nil
}
