package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/dnssec"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/pdnsapi"
	"github.com/zonecast/zonecast/internal/rrset"
	"github.com/zonecast/zonecast/internal/signer"
	"github.com/zonecast/zonecast/internal/testenv"
	"github.com/zonecast/zonecast/internal/testpdns"
	"github.com/zonecast/zonecast/internal/testunbound"
)

const signedZone = "signed.example.test."

// signedEnv is a syncer serving one signed zone, and the signer's side:
// the signing core and a publisher of its subjects.
type signedEnv struct {
	pdns *testpdns.Server
	sync *testenv.Syncer
	pub  *bus.Publisher
	sg   *signer.Signer
	api  *pdnsapi.Client
	seq  uint64
	// resolver validates with the zone's KSK as trust anchor. denials: the
	// backend serves the stored NSEC records in its denials (lmdb; gsqlite3
	// makes its own from ordernames the API leaves empty).
	resolver *testunbound.Resolver
	denials  bool
}

// validates checks that the validating resolver answers name/qtype with
// rcode and the AD bit.
func (e *signedEnv) validates(t *testing.T, step, name, qtype, rcode string) {
	t.Helper()
	a := e.resolver.Query(t, name, qtype)
	if a.Status() != rcode || !a.AD {
		t.Errorf("%s: unbound answers %s %s with %s, AD %v; want %s with AD", step, name, qtype, a.Status(), a.AD, rcode)
	}
}

// validated is verified, then the validating resolver's answers: an
// existing name, and (where the backend serves them) NXDOMAIN and NODATA
// proofs.
func (e *signedEnv) validated(t *testing.T, step, existing string) {
	t.Helper()
	e.verified(t, step)
	e.validates(t, step, existing, "AAAA", "NOERROR")
	if e.denials {
		e.validates(t, step, "missing."+signedZone, "AAAA", "NXDOMAIN")
		e.validates(t, step, existing, "TXT", "NOERROR")
	}
}

func newSignedEnv(t *testing.T, backend string, nsec3 *dnssec.NSEC3Params) *signedEnv {
	t.Helper()
	conf := "domain-metadata-cache-ttl=0"
	if backend == "gsqlite3" {
		conf += "\ngsqlite3-dnssec=yes"
	}
	p := testpdns.StartWith(t, backend, conf)
	s := testenv.StartSyncer(t, testenv.SyncerOptions{PDNS: p, Extra: []string{"--signed-zone", signedZone}})
	_, js := s.NATS(t)
	ksk, err := dnssec.Generate(signedZone, dnssec.ECDSAP256SHA256, true, 3600)
	if err != nil {
		t.Fatal(err)
	}
	zsk, err := dnssec.Generate(signedZone, dnssec.ECDSAP256SHA256, false, 3600)
	if err != nil {
		t.Fatal(err)
	}
	sg := signer.New(signer.Config{Zone: signedZone, KSK: ksk, ZSK: zsk, NSEC3: nsec3, NS: []string{"ns1." + signedZone},
		NSTTL: 3600, KeyTTL: 3600, SOA: signer.SOA{Refresh: 10800, Retry: 3600, Expire: 604800, Minimum: 60, TTL: 3600},
		Validity: 14 * 24 * time.Hour, Refresh: 3 * 24 * time.Hour, Jitter: 24 * time.Hour})
	e := &signedEnv{pdns: p, sync: s, pub: bus.NewSignedPublisher(js, "ZONECAST", ""), sg: sg,
		api: pdnsapi.New(p.APIURL, p.APIKey, "localhost", 10*time.Second), denials: backend == "lmdb"}
	e.resolver = testunbound.Start(t, testunbound.Config{Zone: signedZone, Stub: p.DNSAddr, Anchors: []string{ksk.DS().String()}})
	return e
}

// presign marks the zone presigned in PowerDNS, as an operator does.
func (e *signedEnv) presign(t *testing.T) {
	t.Helper()
	if out, err := exec.Command("pdnsutil", "--config-dir="+e.pdns.Dir, "set-presigned", signedZone).CombinedOutput(); err != nil {
		t.Fatalf("pdnsutil set-presigned: %v\n%s", err, out)
	}
}

// sign signs the changed source RRsets and publishes the result as the
// signer does, one atomic batch per change.
func (e *signedEnv) sign(t *testing.T, sets ...rrset.Set) {
	t.Helper()
	e.seq++
	ch, err := e.sg.Apply(sets, e.seq, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var msgs []events.Message
	for _, u := range ch.Upserts {
		msgs = append(msgs, events.Message{Version: 1, Name: u.Name, Type: u.Type, Origin: "signer", TTL: u.TTL, Records: u.Records})
	}
	for _, k := range ch.Deletes {
		msgs = append(msgs, events.Message{Version: 1, Name: k.Name, Type: k.Type, Origin: "signer"})
	}
	if _, err := e.pub.PublishAtomic(context.Background(), msgs); err != nil {
		t.Fatalf("publishing %d signed RRsets: %v", len(msgs), err)
	}
}

// verified waits until the zone's AXFR carries serial and passes BIND's
// dnssec-verify.
func (e *signedEnv) verified(t *testing.T, step string) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, fmt.Sprintf("%s: SOA serial %d", step, e.seq), func() bool {
		soa := e.pdns.Dig(t, signedZone, "SOA")
		return len(soa) == 1 && strings.Fields(soa[0])[2] == fmt.Sprint(e.seq)
	})
	if axfr, err := e.pdns.VerifyDNSSEC(t, signedZone); err != nil {
		t.Fatalf("%s: %v\n%s", step, err, axfr)
	}
}

