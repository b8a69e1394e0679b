package syncer

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/events"
)

// BenchmarkHandleMessage measures the intake of one record event: decode,
// validation and the fold into the desired state.
func BenchmarkHandleMessage(b *testing.B) {
	s := New(Config{Zones: []string{"z.test."}}, nil, NewMetrics(prometheus.NewRegistry()), zerolog.Nop())
	var ds []Delivery
	for i := 0; i < 20000; i++ {
		m := events.Message{Version: 1, Name: fmt.Sprintf("h%d.z.test.", i), Type: "AAAA", Origin: "bench", TTL: 60,
			Records: []string{fmt.Sprintf("2001:db8::%x", i+1)}}
		data, err := events.Encode(m)
		if err != nil {
			b.Fatal(err)
		}
		ds = append(ds, Delivery{Subject: events.Subject(events.DefaultSubjectPrefix, m), Data: data})
	}
	now := time.Now()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d := ds[i%len(ds)]
		d.Seq = uint64(i + 1)
		s.HandleMessage(d, now)
	}
}
