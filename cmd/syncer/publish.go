package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/cli"
	"github.com/zonecast/zonecast/internal/config"
	"github.com/zonecast/zonecast/internal/events"
)

const publishSynopsis = `zonecast-syncer publish: put record events on the zonecast stream.

Usage:
  zonecast-syncer publish [flags] --name NAME --type TYPE [RECORD...]
      sets ORIGIN's contribution to NAME/TYPE to the given records;
      with no record (or --delete) publishes a tombstone.
  zonecast-syncer publish [flags] --json FILE|-
      reads one JSON message per line (the wire format of
      docs/wire-format.md; "v" may be omitted) and publishes them all. A
      line may add "expires" (RFC 3339): the message gets the lease left
      until then, or is skipped if that time has passed. This is the format
      zonecast-syncer export writes: publish --json restores an export.

Example:
  zonecast-syncer publish --nats-password-file /var/lib/zonecast/nats-password \
      --name web.lxd.example.com --type AAAA --origin ops 2001:db8::10`

func publishMain(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("zonecast-syncer publish", flag.ContinueOnError)
	nc := cli.NATSFlags(fs, "nats://127.0.0.1:4222", "NATS server URL(s)")
	var (
		name, typ, origin, stream, prefix, jsonIn string
		ttl                                       uint
		lease                                     time.Duration
		del                                       bool
	)
	fs.StringVar(&name, "name", "", "owner name of the RRset")
	fs.StringVar(&typ, "type", "", "record type: A, AAAA, CNAME, TXT, NS, PTR, MX, SRV or CAA")
	fs.StringVar(&origin, "origin", "cli", "origin id whose contribution this is")
	fs.UintVar(&ttl, "ttl", 300, "TTL of the records")
	fs.DurationVar(&lease, "lease", 0, "expire the event after this long unless published again (0: never)")
	fs.BoolVar(&del, "delete", false, "publish a tombstone: the origin no longer contributes")
	fs.StringVar(&stream, "stream", "ZONECAST", "JetStream stream name")
	fs.StringVar(&prefix, "subject-prefix", events.DefaultSubjectPrefix, "subject prefix of record events")
	fs.StringVar(&jsonIn, "json", "", "read JSON messages, one per line, from this file ('-' for standard input)")
	fs.Usage = config.Usage(fs, publishSynopsis)
	if err := config.Parse(fs, args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
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
			m.Records = fs.Args()
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
	for i, m := range msgs {
		if err := pub.PublishAsync(ctx, m, leases[i]); err != nil {
			return fmt.Errorf("publishing %s %s: %w", m.Name, m.Type, err)
		}
	}
	n, err := pub.Flush(ctx)
	if err != nil {
		return fmt.Errorf("waiting for acknowledgements: %w", err)
	}
	if expired > 0 {
		fmt.Printf("published %d messages; skipped %d whose lease has ended\n", n, expired)
	} else {
		fmt.Printf("published %d messages\n", n)
	}
	return nil
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
