package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecast/zonecast/internal/testenv"
	"github.com/zonecast/zonecast/internal/testpdns"
)

// BenchmarkScale is the scale curve of one zone (issue 20): 10^4 and 10^5
// RRsets, and 10^6 with BENCH_SCALE=full. For each size, in one run:
//
//   - a new node's convergence (convergence.converge, with the fleet's
//     snapshot) against the same PowerDNS's bulk load (convergence.bulk),
//     taking turns going first;
//   - the new syncer's peak resident memory (VmHWM) once converged and
//     after the reconciliations, its VmRSS once converged, and bytes per
//     RRset at the peak;
//   - reconciliations that find no drift (SIGHUP), timed to the syncer's
//     last_reconcile_timestamp_seconds, with the syncer's CPU and the PATCHes
//     it sent meanwhile (apply_seconds_count), taking turns with PowerDNS's
//     own full-zone GET of the same zone;
//   - publish -> dig p50 and p99 on the converged zone, under no load:
//     100 changes of existing RRsets, each polled by UDP every millisecond.
//
// ZONECAST_BENCH_PROFILE=FILE keeps a CPU profile of the syncer during the
// last round's second reconciliation, ZONECAST_BENCH_HEAP=PREFIX two heap
// profiles of the last round's syncer (PREFIX-converged.pprof once
// converged, PREFIX-reconciled.pprof after the reconciliations; in-use
// space is what stays resident), ZONECAST_BENCH_TRACE=FILE the last
// node's debug log. With ZONECAST_BENCH_SCALE_FILE set, one line per size is appended to that
// file (tab-separated, a header first) for scripts/bench.sh to plot.
func BenchmarkScale(b *testing.B) {
	sizes := []int{10000, 100000}
	if os.Getenv("BENCH_SCALE") == "full" {
		sizes = append(sizes, 1000000)
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("rrsets=%d", n), func(b *testing.B) { benchScale(b, n) })
	}
}

// scaleRounds is how many convergence rounds each size gets.
func scaleRounds(n int) int {
	if n >= 1000000 {
		return 1
	}
	return 3
}

