package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/status"
)

// StatusMaxAge is how long a node's status stays in the bucket after its
// last update: a node gone for longer disappears from the table.
const StatusMaxAge = 24 * time.Hour

// StatusBucket opens the status KV bucket, creating it (file storage,
// one value per node, StatusMaxAge, replicas) if it is missing. It
// retries while JetStream is unavailable (cluster start).
//
// The bucket refuses roll-ups, which key-value buckets otherwise allow
// (for purges, which zonecast does not use): with them, a syncer allowed
// to write its own key could erase every other node's status with one
// header. A bucket made with roll-ups on (by an older zonecast) is
// updated when this user may; otherwise a warning says so.
func StatusBucket(ctx context.Context, js jetstream.JetStream, bucket string, replicas int, log zerolog.Logger) (jetstream.KeyValue, error) {
	if bucket == "" {
		bucket = DefaultStatusBucket
	}
	if replicas <= 0 {
		replicas = 1
	}
	var kv jetstream.KeyValue
	log = log.With().Str("component", "nats").Logger()
	err := retryJS(ctx, "opening status bucket "+bucket, log, func(error) bool { return false },
		func(ctx context.Context) error {
			open := func(ctx context.Context) (jetstream.KeyValue, error) { return js.KeyValue(ctx, bucket) }
			var err error
			kv, err = openOrCreate(ctx, open, func(ctx context.Context) (jetstream.KeyValue, error) {
				// The bucket's own stream, made by hand: CreateKeyValue
				// would allow roll-ups.
				if _, err := js.CreateStream(ctx, statusStreamConfig(bucket, replicas)); err != nil {
					return nil, err
				}
				return open(ctx)
			})
			return err
		})
	if err != nil {
		return nil, err
	}
	noStatusRollups(ctx, js, bucket, log)
	return kv, nil
}

// statusStreamConfig is the stream of the status bucket: what
// jetstream.CreateKeyValue makes for History 1 and a TTL, without roll-ups.
func statusStreamConfig(bucket string, replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              "KV_" + bucket,
		Description:       "zonecast: the status of every syncer, by node id",
		Subjects:          []string{"$KV." + bucket + ".>"},
		MaxMsgsPerSubject: 1,
		MaxBytes:          -1,
		MaxMsgs:           -1,
		MaxMsgSize:        -1,
		MaxAge:            StatusMaxAge,
		Storage:           jetstream.FileStorage,
		Replicas:          replicas,
		Discard:           jetstream.DiscardNew,
		AllowDirect:       true,
		DenyDelete:        true,
		AllowRollup:       false,
		Duplicates:        2 * time.Minute,
	}
}

// noStatusRollups turns roll-ups off on a status bucket made with them.
func noStatusRollups(ctx context.Context, js jetstream.JetStream, bucket string, log zerolog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, "KV_"+bucket)
	if err != nil {
		return
	}
	cfg := st.CachedInfo().Config
	if !cfg.AllowRollup {
		return
	}
	cfg.AllowRollup = false
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		log.Warn().Err(err).Str("bucket", bucket).
			Msg("the status bucket allows roll-ups (made by an older zonecast) and this user may not change that: a syncer could erase the others' status; run a syncer with the admin user once")
	}
}

// ReadStatuses returns the value of every key of the status bucket.
func ReadStatuses(ctx context.Context, js jetstream.JetStream, bucket string) (map[string][]byte, error) {
	if bucket == "" {
		bucket = DefaultStatusBucket
	}
	var out map[string][]byte
	err := resend(ctx, readAttemptTimeout, func(ctx context.Context) error {
		var err error
		out, err = readStatuses(ctx, js, bucket)
		return err
	})
	return out, err
}

// readAttemptTimeout bounds one attempt of a read: the bucket and the
// stream each elect a leader of their own after a node is lost, and a
// read sent meanwhile is sent again.
const readAttemptTimeout = 3 * time.Second

func readStatuses(ctx context.Context, js jetstream.JetStream, bucket string) (map[string][]byte, error) {
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("opening status bucket %s: %w", bucket, err)
	}
	keys, err := kv.Keys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return map[string][]byte{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing status bucket %s: %w", bucket, err)
	}
	out := make(map[string][]byte, len(keys))
	for _, k := range keys {
		e, err := kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading status of %s: %w", k, err)
		}
		out[k] = e.Value()
	}
	return out, nil
}

// Backlog looks up, for filter, the stream's last matching sequence and
// the messages after seq: how far a node that applied seq is behind, and
// since when (status.Backlog: LastSeq 0 when nothing matches, Oldest
// zero when nothing is pending).
func Backlog(ctx context.Context, js jetstream.JetStream, stream, filter string, seq uint64) (status.Backlog, error) {
	if stream == "" {
		stream = DefaultStreamName
	}
	var b status.Backlog
	err := resend(ctx, readAttemptTimeout, func(ctx context.Context) error {
		var err error
		b, err = backlog(ctx, js, stream, filter, seq)
		return err
	})
	return b, err
}

func backlog(ctx context.Context, js jetstream.JetStream, stream, filter string, seq uint64) (status.Backlog, error) {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return status.Backlog{}, fmt.Errorf("looking up stream %s: %w", stream, err)
	}
	var b status.Backlog
	m, err := st.GetLastMsgForSubject(ctx, filter)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return b, nil
	}
	if err != nil {
		return b, fmt.Errorf("looking up the last message of %s: %w", filter, err)
	}
	b.LastSeq = m.Sequence
	if seq >= b.LastSeq {
		return b, nil
	}
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{filter}, DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq: seq + 1, HeadersOnly: true,
	})
	if err != nil {
		return b, fmt.Errorf("creating a consumer on %s from %d: %w", filter, seq+1, err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(2 * time.Second))
	if err != nil {
		return b, fmt.Errorf("reading %s from %d: %w", filter, seq+1, err)
	}
	md, err := msg.Metadata()
	if err != nil {
		return b, fmt.Errorf("reading metadata on %s: %w", filter, err)
	}
	b.Pending = md.NumPending + 1
	b.Oldest = md.Timestamp
	if info := cons.CachedInfo(); info != nil {
		_ = js.DeleteConsumer(ctx, stream, info.Name)
	}
	return b, nil
}
