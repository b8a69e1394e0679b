package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/zonecast/zonecast/internal/cli"
	"github.com/zonecast/zonecast/internal/keystore"
	"github.com/zonecast/zonecast/internal/rrset"
)

const dsHelp = `Prints one DS record (SHA-256) per KSK of the zone in --key-dir that is
in the DNSKEY RRset now (two during a KSK rollover), in zone file format,
for the parent zone's operator or registrar. It reads
only the key directory: run it where zonecast-signer runs.`

// dsFlags registers the flags of ds.
func dsFlags(fs *flag.FlagSet) cli.Func {
	zone := fs.String("zone", "", "the signed zone")
	dir := fs.String("key-dir", DefaultKeyDir, "the signer's key directory")
	return func(_ context.Context, args []string) error {
		if len(args) > 0 {
			return fmt.Errorf("%w: unexpected argument %q", errUsage, args[0])
		}
		if *zone == "" {
			return fmt.Errorf("%w: --zone is required", errUsage)
		}
		z, err := rrset.CanonicalName(*zone)
		if err != nil {
			return fmt.Errorf("%w: --zone: %v", errUsage, err)
		}
		keys, err := keystore.Store{Dir: *dir}.Keys(z)
		if err != nil {
			return err
		}
		n := 0
		now := time.Now()
		for _, k := range keys {
			if k.KSK() && k.Published(now) {
				fmt.Fprintln(os.Stdout, k.DS().String())
				n++
			}
		}
		if n == 0 {
			return fmt.Errorf("no KSK of %s in %s (zonecast-signer makes one when it starts)", z, *dir)
		}
		return nil
	}
}
