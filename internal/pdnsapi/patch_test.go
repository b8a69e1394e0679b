package pdnsapi

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/zonecast/zonecast/internal/rrset"
)

func aChange(name string) Change {
	return Change{Set: rrset.Set{Key: rrset.Key{Name: name, Type: "A"}, TTL: 60, Records: []string{"192.0.2.1"}}}
}

func soaChange() Change {
	return Change{Set: rrset.Set{Key: rrset.Key{Name: "z.test.", Type: "SOA"}, TTL: 3600,
		Records: []string{"ns1.z.test. h.z.test. 2 10800 3600 604800 3600"}}}
}

func names(prefix string, n int) []Change {
	out := make([]Change, n)
	for i := range out {
		out[i] = aChange(fmt.Sprintf("%s%05d.z.test.", prefix, i))
	}
	return out
}

func TestApplyBisection(t *testing.T) {
	t.Parallel()
	// Each case: the changes (names "bad..." are refused by the fake), with
	// or without always; the rejected names expected, in order.
	tests := map[string]struct {
		changes    []Change
		always     bool
		wantRej    []string
		wantOKPats int // successful PATCHes (-1: do not check)
	}{
		"no changes, always alone": {changes: nil, always: true, wantOKPats: 1},
		"nothing at all":           {changes: nil, wantOKPats: 0},
		"all good, one patch":      {changes: names("g", 10), always: true, wantOKPats: 1},
		"three bad among 500": {
			changes: func() []Change {
				c := names("g", 500)
				c[7], c[250], c[499] = aChange("bad1.z.test."), aChange("bad2.z.test."), aChange("bad3.z.test.")
				return c
			}(),
			always:     true,
			wantRej:    []string{"bad1.z.test.", "bad2.z.test.", "bad3.z.test."},
			wantOKPats: -1,
		},
		"all bad, always alone": {
			changes: []Change{aChange("bad1.z.test."), aChange("bad2.z.test.")},
			always:  true, wantRej: []string{"bad1.z.test.", "bad2.z.test."}, wantOKPats: 1,
		},
		"last is bad": {
			changes: append(names("g", 3), aChange("bad9.z.test.")),
			always:  true, wantRej: []string{"bad9.z.test."}, wantOKPats: -1,
		},
		"duplicate key goes to a later patch": {
			changes: []Change{aChange("a.z.test."), aChange("b.z.test."), aChange("a.z.test.")},
			always:  false, wantOKPats: 2,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f, c := newFake(t)
			var always []Change
			if tc.always {
				always = []Change{soaChange()}
			}
			rej, err := c.Apply(context.Background(), "z.test", tc.changes, always)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			var got []string
			for _, r := range rej {
				got = append(got, r.Change.Set.Name)
				if !strings.Contains(r.Reason, r.Change.Set.Name) {
					t.Errorf("reason %q does not come from PowerDNS for %s", r.Reason, r.Change.Set.Name)
				}
			}
			if !slices.Equal(got, tc.wantRej) {
				t.Fatalf("rejected = %q, want %q", got, tc.wantRej)
			}
			ok := f.okPatches()
			if tc.wantOKPats >= 0 && len(ok) != tc.wantOKPats {
				t.Fatalf("%d successful PATCHes, want %d", len(ok), tc.wantOKPats)
			}
			// Every good change landed; the bad ones never did.
			for _, ch := range tc.changes {
				n := f.applied[ch.Set.Name]
				if bad := strings.HasPrefix(ch.Set.Name, "bad"); bad && n != 0 || !bad && n == 0 {
					t.Errorf("%s applied %d times", ch.Set.Name, n)
				}
			}
			// always rides on the last successful PATCH, exactly once.
			if tc.always {
				if f.applied["z.test."] != 1 {
					t.Fatalf("always applied %d times, want 1", f.applied["z.test."])
				}
				last := ok[len(ok)-1].names
				if last[len(last)-1] != "z.test." {
					t.Fatalf("always not in the last successful PATCH: %q", last)
				}
			}
		})
	}
}

func TestApplyChunking(t *testing.T) {
	t.Parallel()
	t.Run("by count", func(t *testing.T) {
		t.Parallel()
		f, c := newFake(t)
		if _, err := c.Apply(context.Background(), "z.test.", names("g", 2*MaxBatch+500), []Change{soaChange()}); err != nil {
			t.Fatal(err)
		}
		var sizes []int
		for _, p := range f.okPatches() {
			sizes = append(sizes, len(p.names))
		}
		if want := []int{MaxBatch - 1, MaxBatch - 1, 503}; !slices.Equal(sizes, want) {
			t.Fatalf("PATCH sizes %v, want %v (at most %d each, always included)", sizes, want, MaxBatch)
		}
	})
	t.Run("by bytes", func(t *testing.T) {
		t.Parallel()
		f, c := newFake(t)
		big := `"` + strings.Repeat("x", 250) + `"`
		var changes []Change
		for i := 0; i < 300; i++ {
			var recs []string
			for j := 0; j < 40; j++ { // ~10 KB per RRset
				recs = append(recs, fmt.Sprintf(`"%d" %s`, j, big))
			}
			changes = append(changes, Change{Set: rrset.Set{Key: rrset.Key{Name: fmt.Sprintf("t%d.z.test.", i), Type: "TXT"}, TTL: 60, Records: recs}})
		}
		if _, err := c.Apply(context.Background(), "z.test.", changes, []Change{soaChange()}); err != nil {
			t.Fatal(err)
		}
		ok := f.okPatches()
		if len(ok) < 3 {
			t.Fatalf("%d PATCHes for ~3 MB, want at least 3", len(ok))
		}
		total := 0
		for _, p := range ok {
			if p.bytes > MaxBytes {
				t.Fatalf("PATCH of %d bytes > MaxBytes %d", p.bytes, MaxBytes)
			}
			total += len(p.names)
		}
		if total != 301 {
			t.Fatalf("%d RRsets sent, want 301", total)
		}
	})
}

