package web

import (
	"html/template"
	"strings"
)

// hostRowsHTML writes the rows of a user's host list (hosts.html), each
// value escaped by escapeHTML. The list is the page loaded most, and
// html/template spends a reflected call on every value and another on
// every escaper of it: written here, the rows cost a copy of their bytes.
// TestHostRowsHTML checks them against the same rows written by
// html/template, hostile values included.
func hostRowsHTML(rows []hostRow) template.HTML {
	var b strings.Builder
	for _, r := range rows {
		b.WriteString("\n  <tr data-host=\"")
		escapeHTML(&b, r.Key)
		b.WriteString("\">\n    <th scope=\"row\" data-label=\"Host\"><a href=\"")
		escapeHTML(&b, r.Path) // hostPath: "/hosts/" and a path-escaped name, a URL html/template keeps as it is
		b.WriteString("\">")
		escapeHTML(&b, r.Key)
		b.WriteString("</a>")
		if r.FollowsKey != "" {
			b.WriteString(" <span class=\"hint\">(prefix from ")
			escapeHTML(&b, r.FollowsKey)
			b.WriteString(")</span>")
		}
		b.WriteString("</th>\n    <td class=\"a\" data-label=\"A\">")
		escapeHTML(&b, r.AText)
		b.WriteString("</td>\n    <td class=\"aaaa\" data-label=\"AAAA\">")
		escapeHTML(&b, r.AAAAText)
		b.WriteString("</td>\n    <td class=\"changed\" data-label=\"Last change\">")
		if r.ChangedISO != "" {
			b.WriteString("<time datetime=\"")
			escapeHTML(&b, r.ChangedISO)
			b.WriteString("\">")
			escapeHTML(&b, r.ChangedText)
			b.WriteString("</time>")
		} else {
			b.WriteString("never")
		}
		b.WriteString("</td>\n  </tr>")
	}
	return template.HTML(b.String()) //nolint:gosec // every value escaped above
}

// escapeHTML writes s escaped as html/template escapes a value in text and
// in a quoted attribute (its htmlReplacementTable): NUL, the quotes, &, +,
// < and >.
func escapeHTML(b *strings.Builder, s string) {
	last := 0
	for i := 0; i < len(s); i++ {
		var rep string
		switch s[i] {
		case 0:
			rep = "\uFFFD"
		case '"':
			rep = "&#34;"
		case '&':
			rep = "&amp;"
		case '\'':
			rep = "&#39;"
		case '+':
			rep = "&#43;"
		case '<':
			rep = "&lt;"
		case '>':
			rep = "&gt;"
		default:
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(rep)
		last = i + 1
	}
	b.WriteString(s[last:])
}
