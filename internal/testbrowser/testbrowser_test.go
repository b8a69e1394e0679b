package testbrowser

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"html/template"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

var testPage = template.Must(template.New("").Parse(`<!doctype html>
<html><head><title>test</title></head><body>
{{if .Echo}}<p id="echo">{{.Echo}}</p>{{end}}
<p id="sid">{{.SID}}</p>
<form id="f" method="post" action="/form">
<label for="name">Name</label> <input id="name" name="name">
<label for="color">Colour</label> <select id="color" name="color"><option>red</option><option>green</option></select>
<label for="ok">OK</label> <input id="ok" name="ok" type="checkbox" value="yes">
<button id="send" type="submit">Send</button>
</form>
<pre id="conf">line one
  line two</pre>
<button id="copy" type="button" onclick="navigator.clipboard.writeText(document.getElementById('conf').textContent).then(() => this.textContent = 'Copied')">Copy</button>
</body></html>`))

// server answers GET / with a form and the session cookie it received, and
// POST /form with the posted fields (escaped) and a new session cookie
// with the flags the web page's session cookie has.
func server(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	render := func(w http.ResponseWriter, r *http.Request, echo string, status int) {
		sid := "none"
		if c, err := r.Cookie("sid"); err == nil {
			sid = c.Value
		}
		var buf bytes.Buffer
		if err := testPage.Execute(&buf, map[string]string{"Echo": echo, "SID": sid}); err != nil {
			t.Error(err)
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write(buf.Bytes())
	}
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) { render(w, r, "", http.StatusOK) })
	mux.HandleFunc("POST /form", func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: hex.EncodeToString(b), Path: "/",
			HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
		// 201 rather than 200: Submit must return the status of the answer.
		render(w, r, r.PostFormValue("name")+"|"+r.PostFormValue("color")+"|"+r.PostFormValue("ok"), http.StatusCreated)
	})
	srv := httptest.NewServer(mux) // 127.0.0.1
	t.Cleanup(srv.Close)
	return srv
}

// TestFormAndSecureCookie fills and submits a form, reads the answer and
// the session cookie's flags, and checks that the cookie comes back: the
// package doc's finding on Secure cookies over plain HTTP, checked on
// every run. zonecast.test is mapped to 127.0.0.1 by the browser itself,
// so every request stays on loopback while its origin is not one.
func TestFormAndSecureCookie(t *testing.T) {
	srv := server(t)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	b := Start(t, chromedp.Flag("host-resolver-rules", "MAP zonecast.test 127.0.0.1"))
	for _, tc := range []struct {
		host string
		kept bool // a Secure cookie from http://host:port is stored and sent back
	}{
		{"127.0.0.1", true},
		{"localhost", true},
		{"zonecast.test", false},
	} {
		t.Run(tc.host, func(t *testing.T) {
			p := b.NewPage(t)
			base := "http://" + net.JoinHostPort(tc.host, port)
			if st := p.Open(t, base+"/"); st != http.StatusOK {
				t.Fatalf("GET /: status %d", st)
			}
			p.Fill(t, "name", `<b id="x">Ada</b>`)
			p.Fill(t, "color", "green")
			p.Check(t, "ok", true)
			if st := p.Submit(t, "send"); st != http.StatusCreated {
				t.Fatalf("POST /form: status %d", st)
			}
			if got, want := p.Text(t, "#echo"), `<b id="x">Ada</b>|green|yes`; got != want {
				t.Errorf("echo %q, want %q", got, want)
			}
			if n := p.Count(t, "#x"); n != 0 {
				t.Errorf("the posted markup made %d elements", n)
			}
			c := p.Cookie(t, base, "sid")
			if !tc.kept {
				if c != nil {
					t.Fatalf("a Secure cookie from %s was kept: %+v", base, c)
				}
				return
			}
			if c == nil {
				t.Fatalf("no sid cookie for %s; cookies: %+v", base, p.Cookies(t, base))
			}
			if !c.HTTPOnly || !c.Secure || c.SameSite != network.CookieSameSiteStrict {
				t.Errorf("cookie flags: HttpOnly %v, Secure %v, SameSite %q", c.HTTPOnly, c.Secure, c.SameSite)
			}
			if st := p.Open(t, base+"/"); st != http.StatusOK {
				t.Fatalf("GET /: status %d", st)
			}
			if got := p.Text(t, "#sid"); got != c.Value {
				t.Errorf("the server received sid %q, the browser holds %q", got, c.Value)
			}

			// Another page is another cookie jar, until it is given the value.
			q := b.NewPage(t)
			q.Open(t, base+"/")
			if got := q.Text(t, "#sid"); got != "none" {
				t.Errorf("a second page sent sid %q", got)
			}
			q.SetCookie(t, base, c)
			q.Open(t, base+"/")
			if got := q.Text(t, "#sid"); got != c.Value {
				t.Errorf("a second page given the cookie sent %q, want %q", got, c.Value)
			}
		})
	}
}

func TestScreenshot(t *testing.T) {
	srv := server(t)
	b := Start(t)
	p := b.NewPage(t)
	p.Open(t, srv.URL+"/")

	t.Setenv(ScreenshotsEnv, "")
	if path := p.Screenshot(t, "form"); path != "" {
		t.Fatalf("wrote %s without %s", path, ScreenshotsEnv)
	}
	dir := t.TempDir()
	t.Setenv(ScreenshotsEnv, dir)
	path := p.Screenshot(t, "form")
	png, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("%s is not a PNG: % x", path, png[:min(8, len(png))])
	}
}

// TestClipboard: a page's copy button writes the clipboard, and the test
// reads back what a user would paste.
func TestClipboard(t *testing.T) {
	srv := server(t)
	b := Start(t)
	p := b.NewPage(t)
	p.AllowClipboard(t, srv.URL)
	p.Open(t, srv.URL+"/")
	p.Click(t, "#copy")
	for deadline := time.Now().Add(10 * time.Second); p.Text(t, "#copy") != "Copied"; {
		if time.Now().After(deadline) {
			t.Fatal("the copy button did not say Copied")
		}
		time.Sleep(10 * time.Millisecond)
	}
	want := "line one\n  line two"
	if got := p.Clipboard(t); got != want {
		t.Fatalf("clipboard %q, want %q", got, want)
	}
}
