package alerts

// Readers for the shipped files and the Go sources, as small as these
// files need: the module has no YAML or PromQL parser, and a dependency
// only for tests is not worth it. Each reader is checked below, and the
// rule reader's count against promtool's.

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// promqlRefs returns the metric names and the label names that a PromQL
// expression refers to, each sorted once. It tokenizes rather than
// parses: strings and range/subquery brackets are skipped, the names
// inside {...} and in the lists after by, without, on, ignoring,
// group_left and group_right are labels, an aggregation or an identifier
// followed by "(" (a function) is no metric, and every other identifier
// that is no keyword is one. Grafana's $variables appear only in strings and
// brackets, where they are skipped.
func promqlRefs(expr string) (metrics, labels []string, err error) {
	s := expr
	i := 0
	skipSpace := func() {
		for i < len(s) && strings.ContainsRune(" \t\r\n", rune(s[i])) {
			i++
		}
	}
	ident := func() string {
		j := i
		for j < len(s) && (isIdentStart(s[j]) || (j > i && isDigit(s[j]))) {
			j++
		}
		id := s[i:j]
		i = j
		return id
	}
	skipString := func() error {
		q := s[i]
		for i++; i < len(s); i++ {
			if s[i] == '\\' && q != '`' {
				i++
				continue
			}
			if s[i] == q {
				i++
				return nil
			}
		}
		return fmt.Errorf("unterminated string in %q", expr)
	}
	// labelList reads "(a, b)" after a grouping keyword.
	labelList := func() error {
		i++ // (
		for {
			skipSpace()
			switch {
			case i >= len(s):
				return fmt.Errorf("unterminated label list in %q", expr)
			case s[i] == ')':
				i++
				return nil
			case s[i] == ',':
				i++
			case isIdentStart(s[i]):
				labels = append(labels, ident())
			default:
				return fmt.Errorf("unexpected %q in a label list of %q", s[i], expr)
			}
		}
	}
	// matchers reads "{a="x", b=~"y"}".
	matchers := func() error {
		i++ // {
		for {
			skipSpace()
			switch {
			case i >= len(s):
				return fmt.Errorf("unterminated matchers in %q", expr)
			case s[i] == '}':
				i++
				return nil
			case s[i] == '"' || s[i] == '\'' || s[i] == '`':
				if err := skipString(); err != nil {
					return err
				}
			case strings.ContainsRune(",=!~", rune(s[i])):
				i++
			case isIdentStart(s[i]):
				labels = append(labels, ident())
			default:
				return fmt.Errorf("unexpected %q in the matchers of %q", s[i], expr)
			}
		}
	}
	for i < len(s) {
		c := s[i]
		switch {
		case strings.ContainsRune(" \t\r\n", rune(c)):
			i++
		case c == '"' || c == '\'' || c == '`':
			if err := skipString(); err != nil {
				return nil, nil, err
			}
		case c == '[':
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				return nil, nil, fmt.Errorf("unterminated [ in %q", expr)
			}
			i += j + 1
		case c == '{':
			if err := matchers(); err != nil {
				return nil, nil, err
			}
		case isDigit(c) || c == '.':
			for i < len(s) && (isDigit(s[i]) || isIdentStart(s[i]) || s[i] == '.') {
				i++ // numbers, durations (5m), exponents
			}
		case c == '$':
			i++
			ident()
		case isIdentStart(c):
			id := ident()
			skipSpace()
			next := byte(0)
			if i < len(s) {
				next = s[i]
			}
			switch {
			case groupingKeywords[id]:
				if next == '(' {
					if err := labelList(); err != nil {
						return nil, nil, err
					}
				}
			case otherKeywords[strings.ToLower(id)], aggregations[id]:
				// an aggregation may have "by (...)" before its "("
			case next == '(':
				// a function or an aggregation
			default:
				metrics = append(metrics, id)
			}
		default:
			i++ // operators, parentheses, commas
		}
	}
	slices.Sort(metrics)
	slices.Sort(labels)
	return slices.Compact(metrics), slices.Compact(labels), nil
}

var groupingKeywords = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true,
	"group_left": true, "group_right": true}

var aggregations = map[string]bool{"sum": true, "min": true, "max": true, "avg": true, "group": true,
	"stddev": true, "stdvar": true, "count": true, "count_values": true, "bottomk": true, "topk": true,
	"quantile": true}

var otherKeywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true,
	"atan2": true, "inf": true, "nan": true}

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func TestPromqlRefs(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		expr            string
		metrics, labels []string
	}{
		"plain":      {expr: `up`, metrics: []string{"up"}},
		"matchers":   {expr: `up{job=~"zonecast.*", instance!="a,b}"} == 0`, metrics: []string{"up"}, labels: []string{"instance", "job"}},
		"functions":  {expr: `absent(up{job="x"})`, metrics: []string{"up"}, labels: []string{"job"}},
		"range":      {expr: `rate(a_total{z="$zone"}[$__rate_interval]) > 0.5`, metrics: []string{"a_total"}, labels: []string{"z"}},
		"aggregate":  {expr: `sum by (job, instance) (rate(b[5m]))`, metrics: []string{"b"}, labels: []string{"instance", "job"}},
		"trailing":   {expr: `sum(rate(b[5m])) without (kind)`, metrics: []string{"b"}, labels: []string{"kind"}},
		"quantile":   {expr: `histogram_quantile(0.99, sum by (le) (rate(h_bucket[1m])))`, metrics: []string{"h_bucket"}, labels: []string{"le"}},
		"matching":   {expr: "a\n  < on (job, zone) group_left ()\nmax by (job, zone) (a offset 5m)", metrics: []string{"a"}, labels: []string{"job", "zone"}},
		"set ops":    {expr: `x > 0 and on (job) time() - y < 3600 or z unless w offset 15m`, metrics: []string{"w", "x", "y", "z"}, labels: []string{"job"}},
		"bool":       {expr: `a * on (i) (b > bool 0)`, metrics: []string{"a", "b"}, labels: []string{"i"}},
		"exponent":   {expr: `a > 1e3`, metrics: []string{"a"}},
		"label func": {expr: `label_replace(a, "dst", "$1", "src", "(.*)")`, metrics: []string{"a"}},
		"recording":  {expr: `job:a:rate5m`, metrics: []string{"job:a:rate5m"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			metrics, labels, err := promqlRefs(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(metrics, tc.metrics) || !slices.Equal(labels, tc.labels) {
				t.Errorf("promqlRefs(%q) = %v, %v; want %v, %v", tc.expr, metrics, labels, tc.metrics, tc.labels)
			}
		})
	}
	for _, bad := range []string{`up{job="x"`, `rate(a[5m)`, `sum by (job`, `a{job="x}`} {
		if _, _, err := promqlRefs(bad); err == nil {
			t.Errorf("promqlRefs(%q): no error", bad)
		}
	}
}

// rule is one alerting rule of a rule file.
type rule struct {
	Alert, Expr, For, RunbookURL string
}

// readRules reads the alerting rules of a Prometheus rule file written as
// the shipped one is: "- alert: NAME" items whose expr is a plain or
// quoted scalar on its line or a literal block ("|-", "|"), "for:" and
// "runbook_url:" on lines of their own. Anything else passes unread: the
// test compares the count with promtool's.
func readRules(r io.Reader) ([]rule, error) {
	var rules []rule
	var cur *rule
	sc := bufio.NewScanner(r)
	var block *strings.Builder // the expr block being read
	blockIndent := -1          // indentation of the expr key
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		indent := len(line) - len(strings.TrimLeft(line, " "))
		if block != nil {
			if trimmed == "" || indent > blockIndent {
				block.WriteString(strings.TrimRight(line, " ") + "\n")
				continue
			}
			cur.Expr = strings.TrimSpace(block.String())
			block = nil
		}
		if strings.HasPrefix(trimmed, "#") {
			continue
		}
		if name, ok := strings.CutPrefix(trimmed, "- alert:"); ok {
			rules = append(rules, rule{Alert: strings.TrimSpace(name)})
			cur = &rules[len(rules)-1]
			continue
		}
		if cur == nil {
			continue
		}
		key, val, ok := strings.Cut(trimmed, ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		switch key {
		case "expr":
			switch {
			case val == "|-" || val == "|":
				block, blockIndent = &strings.Builder{}, indent
			case strings.HasPrefix(val, "'"):
				cur.Expr = strings.ReplaceAll(strings.TrimSuffix(strings.TrimPrefix(val, "'"), "'"), "''", "'")
			case strings.HasPrefix(val, `"`):
				return nil, fmt.Errorf("alert %s: double-quoted expr not read here; use a plain, single-quoted or |- scalar", cur.Alert)
			case strings.HasPrefix(val, ">"):
				return nil, fmt.Errorf("alert %s: folded expr not read here; use |-", cur.Alert)
			default:
				cur.Expr = val
			}
		case "for":
			cur.For = val
		case "runbook_url":
			cur.RunbookURL = val
		}
	}
	if block != nil {
		cur.Expr = strings.TrimSpace(block.String())
	}
	return rules, sc.Err()
}

