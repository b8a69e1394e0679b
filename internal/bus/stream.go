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

// Stream defaults.
const (
	DefaultStreamName      = "ZONECAST"
	DefaultDeleteMarkerTTL = 15 * time.Minute
)

// ErrIncompatibleStream is wrapped by EnsureStream when a stream of that
// name exists with settings zonecast cannot work with and cannot change.
var ErrIncompatibleStream = errors.New("incompatible stream")

// StreamConfig describes the record stream. Zero values take the defaults.
type StreamConfig struct {
	Name            string        // default DefaultStreamName
	Prefix          string        // subject prefix, default events.DefaultSubjectPrefix
	Replicas        int           // default 1
	DeleteMarkerTTL time.Duration // how long expiry markers stay, default DefaultDeleteMarkerTTL, at least 1s
}

func (c StreamConfig) withDefaults() StreamConfig {
	if c.Name == "" {
		c.Name = DefaultStreamName
	}
	if c.Prefix == "" {
		c.Prefix = events.DefaultSubjectPrefix
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.DeleteMarkerTTL <= 0 {
		c.DeleteMarkerTTL = DefaultDeleteMarkerTTL
	}
	return c
}

// jsConfig is the JetStream configuration for c (defaults applied).
func (c StreamConfig) jsConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:                   c.Name,
		Description:            "zonecast desired DNS state: last message per (name, type, origin)",
		Subjects:               []string{c.Prefix + ".>"},
		Retention:              jetstream.LimitsPolicy,
		Storage:                jetstream.FileStorage,
		Discard:                jetstream.DiscardOld,
		MaxMsgs:                -1,
		MaxBytes:               -1,
		MaxMsgsPerSubject:      1,
		MaxMsgSize:             events.MaxMessageBytes + 4096, // body + headers
		Replicas:               c.Replicas,
		AllowMsgTTL:            true,
		SubjectDeleteMarkerTTL: c.DeleteMarkerTTL,
		AllowRollup:            true, // required by delete markers
		DenyPurge:              false,
	}
}

// EnsureStream creates the record stream, or checks an existing one. An
// existing stream must have exactly the subject prefix.>, limits retention,
// file storage, one message per subject and no age or size limit that would
// drop desired state; otherwise the error wraps ErrIncompatibleStream. The
// settings that can change (replicas, TTL support, delete marker TTL,
// discard policy, roll-ups) are updated when they differ.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg StreamConfig) (jetstream.Stream, error) {
	cfg = cfg.withDefaults()
	if cfg.DeleteMarkerTTL < time.Second {
		return nil, fmt.Errorf("ensuring stream %s: delete marker ttl %s is under 1s", cfg.Name, cfg.DeleteMarkerTTL)
	}
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
	st, err = js.UpdateStream(ctx, upd)
	if err != nil {
		return nil, fmt.Errorf("updating stream %s: %w", cfg.Name, err)
	}
	return st, nil
}

// checkCompatible reports why an existing stream cannot hold zonecast's
// desired state, if it cannot.
func checkCompatible(have, want jetstream.StreamConfig) error {
	bad := func(what string, h, w any) error {
		return fmt.Errorf("%w: %s is %v, want %v", ErrIncompatibleStream, what, h, w)
	}
	switch {
	case !slices.Equal(have.Subjects, want.Subjects):
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
	upd.DenyPurge = want.DenyPurge
	changed := upd.Replicas != have.Replicas || upd.AllowMsgTTL != have.AllowMsgTTL ||
		upd.SubjectDeleteMarkerTTL != have.SubjectDeleteMarkerTTL || upd.Discard != have.Discard ||
		upd.AllowRollup != have.AllowRollup || upd.DenyPurge != have.DenyPurge
	return upd, changed
}
