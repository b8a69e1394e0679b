package idlegc

import (
	"runtime"
	"runtime/metrics"
	"testing"
	"time"
)

func TestWorth(t *testing.T) {
	const mb = 1 << 20
	tests := map[string]struct {
		live, goal, heap, min uint64
		want                  bool
	}{
		"nothing since the last cycle":       {100 * mb, 200 * mb, 100 * mb, 16 * mb, false},
		"an eighth of the runway":            {100 * mb, 200 * mb, 113 * mb, 1 * mb, true},
		"less than an eighth":                {100 * mb, 200 * mb, 112 * mb, 1 * mb, false},
		"an eighth but less than the least":  {100 * mb, 200 * mb, 115 * mb, 16 * mb, false},
		"enough of both":                     {100 * mb, 200 * mb, 150 * mb, 16 * mb, true},
		"goal not above live (GC off, etc.)": {100 * mb, 100 * mb, 150 * mb, 1 * mb, false},
		"heap below live (metrics skew)":     {100 * mb, 200 * mb, 90 * mb, 0, false},
	}
	for name, tc := range tests {
		if got := Worth(tc.live, tc.goal, tc.heap, tc.min); got != tc.want {
			t.Errorf("%s: Worth(%d, %d, %d, %d) = %v, want %v", name, tc.live, tc.goal, tc.heap, tc.min, got, tc.want)
		}
	}
}

var sink []byte

// Idle starts a collection once there is garbage enough, and only then.
func TestIdleCollects(t *testing.T) {
	runtime.GC()
	c := New(1 << 20)
	cycles := func() uint64 {
		s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	started := false
	for i := 0; i < 10000 && !started; i++ {
		sink = make([]byte, 64<<10) // garbage at the next assignment
		before := cycles()
		if started = c.Idle(); started {
			deadline := time.Now().Add(10 * time.Second)
			for cycles() == before {
				if time.Now().After(deadline) {
					t.Fatal("Idle reported a collection, but none ran")
				}
				time.Sleep(time.Millisecond)
			}
		}
	}
	if !started {
		t.Fatal("Idle never found garbage enough to collect")
	}
	for c.running.Load() {
		time.Sleep(time.Millisecond)
	}
	runtime.GC()
	if c.Idle() {
		t.Error("Idle started a collection right after one, with no garbage")
	}
}
