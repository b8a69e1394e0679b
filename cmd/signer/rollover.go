package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/zonecast/zonecast/internal/cli"
	"github.com/zonecast/zonecast/internal/dnssec"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/keystore"
	"github.com/zonecast/zonecast/internal/rrset"
	"github.com/zonecast/zonecast/internal/signer"
)

const rolloverHelp = `Starts a key rollover of a zone by writing key files into --key-dir;
the running zonecast-signer takes them up at its next check (within a
minute), or at once on SIGHUP, and publishes each step.

--key zsk: pre-publication. A new ZSK is published now and signs from
--prepublish on (longer than the DNSKEY TTL); the old one stops signing
then and leaves the DNSKEY RRset --retire later (longer than any TTL in
the zone). --zsk-lifetime on the daemon schedules the same.

--key ksk: a new KSK is published at once, signs the DNSKEY RRset beside
the current one, and both are announced to the parent in the CDS and
CDNSKEY RRsets (zonecast-signer ds prints both DS). Once the parent
serves the new DS, and its TTL has passed, --key ksk --complete retires
the old KSK: it leaves the DNSKEY, CDS and CDNSKEY RRsets.`

// Defaults of a ZSK rollover: twice the default DNSKEY TTL, and the
// longest TTL a record may have, with an hour of margin.
const (
	defaultPrepublish = 2 * time.Hour
	defaultRetire     = events.MaxTTL*time.Second + time.Hour
)

// rolloverFlags registers the flags of rollover.
func rolloverFlags(fs *flag.FlagSet) cli.Func {
	zone := fs.String("zone", "", "the signed zone")
	dir := fs.String("key-dir", DefaultKeyDir, "the signer's key directory")
	which := fs.String("key", "", "zsk or ksk")
	complete := fs.Bool("complete", false, "with --key ksk: retire the old KSK (the parent serves the new DS)")
	prepublish := fs.Duration("prepublish", defaultPrepublish, "with --key zsk: how long the new ZSK is published before it signs")
	retire := fs.Duration("retire", defaultRetire, "with --key zsk: how long the old ZSK stays published after it stops signing")
	return func(_ context.Context, args []string) error {
		if len(args) > 0 {
			return fmt.Errorf("%w: unexpected argument %q", errUsage, args[0])
		}
		z, err := rrset.CanonicalName(*zone)
		if err != nil || *zone == "" {
			return fmt.Errorf("%w: --zone: a zone name is required", errUsage)
		}
		if *complete && *which != "ksk" {
			return fmt.Errorf("%w: --complete goes with --key ksk", errUsage)
		}
		if *prepublish <= 0 || *retire <= 0 {
			return fmt.Errorf("%w: --prepublish and --retire must be positive", errUsage)
		}
		store := keystore.Store{Dir: *dir}
		keys, err := store.Keys(z)
		if err != nil {
			return err
		}
		now := time.Now()
		ks, _, err := signer.Plan(z, keys, now)
		if err != nil {
			return err
		}
		gen := func(ksk bool, like dnssec.Key) func() (dnssec.Key, error) {
			return func() (dnssec.Key, error) {
				return dnssec.Generate(z, like.DNSKEY.Algorithm, ksk, like.DNSKEY.Hdr.Ttl)
			}
		}
		switch {
		case *which == "zsk":
			next, old, err := signer.ZSKRollover(z, keys, now, signer.Rollover{Prepublish: *prepublish, Retire: *retire}, gen(false, ks.ZSK))
			if err != nil {
				return err
			}
			if err := store.Save(next); err != nil {
				return err
			}
			if err := store.Update(old); err != nil {
				return err
			}
			fmt.Fprintf(os.Stdout, "ZSK %d published now, signs from %s; ZSK %d stops signing then and is withdrawn at %s\n",
				next.Tag(), next.Activate.Format(time.RFC3339), old.Tag(), old.Delete.Format(time.RFC3339))
		case *which == "ksk" && !*complete:
			next, err := signer.KSKRollover(z, keys, now, gen(true, ks.KSKs[0]))
			if err != nil {
				return err
			}
			if err := store.Save(next); err != nil {
				return err
			}
			fmt.Fprintf(os.Stdout, "KSK %d published and signing beside KSK %d; add its DS at the parent:\n%s\n"+
				"then, once the parent serves it and its TTL has passed: zonecast-signer rollover --zone %s --key ksk --complete\n",
				next.Tag(), ks.KSKs[0].Tag(), next.DS().String(), z)
		case *which == "ksk":
			old, err := signer.CompleteKSKRollover(z, keys, now)
			if err != nil {
				return err
			}
			for _, k := range old {
				if err := store.Update(k); err != nil {
					return err
				}
				fmt.Fprintf(os.Stdout, "KSK %d retired: it leaves the DNSKEY, CDS and CDNSKEY RRsets; remove its DS at the parent\n", k.Tag())
			}
		default:
			return fmt.Errorf("%w: --key zsk or --key ksk is required", errUsage)
		}
		return nil
	}
}
