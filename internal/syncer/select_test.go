package syncer

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSelectFirst: after selectFirst, the first k elements are the k
// smallest, whatever the input (duplicates, sorted, reversed, random).
func TestSelectFirst(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	inputs := map[string][]int{"empty": {}, "one": {5}}
	for _, n := range []int{2, 3, 10, 100, 5000} {
		random, dups, sorted := make([]int, n), make([]int, n), make([]int, n)
		for i := range n {
			random[i], dups[i], sorted[i] = r.IntN(1_000_000), r.IntN(3), i
		}
		reversed := slices.Clone(sorted)
		slices.Reverse(reversed)
		inputs[fmt.Sprint("random", n)], inputs[fmt.Sprint("dups", n)] = random, dups
		inputs[fmt.Sprint("sorted", n)], inputs[fmt.Sprint("reversed", n)] = sorted, reversed
	}
	for name, in := range inputs {
		want := slices.Sorted(slices.Values(in))
		for _, k := range []int{0, 1, len(in) / 3, len(in) / 2, len(in) - 1, len(in)} {
			if k < 0 || k > len(in) {
				continue
			}
			s := slices.Clone(in)
			selectFirst(s, k, cmp.Compare[int])
			got := slices.Sorted(slices.Values(s[:k]))
			if !slices.Equal(got, want[:k]) {
				t.Fatalf("%s, k=%d: first k %v, want %v", name, k, got, want[:k])
			}
			if !slices.Equal(slices.Sorted(slices.Values(s)), want) {
				t.Fatalf("%s, k=%d: elements changed", name, k)
			}
		}
	}
}
