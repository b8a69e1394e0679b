package alerts

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/zonecast/zonecast/internal/cli"
	"github.com/zonecast/zonecast/internal/testenv"
)

// The shipped files, relative to this package.
var (
	rulesFile     = filepath.Join("..", "..", "packaging", "prometheus", "zonecast.rules.yml")
	rulesTestFile = filepath.Join("..", "..", "packaging", "prometheus", "zonecast.rules.test.yml")
	dashboardFile = filepath.Join("..", "..", "packaging", "grafana", "zonecast-dashboard.json")
	alertsDoc     = filepath.Join("..", "..", "docs", "alerts.md")
)

// runbookBase is where every alert's runbook_url points, one section per
// alert in docs/alerts.md.
const runbookBase = "https://github.com/zonecast/zonecast/blob/main/docs/alerts.md#"

// Labels every series has or may have besides those of the daemons'
// metric vectors: the target's (job, instance) and a histogram bucket's.
var targetLabels = []string{"job", "instance", "le"}

// knownNames returns what the daemons export: the zonecast metrics and
// labels defined in the Go sources of internal/ and cmd/, the Go and
// process collectors' metrics (from the registry every daemon starts
// with), and Prometheus's own up.
func knownNames(t *testing.T) exported {
	t.Helper()
	e, err := readExported(filepath.Join("..", "..", "internal"), filepath.Join("..", "..", "cmd"))
	if err != nil {
		t.Fatal(err)
	}
	// A floor, so that a regexp that stops matching fails here instead of
	// passing every expression that names nothing it knows.
	for _, name := range []string{"zonecast_syncer_pdns_reachable", "zonecast_syncer_deletions_held",
		"zonecast_syncer_stream_alarms_total", "zonecast_gateway_updates_total", "zonecast_gateway_confirm_total",
		"zonecast_watcher_publish_errors_total", "zonecast_syncer_lease_reaps_total"} {
		if !e.has(name) {
			t.Fatalf("metric %s not found in the Go sources: the definition pattern no longer matches", name)
		}
	}
	fams, err := cli.NewRegistry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		e.metrics[f.GetName()] = strings.ToLower(f.GetType().String())
	}
	e.metrics["up"] = "gauge"
	for _, l := range targetLabels {
		e.labels[l] = true
	}
	return e
}

// checkExpr reports the metrics and labels of expr that nothing exports.
func checkExpr(e exported, expr string) error {
	metrics, labels, err := promqlRefs(expr)
	if err != nil {
		return err
	}
	var unknown []string
	for _, m := range metrics {
		if !e.has(m) {
			unknown = append(unknown, "metric "+m)
		}
	}
	for _, l := range labels {
		if !e.labels[l] {
			unknown = append(unknown, "label "+l)
		}
	}
	if len(metrics) == 0 {
		unknown = append(unknown, "no metric at all")
	}
	if len(unknown) > 0 {
		return fmt.Errorf("%s in %q", strings.Join(unknown, ", "), expr)
	}
	return nil
}