func aaaa(name, addr string) rrset.Set {
	return rrset.Set{Key: rrset.Key{Name: name, Type: "AAAA"}, TTL: 60, Records: []string{addr}}
}

// TestSignedZoneServedPresigned: a syncer writes a signed zone only once
// PowerDNS marks it presigned, and then serves the signer's data with its
// signatures: dnssec-verify accepts the AXFR after the initial signing, a
// new name, a name gone, a reconciliation that repaired a signature
// removed behind the syncer's back, and PowerDNS wiped; with the signer's
// SOA serial. After each, Debian's unbound, validating with the zone's
// DS as trust anchor, answers with the AD bit: an existing name, and on
// lmdb NXDOMAIN and NODATA with their proofs (gsqlite3 cannot, see
// docs/dnssec.md). (NSEC only: PowerDNS 4.7 transfers a presigned NSEC3 zone
// with NSEC3 records of its own beside the signer's, see docs/dnssec.md.)
func TestSignedZoneServedPresigned(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) { testSignedZone(t, backend) })
}

func testSignedZone(t *testing.T, backend string) {
	e := newSignedEnv(t, backend, nil)
	e.sign(t, aaaa("www."+signedZone, "2001:db8::1"), aaaa("ns1."+signedZone, "2001:db8::53"))

	testenv.Eventually(t, 20*time.Second, "the zone reported as not presigned", func() bool {
		return e.sync.Metric(t, fmt.Sprintf(`zonecast_syncer_zone_not_presigned{zone=%q}`, signedZone)) == 1
	})
	if got := e.pdns.Dig(t, "www."+signedZone, "AAAA"); len(got) != 0 {
		t.Fatalf("a zone not presigned was written: www AAAA = %v", got)
	}

	e.presign(t)
	e.validated(t, "initial signing", "www."+signedZone)
	// This PowerDNS keeps its query cache on: the syncer says to turn it
	// off for signed zones.
	testenv.Eventually(t, 10*time.Second, "the query cache warning", func() bool {
		b, err := os.ReadFile(e.sync.LogPath)
		return err == nil && strings.Contains(string(b), "powerdns's query cache is on")
	})
	if e.sync.Metric(t, fmt.Sprintf(`zonecast_syncer_zone_not_presigned{zone=%q}`, signedZone)) != 0 {
		t.Error("the zone is still reported as not presigned")
	}

	e.sign(t, aaaa("new."+signedZone, "2001:db8::2"))
	e.validated(t, "a new name", "new."+signedZone)
	e.sign(t, rrset.Set{Key: rrset.Key{Name: "www." + signedZone, Type: "AAAA"}})
	e.validated(t, "a name gone", "new."+signedZone)
	if e.denials {
		e.validates(t, "a name gone", "www."+signedZone, "AAAA", "NXDOMAIN")
	}
	if got := e.pdns.Dig(t, "www."+signedZone, "AAAA"); len(got) != 0 {
		t.Errorf("www AAAA still served after it went: %v", got)
	}

	// Drift: a signature removed behind the syncer's back is written
	// again by a reconciliation.
	sigs := rrset.Key{Name: "new." + signedZone, Type: "RRSIG"}
	if _, err := e.api.Apply(context.Background(), signedZone,
		[]pdnsapi.Change{{Set: rrset.Set{Key: sigs, TTL: 60}, Delete: true}}, nil); err != nil {
		t.Fatal(err)
	}
	e.sync.Signal(t, syscall.SIGHUP)
	testenv.Eventually(t, 20*time.Second, "the removed RRSIG RRset written again", func() bool {
		sets, _, err := e.api.Zone(context.Background(), signedZone)
		return err == nil && slices.ContainsFunc(sets, func(s rrset.Set) bool { return s.Key == sigs })
	})
	e.validated(t, "drift repaired", "new."+signedZone)

	// PowerDNS wiped: the syncer creates the zone again and writes nothing
	// to it until it is marked presigned again, then all of it.
	e.pdns.Wipe(t)
	e.sync.Signal(t, syscall.SIGHUP)
	testenv.Eventually(t, 30*time.Second, "the recreated zone reported as not presigned", func() bool {
		return e.sync.Metric(t, fmt.Sprintf(`zonecast_syncer_zone_not_presigned{zone=%q}`, signedZone)) == 1
	})
	e.presign(t)
	e.validated(t, "after PowerDNS was wiped", "new."+signedZone)
}
