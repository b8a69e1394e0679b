package alerts

// The shipped rules in a real Prometheus (Debian's /usr/bin/prometheus)
// that scrapes a real zonecast-syncer beside a real pdns_server.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/zonecast/zonecast/internal/testenv"
	"github.com/zonecast/zonecast/internal/testpdns"
)

const zone = "alerts.example.test."

// promServer is the HTTP API of a Prometheus the test started.
type promServer struct{ base string }

// get decodes the data of an API answer into out; an answer whose status
// is not "success" (a query that does not parse, say) is an error.
func (p promServer) get(path string, params url.Values, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+path+"?"+params.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return fmt.Errorf("GET %s: HTTP %d: %w", path, resp.StatusCode, err)
	}
	if body.Status != "success" {
		return fmt.Errorf("GET %s %v: %s: %s", path, params, body.Status, body.Error)
	}
	return json.Unmarshal(body.Data, out)
}

type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// query evaluates an instant query now.
func (p promServer) query(expr string) ([]sample, error) {
	var data struct {
		ResultType string   `json:"resultType"`
		Result     []sample `json:"result"`
	}
	if err := p.get("/api/v1/query", url.Values{"query": {expr}}, &data); err != nil {
		return nil, err
	}
	if data.ResultType != "vector" {
		return nil, fmt.Errorf("query %q: result type %s, want vector", expr, data.ResultType)
	}
	return data.Result, nil
}

type alert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
}

// alerts returns the pending and firing alerts.
func (p promServer) alerts() ([]alert, error) {
	var data struct {
		Alerts []alert `json:"alerts"`
	}
	err := p.get("/api/v1/alerts", nil, &data)
	return data.Alerts, err
}

// evaluatedSince reports whether every rule group has been evaluated
// after t, and how many groups there are.
func (p promServer) evaluatedSince(t time.Time) (bool, int, error) {
	var data struct {
		Groups []struct {
			Name           string    `json:"name"`
			LastEvaluation time.Time `json:"lastEvaluation"`
		} `json:"groups"`
	}
	if err := p.get("/api/v1/rules", url.Values{"type": {"alert"}}, &data); err != nil {
		return false, 0, err
	}
	for _, g := range data.Groups {
		if !g.LastEvaluation.After(t) {
			return false, len(data.Groups), nil
		}
	}
	return len(data.Groups) > 0, len(data.Groups), nil
}

// forLine is a rule's "for:" duration.
var forLine = regexp.MustCompile(`(?m)^(\s+for:\s*)\S+\s*$`)