func shippedRules(t *testing.T) []rule {
	t.Helper()
	f, err := os.Open(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rules, err := readRules(f)
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

func TestRulesUseExportedMetrics(t *testing.T) {
	t.Parallel()
	e := knownNames(t)
	rules := shippedRules(t)
	if len(rules) == 0 {
		t.Fatal("no alerting rules read")
	}
	for _, r := range rules {
		if r.Expr == "" {
			t.Errorf("alert %s: no expr read", r.Alert)
			continue
		}
		if err := checkExpr(e, r.Expr); err != nil {
			t.Errorf("alert %s: %v", r.Alert, err)
		}
	}
}

// TestRulesRunbooks: every alert links its own section of docs/alerts.md,
// and that section exists.
func TestRulesRunbooks(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(alertsDoc)
	if err != nil {
		t.Fatal(err)
	}
	headings := map[string]bool{}
	for _, line := range strings.Split(string(doc), "\n") {
		if h, ok := strings.CutPrefix(line, "### "); ok {
			headings[strings.TrimSpace(h)] = true
		}
	}
	seen := map[string]bool{}
	for _, r := range shippedRules(t) {
		if seen[r.Alert] {
			t.Errorf("alert %s defined twice", r.Alert)
		}
		seen[r.Alert] = true
		if want := runbookBase + strings.ToLower(r.Alert); r.RunbookURL != want {
			t.Errorf("alert %s: runbook_url %q, want %q", r.Alert, r.RunbookURL, want)
		}
		if !headings[r.Alert] {
			t.Errorf("alert %s: no section \"### %s\" in docs/alerts.md", r.Alert, r.Alert)
		}
	}
}

// TestRulesUnitTests runs promtool's checks and the unit tests shipped
// beside the rules, and checks that they cover every alert, firing and
// not firing.
func TestRulesUnitTests(t *testing.T) {
	t.Parallel()
	promtool := testenv.Tool(t, "promtool", "prometheus")
	out, err := exec.Command(promtool, "check", "rules", rulesFile).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	// promtool counts the rules it parsed; readRules must have read as many.
	m := regexp.MustCompile(`SUCCESS: (\d+) rules found`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("promtool check rules: no rule count in\n%s", out)
	}
	if n, _ := strconv.Atoi(string(m[1])); n != len(shippedRules(t)) {
		t.Fatalf("promtool found %d rules, readRules %d: the file uses a form readRules does not read", n, len(shippedRules(t)))
	}
	// promtool resolves rule_files relative to the test file.
	out, err = exec.Command(promtool, "test", "rules", rulesTestFile).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}

	tests, err := os.ReadFile(rulesTestFile)
	if err != nil {
		t.Fatal(err)
	}
	rules := shippedRules(t)
	metricsOf := map[string][]string{}
	for _, r := range rules {
		metricsOf[r.Alert], _, _ = promqlRefs(r.Expr)
	}
	fires, silent := coverage(string(tests), metricsOf)
	for _, r := range rules {
		if !fires[r.Alert] {
			t.Errorf("alert %s: no test case where it fires", r.Alert)
		}
		if !silent[r.Alert] {
			t.Errorf("alert %s: no test case where it must not fire (exp_alerts: [], or a firing case that leaves out an instance with series of the alert's metrics)", r.Alert)
		}
	}
}

// coverage reads a promtool test file's alert_rule_test items: the alerts
// expected to fire in some case, and those with a case where they must
// not fire. Not firing is an empty expected list, or an expected list
// that leaves out an instance whose input series are of a metric of the
// alert's expression (metricsOf).
func coverage(tests string, metricsOf map[string][]string) (fires, silent map[string]bool) {
	type series struct{ metric, instance string }
	fires, silent = map[string]bool{}, map[string]bool{}
	var alert string
	var input []series            // of the current test
	expected := map[string]bool{} // instances the current item expects
	flush := func() {
		if alert != "" && len(expected) > 0 {
			for _, s := range input {
				if slices.Contains(metricsOf[alert], s.metric) && !expected[s.instance] {
					silent[alert] = true
				}
			}
		}
		alert, expected = "", map[string]bool{}
	}
	seriesLine := regexp.MustCompile(`^- series: '([a-zA-Z_:][a-zA-Z0-9_:]*)\{.*instance="([^"]+)"`)
	expInst := regexp.MustCompile(`instance: "?([^",}]+)"?`)
	for _, line := range strings.Split(tests, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "- name:"):
			flush()
			input = nil
		case strings.HasPrefix(trimmed, "- series:"):
			if m := seriesLine.FindStringSubmatch(trimmed); m != nil {
				input = append(input, series{m[1], m[2]})
			}
		case strings.HasPrefix(trimmed, "- eval_time:"):
			flush()
		case strings.HasPrefix(trimmed, "alertname:"):
			alert = strings.TrimSpace(strings.TrimPrefix(trimmed, "alertname:"))
		case trimmed == "exp_alerts: []":
			silent[alert] = true
		case strings.HasPrefix(trimmed, "- exp_labels:"):
			fires[alert] = true
			if m := expInst.FindStringSubmatch(trimmed); m != nil {
				expected[m[1]] = true
			}
		}
	}
	flush()
	return fires, silent
}

func TestCoverage(t *testing.T) {
	t.Parallel()
	in := `tests:
  - name: one
    input_series:
      - series: 'a{instance="n1"}'
      - series: 'a{instance="n2"}'
      - series: 'b{instance="n1"}'
      - series: 'other{instance="n2"}'
    alert_rule_test:
      - eval_time: 1m
        alertname: A
        exp_alerts:
          - exp_labels: {severity: warning, instance: "n1"}
      - eval_time: 2m
        alertname: B
        exp_alerts:
          - exp_labels: {instance: n1}
      - eval_time: 3m
        alertname: C
        exp_alerts: []
`
	fires, silent := coverage(in, map[string][]string{"A": {"a"}, "B": {"b"}, "C": {"c"}})
	if !fires["A"] || !fires["B"] || fires["C"] {
		t.Errorf("fires = %v, want A and B", fires)
	}
	// B leaves out n2, but n2 has no series of b.
	if !silent["A"] || silent["B"] || !silent["C"] {
		t.Errorf("silent = %v, want A (n2 left out) and C", silent)
	}
}

// dashboard is the part of a Grafana dashboard model the tests read.
type dashboard struct {
	Title         string  `json:"title"`
	UID           string  `json:"uid"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Datasource *datasource     `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	GridPos    struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		RefID      string      `json:"refId"`
		Expr       string      `json:"expr"`
		Datasource *datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // of a collapsed row
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// The dashboard's datasource is its template variable: no fixed uid, so
// that it imports and provisions into any Grafana.
var dashboardDS = datasource{Type: "prometheus", UID: "${datasource}"}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if dec.More() {
		t.Fatalf("%s: data after the dashboard", dashboardFile)
	}
	return d
}