func benchScale(b *testing.B, n int) {
	const zone = "scale.bench.test."
	const reconciles, samples = 3, 100
	cv := newConvergence(b, zone, n)
	if lim := os.Getenv("ZONECAST_BENCH_SYNCER_GOMEMLIMIT"); lim != "" {
		// The Go runtime's soft memory limit for the new nodes only (not
		// for the benchmark's own process), as an operator sets it in the
		// syncer's environment file.
		cv.env = []string{"GOMEMLIMIT=" + lim}
	}
	var bulk, conv, ratio, hwmConv, hwm, rss, recon, reconCPU, get, patches, lat []float64
	var getBytes int64
	for i := 0; i < b.N; i++ {
		rounds := scaleRounds(n)
		for r := 0; r < rounds; r++ {
			bulkLoad := func() {
				secs, _ := cv.bulk()
				bulk = append(bulk, secs)
			}
			var node *newNode
			syncerLoad := func() {
				var extra []string
				if n >= 1000000 {
					// On a shared machine PowerDNS's rectify of the whole
					// zone can outlast the default request timeout; the
					// syncer then retries it while its reads of the zone
					// time out behind it, and no reconciliation ends.
					extra = append(extra, "--pdns-timeout", "3m")
				}
				if os.Getenv("ZONECAST_BENCH_PROFILE") != "" || os.Getenv("ZONECAST_BENCH_HEAP") != "" {
					extra = append(extra, "--pprof")
				}
				if os.Getenv("ZONECAST_BENCH_TRACE") != "" {
					extra = append(extra, "--log-level", "debug")
				}
				node = cv.converge(extra...)
				conv = append(conv, node.secs)
			}
			if r%2 == 0 {
				bulkLoad()
				syncerLoad()
			} else {
				syncerLoad()
				bulkLoad()
			}
			ratio = append(ratio, conv[len(conv)-1]/bulk[len(bulk)-1])
			func() {
				defer node.stop()
				// Let the syncer go idle: the claims copied into the
				// zone's metadata, the debounced rectify, the idle
				// collection.
				time.Sleep(2 * time.Second)
				pid := node.s.PID()
				hwmConv = append(hwmConv, float64(testenv.ProcStatus(pid, "VmHWM"))/1024)
				rss = append(rss, float64(testenv.ProcStatus(pid, "VmRSS"))/1024)
				heap := os.Getenv("ZONECAST_BENCH_HEAP")
				if heap != "" && r == rounds-1 {
					fetchHeap(node.s.HTTPAddr, heap+"-converged.pprof")
				}
				for k := 0; k < reconciles; k++ {
					if prof := os.Getenv("ZONECAST_BENCH_PROFILE"); prof != "" && k == 1 && r == rounds-1 {
						// The second reconciliation, profiled for about as long as
						// the first took.
						go fetchProfileFor(node.s.HTTPAddr, prof, int(recon[len(recon)-1])+1)
						time.Sleep(100 * time.Millisecond)
					}
					secs, cpu, np := noDriftReconcile(b, node.s, zone)
					recon, reconCPU, patches = append(recon, secs), append(reconCPU, cpu), append(patches, np)
					secs, size := zoneGET(b, node.p, zone)
					get, getBytes = append(get, secs), size
				}
				// The peak after the reconciliations (each a full read of the zone).
				hwm = append(hwm, float64(testenv.ProcStatus(pid, "VmHWM"))/1024)
				if heap != "" && r == rounds-1 {
					fetchHeap(node.s.HTTPAddr, heap+"-reconciled.pprof")
				}
				// Logged per round, so that a later failure (publish -> dig)
				// does not lose them.
				b.Logf("round %d: node %.3fs, bulk %.3fs; VmHWM %.1f MB converged, %.1f MB after the reconciliations; reconciliations %s, GETs %s",
					r, conv[len(conv)-1], bulk[len(bulk)-1], hwmConv[len(hwmConv)-1], hwm[len(hwm)-1],
					fmtSecs(recon[len(recon)-reconciles:]), fmtSecs(get[len(get)-reconciles:]))
				if r == rounds-1 {
					lat = publishToDig(b, cv, node.p, samples)
					cv.lastSeq = cv.streamLastSeq() // a next node replays them after the snapshot
					if tr := os.Getenv("ZONECAST_BENCH_TRACE"); tr != "" {
						data, _ := os.ReadFile(node.s.LogPath)
						_ = os.WriteFile(tr, data, 0o600)
					}
				}
			}()
		}
	}
	mb, mc, mh := median(bulk), median(conv), median(hwm)
	bytesPer := mh * 1024 * 1024 / float64(n)
	mr, mg := median(recon), median(get)
	p50, p99 := median(lat), percentile(lat, 0.99)
	b.ReportMetric(mc/mb, "converge/bulk")
	b.ReportMetric(mc, "converge-s")
	b.ReportMetric(mh, "hwm-MB")
	b.ReportMetric(median(hwmConv), "hwm-converged-MB")
	b.ReportMetric(bytesPer, "bytes/rrset")
	b.ReportMetric(mr, "reconcile-s")
	b.ReportMetric(median(reconCPU), "reconcile-cpu-s")
	b.ReportMetric(mr/mg, "reconcile/get")
	b.ReportMetric(percentile(patches, 1), "reconcile-patches")
	b.ReportMetric(p50, "p50-ms")
	b.ReportMetric(p99, "p99-ms")
	b.Logf("%d RRsets in one zone, medians of %d rounds:", n, len(bulk))
	b.Logf("  bulk PATCH x1000           %.3fs (%s)", mb, fmtSecs(bulk))
	b.Logf("  new syncer, snapshot       %.3fs (%s)  = %.2f x bulk (per round %s)", mc, fmtSecs(conv), mc/mb, fmtSecs(ratio))
	b.Logf("  syncer VmHWM %.1f MB (%s) after the reconciliations, %.1f MB (%s) converged; VmRSS converged %.1f MB (%s); %.0f bytes/RRset at the peak",
		mh, fmtSecs(hwm), median(hwmConv), fmtSecs(hwmConv), median(rss), fmtSecs(rss), bytesPer)
	b.Logf("  no-drift reconciliation    %.3fs (%s), syncer CPU %.2fs (%s), PATCHes %s",
		mr, fmtSecs(recon), median(reconCPU), fmtSecs(reconCPU), fmtSecs(patches))
	b.Logf("  PowerDNS full-zone GET     %.3fs (%s), %d bytes; reconcile/GET %.2f", mg, fmtSecs(get), getBytes, mr/mg)
	b.Logf("  publish -> dig over %d samples: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms",
		len(lat), p50, percentile(lat, 0.9), p99, percentile(lat, 1))
	if path := os.Getenv("ZONECAST_BENCH_SCALE_FILE"); path != "" {
		writeScaleLine(b, path, fmt.Sprintf("%d\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.1f\t%.1f\t%.0f\t%.3f\t%.2f\t%.3f\t%.2f\t%.0f\t%.2f\t%.2f\t%.1f",
			n, mb, mc, mc/mb, percentile(ratio, 0), percentile(ratio, 1), mh, median(rss), bytesPer,
			mr, median(reconCPU), mg, mr/mg, percentile(patches, 1), p50, p99, median(hwmConv)))
	}
}