// startPrometheus starts prometheus with the shipped rules, every "for:"
// made 0s, evaluating every second and scraping target every second as
// job zonecast-syncer. Zero durations keep the test from waiting out each
// alert's shipped one (a minute for PowerDNS unreachable), and make the
// check of a healthy node strict: any condition that holds, even for one
// evaluation, shows as a firing alert. The durations themselves are
// covered by the promtool unit tests of the shipped file.
func startPrometheus(t *testing.T, target string) promServer {
	t.Helper()
	bin := testenv.Tool(t, "prometheus", "prometheus")
	dir := t.TempDir()
	shipped, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(forLine.FindAll(shipped, -1)); n == 0 {
		t.Fatal("no for: durations found in the shipped rules")
	}
	rules := filepath.Join(dir, "zonecast.rules.yml")
	if err := os.WriteFile(rules, forLine.ReplaceAll(shipped, []byte("${1}0s")), 0o644); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(config, fmt.Appendf(nil, `global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %s
scrape_configs:
  - job_name: zonecast-syncer
    static_configs:
      - targets: ["%s"]
`, rules, target), 0o644); err != nil {
		t.Fatal(err)
	}
	port := testenv.FreePort(t)
	testenv.StartDaemon(t, "prometheus", filepath.Join(dir, "prometheus.log"), bin, []string{
		"--config.file=" + config,
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port),
	})
	p := promServer{base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	testenv.Eventually(t, 30*time.Second, "prometheus ready", func() bool {
		resp, err := http.Get(p.base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

// TestPrometheusPDNSUnreachable: a real Prometheus with the shipped rules
// raises nothing for a healthy syncer, and ZonecastPDNSUnreachable for it
// once its PowerDNS is stopped. The dashboard's queries run on the same
// server.
func TestPrometheusPDNSUnreachable(t *testing.T) {
	pdns := testpdns.Start(t, "gsqlite3")
	s := testenv.StartSyncer(t, testenv.SyncerOptions{Zones: []string{zone}, PDNS: pdns})
	p := startPrometheus(t, s.HTTPAddr)

	// Healthy: a few scrapes in, and every group evaluated after them.
	var scraped time.Time
	testenv.Eventually(t, 30*time.Second, "three scrapes of the syncer", func() bool {
		r, err := p.query(`count_over_time(up{job="zonecast-syncer"}[1m]) >= 3 and up{job="zonecast-syncer"} == 1`)
		scraped = time.Now()
		return err == nil && len(r) == 1
	})
	if r, err := p.query(`zonecast_syncer_pdns_reachable{job="zonecast-syncer"} == 1`); err != nil || len(r) != 1 {
		t.Fatalf("pdns_reachable before the stop: %v, %v", r, err)
	}
	var groups int
	testenv.Eventually(t, 10*time.Second, "the rule groups evaluated after the scrapes", func() bool {
		ok, n, err := p.evaluatedSince(scraped)
		groups = n
		return err == nil && ok
	})
	t.Logf("%d rule groups loaded", groups)
	active, err := p.alerts()
	if err != nil {
		t.Fatal(err)
	}
	if len(active) > 0 {
		t.Fatalf("alerts for a healthy syncer and PowerDNS: %v", active)
	}

	checkDashboardQueries(t, p)

	// PowerDNS stops. The syncer is idle (nothing to write): it learns it
	// from its heal period's SOA reads (--heal-interval, 10 s).
	stopped := time.Now()
	pdns.Stop(t)
	var last []alert
	testenv.Eventually(t, 60*time.Second, fmt.Sprintf("ZonecastPDNSUnreachable firing for %s (last %v)", s.HTTPAddr, &last), func() bool {
		last, err = p.alerts()
		if err != nil {
			return false
		}
		for _, a := range last {
			l := a.Labels
			if l["alertname"] == "ZonecastPDNSUnreachable" && l["instance"] == s.HTTPAddr &&
				l["job"] == "zonecast-syncer" && l["severity"] == "critical" && a.State == "firing" {
				return true
			}
		}
		return false
	})
	t.Logf("ZonecastPDNSUnreachable firing %v after the stop", time.Since(stopped).Round(100*time.Millisecond))
}

// checkDashboardQueries runs every query of the dashboard on p: each must
// parse and evaluate, and one whose metrics the syncer exports must return
// series (a join on a label that is not there returns none).
func checkDashboardQueries(t *testing.T, p promServer) {
	t.Helper()
	names, err := p.query(`group by (__name__) ({job="zonecast-syncer"})`)
	if err != nil {
		t.Fatal(err)
	}
	present := map[string]bool{"up": true}
	for _, n := range names {
		present[n.Metric["__name__"]] = true
	}
	exprs := dashboardExprs(t)
	checked := 0
	for _, key := range sortedKeys(exprs) {
		expr := exprs[key]
		r, err := p.query(expr)
		if err != nil {
			t.Errorf("dashboard %s: %v", key, err)
			continue
		}
		metrics, _, _ := promqlRefs(expr)
		all := len(metrics) > 0
		for _, m := range metrics {
			all = all && present[m]
		}
		if !all {
			continue
		}
		checked++
		if len(r) == 0 {
			t.Errorf("dashboard %s: no series from %q although the syncer exports its metrics", key, expr)
		}
	}
	t.Logf("%d dashboard queries evaluated, %d of them over syncer metrics present here returned series", len(exprs), checked)
	if checked == 0 {
		t.Error("no dashboard query checked against the syncer's series")
	}
}
