// Package testbrowser drives Debian's chromium, headless, for tests of the
// web pages: a real browser fills and submits the forms, keeps the cookies
// and renders the pages, through chromedp over the DevTools protocol. No
// browser is downloaded (none could be); scripts/deps.sh browser installs
// the Debian package. The browser runs as root, so without its sandbox,
// with a profile in the test's temporary directory, and it is closed when
// the test ends.
//
// Each Page has a browser context of its own (an incognito profile): two
// pages are two users with two cookie jars, in one browser process.
//
// Secure cookies over plain HTTP, as chromium 156 does it (checked on every
// run by TestFormAndSecureCookie): a cookie with the Secure flag set by
// http://127.0.0.1:PORT or by http://localhost:PORT is kept, with its flag,
// and sent back to that origin: both are loopback, which Chrome counts as a
// potentially trustworthy origin. The same cookie from a name that is not
// loopback (zonecast.test, which the browser's own resolver maps to
// 127.0.0.1) is refused. So a test reaches a web server over plain HTTP at
// its 127.0.0.1 address (or localhost), and a Secure session cookie works
// without a certificate; through any other name it needs HTTPS.
package testbrowser

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// ExecPath is Debian's chromium launcher.
const ExecPath = "/usr/bin/chromium"

// ScreenshotsEnv names the directory into which Screenshot writes PNG
// files; unset, Screenshot writes nothing.
const ScreenshotsEnv = "ZONECAST_SCREENSHOTS"

const (
	// actionTimeout bounds one action (a navigation, a click, a read): a
	// missing element fails the test instead of hanging it.
	actionTimeout = 20 * time.Second
	startTimeout  = 60 * time.Second
	closeTimeout  = 15 * time.Second
	logTailLines  = 30
)

// Browser is one running chromium owned by a test.
type Browser struct {
	ctx     context.Context // the browser's first tab; it owns the process
	logPath string
}

// Start starts chromium headless and waits until it answers. It is closed,
// and its profile removed, when the test ends. A missing chromium fails
// the test: scripts/deps.sh installs it. extra are further allocator
// options (flags).
func Start(t testing.TB, extra ...chromedp.ExecAllocatorOption) *Browser {
	t.Helper()
	if _, err := os.Stat(ExecPath); err != nil {
		t.Fatalf("testbrowser: %v: run `scripts/deps.sh browser` (Debian package chromium)", err)
	}
	dir := t.TempDir() // removed after the cleanup below, which stops chromium first
	b := &Browser{logPath: filepath.Join(dir, "chromium.log")}
	logf, err := os.Create(b.logPath)
	if err != nil {
		t.Fatalf("testbrowser: %v", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(ExecPath),
		chromedp.NoSandbox, // root: chromium refuses to start with its sandbox
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.WindowSize(1280, 800),
		chromedp.CombinedOutput(logf),
		// Loopback pages only: no background requests that could wait on a
		// network that is not there.
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	)
	opts = append(opts, extra...)
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(ctx, closeTimeout)
		_ = chromedp.Cancel(cctx) // closes the browser gracefully
		ccancel()
		cancel()
		allocCancel() // waits for the process to exit
		logf.Close()
		if t.Failed() {
			t.Logf("testbrowser: tail of %s:\n%s", b.logPath, tail(b.logPath, logTailLines))
		}
	})
	// The first action starts the browser and binds its life to ctx: no
	// timeout on it, a watchdog instead.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err = <-started:
	case <-time.After(startTimeout):
		err = fmt.Errorf("no answer after %v", startTimeout)
	}
	if err != nil {
		t.Fatalf("testbrowser: starting %s: %v\n%s", ExecPath, err, tail(b.logPath, logTailLines))
	}
	b.ctx = ctx
	return b
}

// Page is one tab in a browser context of its own: its cookies are its own.
type Page struct {
	ctx context.Context
}

// NewPage opens a tab in a new browser context; both are closed when the
// test ends.
func (b *Browser) NewPage(t testing.TB) *Page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // opens the tab; no timeout, as in Start
		t.Fatalf("testbrowser: opening a tab: %v", err)
	}
	return &Page{ctx: ctx}
}

// do runs an action with the per-action timeout and fails the test on an
// error, naming what and the page it happened on.
func do[T any](t testing.TB, p *Page, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, actionTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("testbrowser: %s on %s: %v", what, p.location(), err)
	}
	return v
}

// location is the page's URL for failure messages, "" when unknown.
func (p *Page) location() string {
	ctx, cancel := context.WithTimeout(p.ctx, 2*time.Second)
	defer cancel()
	u, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "(unknown page)"
	}
	return u
}

