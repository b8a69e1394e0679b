package bus

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestEnsureStreamIdempotent(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t, false)
	_, js := ts.inProcess(t)
	ctx := ctxFor(t, 10*time.Second)
	first, err := EnsureStream(ctx, js, StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	second, err := EnsureStream(ctx, js, StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	a, b := first.CachedInfo(), second.CachedInfo()
	if !a.Created.Equal(b.Created) {
		t.Errorf("stream recreated: created %v then %v", a.Created, b.Created)
	}
	cfg := b.Config
	if cfg.Name != DefaultStreamName || !slices.Equal(cfg.Subjects, []string{"zonecast.rr.>", "zonecast.signed.>"}) ||
		!cfg.AllowAtomicPublish ||
		cfg.MaxMsgsPerSubject != 1 || !cfg.AllowMsgTTL || cfg.SubjectDeleteMarkerTTL != 0 || cfg.AllowRollup ||
		cfg.Storage != jetstream.FileStorage || cfg.Discard != jetstream.DiscardOld {
		t.Errorf("unexpected stream config %+v", cfg)
	}
}

// TestEnsureStreamExisting starts from streams made by hand.
func TestEnsureStreamExisting(t *testing.T) {
	t.Parallel()
	base := jetstream.StreamConfig{
		Name: "ZONECAST", Subjects: []string{"zonecast.rr.>"}, Storage: jetstream.FileStorage,
		MaxMsgsPerSubject: 1,
	}
	with := func(f func(*jetstream.StreamConfig)) jetstream.StreamConfig {
		c := base
		f(&c)
		return c
	}
	tests := map[string]struct {
		existing     jetstream.StreamConfig
		incompatible bool
	}{
		// Before the signers: the record subjects only, no atomic batches.
		"ttl off is switched on, signed subjects and batches added": {existing: base},
		"both subjects, other order": {existing: with(func(c *jetstream.StreamConfig) {
			c.Subjects, c.AllowMsgTTL = []string{"zonecast.signed.>", "zonecast.rr.>"}, true
		})},
		"signed subjects only": {existing: with(func(c *jetstream.StreamConfig) { c.Subjects = []string{"zonecast.signed.>"} }), incompatible: true},
		"record and other subjects": {existing: with(func(c *jetstream.StreamConfig) {
			c.Subjects = []string{"zonecast.rr.>", "other.>"}
		}), incompatible: true},
		"three subjects": {existing: with(func(c *jetstream.StreamConfig) {
			c.Subjects = []string{"zonecast.rr.>", "zonecast.signed.>", "other.>"}
		}), incompatible: true},
		"discard new is changed": {existing: with(func(c *jetstream.StreamConfig) { c.Discard = jetstream.DiscardNew })},
		// The settings of zonecast before roll-ups were turned off.
		"delete markers and roll-ups are turned off": {existing: with(func(c *jetstream.StreamConfig) {
			c.AllowMsgTTL, c.SubjectDeleteMarkerTTL, c.AllowRollup = true, 15*time.Minute, true
		})},
		"roll-ups are turned off": {existing: with(func(c *jetstream.StreamConfig) { c.AllowRollup = true })},
		"message schedules": {existing: with(func(c *jetstream.StreamConfig) {
			c.AllowMsgSchedules, c.AllowRollup = true, true
		}), incompatible: true},
		"history of 5":   {existing: with(func(c *jetstream.StreamConfig) { c.MaxMsgsPerSubject = 5 }), incompatible: true},
		"other subjects": {existing: with(func(c *jetstream.StreamConfig) { c.Subjects = []string{"other.>"} }), incompatible: true},
		"memory storage": {existing: with(func(c *jetstream.StreamConfig) { c.Storage = jetstream.MemoryStorage }), incompatible: true},
		"max age":        {existing: with(func(c *jetstream.StreamConfig) { c.MaxAge = time.Hour }), incompatible: true},
		"work queue":     {existing: with(func(c *jetstream.StreamConfig) { c.Retention = jetstream.WorkQueuePolicy }), incompatible: true},
	}
	sourced := with(func(c *jetstream.StreamConfig) {
		c.Sources = []*jetstream.StreamSource{{Name: "OTHER"}}
	})
	tests["sources"] = struct {
		existing     jetstream.StreamConfig
		incompatible bool
	}{existing: sourced, incompatible: true}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := startTestServer(t, false)
			_, js := ts.inProcess(t)
			ctx := ctxFor(t, 10*time.Second)
			if _, err := js.CreateStream(ctx, tc.existing); err != nil {
				t.Fatal(err)
			}
			st, err := EnsureStream(ctx, js, StreamConfig{})
			if tc.incompatible {
				if !errors.Is(err, ErrIncompatibleStream) {
					t.Fatalf("EnsureStream error = %v, want ErrIncompatibleStream", err)
				}
				t.Logf("error: %v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			info, err := st.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !info.Config.AllowMsgTTL || info.Config.SubjectDeleteMarkerTTL != 0 || info.Config.AllowRollup ||
				info.Config.Discard != jetstream.DiscardOld || !info.Config.AllowAtomicPublish ||
				!sameSubjects(info.Config.Subjects, []string{"zonecast.rr.>", "zonecast.signed.>"}) {
				t.Errorf("stream not updated: %+v", info.Config)
			}
		})
	}
}
