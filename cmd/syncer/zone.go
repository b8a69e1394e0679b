package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/cli"
	"github.com/zonecast/zonecast/internal/config"
	"github.com/zonecast/zonecast/internal/zonelist"
	"github.com/zonecast/zonecast/internal/zonestore"
)

// The zone commands edit the fleet's zone list (internal/zonestore),
// which every syncer follows besides its --zone flags (docs/zones.md).

// zoneOut is where the zone commands print (tests replace it).
var zoneOut io.Writer = os.Stdout

// zoneCommand is one row of the zone commands: its own flags beside the
// NATS ones and --zone-bucket, and what runs it.
type zoneCommand struct {
	name, args, summary, help string
	nargs                     int  // positional arguments, exactly (or at least, with many)
	many                      bool // nargs or more
	flags                     func(fs *flag.FlagSet, o *zoneOptions)
	// run runs the command; open connects and opens the bucket, after the
	// command has checked its input.
	run func(ctx context.Context, o *zoneOptions, args []string, open openZones) error
}

type openZones func(ctx context.Context) (*zonestore.Store, error)

// zoneOptions are the values of the zone commands' own flags.
type zoneOptions struct {
	ns                                      config.List
	mname, rname                            string
	refresh, retry, expire, minimum, soaTTL uint
	ttl                                     uint
	json, removed                           bool
}

const zoneAddHelp = `Lists ZONE in the fleet's zone list (the key-value bucket --zone-bucket,
which the syncers make at their start). Every syncer that follows the
list then manages it besides its --zone flags: it creates the zone in its
PowerDNS with these SOA and NS settings, if missing, and writes the
records published into it. The SOA settings are the template of every
SOA the syncers write (the serial is the stream's); --ns and --ttl apply
when a syncer creates the zone. Without --ns each syncer takes its own
--ns; --soa-mname defaults to the first NS, --soa-rname to hostmaster.ZONE.
A zone listed already is refused: remove it first. Several zones take
the same settings, in one go: each syncer restarts its core once for
them all (a script adding zones one command at a time may cost several
restarts). If any of them is listed already, or any name is bad,
nothing is written. Every flag is also a
ZONECAST_* variable, so that set -a; . /etc/zonecast/syncer.env gives
the fleet's ZONECAST_NS. Needs an admin NATS user (by default the local
syncer's password file).`

const zoneRemoveHelp = `Takes ZONE off the fleet's zone list. Every syncer that manages it
through the list (not through its own --zone) stops following it and
withdraws from it: it deletes the RRsets it owns there through the delete
limit, which holds them when they are more than --delete-limit-min
(zonecast-syncer status shows "holding N deletions" until zonecast-syncer
approve --zone ZONE lets them through, on every node), and then deletes
the zone from its PowerDNS once nothing but its SOA and NS is left. A zone
in which others' RRsets remain stays in PowerDNS, no longer managed.
zone add ZONE before the approval stops it: nothing is deleted. Several
zones are taken off in one go; if any of them is not listed, nothing is
written. Needs an admin NATS user.`

var zoneCommands = []zoneCommand{
	{name: "zone add", args: "ZONE... [--ns NS]... [--soa-* N] [--ttl N] [NATS flags]", nargs: 1, many: true, flags: zoneAddFlags, run: zoneAdd,
		summary: "list zones fleet-wide: every syncer creates them and follows them", help: zoneAddHelp},
	{name: "zone remove", args: "ZONE... [NATS flags]", nargs: 1, many: true, run: zoneRemove,
		summary: "take zones off the list: the syncers withdraw from them through the delete limit", help: zoneRemoveHelp},
	{name: "zone list", args: "[--json] [--removed] [NATS flags]", flags: zoneListFlags, run: zoneList,
		summary: "print the fleet's zone list", help: `Prints the zones of the list with their settings, one per line; --json
prints one JSON object per zone. --removed prints the zones removed from
the list instead, which the syncers withdraw from. Needs a NATS user that
may read the list (admin, reader, or a syncer's).`},
}

