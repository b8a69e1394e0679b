package web

import (
	"html/template"
	"strings"
	"testing"
	"time"
)

// rowsTemplate is the host list's rows as html/template writes them: what
// hostRowsHTML must write too.
var rowsTemplate = template.Must(template.New("rows").Parse(`{{range .}}
  <tr data-host="{{.Key}}">
    <th scope="row" data-label="Host"><a href="{{.Path}}">{{.Key}}</a>
      {{- if .FollowsKey}} <span class="hint">(prefix from {{.FollowsKey}})</span>{{end}}</th>
    <td class="a" data-label="A">{{.AText}}</td>
    <td class="aaaa" data-label="AAAA">{{.AAAAText}}</td>
    <td class="changed" data-label="Last change">{{if .ChangedISO}}<time datetime="{{.ChangedISO}}">{{.ChangedText}}</time>{{else}}never{{end}}</td>
  </tr>
{{- end}}`))

// TestHostRowsHTML: the rows written by hostRowsHTML are byte for byte
// html/template's, for the values a host has and for hostile ones that
// no canonical name or address can hold.
func TestHostRowsHTML(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	plain := hostRow{Key: "home.dyn.example.test", Path: hostPath("home.dyn.example.test."), AText: "192.0.2.1, 192.0.2.2",
		AAAAText: "2001:db8::1", ChangedISO: at.Format(time.RFC3339), ChangedText: when(at)}
	behind := hostRow{Key: "nas.dyn.example.test", Path: hostPath("nas.dyn.example.test."), FollowsKey: "home.dyn.example.test"}
	evil := `<script>alert("x" + 'y')</script>&amp;` + "\x00"
	hostile := hostRow{Key: evil, Path: hostPath(evil + "."), AText: evil, AAAAText: evil, FollowsKey: evil, ChangedISO: evil, ChangedText: evil}
	for name, rows := range map[string][]hostRow{"none": nil, "plain": {plain}, "several": {plain, behind, plain}, "hostile": {hostile, behind}} {
		var want strings.Builder
		if err := rowsTemplate.Execute(&want, rows); err != nil {
			t.Fatal(err)
		}
		if got := string(hostRowsHTML(rows)); got != want.String() {
			t.Errorf("%s:\n got %q\nwant %q", name, got, want.String())
		}
	}
	if got := string(hostRowsHTML([]hostRow{hostile})); strings.Contains(got, "<script") || strings.Contains(got, `"x"`) {
		t.Fatalf("not escaped: %s", got)
	}
}
