package events

import "github.com/zonecast/zonecast/internal/rrset"

// ParseSignedSubject is ParseSubject for a signer's subjects: the type
// may be one of a signed zone's (rrset.SignedTypes).
func ParseSignedSubject(prefix, subject string) (rrset.Key, string, error) {
	return parseSubject(prefix, subject, rrset.CanonicalSignedType)
}

// DecodeSignedWithSubject is DecodeWithSubject for a signer's message.
func DecodeSignedWithSubject(prefix, subject string, data []byte) (Message, error) {
	m, err := DecodeSigned(data)
	if err == nil && isSubject(subject, prefix, m) {
		return m, nil
	}
	key, origin, perr := ParseSignedSubject(prefix, subject)
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