// Open loads url and returns the HTTP status of the document.
func (p *Page) Open(t testing.TB, url string) int {
	t.Helper()
	resp := do(t, p, "opening "+url, chromedp.NavigateResponse(url))
	return int(resp.Status)
}

// Location returns the URL of the page shown.
func (p *Page) Location(t testing.TB) string {
	t.Helper()
	return do(t, p, "reading the location", chromedp.Location())
}

// Fill sets the value of the form field whose id is id (an input, a
// select or a textarea), as a user typing or choosing it would leave it:
// the field's input and change events fire. A select without that option
// fails the test.
func (p *Page) Fill(t testing.TB, id, value string) {
	t.Helper()
	p.setValue(t, "#"+id, value)
}

// setValue sets the value of the first element that sel finds. (Not
// chromedp's SetValue: it reports an error for an empty value.)
func (p *Page) setValue(t testing.TB, sel, value string) {
	t.Helper()
	p.mustExist(t, sel)
	v, err := json.Marshal(value)
	if err != nil {
		t.Fatal(err)
	}
	got := evaluate[string](t, p, "setting the value of "+sel, `(() => {
		const e = document.querySelector(%s);
		e.value = `+string(v)+`;
		e.dispatchEvent(new Event("input", {bubbles: true}));
		e.dispatchEvent(new Event("change", {bubbles: true}));
		return e.value;
	})()`, sel)
	if got != value {
		t.Fatalf("testbrowser: %s took the value %q, not %q (a select without that option?)", sel, got, value)
	}
}

// Check ticks (on) or clears the checkbox whose id is id, by clicking it
// when it is not so already.
func (p *Page) Check(t testing.TB, id string, on bool) {
	t.Helper()
	p.mustExist(t, "#"+id)
	if evaluate[bool](t, p, "reading #"+id, `document.getElementById(%s).checked`, id) != on {
		do(t, p, "clicking #"+id, chromedp.Click(chromedp.ID(id)))
	}
}

// Submit clicks the submit button whose id is id, waits for the page the
// form's answer loads and returns its HTTP status.
func (p *Page) Submit(t testing.TB, id string) int {
	t.Helper()
	p.mustExist(t, "#"+id)
	ctx, cancel := context.WithTimeout(p.ctx, actionTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.ID(id)))
	if err != nil {
		t.Fatalf("testbrowser: submitting with #%s on %s: %v", id, p.location(), err)
	}
	return int(resp.Status)
}

// SubmitForm clicks the first submit button inside the element that
// selector sel (CSS) finds, such as a form, waits for the answer and
// returns its HTTP status.
func (p *Page) SubmitForm(t testing.TB, sel string) int {
	t.Helper()
	btn := sel + ` [type="submit"], ` + sel + ` button:not([type])`
	p.mustExist(t, btn)
	ctx, cancel := context.WithTimeout(p.ctx, actionTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(btn)))
	if err != nil {
		t.Fatalf("testbrowser: submitting %s on %s: %v", sel, p.location(), err)
	}
	return int(resp.Status)
}

