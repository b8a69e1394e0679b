package events

import (
	"testing"
	"time"
)

func TestAppliedSubject(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		prefix, stream, node string
		want                 string
	}{
		"default": {DefaultAppliedPrefix, "ZONECAST", "ns1", "zonecast.applied.ZONECAST.ns1"},
		"custom":  {"x.applied", "F2", "ns-2", "x.applied.F2.ns-2"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := AppliedSubject(c.prefix, c.stream, c.node)
			if got != c.want {
				t.Fatalf("AppliedSubject(%q, %q, %q) = %q, want %q", c.prefix, c.stream, c.node, got, c.want)
			}
			if f := AppliedFilter(c.prefix, c.stream); !natsMatch(f, got) {
				t.Fatalf("AppliedFilter %q does not match its fleet's subject %q", f, got)
			}
		})
	}
}

// TestAppliedFilterKeepsFleetsApart: fleets sharing one NATS see only
// their own stream's reports.
func TestAppliedFilterKeepsFleetsApart(t *testing.T) {
	t.Parallel()
	theirs := AppliedSubject(DefaultAppliedPrefix, "OTHER", "ns1")
	if f := AppliedFilter(DefaultAppliedPrefix, "ZONECAST"); natsMatch(f, theirs) {
		t.Fatalf("AppliedFilter %q matches another fleet's subject %q", f, theirs)
	}
}

// TestAppliedOutsideRecords: JetStream stores the record subjects, so an
// applied report under them would be kept (and replayed) as a record.
func TestAppliedOutsideRecords(t *testing.T) {
	t.Parallel()
	s := AppliedSubject(DefaultAppliedPrefix, "ZONECAST", "ns1")
	if f := DefaultSubjectPrefix + ".>"; natsMatch(f, s) {
		t.Fatalf("applied subject %q is inside the record subjects %q", s, f)
	}
}

func TestAppliedReportRoundTrip(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	in := AppliedReport{Node: "ns1", Time: t0, Started: t0, Ready: true, Applied: map[string]uint64{"z.": 3}}
	b, err := EncodeApplied(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodeApplied(b)
	if err != nil || out.Node != "ns1" || out.Applied["z."] != 3 || !out.Ready || !out.Time.Equal(t0) {
		t.Fatalf("DecodeApplied(EncodeApplied) = %+v, %v", out, err)
	}
	for name, bad := range map[string]string{"garbage": "{", "version": `{"v":2,"node":"a"}`, "no node": `{"v":1}`} {
		if _, err := DecodeApplied([]byte(bad)); err == nil {
			t.Errorf("%s: DecodeApplied accepted %s", name, bad)
		}
	}
}

// FuzzDecodeApplied: an applied report comes from the network; decoding
// one never panics, and what it accepts encodes and decodes to the same.
func FuzzDecodeApplied(f *testing.F) {
	f.Add([]byte(`{"v":1,"node":"ns1","time":"2026-01-01T00:00:00Z","started":"2026-01-01T00:00:00Z","ready":true,"applied":{"z.":3}}`))
	f.Add([]byte(`{"v":1,"node":"a","applied":null}`))
	f.Add([]byte(`{"v":2}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeApplied(b)
		if err != nil {
			return
		}
		again, err := EncodeApplied(r)
		if err != nil {
			t.Fatalf("EncodeApplied of a decoded report: %v", err)
		}
		r2, err := DecodeApplied(again)
		if err != nil || r2.Node != r.Node || r2.Ready != r.Ready || len(r2.Applied) != len(r.Applied) {
			t.Fatalf("round trip changed %+v into %+v (%v)", r, r2, err)
		}
	})
}
