package events

import "github.com/zonecast/zonecast/internal/rrset"

// ParseSignedSubject is ParseSubject for a signer's subjects: the type
// may be one of a signed zone's (rrset.SignedTypes).
func ParseSignedSubject(prefix, subject string) (rrset.Key, string, error) {
	return parseSubject(prefix, subject, rrset.CanonicalSignedType)
}

// DecodeSignedWithSubject is DecodeWithSubject for a signer's message.
func DecodeSignedWithSubject(prefix, subject string, data []byte) (Message, error) {
	return decodeWithSubject(prefix, subject, data, DecodeSigned, ParseSignedSubject)
}
