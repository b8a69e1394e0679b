package lease

import (
	"slices"
	"testing"

	"github.com/zonecast/zonecast/internal/rrset"
)

func ref(name string) Ref { return Ref{Key: rrset.Key{Name: name, Type: "A"}, Origin: "o"} }

func TestDueInOrderAndStale(t *testing.T) {
	t.Parallel()
	var s Schedule
	current := map[Ref]int64{ref("a."): 30, ref("b."): 10, ref("c."): 20}
	for r, at := range current {
		s.Add(r, at)
	}
	s.Add(ref("b."), 5) // an older lease of b, since renewed to 10
	s.Add(ref("d."), 0) // no lease: not queued
	if s.Len() != 4 {
		t.Fatalf("queued %d, want 4", s.Len())
	}
	isCurrent := func(r Ref, at int64) bool { return current[r] == at }
	if next, ok := s.Next(); !ok || next != 5 {
		t.Fatalf("next %d %v, want 5", next, ok)
	}
	if got := s.Due(4, isCurrent); len(got) != 0 {
		t.Fatalf("due at 4: %v", got)
	}
	if got := s.Due(5, isCurrent); len(got) != 0 {
		t.Fatalf("due at 5 returned the stale entry: %v", got)
	}
	got := s.Due(20, isCurrent)
	if !slices.Equal(got, []Ref{ref("b."), ref("c.")}) {
		t.Fatalf("due at 20: %v", got)
	}
	if next, ok := s.Next(); !ok || next != 30 {
		t.Fatalf("next %d %v, want 30", next, ok)
	}
	delete(current, ref("a.")) // withdrawn before its lease ended
	if got := s.Due(100, isCurrent); len(got) != 0 {
		t.Fatalf("withdrawn contribution came due: %v", got)
	}
	if _, ok := s.Next(); ok {
		t.Fatal("schedule not empty")
	}
}

func TestCompact(t *testing.T) {
	t.Parallel()
	var s Schedule
	r := ref("a.")
	for at := int64(1); at <= 3000; at++ { // renewed 3,000 times
		s.Add(r, at)
	}
	isCurrent := func(x Ref, at int64) bool { return x == r && at == 3000 }
	s.Compact(1, isCurrent)
	if s.Len() != 1 {
		t.Fatalf("after compact %d entries, want 1", s.Len())
	}
	if got := s.Due(3000, isCurrent); !slices.Equal(got, []Ref{r}) {
		t.Fatalf("due %v", got)
	}
	// Few entries: left alone.
	s.Add(r, 1)
	s.Add(r, 2)
	s.Compact(0, func(Ref, int64) bool { return false })
	if s.Len() != 2 {
		t.Fatalf("small schedule compacted: %d", s.Len())
	}
}