const scaleHeader = "# rrsets\tbulk_s\tconverge_s\tconverge_bulk\tratio_min\tratio_max\thwm_mb\trss_mb\tbytes_per_rrset" +
	"\treconcile_s\treconcile_cpu_s\tget_s\treconcile_get\treconcile_patches\tp50_ms\tp99_ms\thwm_converged_mb"

func writeScaleLine(b *testing.B, path, line string) {
	b.Helper()
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if os.IsNotExist(statErr) {
		fmt.Fprintln(f, scaleHeader)
	}
	fmt.Fprintln(f, line)
}

// noDriftReconcile asks the syncer for a full reconciliation (SIGHUP) and
// waits until its last_reconcile_timestamp_seconds moves. It returns the
// seconds from the signal to that timestamp, the syncer's CPU seconds
// meanwhile, and the PATCHes the syncer sent (which must be none).
func noDriftReconcile(b *testing.B, s *testenv.Syncer, zone string) (secs, cpu, patches float64) {
	b.Helper()
	const last, applied = "zonecast_syncer_last_reconcile_timestamp_seconds", "zonecast_syncer_apply_seconds_count"
	t0, a0 := s.Metric(b, last), s.Metric(b, applied)
	c0 := cpuTime(s.PID())
	start := time.Now()
	s.Signal(b, syscall.SIGHUP)
	for {
		time.Sleep(20 * time.Millisecond)
		if t := s.Metric(b, last); t > t0 {
			secs = t - float64(start.UnixNano())/1e9
			break
		}
		if time.Since(start) > 5*time.Minute {
			b.Fatalf("no reconciliation after 5 minutes:\n%s", s.LogTail(20))
		}
	}
	cpu = (cpuTime(s.PID()) - c0).Seconds()
	patches = s.Metric(b, applied) - a0
	if drift := s.Metric(b, `zonecast_syncer_reconcile_drift_rrsets{zone="`+zone+`"}`); drift != 0 || patches != 0 {
		b.Errorf("a reconciliation without drift wrote %v RRsets in %v PATCHes", drift, patches)
	}
	return secs, cpu, patches
}

// fetchProfileFor saves a CPU profile of the syncer over secs seconds
// (ZONECAST_BENCH_PROFILE).
func fetchProfileFor(addr, path string, secs int) {
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs))
	if err != nil {
		return
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	_ = os.WriteFile(path, data, 0o600)
}

// fetchHeap saves a heap profile of the syncer (ZONECAST_BENCH_HEAP).
func fetchHeap(addr, path string) {
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/heap", addr))
	if err != nil {
		return
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	_ = os.WriteFile(path, data, 0o600)
}

// zoneGET times PowerDNS's own full-zone GET of zone, body read to the end.
func zoneGET(b *testing.B, p *testpdns.Server, zone string) (float64, int64) {
	b.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet,
		p.APIURL+"/api/v1/servers/localhost/zones/"+zone, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("X-API-Key", p.APIKey)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	size, err := io.Copy(io.Discard, resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("GET zone %s: %s, %v", zone, resp.Status, err)
	}
	return time.Since(start).Seconds(), size
}

// publishToDig adds samples new RRsets to the converged zone, one at a time,
// 20 ms apart, and times each from the publish until PowerDNS answers the
// address (a UDP query every millisecond), as BenchmarkPublishToDig does.
// Changing existing RRsets instead met a stale answer for 10 s and more in
// one sample of 22: a query that read the old RRset while the PATCH was
// committed, cached after the PATCH's purge (the race the syncer's cache
// flush is for). Milliseconds.
func publishToDig(b *testing.B, cv *convergence, p *testpdns.Server, samples int) []float64 {
	b.Helper()
	c := &dns.Client{Timeout: time.Second}
	var lat []float64
	for j := 0; j < samples; j++ {
		name := fmt.Sprintf("l%d-%d.%s", cv.lastSeq, j, cv.zone)
		want := fmt.Sprintf("2001:db8:2::%x", j+1)
		lat = append(lat, publishAndDig(b, cv.pub, c, p.DNSAddr, name, want))
		time.Sleep(20 * time.Millisecond)
	}
	return lat
}