// command makes z a row of the program's table.
func (z zoneCommand) command() cli.Command {
	return cli.Command{Name: z.name, Args: z.args, Summary: z.summary, Help: z.help, Interspersed: true,
		Flags: func(fs *flag.FlagSet) cli.Func {
			nc := cli.NATSFlags(fs, "nats://127.0.0.1:4222", "NATS server URL(s)")
			bucket := fs.String("zone-bucket", bus.DefaultZoneBucket, "key-value bucket of the zone list (the syncers' --zone-bucket)")
			o := &zoneOptions{}
			if z.flags != nil {
				z.flags(fs, o)
			}
			return func(ctx context.Context, args []string) error {
				switch {
				case z.many && len(args) < z.nargs:
					return fmt.Errorf("%w: %s takes at least %d argument(s), got %d", cli.ErrUsage, z.name, z.nargs, len(args))
				case !z.many && len(args) != z.nargs:
					return fmt.Errorf("%w: %s takes %d argument(s), got %d", cli.ErrUsage, z.name, z.nargs, len(args))
				}
				if *bucket == "" {
					return fmt.Errorf("%w: --zone-bucket may not be empty", cli.ErrUsage)
				}
				var closeConn func()
				defer func() {
					if closeConn != nil {
						closeConn()
					}
				}()
				open := func(ctx context.Context) (*zonestore.Store, error) {
					conn, js, _, err := cli.ConnectCommand(ctx, nc, "zonecast-syncer-zone")
					if err != nil {
						return nil, err
					}
					closeConn = conn.Close
					return zonestore.Open(ctx, js, *bucket)
				}
				cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				return z.run(cctx, o, args, open)
			}
		}}
}

func zoneAddFlags(fs *flag.FlagSet, o *zoneOptions) {
	d := zonelist.DefaultSOA
	fs.Var(&o.ns, "ns", "apex NS of the zone (repeatable; default: each syncer's --ns)")
	fs.StringVar(&o.mname, "soa-mname", "", "SOA primary name server (default: the first NS, else ns1.ZONE)")
	fs.StringVar(&o.rname, "soa-rname", "", "SOA responsible mailbox (default hostmaster.ZONE)")
	fs.UintVar(&o.refresh, "soa-refresh", uint(d.Refresh), "SOA refresh seconds")
	fs.UintVar(&o.retry, "soa-retry", uint(d.Retry), "SOA retry seconds")
	fs.UintVar(&o.expire, "soa-expire", uint(d.Expire), "SOA expire seconds")
	fs.UintVar(&o.minimum, "soa-minimum", uint(d.Minimum), "SOA minimum (negative caching TTL) seconds")
	fs.UintVar(&o.soaTTL, "soa-ttl", uint(d.TTL), "TTL of the SOA RRset")
	fs.UintVar(&o.ttl, "ttl", 0, "the zone's default TTL: of its apex NS RRset (0: the SOA's TTL)")
}

func zoneListFlags(fs *flag.FlagSet, o *zoneOptions) {
	fs.BoolVar(&o.json, "json", false, "print one JSON object per zone")
	fs.BoolVar(&o.removed, "removed", false, "print the zones removed from the list instead")
}

// errTooBig is a flag value beyond 32 bits.
var errTooBig = errors.New("above 4294967295")

func u32(what string, v uint) (uint32, error) {
	if v > 1<<32-1 {
		return 0, fmt.Errorf("%w: --%s: %w", cli.ErrUsage, what, errTooBig)
	}
	return uint32(v), nil
}

// zoneOf builds the entry zone add lists from its flags.
func zoneOf(name string, o *zoneOptions, now time.Time) (zonelist.Zone, error) {
	z := zonelist.Zone{Name: name, NS: o.ns, SOA: zonelist.SOA{MName: o.mname, RName: o.rname}, Added: now.UTC()}
	for _, f := range []struct {
		flag string
		v    uint
		to   *uint32
	}{{"soa-refresh", o.refresh, &z.SOA.Refresh}, {"soa-retry", o.retry, &z.SOA.Retry}, {"soa-expire", o.expire, &z.SOA.Expire},
		{"soa-minimum", o.minimum, &z.SOA.Minimum}, {"soa-ttl", o.soaTTL, &z.SOA.TTL}, {"ttl", o.ttl, &z.TTL}} {
		n, err := u32(f.flag, f.v)
		if err != nil {
			return zonelist.Zone{}, err
		}
		*f.to = n
	}
	z, err := z.Validate()
	if err != nil {
		return zonelist.Zone{}, fmt.Errorf("%w: %w", cli.ErrUsage, err)
	}
	return z, nil
}

