package syncer

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/snapshot"
)

// BenchmarkHandleMessage measures the intake of one record event: decode,
// validation and the fold into the desired state.
func BenchmarkHandleMessage(b *testing.B) {
	s := New(Config{Zones: []string{"z.test."}}, nil, NewMetrics(prometheus.NewRegistry()), zerolog.Nop())
	var ds []events.Delivery
	for i := 0; i < 20000; i++ {
		m := events.Message{Version: 1, Name: fmt.Sprintf("h%d.z.test.", i), Type: "AAAA", Origin: "bench", TTL: 60,
			Records: []string{fmt.Sprintf("2001:db8::%x", i+1)}}
		data, err := events.Encode(m)
		if err != nil {
			b.Fatal(err)
		}
		ds = append(ds, events.Delivery{Subject: events.Subject(events.DefaultSubjectPrefix, m), Data: data})
	}
	now := time.Now()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d := ds[i%len(ds)]
		d.Seq = uint64(i + 1)
		s.HandleMessage(d, now)
	}
}

// BenchmarkLoadSnapshot100k measures loading a zone snapshot of 100,000
// RRsets from memory into an empty desired state: framing, decode,
// validation and the fold.
func BenchmarkLoadSnapshot100k(b *testing.B) {
	src := New(Config{Zones: []string{"z.test."}}, nil, NewMetrics(prometheus.NewRegistry()), zerolog.Nop())
	now := time.Now()
	for i := 0; i < 100000; i++ {
		m := events.Message{Version: 1, Name: fmt.Sprintf("h%d.z.test.", i), Type: "AAAA", Origin: "bench", TTL: 60,
			Records: []string{fmt.Sprintf("2001:db8:1:%x::%x", i/60000, i%60000+1)}}
		data, err := events.Encode(m)
		if err != nil {
			b.Fatal(err)
		}
		src.HandleMessage(events.Delivery{Subject: events.Subject(events.DefaultSubjectPrefix, m), Data: data, Seq: uint64(i + 1)}, now)
	}
	var buf bytes.Buffer
	if err := src.Snapshot("z.test.").Write(&buf, "ZONECAST", now, now); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := New(Config{Zones: []string{"z.test."}}, nil, NewMetrics(prometheus.NewRegistry()), zerolog.Nop())
		r, err := snapshot.NewReader(bytes.NewReader(buf.Bytes()))
		if err != nil {
			b.Fatal(err)
		}
		if n, err := s.LoadSnapshot(r, now); err != nil || n != 100000 {
			b.Fatal(n, err)
		}
	}
}
