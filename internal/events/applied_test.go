package events

import "testing"

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
