package syncer

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/claimlog"
	"github.com/zonecast/zonecast/internal/events"
)

// BenchmarkZonesBurst measures the syncer's own work for a burst that
// touches every one of many zones of 100 RRsets (PowerDNS takes every
// PATCH at once here), so that a cost growing with the number of zones
// shows as a per-zone figure growing between the sizes. The figure that
// matters runs end to end: cmd/syncer's BenchmarkManyZones.
func BenchmarkZonesBurst(b *testing.B) {
	for _, nz := range []int{200, 1000} {
		b.Run(fmt.Sprintf("zones=%d", nz), func(b *testing.B) { benchZonesBurst(b, nz, 100) })
	}
}

func benchZonesBurst(b *testing.B, nz, per int) {
	var zs []string
	for z := range nz {
		zs = append(zs, fmt.Sprintf("z%d.many.bench.test.", z))
	}
	claims, err := claimlog.Open(filepath.Join(b.TempDir(), "claims.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer claims.Close()
	m := NewMetrics(prometheus.NewRegistry())
	s := New(Config{Zones: zs, Claims: claims}, nullPDNS{newFake()}, m, zerolog.Nop())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	s.Replayed()
	<-s.Ready()

	seq := uint64(0)
	// burst builds one round of deliveries: the first k RRsets of every
	// zone get addresses of round r.
	burst := func(r, k int) []events.Delivery {
		var out []events.Delivery
		for _, zone := range zs {
			for j := range k {
				msg := events.Message{Version: 1, Name: fmt.Sprintf("h%d.%s", j, zone), Type: "AAAA",
					Origin: "bench", TTL: 60, Records: []string{fmt.Sprintf("2001:db8:%x::%x", r+1, j+1)}}
				data, err := events.Encode(msg)
				if err != nil {
					b.Fatal(err)
				}
				seq++
				out = append(out, events.Delivery{Subject: events.Subject(events.DefaultSubjectPrefix, msg), Data: data, Seq: seq})
			}
		}
		return out
	}
	// run delivers a round and waits until every zone's SOA shows the
	// last sequence of its zone.
	run := func(ds []events.Delivery) time.Duration {
		start := time.Now()
		for _, d := range ds {
			s.HandleMessage(d, start)
		}
		per := len(ds) / nz
		for i, zone := range zs {
			want := float64(ds[(i+1)*per-1].Seq)
			g := m.ZoneSeq.WithLabelValues(zone)
			for {
				var v dto.Metric
				if err := g.Write(&v); err != nil {
					b.Fatal(err)
				}
				if v.GetGauge().GetValue() == want {
					break
				}
				time.Sleep(100 * time.Microsecond)
			}
		}
		return time.Since(start)
	}
	run(burst(0, per)) // the zones' RRsets, not measured
	var one, all time.Duration
	var cpuOne, cpuAll time.Duration
	b.ResetTimer()
	for i := range b.N {
		ds := burst(2*i+1, 1)
		c := cpuNow()
		one += run(ds)
		cpuOne += cpuNow() - c
		ds = burst(2*i+2, per)
		c = cpuNow()
		all += run(ds)
		cpuAll += cpuNow() - c
	}
	b.StopTimer()
	n := float64(b.N * nz)
	b.ReportMetric(float64(one.Microseconds())/n, "one-us/zone")
	b.ReportMetric(float64(cpuOne.Microseconds())/n, "one-cpu-us/zone")
	b.ReportMetric(float64(all.Microseconds())/n, "all-us/zone")
	b.ReportMetric(float64(cpuAll.Microseconds())/n, "all-cpu-us/zone")
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