// Click clicks the first element that sel finds, as a mouse does, and
// does not wait for a page to load (Submit does).
func (p *Page) Click(t testing.TB, sel string) {
	t.Helper()
	p.mustExist(t, sel)
	do(t, p, "clicking "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// Keys types keys into the focused element, as a keyboard does: "\t"
// is Tab and "\r" Enter (chromedp/kb). It does not wait for a page that
// a key may load (WaitFor does).
func (p *Page) Keys(t testing.TB, keys string) {
	t.Helper()
	do(t, p, fmt.Sprintf("typing %q", keys), chromedp.KeyEvent(keys))
}

// Focus gives the element of id the keyboard focus.
func (p *Page) Focus(t testing.TB, id string) {
	t.Helper()
	p.mustExist(t, "#"+id)
	do(t, p, "focusing #"+id, chromedp.Focus(chromedp.ID(id)))
}

// Focused returns the id of the element that has the keyboard focus, ""
// when it has none.
func (p *Page) Focused(t testing.TB) string {
	t.Helper()
	return do(t, p, "reading the focus",
		chromedp.Evaluate[string](`document.activeElement && document.activeElement.id || ""`))
}

// WaitFor waits until an element that sel finds is visible.
func (p *Page) WaitFor(t testing.TB, sel string) {
	t.Helper()
	do(t, p, "waiting for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
}

// AllowClipboard lets the pages of origin (scheme://host:port) in this
// page's browser context write and read the clipboard without asking,
// and keeps the page focused, as the clipboard API needs: a headless
// browser has no user to grant it, nor a window in front.
func (p *Page) AllowClipboard(t testing.TB, origin string) {
	t.Helper()
	id := chromedp.FromContext(p.ctx).BrowserContextID
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		params := browser.SetPermissionParams{Permission: &browser.PermissionDescriptor{Name: name, AllowWithoutSanitization: true},
			Setting: browser.PermissionSettingGranted, Origin: origin, BrowserContextID: id}
		ctx, cancel := context.WithTimeout(p.ctx, actionTimeout)
		_, err := chromedp.CallBrowser(ctx, browser.SetPermission, params)
		cancel()
		if err != nil {
			t.Fatalf("testbrowser: granting %s to %s: %v", name, origin, err)
		}
	}
	do(t, p, "emulating focus", command(emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true}))
}

// Clipboard returns the text on the clipboard, read by the page (see
// AllowClipboard).
func (p *Page) Clipboard(t testing.TB) string {
	t.Helper()
	return do(t, p, "reading the clipboard", chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
}

// Reads go through JavaScript in the page, not through DevTools' DOM
// nodes: a node id chromedp resolved can belong to a document that a
// navigation just replaced ("No node with given id found").

// Text returns the rendered text (innerText) of the first element that
// the CSS selector sel finds; none fails the test.
func (p *Page) Text(t testing.TB, sel string) string {
	t.Helper()
	p.mustExist(t, sel)
	return evaluate[string](t, p, "reading the text of "+sel, `document.querySelector(%s).innerText`, sel)
}

// TextContent returns the text of the first element that sel finds as
// the document holds it (textContent: hidden parts included, whitespace
// as written).
func (p *Page) TextContent(t testing.TB, sel string) string {
	t.Helper()
	p.mustExist(t, sel)
	return evaluate[string](t, p, "reading the text content of "+sel, `document.querySelector(%s).textContent`, sel)
}

// Texts returns the rendered text of every element that sel finds, in
// document order (none: empty).
func (p *Page) Texts(t testing.TB, sel string) []string {
	t.Helper()
	return evaluate[[]string](t, p, "reading the texts of "+sel,
		`Array.from(document.querySelectorAll(%s), e => e.innerText)`, sel)
}

// HTML returns the outer HTML of the first element that sel finds.
func (p *Page) HTML(t testing.TB, sel string) string {
	t.Helper()
	p.mustExist(t, sel)
	return evaluate[string](t, p, "reading the HTML of "+sel, `document.querySelector(%s).outerHTML`, sel)
}

// Attr returns the attribute name of the first element that sel finds
// ("" when absent).
func (p *Page) Attr(t testing.TB, sel, name string) string {
	t.Helper()
	p.mustExist(t, sel)
	return evaluate[string](t, p, "reading "+name+" of "+sel, `document.querySelector(%s)`+getAttribute(t, name), sel)
}

// getAttribute is the JavaScript that reads attribute name of the element
// before it ("" where absent).
func getAttribute(t testing.TB, name string) string {
	t.Helper()
	q, err := json.Marshal(name)
	if err != nil {
		t.Fatal(err)
	}
	return `.getAttribute(` + string(q) + `) || ""`
}

// Attrs returns the attribute name of every element that sel finds, in
// document order ("" where absent).
func (p *Page) Attrs(t testing.TB, sel, name string) []string {
	t.Helper()
	return evaluate[[]string](t, p, "reading "+name+" of "+sel,
		`Array.from(document.querySelectorAll(%s), e => e`+getAttribute(t, name)+`)`, sel)
}

// SetAttr sets the attribute name of the first element that sel finds,
// e.g. a form's action: a test forges a request the page would not make.
func (p *Page) SetAttr(t testing.TB, sel, name, value string) {
	t.Helper()
	p.mustExist(t, sel)
	do(t, p, "setting "+name+" of "+sel, chromedp.SetAttributeValue(chromedp.CSS(sel), name, value))
}

// SetValue sets the value of the first element that sel finds (a hidden
// input included, which Fill by id cannot name).
func (p *Page) SetValue(t testing.TB, sel, value string) {
	t.Helper()
	p.setValue(t, sel, value)
}

// Remove takes every element that sel finds out of the page, e.g. a
// form's hidden field: a test forges a request the page would not make.
func (p *Page) Remove(t testing.TB, sel string) {
	t.Helper()
	p.mustExist(t, sel)
	evaluate[int](t, p, "removing "+sel, `Array.from(document.querySelectorAll(%s), e => e.remove()).length`, sel)
}

// Value returns the current value of the form field that sel finds.
func (p *Page) Value(t testing.TB, sel string) string {
	t.Helper()
	p.mustExist(t, sel)
	return evaluate[string](t, p, "reading the value of "+sel, `document.querySelector(%s).value`, sel)
}

// Count returns how many elements sel finds, at once (no waiting).
func (p *Page) Count(t testing.TB, sel string) int {
	t.Helper()
	return evaluate[int](t, p, "counting "+sel, `document.querySelectorAll(%s).length`, sel)
}

func (p *Page) mustExist(t testing.TB, sel string) {
	t.Helper()
	if p.Count(t, sel) == 0 {
		t.Fatalf("testbrowser: no element %s on %s:\n%s", sel, p.location(), p.bodyText(t))
	}
}

// bodyText is the page's text, shortened, for failure messages.
func (p *Page) bodyText(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if err != nil {
		return "(no text: " + err.Error() + ")"
	}
	if len(s) > 2000 {
		s = s[:2000] + "..."
	}
	return s
}

// evaluate runs a JavaScript expression, format with arg quoted as a JS
// string, in the page (DevTools evaluation is not subject to the page's
// Content-Security-Policy).
func evaluate[T any](t testing.TB, p *Page, what, format, arg string) T {
	t.Helper()
	q, err := json.Marshal(arg)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, p, what, chromedp.Evaluate[T](fmt.Sprintf(format, q)))
}

var shotName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// Screenshot writes a PNG of the whole page (not just the window) to
// $ZONECAST_SCREENSHOTS/name.png when that variable is set, and returns
// the file's path ("" when unset).
func (p *Page) Screenshot(t testing.TB, name string) string {
	t.Helper()
	dir := os.Getenv(ScreenshotsEnv)
	if dir == "" {
		return ""
	}
	if !shotName.MatchString(name) {
		t.Fatalf("testbrowser: screenshot name %q: lowercase letters, digits, '.', '_', '-'", name)
	}
	png := do(t, p, "taking a screenshot", chromedp.FullScreenshot(100)) // 100: PNG, not JPEG
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("testbrowser: %v", err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("testbrowser: %v", err)
	}
	return path
}

// Viewport sets the tab's window to width × height CSS pixels, as a
// phone's (a mobile viewport: the page's own meta viewport applies).
func (p *Page) Viewport(t testing.TB, width, height int64) {
	t.Helper()
	do(t, p, fmt.Sprintf("setting the viewport to %dx%d", width, height),
		chromedp.EmulateViewport(width, height, chromedp.EmulateMobile))
}

// Overflow returns by how many CSS pixels the page is wider than its
// window: more than 0 means the reader must scroll sideways.
func (p *Page) Overflow(t testing.TB) int {
	t.Helper()
	return do(t, p, "measuring the page's width",
		chromedp.Evaluate[int](`document.documentElement.scrollWidth - document.documentElement.clientWidth`))
}

// Cookies returns the cookies the browser context would send to url, with
// their flags (HttpOnly, Secure, SameSite) as the browser stored them.
func (p *Page) Cookies(t testing.TB, url string) []*network.Cookie {
	t.Helper()
	res := do(t, p, "reading cookies", command(network.GetCookies, network.GetCookiesParams{URLs: []string{url}}))
	return res.Cookies
}

// Cookie returns the cookie name the browser would send to url, or nil.
func (p *Page) Cookie(t testing.TB, url, name string) *network.Cookie {
	t.Helper()
	for _, c := range p.Cookies(t, url) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// SetCookie stores a cookie for url in this page's browser context, as if
// the server had set it: a test replays a value another page held.
func (p *Page) SetCookie(t testing.TB, url string, c *network.Cookie) {
	t.Helper()
	params := network.SetCookieParams{Name: c.Name, Value: c.Value, URL: url, Path: c.Path,
		Secure: new(c.Secure), HTTPOnly: new(c.HTTPOnly), SameSite: c.SameSite}
	do(t, p, "setting cookie "+c.Name, command(network.SetCookie, params))
}

// command is an action that sends one DevTools command to the page.
func command[P, R any](cmd cdp.Command[P, R], params P) chromedp.Action[R] {
	return func(ctx context.Context, t *chromedp.Target) (R, error) {
		return cdp.Call(ctx, t, cmd, params)
	}
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "(no log)"
		}
		return err.Error()
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		// Without a D-Bus (no systemd here) chromium logs its every try.
		if !strings.Contains(l, ":ERROR:dbus/") {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
