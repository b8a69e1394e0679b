package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/zonecast/zonecast/internal/events"
)

// DefaultStreamName is the record stream's name.
const DefaultStreamName = "ZONECAST"

// ErrIncompatibleStream is wrapped by EnsureStream when a stream of that
// name exists with settings zonecast cannot work with and cannot change.
var ErrIncompatibleStream = errors.New("incompatible stream")

// ErrStreamOutdated is wrapped by EnsureStream, which returns the stream
// too, when the stream's changeable settings differ from zonecast's and
// the update failed: a syncer user may not update the stream (only admin
// may), and a stream made by an older zonecast still allows roll-ups.
var ErrStreamOutdated = errors.New("stream settings not updated")

// StreamConfig describes the record stream. Zero values take the defaults.
type StreamConfig struct {
	Name   string // default DefaultStreamName
	Prefix string // subject prefix, default events.DefaultSubjectPrefix
	// SignedPrefix is the signers' subject prefix (the signed zones), in
	// the same stream; default events.DefaultSignedPrefix.
	SignedPrefix string
	Replicas     int // default 1
}

func (c StreamConfig) withDefaults() StreamConfig {
	if c.Name == "" {
		c.Name = DefaultStreamName
	}
	if c.Prefix == "" {
		c.Prefix = events.DefaultSubjectPrefix
	}
	if c.SignedPrefix == "" {
		c.SignedPrefix = events.DefaultSignedPrefix
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	return c
}

// jsConfig is the JetStream configuration for c (defaults applied).
//
// Roll-ups are off, and so are subject delete markers, which would force
// them on: a roll-up header (Nats-Rollup: all) on any message a client may
// publish purges the whole stream, and subject permissions cannot filter
// headers. So a lease that runs out leaves no marker; readers end it on
// their own clock (internal/lease), and the syncers publish its tombstone
// (internal/reap). Purges and deletions stay possible for admin users,
// whose permissions allow the JetStream API: no other role's do.
//
// Atomic batches are on: a signer publishes each change of a signed zone
// (the RRsets, their signatures, the NSEC chain's links, the SOA) as one
// batch that the stream stores all or nothing (Publisher.PublishAtomic).
func (c StreamConfig) jsConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:                   c.Name,
		Description:            "zonecast desired DNS state: last message per (name, type, origin)",
		Subjects:               []string{c.Prefix + ".>", c.SignedPrefix + ".>"},
		Retention:              jetstream.LimitsPolicy,
		Storage:                jetstream.FileStorage,
		Discard:                jetstream.DiscardOld,
		MaxMsgs:                -1,
		MaxBytes:               -1,
		MaxMsgsPerSubject:      1,
		MaxMsgSize:             events.MaxMessageBytes + 4096, // body + headers
		Replicas:               c.Replicas,
		AllowMsgTTL:            true,
		SubjectDeleteMarkerTTL: 0,
		AllowRollup:            false,
		AllowAtomicPublish:     true,
	}
}

// EnsureStream creates the record stream, or checks an existing one. An
// existing stream must have exactly the subjects prefix.> and
// signedprefix.> (or only prefix.>, as made before the signers: the
// signed subjects are added), limits retention,
// file storage, one message per subject, no age or size limit that would
// drop desired state, no sources, mirror or message schedules (each a way
// around the checks of a direct publish); otherwise the error wraps
// ErrIncompatibleStream. The settings that can change (the signed
// subjects, replicas, TTL support, atomic batches, discard policy, delete
// markers and roll-ups, which are turned off) are updated when they
// differ.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg StreamConfig) (jetstream.Stream, error) {
	cfg = cfg.withDefaults()
	want := cfg.jsConfig()
	st, err := js.Stream(ctx, cfg.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		st, err = js.CreateStream(ctx, want)
		if err != nil {
			return nil, fmt.Errorf("creating stream %s: %w", cfg.Name, err)
		}
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("looking up stream %s: %w", cfg.Name, err)
	}
	have := st.CachedInfo().Config
	if err := checkCompatible(have, want); err != nil {
		return nil, fmt.Errorf("ensuring stream %s: %w", cfg.Name, err)
	}
	upd, changed := mergeMutable(have, want)
	if !changed {
		return st, nil
	}
	uctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	updated, err := js.UpdateStream(uctx, upd)
	if err != nil {
		return st, fmt.Errorf("updating stream %s (subjects %v, roll-ups %v, delete markers %v, atomic batches %v, replicas %d): %w: %w",
			cfg.Name, have.Subjects, have.AllowRollup, have.SubjectDeleteMarkerTTL, have.AllowAtomicPublish, have.Replicas,
			ErrStreamOutdated, err)
	}
	if c := updated.CachedInfo().Config; c.AllowRollup || c.SubjectDeleteMarkerTTL > 0 {
		return nil, fmt.Errorf("ensuring stream %s: %w: the server kept roll-ups on", cfg.Name, ErrIncompatibleStream)
	}
	return updated, nil
}

// checkCompatible reports why an existing stream cannot hold zonecast's
// desired state, if it cannot.
func checkCompatible(have, want jetstream.StreamConfig) error {
	bad := func(what string, h, w any) error {
		return fmt.Errorf("%w: %s is %v, want %v", ErrIncompatibleStream, what, h, w)
	}
	switch {
	case !sameSubjects(have.Subjects, want.Subjects) && !sameSubjects(have.Subjects, want.Subjects[:1]):
		return bad("subjects", have.Subjects, want.Subjects)
	case have.MaxMsgsPerSubject != 1:
		return bad("max messages per subject", have.MaxMsgsPerSubject, 1)
	case have.Retention != want.Retention:
		return bad("retention", have.Retention, want.Retention)
	case have.Storage != want.Storage:
		return bad("storage", have.Storage, want.Storage)
	case have.MaxAge != 0:
		return bad("max age", have.MaxAge, "none")
	case have.MaxMsgs > 0:
		return bad("max messages", have.MaxMsgs, "none")
	case have.MaxBytes > 0:
		return bad("max bytes", have.MaxBytes, "none")
	case have.Sealed:
		return bad("sealed", true, false)
	case len(have.Sources) > 0 || have.Mirror != nil:
		return bad("sources or mirror", "set", "none")
	case have.AllowMsgSchedules:
		return bad("message schedules", true, false) // they force roll-ups on, and cannot be turned off
	}
	return nil
}

// mergeMutable returns have with the changeable settings of want, and
// whether anything changed.
func mergeMutable(have, want jetstream.StreamConfig) (jetstream.StreamConfig, bool) {
	upd := have
	upd.Replicas = want.Replicas
	upd.AllowMsgTTL = want.AllowMsgTTL
	upd.SubjectDeleteMarkerTTL = want.SubjectDeleteMarkerTTL
	upd.Discard = want.Discard
	upd.AllowRollup = want.AllowRollup
	upd.AllowAtomicPublish = want.AllowAtomicPublish
	subjects := !sameSubjects(have.Subjects, want.Subjects) // checkCompatible: the record subjects alone
	if subjects {
		upd.Subjects = slices.Clone(want.Subjects)
	}
	changed := subjects || upd.Replicas != have.Replicas || upd.AllowMsgTTL != have.AllowMsgTTL ||
		upd.SubjectDeleteMarkerTTL != have.SubjectDeleteMarkerTTL || upd.Discard != have.Discard ||
		upd.AllowRollup != have.AllowRollup || upd.AllowAtomicPublish != have.AllowAtomicPublish
	return upd, changed
}

// sameSubjects reports whether a and b hold the same subjects, in any
// order.
func sameSubjects(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