// allPanels flattens the rows' panels.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// The panels each part of the dashboard must have, by a metric they show.
var wantPanels = []string{
	"up", "zonecast_syncer_replay_completed", // nodes up and ready
	"zonecast_syncer_zone_stream_seq", "zonecast_gateway_stream_sequence", // applied vs stream sequence
	"zonecast_syncer_apply_seconds_bucket", "zonecast_syncer_batch_rrsets_bucket",
	"zonecast_syncer_rrsets_owned", "zonecast_syncer_rrsets_desired", "zonecast_syncer_rrsets_conflicting",
	"zonecast_syncer_rrsets_rejected_total", "zonecast_syncer_deletions_held",
	"zonecast_syncer_pdns_reachable", "zonecast_syncer_pdns_errors_total",
	"zonecast_gateway_updates_total", "zonecast_gateway_confirm_total",
	"zonecast_watcher_messages_published_total", "zonecast_watcher_publish_errors_total",
	"zonecast_signer_serial", "zonecast_signer_signature_expiry_earliest_timestamp_seconds",
	"zonecast_signer_publish_errors_total", "zonecast_signer_sign_errors_total",
}

func TestDashboard(t *testing.T) {
	t.Parallel()
	e := knownNames(t)
	d := readDashboard(t)
	if d.Title == "" || d.UID == "" {
		t.Errorf("title %q, uid %q: both needed", d.Title, d.UID)
	}
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d: older than Grafana 9's", d.SchemaVersion)
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		switch v.Type {
		case "datasource":
			if v.Name != "datasource" || string(v.Query) != `"prometheus"` {
				t.Errorf("datasource variable %s with query %s, want datasource of type prometheus", v.Name, v.Query)
			}
		case "query":
			if v.Datasource == nil || *v.Datasource != dashboardDS {
				t.Errorf("variable %s: datasource %v, want %v", v.Name, v.Datasource, dashboardDS)
			}
			var q struct{ Query string }
			if err := json.Unmarshal(v.Query, &q); err != nil {
				t.Errorf("variable %s: query %s: %v", v.Name, v.Query, err)
				continue
			}
			m := regexp.MustCompile(`^label_values\((.+), (\w+)\)$`).FindStringSubmatch(q.Query)
			if m == nil {
				t.Errorf("variable %s: query %q is no label_values(metric, label)", v.Name, q.Query)
				continue
			}
			if err := checkExpr(e, m[1]); err != nil {
				t.Errorf("variable %s: %v", v.Name, err)
			}
			if !e.labels[m[2]] {
				t.Errorf("variable %s: label %s not exported", v.Name, m[2])
			}
		}
	}
	if !vars["datasource"] {
		t.Error("no datasource variable")
	}

	ids := map[int]bool{}
	shown := map[string]bool{}
	for _, p := range allPanels(d.Panels) {
		if ids[p.ID] {
			t.Errorf("panel %q: id %d used twice", p.Title, p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X < 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24 columns", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || *p.Datasource != dashboardDS {
			t.Errorf("panel %q: datasource %v, want %v", p.Title, p.Datasource, dashboardDS)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q: no targets", p.Title)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.RefID == "" || refs[tg.RefID] {
				t.Errorf("panel %q: refId %q empty or repeated", p.Title, tg.RefID)
			}
			refs[tg.RefID] = true
			if tg.Datasource != nil && *tg.Datasource != dashboardDS {
				t.Errorf("panel %q target %s: datasource %v, want %v", p.Title, tg.RefID, tg.Datasource, dashboardDS)
			}
			if err := checkExpr(e, tg.Expr); err != nil {
				t.Errorf("panel %q target %s: %v", p.Title, tg.RefID, err)
			}
			for _, v := range regexp.MustCompile(`\$(\w+)`).FindAllStringSubmatch(tg.Expr, -1) {
				if !vars[v[1]] && !strings.HasPrefix(v[1], "__") {
					t.Errorf("panel %q target %s: variable $%s is not defined", p.Title, tg.RefID, v[1])
				}
			}
			metrics, _, _ := promqlRefs(tg.Expr)
			for _, m := range metrics {
				shown[m] = true
			}
		}
	}
	for _, m := range wantPanels {
		if !shown[m] {
			t.Errorf("no panel shows %s", m)
		}
	}
}

// dashboardExprs returns every panel target's expression, with the
// template variables as Grafana sends them when "All" is selected.
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	r := strings.NewReplacer("$__rate_interval", "1m", "$__interval", "15s", "$__range", "1h",
		"$syncer", ".*", "$zone", ".*", "$gateway", ".*", "$watcher", ".*", "$signer", ".*")
	out := map[string]string{}
	for _, p := range allPanels(readDashboard(t).Panels) {
		for _, tg := range p.Targets {
			expr := r.Replace(tg.Expr)
			if strings.Contains(expr, "$") {
				t.Fatalf("panel %q target %s: a variable left in %q", p.Title, tg.RefID, expr)
			}
			out[p.Title+" "+tg.RefID] = expr
		}
	}
	return out
}

// sortedKeys returns m's keys in order, for stable test output.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
