package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/zonecast/zonecast/internal/pdnsapi"
	"github.com/zonecast/zonecast/internal/testpdns"
)

// BenchmarkPatchSize loads 100,000 AAAA RRsets into a fresh pdns_server
// (gsqlite3, empty database) in PATCHes of each size, taking turns over 3
// rounds, and reports the median seconds per size: the measurement behind
// pdnsapi.MaxBatch.
func BenchmarkPatchSize(b *testing.B) {
	const n = 100000
	sizes := []int{1000, 2000, 4000, 10000}
	res := map[int][]float64{}
	for i := 0; i < b.N; i++ {
		for r := 0; r < 3; r++ {
			for k := range sizes {
				size := sizes[(k+r)%len(sizes)]
				p := testpdns.Start(b, "gsqlite3")
				api := pdnsapi.New(p.APIURL, p.APIKey, "localhost", 5*time.Minute)
				bz := newBulkZone(b, api, "bulk.bench.test.", n,
					func(j int) string { return fmt.Sprintf("2001:db8:1:%x::%x", j/60000, j%60000+1) })
				quiesce()
				res[size] = append(res[size], bz.loadIn(b, size))
				p.Stop(b)
			}
		}
	}
	base := median(res[sizes[0]])
	for _, size := range sizes {
		m := median(res[size])
		b.ReportMetric(m, fmt.Sprintf("s/%d-per-patch", size))
		b.Logf("PATCHes of %5d: %.3fs (%s) = %.2f x PATCHes of %d", size, m, fmtSecs(res[size]), m/base, sizes[0])
	}
}