func TestReadRules(t *testing.T) {
	t.Parallel()
	in := `groups:
  - name: g
    rules:
      - alert: One
        # a comment
        expr: up == 0
        for: 2m
        annotations:
          runbook_url: https://example.com/a#one
      - alert: Two
        expr: |-
          a
            < on (job) b

          or c
        labels:
          severity: warning
      - alert: Three
        expr: 'x{a=''b''} > 0'
`
	rules, err := readRules(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []rule{
		{Alert: "One", Expr: "up == 0", For: "2m", RunbookURL: "https://example.com/a#one"},
		{Alert: "Two", Expr: "a\n            < on (job) b\n\n          or c"},
		{Alert: "Three", Expr: "x{a='b'} > 0"},
	}
	if !slices.Equal(rules, want) {
		t.Fatalf("readRules = %#v\nwant %#v", rules, want)
	}
	if _, err := readRules(strings.NewReader("- alert: X\n  expr: >-\n    up\n")); err == nil {
		t.Error("a folded expr was read")
	}
}

// exported is what the daemons export, read from their Go sources.
type exported struct {
	metrics map[string]string // name -> Counter, Gauge, Histogram, ...
	labels  map[string]bool   // every label name of a metric vector
}

var (
	// Name: "zonecast_x" or Name: ns + "x" inside a prometheus.*Opts literal.
	metricDef = regexp.MustCompile(`(\w+)Opts\{\s*Name:\s*(?:(\w+)\s*\+\s*)?"([a-z0-9_:]+)"`)
	constDef  = regexp.MustCompile(`const\s+(\w+)\s*=\s*"([a-z0-9_:]+)"`)
	// The label names of a vector: the []string literal after its Opts.
	labelDef = regexp.MustCompile(`\}\s*,\s*\[\]string\{([^}]*)\}`)
	quoted   = regexp.MustCompile(`"([a-zA-Z_][a-zA-Z0-9_]*)"`)
)

// readExported reads the metric definitions of the Go files (tests
// excepted) under dirs.
func readExported(dirs ...string) (exported, error) {
	e := exported{metrics: map[string]string{}, labels: map[string]bool{}}
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			parseExported(string(b), &e)
			return nil
		})
		if err != nil {
			return e, fmt.Errorf("reading metric definitions under %s: %w", dir, err)
		}
	}
	return e, nil
}

// parseExported adds the metric definitions of one Go source file to e.
func parseExported(src string, e *exported) {
	consts := map[string]string{}
	for _, m := range constDef.FindAllStringSubmatch(src, -1) {
		consts[m[1]] = m[2]
	}
	found := false
	for _, m := range metricDef.FindAllStringSubmatch(src, -1) {
		name := m[3]
		if m[2] != "" {
			prefix, ok := consts[m[2]]
			if !ok {
				continue
			}
			name = prefix + name
		}
		e.metrics[name] = m[1]
		found = true
	}
	if !found {
		return
	}
	for _, m := range labelDef.FindAllStringSubmatch(src, -1) {
		for _, q := range quoted.FindAllStringSubmatch(m[1], -1) {
			e.labels[q[1]] = true
		}
	}
}

// has reports whether the daemons export name, a histogram's _bucket,
// _sum and _count series included.
func (e exported) has(name string) bool {
	if _, ok := e.metrics[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && e.metrics[base] == "Histogram" {
			return true
		}
	}
	return false
}

func TestParseExported(t *testing.T) {
	t.Parallel()
	src := `package x
const ns = "zonecast_x_"
var a = prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "events_total",
	Help: "Events."}, []string{"zone", "kind"})
var b = prometheus.NewHistogram(prometheus.HistogramOpts{
	Name: "zonecast_x_seconds", Help: "Time.", Buckets: []float64{1, 2}})
var c = prometheus.NewGauge(prometheus.GaugeOpts{Name: other + "lost"})
`
	e := exported{metrics: map[string]string{}, labels: map[string]bool{}}
	parseExported(src, &e)
	for name, want := range map[string]bool{"zonecast_x_events_total": true, "zonecast_x_seconds": true,
		"zonecast_x_seconds_bucket": true, "zonecast_x_seconds_count": true, "zonecast_x_events_total_sum": false,
		"zonecast_x_lost": false, "lost": false} {
		if got := e.has(name); got != want {
			t.Errorf("has(%s) = %v, want %v", name, got, want)
		}
	}
	if !e.labels["zone"] || !e.labels["kind"] || len(e.labels) != 2 {
		t.Errorf("labels = %v, want zone and kind", e.labels)
	}
}
