package events

import (
	"fmt"
	"strings"

	"github.com/zonecast/zonecast/internal/rrset"
)

// ParseSignedSubject is ParseSubject for a signer's subjects: the type
// may be one of a signed zone's (rrset.SignedTypes).
func ParseSignedSubject(prefix, subject string) (rrset.Key, string, error) {
	return parseSubject(prefix, subject, rrset.CanonicalSignedType)
}

// DecodeSignedWithSubject is DecodeWithSubject for a signer's message.
func DecodeSignedWithSubject(prefix, subject string, data []byte) (Message, error) {
	return decodeWithSubject(prefix, subject, data, DecodeSigned, ParseSignedSubject)
}

// SignedPrefixFor returns the signed prefix that goes with a record
// prefix when none is given: DefaultSignedPrefix beside the default one,
// else <prefix>-signed, so that two fleets' subjects do not overlap.
func SignedPrefixFor(prefix string) string {
	if prefix == DefaultSubjectPrefix {
		return DefaultSignedPrefix
	}
	return prefix + "-signed"
}

// CheckSignedPrefix reports a signed prefix whose subjects would overlap
// the record subjects of prefix.
func CheckSignedPrefix(prefix, signed string) error {
	if signed == prefix || strings.HasPrefix(signed, prefix+".") || strings.HasPrefix(prefix, signed+".") {
		return fmt.Errorf("signed prefix %s overlaps record prefix %s", signed, prefix)
	}
	return nil
}