func TestApplyTransientStopsAtOnce(t *testing.T) {
	t.Parallel()
	f, c := newFake(t)
	changes := names("g", MaxBatch+500)
	changes[MaxBatch+200] = aChange("status-500.z.test.")
	rej, err := c.Apply(context.Background(), "z.test.", changes, []Change{soaChange()})
	if err == nil || !IsTransient(err) || IsRejected(err) {
		t.Fatalf("Apply error %v: want transient", err)
	}
	if len(rej) != 0 {
		t.Fatalf("rejections %v on a transient error", rej)
	}
	if n := len(f.patches); n != 2 {
		t.Fatalf("%d PATCHes, want 2 (the first chunk, then the failing one, no bisection)", n)
	}
	if f.applied["z.test."] != 0 {
		t.Fatal("always applied although the call failed")
	}
}

// TestApplyUnencodable: a change that cannot be encoded ends the call with
// an error; the pieces before it, encoded ahead while the PATCHes were in
// flight, are sent, nothing after it is.
func TestApplyUnencodable(t *testing.T) {
	t.Parallel()
	f, c := newFake(t)
	changes := names("g", 2*MaxBatch+500)
	changes[2*MaxBatch+100].Set.Type = "" // no type
	rej, err := c.Apply(context.Background(), "z.test.", changes, []Change{soaChange()})
	if err == nil || !strings.Contains(err.Error(), "no type") {
		t.Fatalf("Apply error %v: want the encoding error", err)
	}
	if len(rej) != 0 {
		t.Fatalf("rejections %v", rej)
	}
	if n := len(f.patches); n != 2 {
		t.Fatalf("%d PATCHes, want the 2 full pieces before the bad change", n)
	}
	if f.applied["z.test."] != 0 {
		t.Fatal("always applied although the call failed")
	}
}

func TestPatchPayload(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		ch   Change
		want string
	}{
		"replace adds trailing dot, enabled records": {
			ch:   Change{Set: rrset.Set{Key: rrset.Key{Name: "www.z.test", Type: "a"}, TTL: 60, Records: []string{"192.0.2.1"}}},
			want: `{"name":"www.z.test.","type":"A","ttl":60,"changetype":"REPLACE","records":[{"content":"192.0.2.1","disabled":false}]}`,
		},
		"delete sends records []": {
			ch:   Change{Set: rrset.Set{Key: rrset.Key{Name: "www.z.test.", Type: "A"}, TTL: 60, Records: []string{"192.0.2.1"}}, Delete: true},
			want: `{"name":"www.z.test.","type":"A","ttl":60,"changetype":"REPLACE","records":[]}`,
		},
		"nil records send [] never null": {
			ch:   Change{Set: rrset.Set{Key: rrset.Key{Name: "www.z.test.", Type: "A"}}},
			want: `{"name":"www.z.test.","type":"A","ttl":0,"changetype":"REPLACE","records":[]}`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e, err := new(encoder).encode(tc.ch)
			if err != nil {
				t.Fatal(err)
			}
			if string(e.js) != tc.want {
				t.Fatalf("got  %s\nwant %s", e.js, tc.want)
			}
			var v any
			if err := json.Unmarshal(body([]encoded{e}, []encoded{e}), &v); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
		})
	}
	// No type: an error, never a panic (go-powerdns panics there).
	_, c := newFake(t)
	err := c.Patch(context.Background(), "z.test.", []Change{{Set: rrset.Set{Key: rrset.Key{Name: "x.z.test."}}}})
	if err == nil {
		t.Fatal("Patch without type: no error")
	}
}

// An encoder's slices stay as they were encoded while its buffer grows
// and after it starts a new one.
func TestEncoderSlicesStay(t *testing.T) {
	t.Parallel()
	var en encoder
	en.fresh(16) // too small: the buffer grows under the slices
	var got []encoded
	for i := 0; i < 50; i++ {
		if i == 25 {
			en.fresh(16)
		}
		e, err := en.encode(Change{Set: rrset.Set{Key: rrset.Key{Name: fmt.Sprintf("h%d.z.test", i), Type: "aaaa"},
			TTL: 60, Records: []string{fmt.Sprintf("2001:db8::%x", i+1), "2001:db8::ffff"}}})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e)
	}
	for i, e := range got {
		want := fmt.Sprintf(`{"name":"h%d.z.test.","type":"AAAA","ttl":60,"changetype":"REPLACE","records":[`+
			`{"content":"2001:db8::%x","disabled":false},{"content":"2001:db8::ffff","disabled":false}]}`, i, i+1)
		if string(e.js) != want {
			t.Fatalf("change %d: got  %s\nwant %s", i, e.js, want)
		}
		if e.name != fmt.Sprintf("h%d.z.test.", i) || e.typ != "AAAA" {
			t.Fatalf("change %d: name %q type %q", i, e.name, e.typ)
		}
	}
}