func zoneAdd(ctx context.Context, o *zoneOptions, args []string, open openZones) error {
	now := time.Now()
	zones := make([]zonelist.Zone, 0, len(args))
	for _, name := range args {
		z, err := zoneOf(name, o, now)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(zones, func(y zonelist.Zone) bool { return y.Name == z.Name }) {
			return fmt.Errorf("%w: zone %s given twice", cli.ErrUsage, z.Name)
		}
		zones = append(zones, z)
	}
	st, err := open(ctx)
	if err != nil {
		return err
	}
	if len(zones) > 1 {
		// All or nothing, as far as the list can tell: a zone listed
		// meanwhile still stops the adds where it comes.
		l, err := st.Load(ctx)
		if err != nil {
			return err
		}
		var listed []string
		for _, z := range zones {
			if _, ok := l.Zones[z.Name]; ok {
				listed = append(listed, z.Name)
			}
		}
		if len(listed) > 0 {
			return fmt.Errorf("%w: %s; nothing added", zonestore.ErrExists, strings.Join(listed, ", "))
		}
	}
	added := make([]zonelist.Zone, 0, len(zones))
	for _, z := range zones {
		z, err := st.Add(ctx, z)
		if err != nil {
			if len(added) > 0 {
				_ = printZones(zoneOut, added, false)
				return fmt.Errorf("%w (the %d zones printed were added)", err, len(added))
			}
			return err
		}
		added = append(added, z)
	}
	if len(added) == 1 {
		fmt.Fprintf(os.Stderr, "added zone %s to the zone list %s: every syncer that follows it creates and manages it\n", added[0].Name, st.Bucket())
	} else {
		fmt.Fprintf(os.Stderr, "added %d zones to the zone list %s: every syncer that follows it creates and manages them\n", len(added), st.Bucket())
	}
	return printZones(zoneOut, added, false)
}

func zoneRemove(ctx context.Context, _ *zoneOptions, args []string, open openZones) error {
	keys := make([]string, 0, len(args))
	for _, name := range args {
		key, err := zonelist.Key(name)
		if err != nil {
			return fmt.Errorf("%w: %w", cli.ErrUsage, err)
		}
		if slices.Contains(keys, key) {
			return fmt.Errorf("%w: zone %s. given twice", cli.ErrUsage, key)
		}
		keys = append(keys, key)
	}
	st, err := open(ctx)
	if err != nil {
		return err
	}
	if len(keys) > 1 {
		var missing []string
		for _, key := range keys {
			if _, err := st.Get(ctx, key); errors.Is(err, zonestore.ErrNotFound) {
				missing = append(missing, key+".")
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("%w: %s; nothing removed", zonestore.ErrNotFound, strings.Join(missing, ", "))
		}
	}
	for _, key := range keys {
		z, err := st.Remove(ctx, key)
		if err != nil {
			return err
		}
		fmt.Fprintf(zoneOut, "removed zone %s from the zone list %s\n", z.Name, st.Bucket())
	}
	zone, it, them := keys[0], "it", "it"
	if len(keys) > 1 {
		zone, it, them = "ZONE", "that zone", "them"
	}
	fmt.Fprintf(os.Stderr, "the syncers that manage %s through the list withdraw from %s: beyond the delete limit they hold "+
		"the deletions (zonecast-syncer status: holding N deletions) until zonecast-syncer approve --zone %s; "+
		"zonecast-syncer zone add %s before that keeps %s\n", them, them, zone, zone, it)
	return nil
}

func zoneList(ctx context.Context, o *zoneOptions, _ []string, open openZones) error {
	st, err := open(ctx)
	if err != nil {
		return err
	}
	l, err := st.Load(ctx)
	if err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(l.Bad)) {
		fmt.Fprintf(os.Stderr, "warning: entry %s does not read, and the syncers ignore it: %s\n", k, l.Bad[k])
	}
	if o.removed {
		for _, z := range slices.Sorted(maps.Keys(l.Removed)) {
			if o.json {
				b, _ := json.Marshal(map[string]any{"zone": z, "removed": true})
				fmt.Fprintln(zoneOut, string(b))
			} else {
				fmt.Fprintln(zoneOut, z)
			}
		}
		return nil
	}
	return printZones(zoneOut, l.Sorted(), o.json)
}

// printZones prints zones as a table, or as JSON lines.
func printZones(w io.Writer, zones []zonelist.Zone, asJSON bool) error {
	if asJSON {
		for _, z := range zones {
			b, err := json.Marshal(z)
			if err != nil {
				return err
			}
			fmt.Fprintln(w, string(b))
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ZONE\tNS\tTTL\tSOA MNAME RNAME REFRESH RETRY EXPIRE MINIMUM TTL\tADDED")
	for _, z := range zones {
		ns := "(each syncer's --ns)"
		if len(z.NS) > 0 {
			ns = strings.Join(z.NS, ",")
		}
		or := func(s, dflt string) string {
			if s == "" {
				return dflt
			}
			return s
		}
		added := "-"
		if !z.Added.IsZero() {
			added = z.Added.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s %s %d %d %d %d %d\t%s\n", z.Name, ns, z.NSTTL(),
			or(z.SOA.MName, "-"), or(z.SOA.RName, "-"), z.SOA.Refresh, z.SOA.Retry, z.SOA.Expire, z.SOA.Minimum, z.SOA.TTL, added)
	}
	return tw.Flush()
}
