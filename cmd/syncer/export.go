package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/cli"
	"github.com/zonecast/zonecast/internal/config"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/rrset"
	"github.com/zonecast/zonecast/internal/valve"
)

const exportHelp = `Reads the record stream up to its last message and writes every origin's
contribution (one line per name, type and origin: the wire format's fields,
plus "expires" for a lease) in the format that
  zonecast-syncer publish --json FILE
reads back, leases included: a restore publishes each contribution again,
with the lease it had left, and skips those whose lease has run out since.
Tombstones and invalid messages are not written. Needs a user that may read
the stream (reader or admin). An --output file that holds more than 50
contributions more, and 30 % more, than the stream is not replaced (the
stream may have been lost: keep the backup) unless --force is given. See
docs/fleet.md, "Backup and restore".`

// jsonLine is one line of export and of publish --json: a message and,
// for a lease, when it ends.
type jsonLine struct {
	events.Message
	Expires time.Time `json:"expires,omitzero"`
}

// exportFlags registers the flags of export and returns the command.
func exportFlags(fs *flag.FlagSet) cli.Func {
	nc := cli.NATSFlags(fs, "nats://127.0.0.1:4222", "NATS server URL(s)")
	var zones config.List
	var stream, prefix, output string
	var force bool
	fs.Var(&zones, "zone", "export only this zone (repeatable; default: everything in the stream)")
	fs.StringVar(&stream, "stream", bus.DefaultStreamName, "JetStream stream name")
	fs.StringVar(&prefix, "subject-prefix", events.DefaultSubjectPrefix, "subject prefix of record events")
	fs.StringVar(&output, "output", "-", "file to write (mode 0600, replaced whole once complete); - for standard output")
	fs.BoolVar(&force, "force", false, "replace --output even if the export holds far fewer contributions than it (see --help)")
	return func(ctx context.Context, args []string) error {
		var filters []string
		for _, z := range zones {
			cz, err := rrset.CanonicalName(z)
			if err != nil {
				return fmt.Errorf("%w: --zone: %w", errUsage, err)
			}
			filters = append(filters, events.ZoneFilter(prefix, cz))
		}
		conn, js, log, err := cli.ConnectCommand(ctx, nc, "zonecast-syncer-export")
		if err != nil {
			return err
		}
		defer conn.Close()

		last := map[string]events.Delivery{}
		var upTo uint64
		fctx, stop := context.WithCancel(ctx)
		defer stop()
		err = bus.Follow(fctx, js, bus.FollowConfig{Stream: stream, Filters: filters, Log: log,
			Handle: func(d events.Delivery) { last[d.Subject], upTo = d, d.Seq },
			Ready:  stop,
		})
		if err != nil {
			return fmt.Errorf("reading stream %s: %w", stream, err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		lines, skipped := exportLines(prefix, last, time.Now())
		write := func(w io.Writer) error {
			bw := bufio.NewWriter(w)
			enc := json.NewEncoder(bw)
			for _, l := range lines {
				if err := enc.Encode(l); err != nil {
					return err
				}
			}
			return bw.Flush()
		}
		if output == "-" {
			err = write(os.Stdout)
		} else {
			if old, ok := countLines(output); ok && !force && shrank(old, len(lines)) {
				return fmt.Errorf("the stream holds %d contributions, %s %d: not replacing it, in case the stream was lost "+
					"(docs/fleet.md, \"Backup and restore\"); --force replaces it", len(lines), output, old)
			}
			err = writeFileAtomic(output, write)
		}
		if err != nil {
			return fmt.Errorf("writing the export: %w", err)
		}
		leased := 0
		for _, l := range lines {
			if !l.Expires.IsZero() {
				leased++
			}
		}
		fmt.Fprintf(os.Stderr, "exported %d contributions (%d with a lease) of stream %s up to sequence %d; left out %d tombstones, %d expired, %d invalid\n",
			len(lines), leased, stream, upTo, skipped.tombstones, skipped.expired, skipped.invalid)
		return nil
	}
}

type exportSkips struct{ tombstones, expired, invalid int }

// shrank reports whether an export of n contributions replacing one of old
// would lose more than the delete limit's share and minimum of them: the
// backup must not follow a lost stream.
func shrank(old, n int) bool {
	lost := old - n
	return lost > valve.Default.Min && float64(lost) > valve.Default.Share*float64(old)
}

// countLines returns the number of lines of the file at path, and false
// if it cannot be read.
func countLines(path string) (int, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	return bytes.Count(b, []byte("\n")), true
}

// exportLines turns the last delivery of each subject into lines, sorted
// by subject, leaving out what contributes nothing at now.
func exportLines(prefix string, last map[string]events.Delivery, now time.Time) ([]jsonLine, exportSkips) {
	subjects := make([]string, 0, len(last))
	for s := range last {
		subjects = append(subjects, s)
	}
	slices.Sort(subjects)
	var out []jsonLine
	var sk exportSkips
	for _, s := range subjects {
		d := last[s]
		if d.Removed {
			sk.tombstones++
			continue
		}
		m, err := events.DecodeWithSubject(prefix, s, d.Data)
		switch {
		case err != nil:
			sk.invalid++
		case m.Tombstone():
			sk.tombstones++
		case !d.Expires.IsZero() && !d.Expires.After(now):
			sk.expired++
		default:
			out = append(out, jsonLine{Message: m, Expires: d.Expires.UTC()})
		}
	}
	return out, sk
}

// writeFileAtomic writes path through a temporary file beside it, mode
// 0600, renamed over path once complete.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
