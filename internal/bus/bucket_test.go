package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestOpenOrCreate: what openOrCreate does for each answer of open and
// create.
func TestOpenOrCreate(t *testing.T) {
	t.Parallel()
	errDown := errors.New("jetstream not available")
	notFound := fmt.Errorf("opening: %w", jetstream.ErrBucketNotFound)
	cases := map[string]struct {
		open   []error // answers of open's calls, in order
		create error
		want   error  // nil: the bucket
		calls  string // o: open, c: create
	}{
		"present":                       {open: []error{nil}, calls: "o"},
		"missing: created":              {open: []error{notFound}, calls: "oc"},
		"missing object store: created": {open: []error{jetstream.ErrStreamNotFound}, calls: "oc"},
		"created meanwhile":             {open: []error{notFound, nil}, create: jetstream.ErrBucketExists, calls: "oco"},
		"stream made meanwhile":         {open: []error{notFound, nil}, create: jetstream.ErrStreamNameAlreadyInUse, calls: "oco"},
		"open fails":                    {open: []error{errDown}, want: errDown, calls: "o"},
		"create fails":                  {open: []error{notFound}, create: errDown, want: errDown, calls: "oc"},
		"reopen fails":                  {open: []error{notFound, errDown}, create: jetstream.ErrBucketExists, want: errDown, calls: "oco"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			calls := ""
			open := func(context.Context) (string, error) {
				err := c.open[min(len(calls), len(c.open)-1)]
				calls += "o"
				if err != nil {
					return "", err
				}
				return "opened", nil
			}
			create := func(context.Context) (string, error) {
				calls += "c"
				if c.create != nil {
					return "", c.create
				}
				return "created", nil
			}
			b, err := openOrCreate(t.Context(), open, create)
			if calls != c.calls {
				t.Errorf("calls %q, want %q", calls, c.calls)
			}
			if c.want != nil {
				if !errors.Is(err, c.want) {
					t.Fatalf("error %v, want %v", err, c.want)
				}
				return
			}
			if err != nil || b == "" {
				t.Fatalf("got %q, %v; want a bucket", b, err)
			}
		})
	}
}

// TestBucketsOpenedAtOnce: processes starting together all find a bucket
// missing and all try to make it; each one ends up with the same bucket.
func TestBucketsOpenedAtOnce(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t, false)
	_, js := ts.inProcess(t)
	// Each opener takes its context when its subtest runs: parallel
	// subtests may wait for a free slot longer than any deadline set here.
	opens := map[string]func(ctx context.Context) error{
		"key-value": func(ctx context.Context) error {
			_, err := KeyValueBucket(ctx, js, jetstream.KeyValueConfig{Bucket: "kv_at_once", History: 1})
			return err
		},
		"status": func(ctx context.Context) error {
			_, err := StatusBucket(ctx, js, "status_at_once", 1, testLog())
			return err
		},
		"snapshots": func(ctx context.Context) error {
			_, err := SnapshotBucket(ctx, js, "snaps_at_once", 1, testLog())
			return err
		},
	}
	for name, open := range opens {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := ctxFor(t, 30*time.Second)
			var wg sync.WaitGroup
			errs := make([]error, 4)
			for i := range errs {
				wg.Go(func() { errs[i] = open(ctx) })
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("opener %d: %v", i, err)
				}
			}
		})
	}
}

// TestKeyValueBucketKeepsValues: opening an existing bucket neither makes
// it again nor loses what it holds.
func TestKeyValueBucketKeepsValues(t *testing.T) {
	t.Parallel()
	ts := startTestServer(t, false)
	_, js := ts.inProcess(t)
	ctx := ctxFor(t, 10*time.Second)
	cfg := jetstream.KeyValueConfig{Bucket: "kept", History: 1}
	kv, err := KeyValueBucket(ctx, js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	again, err := KeyValueBucket(ctx, js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if e, err := again.Get(ctx, "k"); err != nil || string(e.Value()) != "v" {
		t.Fatalf("value after reopening: %v, %v", e, err)
	}
}
