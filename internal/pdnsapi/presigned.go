package pdnsapi

// PowerDNS 4.7's API cannot mark a zone presigned (it ignores
// "presigned" in a zone's POST and PUT, and refuses the PRESIGNED
// metadata kind), but its metadata listing shows the kind once
// `pdnsutil set-presigned` has set it: a syncer reads it there, with the
// ownership record, to tell a zone set up for signed data from one that
// is not.

// MetaPresigned is the metadata kind of a presigned zone.
const MetaPresigned = "PRESIGNED"

// Presigned reports whether a zone's metadata (AllMetadata) marks it
// presigned.
func Presigned(meta map[string][]string) bool {
	v := meta[MetaPresigned]
	return len(v) == 1 && v[0] == "1"
}
