package syncer

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/claimlog"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/pdnsapi"
)

// nullPDNS takes every PATCH at once: what is left is the syncer's own
// work.
type nullPDNS struct{ *fakePDNS }

func (nullPDNS) Apply(context.Context, string, []pdnsapi.Change, []pdnsapi.Change) ([]pdnsapi.Rejection, error) {
	return nil, nil
}

// BenchmarkBurstIntake measures the syncer's own CPU for a burst of 20,000
// new RRsets, from the deliveries to the last batch handed to PowerDNS
// (which takes it at once here), with the claim log on as in production.
// Each burst goes to new names, as in cmd/syncer's BenchmarkBurst20k, so
// the state grows from one burst to the next. The figure that matters
// runs end to end: BenchmarkBurst20k, against a real PowerDNS.
func BenchmarkBurstIntake(b *testing.B) {
	const n, zones = 20000, 12
	var zs []string
	for z := 0; z < zones; z++ {
		zs = append(zs, fmt.Sprintf("burst%d.bench.test.", z))
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

	// Prepare every burst's deliveries before timing.
	bursts := make([][]events.Delivery, b.N)
	seq := uint64(0)
	for i := range bursts {
		zone := zs[i%zones]
		for j := 0; j < n; j++ {
			msg := events.Message{Version: 1, Name: fmt.Sprintf("h%d-%d.%s", i/zones, j, zone), Type: "AAAA",
				Origin: "bench", TTL: 60, Records: []string{fmt.Sprintf("2001:db8:%x::%x", i+1, j+1)}}
			data, err := events.Encode(msg)
			if err != nil {
				b.Fatal(err)
			}
			seq++
			bursts[i] = append(bursts[i], events.Delivery{Subject: events.Subject(events.DefaultSubjectPrefix, msg),
				Data: data, Seq: seq, Pending: uint64(n - 1 - j)})
		}
	}
	cpu0 := cpuNow()
	b.ResetTimer()
	for i, burst := range bursts {
		now := time.Now()
		for _, d := range burst {
			s.HandleMessage(d, now)
		}
		last := float64(burst[len(burst)-1].Seq)
		g := m.ZoneSeq.WithLabelValues(zs[i%zones])
		for {
			var v dto.Metric
			if err := g.Write(&v); err != nil {
				b.Fatal(err)
			}
			if v.GetGauge().GetValue() == last {
				break
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuNow()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// cpuNow returns the CPU time this process has used, user and system.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
