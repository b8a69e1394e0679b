package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/cli"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/rrset"
)

const publishArgs = `[flags] --name NAME --type TYPE [RECORD...]
[flags] --json FILE|-`

const publishHelp = `The first form sets ORIGIN's contribution to NAME/TYPE to the given
records; with no record (or --delete) it publishes a tombstone.

The second reads one JSON message per line (the wire format of
docs/wire-format.md; "v" may be omitted) and publishes them all. A line
may add "expires" (RFC 3339): the message gets the lease left until then,
or is skipped if that time has passed. This is the format zonecast-syncer
export writes: publish --json restores an export.

Through a leader election of the stream (a node of an embedded cluster
lost), messages are sent again until stored, for up to --timeout; the
command then names every message that was not stored, and exits 1.

Example:
  zonecast-syncer publish --nats-password-file /var/lib/zonecast/nats-password \
      --name web.lxd.example.com --type AAAA --origin ops 2001:db8::10`

// publishFlags registers the flags of publish and returns the command.
func publishFlags(fs *flag.FlagSet) cli.Func {
	nc := cli.NATSFlags(fs, "nats://127.0.0.1:4222", "NATS server URL(s)")
	var (
		name, typ, origin, stream, prefix, jsonIn string
		ttl                                       uint
		lease, timeout                            time.Duration
		del                                       bool
	)
	fs.StringVar(&name, "name", "", "owner name of the RRset")
	fs.StringVar(&typ, "type", "", "record type: "+strings.Join(rrset.Types, ", "))
	fs.StringVar(&origin, "origin", "cli", "origin id whose contribution this is")
	fs.UintVar(&ttl, "ttl", 300, "TTL of the records")
	fs.DurationVar(&lease, "lease", 0, "expire the event after this long unless published again (0: never)")
	fs.BoolVar(&del, "delete", false, "publish a tombstone: the origin no longer contributes")
	fs.StringVar(&stream, "stream", "ZONECAST", "JetStream stream name")
	fs.StringVar(&prefix, "subject-prefix", events.DefaultSubjectPrefix, "subject prefix of record events")
	fs.StringVar(&jsonIn, "json", "", "read JSON messages, one per line, from this file ('-' for standard input)")
	fs.DurationVar(&timeout, "timeout", bus.RetryFor, "keep sending what the stream could not take (a leader election) for this long")
	return func(ctx context.Context, args []string) error {
		var msgs []events.Message
		var leases []time.Duration // per message, with --json
		expired := 0
		if jsonIn != "" {
			lines, err := readJSONMessages(jsonIn)
			if err != nil {
				return err
			}
			now := time.Now()
			for _, l := range lines {
				d := lease
				if !l.Expires.IsZero() {
					if d = l.Expires.Sub(now); d <= 0 {
						expired++
						continue
					}
				}
				msgs = append(msgs, l.Message)
				leases = append(leases, d)
			}
			if len(msgs) == 0 {
				fmt.Printf("nothing to publish (%d lines whose lease has ended)\n", expired)
				return nil
			}
		} else {
			if name == "" || typ == "" {
				fs.Usage()
				return fmt.Errorf("%w: --name and --type are required", errUsage)
			}
			m := events.Message{Version: events.Version, Name: name, Type: typ, Origin: origin, TTL: uint32(ttl)}
			if !del {
				m.Records = args
			}
			msgs = append(msgs, m)
			leases = append(leases, lease)
		}
		for i, m := range msgs {
			v, err := events.Validate(m)
			if err != nil {
				return fmt.Errorf("message %d: %w", i+1, err)
			}
			msgs[i] = v
		}
		if timeout <= 0 {
			return fmt.Errorf("%w: --timeout must be positive", errUsage)
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		conn, js, _, err := cli.ConnectCommand(ctx, nc, "zonecast-syncer-publish")
		if err != nil {
			return err
		}
		defer conn.Close()
		pub := bus.NewPublisher(js, stream, prefix)
		if len(msgs) == 1 && jsonIn == "" {
			seq, err := pub.Publish(ctx, msgs[0], lease)
			if err != nil {
				return fmt.Errorf("publishing %s %s: %w", msgs[0].Name, msgs[0].Type, err)
			}
			fmt.Printf("published %s %s origin=%s seq=%d\n", msgs[0].Name, msgs[0].Type, msgs[0].Origin, seq)
			return nil
		}
		res := pub.PublishBatch(ctx, msgs, leases)
		for _, f := range res.Failed {
			fmt.Fprintf(os.Stderr, "not stored: message %d: %s %s origin=%s: %v\n",
				f.Index+1, f.Message.Name, f.Message.Type, f.Message.Origin, f.Err)
		}
		line := fmt.Sprintf("published %d messages", res.Stored)
		if res.Superseded > 0 {
			line += fmt.Sprintf(" (%d more superseded by a later message of the same name, type and origin)", res.Superseded)
		}
		if expired > 0 {
			line += fmt.Sprintf("; skipped %d whose lease has ended", expired)
		}
		if res.Rounds > 1 {
			line += fmt.Sprintf("; %d sends (the stream could not take some at first)", res.Rounds)
		}
		fmt.Println(line)
		if len(res.Failed) > 0 {
			return fmt.Errorf("%d of %d messages not stored (listed above)", len(res.Failed), len(msgs))
		}
		return nil
	}
}

func readJSONMessages(path string) ([]jsonLine, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("opening messages: %w", err)
		}
		defer f.Close()
		r = f
	}
	var out []jsonLine
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), events.MaxMessageBytes+256)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var l jsonLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if l.Version == 0 {
			l.Version = events.Version
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading messages: %w", err)
	}
	return out, nil
}
