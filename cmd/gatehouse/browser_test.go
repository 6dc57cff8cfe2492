package main

// Real-browser tests: headless Chromium, driven through the DevTools
// protocol by chromedp, walks Gatehouse's pages the way a person does —
// typing into the forms, clicking the buttons, following redirects, meta
// refreshes and auto-submitting forms — under Chrome's own enforcement of
// the Content-Security-Policy (form-action on redirects after a form POST,
// script nonces, no inline styles) and of the cookie rules (__Host-,
// SameSite). The HTTP-level tests cannot see any of that.
//
// Chromium comes from the system (Debian: apt-get install -y chromium).
// Outside CI (CI unset) the tests skip when it is missing; in CI they fail.

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"flag"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/audits"
	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-sso/gatehouse/config"
	"github.com/gatehouse-sso/gatehouse/proxy"
	"github.com/gatehouse-sso/gatehouse/web"
)

const (
	// browserTestTimeout bounds a whole browser test, browser start
	// included.
	browserTestTimeout = 2 * time.Minute
	// browserStepTimeout bounds one step (a navigation, a click and the
	// page it leads to) so that a hang fails with the step's name and a
	// screenshot while the browser still answers.
	browserStepTimeout = 30 * time.Second
)

// chromiumPath finds the system's Chromium or Chrome. Without one the test
// skips outside CI and fails in CI.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium or Chrome on PATH (looked for chromium, chromium-browser, google-chrome, google-chrome-stable); on Debian: apt-get install -y chromium"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// browser is one headless Chromium with a fresh profile and one tab. It
// records what a developer would see in the DevTools console (errors,
// uncaught exceptions, CSP violations) and the trail of documents the tab
// requested.
type browser struct {
	t   *testing.T
	ctx context.Context // the tab; ends with the test

	mu       sync.Mutex
	problems []string // console errors, exceptions, CSP issues
	trail    []string // "METHOD URL" of every document request, redirects included
	docs     map[network.RequestID]bool
}

// spkiHash is a certificate's public key as Chrome's
// --ignore-certificate-errors-spki-list wants it: base64(sha256(SPKI)).
func spkiHash(c *x509.Certificate) string {
	h := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(h[:])
}

// newBrowser starts Chromium trusting exactly the given servers'
// certificates (httptest's self-signed one): Chrome then treats their
// origins as secure, so __Host- cookies and form-action behave as in
// production, while any other certificate error still fails.
func newBrowser(t *testing.T, trust []*httptest.Server, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	exe := chromiumPath(t)
	var spki []string
	for _, s := range trust {
		if h := spkiHash(s.Certificate()); !slices.Contains(spki, h) {
			spki = append(spki, h)
		}
	}
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox cannot start
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true),
		// No UserDataDir: chromedp gives each browser a new temporary
		// --user-data-dir and removes it after Chromium and its children
		// have exited.
		chromedp.Flag("ignore-certificate-errors-spki-list", strings.Join(spki, ",")),
		chromedp.WindowSize(1024, 900),
	)
	opts = append(opts, extra...)

	root, cancelRoot := context.WithTimeout(context.Background(), browserTestTimeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(root, opts...)
	b := &browser{t: t, docs: map[network.RequestID]bool{}}
	tab, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithErrorf(b.logf))
	b.ctx = tab
	t.Cleanup(cancelRoot)
	t.Cleanup(cancelAlloc) // kills Chromium and waits for it
	t.Cleanup(cancelTab)
	t.Cleanup(func() {
		b.mu.Lock()
		b.t = nil // no logging from chromedp's goroutines once the test ends
		b.mu.Unlock()
	})

	start := time.Now()
	// The first Do starts the browser under tab (no step deadline: a step
	// context's end would take the browser with it).
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("start Chromium (%s): %v", exe, err)
	}
	if err := chromedp.Listen(tab, b.record); err != nil {
		t.Fatalf("listen to the tab: %v", err)
	}
	if _, err := chromedp.Call(tab, audits.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("enable the Audits domain: %v", err)
	}
	t.Logf("Chromium started in %v", time.Since(start).Round(time.Millisecond))
	return b
}

func (b *browser) logf(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.t != nil {
		b.t.Logf("chromedp: "+format, args...)
	}
}

// record runs inside chromedp's event loop: it only appends, under the lock.
func (b *browser) record(ev any) {
	var problem, doc string
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var args []string
			for _, a := range ev.Args {
				if len(a.Value) > 0 {
					args = append(args, string(a.Value))
				} else {
					args = append(args, a.Description)
				}
			}
			problem = "console." + string(ev.Type) + ": " + strings.Join(args, " ")
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		problem = "uncaught exception: " + d.Text
		if d.Exception != nil {
			problem += " " + d.Exception.Description
		}
		problem += " at " + d.URL
	case *cdplog.EventEntryAdded:
		// CSP violations arrive here ("Refused to ..."), with source
		// "security"; failed loads with source "network". A document's
		// own error status (the 401 of a failed sign-in) is the flow's
		// business, and Chrome's automatic /favicon.ico request is not
		// the page's.
		en := ev.Entry
		if en.Level != cdplog.EntryLevelError {
			break
		}
		if en.Source == cdplog.EntrySourceNetwork {
			b.mu.Lock()
			isDoc := b.docs[en.NetworkRequestID]
			b.mu.Unlock()
			if u, err := url.Parse(en.URL); isDoc || err == nil && u.Path == "/favicon.ico" {
				break
			}
		}
		problem = fmt.Sprintf("console error (%s): %s [%s]", en.Source, en.Text, en.URL)
	case *audits.EventIssueAdded:
		if d := ev.Issue.Details; d != nil && d.ContentSecurityPolicyIssueDetails != nil {
			c := d.ContentSecurityPolicyIssueDetails
			problem = fmt.Sprintf("CSP issue: %s violated %q blocking %q", c.ContentSecurityPolicyViolationType, c.ViolatedDirective, c.BlockedURL)
		}
	case *network.EventRequestWillBeSent:
		if ev.Type == network.ResourceTypeDocument {
			b.mu.Lock()
			b.docs[ev.RequestID] = true
			b.mu.Unlock()
			if ev.RedirectResponse != nil {
				b.mu.Lock()
				if n := len(b.trail); n > 0 {
					b.trail[n-1] += fmt.Sprintf(" → %d", ev.RedirectResponse.Status)
				}
				b.mu.Unlock()
			}
			doc = ev.Request.Method + " " + ev.Request.URL
		}
	}
	if problem == "" && doc == "" {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if problem != "" {
		b.problems = append(b.problems, problem)
	}
	if doc != "" {
		b.trail = append(b.trail, doc)
	}
}

// takeProblems returns the problems seen so far and forgets them.
func (b *browser) takeProblems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.problems
	b.problems = nil
	return p
}

// takeTrail returns the document requests since the last call.
func (b *browser) takeTrail() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	tr := b.trail
	b.trail = nil
	return tr
}

// assertClean fails the test when the console showed an error or a CSP
// violation since the last check.
func (b *browser) assertClean(where string) {
	b.t.Helper()
	if p := b.takeProblems(); len(p) > 0 {
		b.fail("%s: the browser console shows errors:\n  %s", where, strings.Join(p, "\n  "))
	}
}

// fail ends the test with a screenshot, the URL and the HTML of the page
// the tab shows, saved under the test's artifact directory (kept with
// go test -artifacts; a temporary directory otherwise).
func (b *browser) fail(format string, args ...any) {
	b.t.Helper()
	msg := fmt.Sprintf(format, args...)
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	dir := b.t.ArtifactDir()
	name := strings.NewReplacer("/", "_", " ", "_").Replace(b.t.Name())
	if png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
		p := filepath.Join(dir, name+".png")
		if err := os.WriteFile(p, png, 0o644); err == nil {
			msg += "\nscreenshot: " + p
		}
	} else {
		msg += "\n(no screenshot: " + err.Error() + ")"
	}
	if doc, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n\n" + document.documentElement.outerHTML`)); err == nil {
		p := filepath.Join(dir, name+".html")
		if err := os.WriteFile(p, []byte(doc), 0o644); err == nil {
			msg += "\npage: " + p
		}
		if u, _, ok := strings.Cut(doc, "\n"); ok {
			msg += "\nbrowser at: " + u
		}
	}
	if f := flag.Lookup("test.artifacts"); f == nil || f.Value.String() != "true" {
		msg += "\n(these files are deleted when the test ends; keep them with go test -artifacts -outputdir DIR)"
	}
	b.mu.Lock()
	msg += "\ndocument requests:\n  " + strings.Join(b.trail, "\n  ")
	if len(b.problems) > 0 {
		msg += "\nconsole:\n  " + strings.Join(b.problems, "\n  ")
	}
	b.mu.Unlock()
	b.t.Fatal(msg)
}

// do runs actions as one step under the step timeout.
func (b *browser) do(step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	defer b.slow(step, time.Now())
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail("%s: %v", step, err)
	}
}

// slow logs a step that took long: on a loaded machine, the first sign
// of a step timeout to come.
func (b *browser) slow(step string, began time.Time) {
	if d := time.Since(began); d > 3*time.Second {
		b.t.Logf("slow step %q: %v", step, d.Round(time.Millisecond))
	}
}

// pageState is what the tab shows.
type pageState struct {
	URL   string `json:"url"`
	Ready string `json:"ready"`
	Text  string `json:"text"`
}

func (p pageState) String() string {
	return fmt.Sprintf("%s (%s): %.300q", p.URL, p.Ready, p.Text)
}

// waitFor polls the tab until done accepts what it shows (a complete
// document), and returns that state. Navigations in flight make single
// polls fail; only the step timeout counts. A CSP violation ends the wait
// at once: Chrome leaves the page where it is and nothing else will come.
func (b *browser) waitFor(step string, done func(pageState) bool) pageState {
	b.t.Helper()
	return b.poll(step, done, true)
}

// cspBlocked reports whether Chrome has reported a CSP violation.
func (b *browser) cspBlocked() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.ContainsFunc(b.problems, func(p string) bool {
		return strings.HasPrefix(p, "CSP issue") || strings.Contains(p, "Content Security Policy")
	})
}

func (b *browser) poll(step string, done func(pageState) bool, stopOnCSP bool) pageState {
	b.t.Helper()
	defer b.slow(step, time.Now())
	deadline := time.Now().Add(browserStepTimeout)
	var last pageState
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		st, err := chromedp.Run(ctx, chromedp.Evaluate[pageState](
			`({url: location.href, ready: document.readyState, text: document.body ? document.body.innerText : ""})`))
		cancel()
		if err == nil {
			last, lastErr = st, nil
			if st.Ready == "complete" && done(st) {
				return st
			}
		} else {
			lastErr = err
		}
		if b.ctx.Err() != nil {
			break
		}
		if stopOnCSP && b.cspBlocked() {
			b.fail("%s: blocked by the Content-Security-Policy; last page %s", step, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.fail("%s: timed out; last page %s (last error: %v)", step, last, lastErr)
	return last
}

// onPage waits for a complete page at a URL starting with prefix whose text
// contains want.
func (b *browser) onPage(step, prefix, want string) pageState {
	b.t.Helper()
	return b.waitFor(step, func(p pageState) bool {
		return strings.HasPrefix(p.URL, prefix) && strings.Contains(p.Text, want)
	})
}

// signIn fills in Gatehouse's sign-in form, which the tab must show, as a
// person does: typing into the fields and clicking the button.
func (b *browser) signIn(gatehouse, user, password string) {
	b.t.Helper()
	b.onPage("sign-in page", gatehouse+"/login", "Sign in")
	b.do("fill in and submit the sign-in form",
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), user),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)),
	)
}

// clearCookies signs the browser out of everything.
func (b *browser) clearCookies() {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
		b.fail("clear cookies: %v", err)
	}
}

// cookie returns the cookie named name that Chrome would send to site.
func (b *browser) cookie(site, name string) *network.Cookie {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{site + "/"}})
	if err != nil {
		b.fail("read cookies: %v", err)
	}
	for _, c := range res.Cookies {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// trailHas reports whether the document requests contain the given
// entries in order (each a "METHOD URL-prefix").
func trailHas(trail []string, want ...string) bool {
	i := 0
	for _, e := range trail {
		if i < len(want) && strings.HasPrefix(e, want[i]) {
			i++
		}
	}
	return i == len(want)
}

// TestBrowser_LoginAndDemo: the sign-in page, the demo app behind the
// guard and the sign-out confirmation, in Chromium, with nothing in the
// console — in particular no Content-Security-Policy violation.
func TestBrowser_LoginAndDemo(t *testing.T) {
	e := newEnv(t, nil)

	// A page that breaks the same policy, served the same way: proves that
	// the console watch catches CSP violations in this browser, so the
	// clean checks below mean something.
	control := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		web.SecurityHeaders(w.Header())
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>control</title><p style="color:red">inline style</p><script>document.title = "ran"</script>`)
	}))
	t.Cleanup(control.Close)

	b := newBrowser(t, []*httptest.Server{e.srv, control})
	began := time.Now()

	b.do("open the CSP control page", chromedp.Navigate(control.URL+"/"))
	var seen []string
	b.poll("CSP violations of the control page reported", func(pageState) bool {
		seen = append(seen, b.takeProblems()...)
		return slices.ContainsFunc(seen, func(s string) bool { return strings.Contains(s, "script-src") }) &&
			slices.ContainsFunc(seen, func(s string) bool { return strings.Contains(s, "style-src") })
	}, false)
	if title, err := chromedp.Run(b.ctx, chromedp.Title()); err != nil || title != "control" {
		t.Fatalf("the inline script ran under default-src 'none' (title %q, %v)", title, err)
	}
	b.takeTrail()

	// Signed out: the demo app sends the browser to sign in.
	b.do("open /demo/", chromedp.Navigate(e.srv.URL+"/demo/"))
	st := b.onPage("redirected to sign in", e.srv.URL+"/login", "Sign in")
	if u, _ := url.Parse(st.URL); u.Query().Get("rd") != "/demo/" {
		t.Errorf("sign-in page URL %s does not carry rd=/demo/", st.URL)
	}
	// The stylesheet loaded under style-src 'self' and applies.
	if d, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`getComputedStyle(document.body).display`)); err != nil || d != "flex" {
		t.Errorf("gatehouse.css not applied to the sign-in page (body display %q, %v)", d, err)
	}
	b.assertClean("sign-in page")

	// A wrong password first: the form comes back with the message.
	b.signIn(e.srv.URL, "alice", "not-her-password")
	b.onPage("wrong password", e.srv.URL+"/login", "Incorrect username or password.")
	b.assertClean("failed sign-in")
	b.do("clear the username field", chromedp.Clear(chromedp.ID("username")))

	b.signIn(e.srv.URL, "alice", alicePassword)
	st = b.onPage("demo app after sign-in", e.srv.URL+"/demo/", "Hello, alice")
	for _, want := range []string{"alice@example.com", "admins,staff", "Alice Liddell"} {
		if !strings.Contains(st.Text, want) {
			t.Errorf("demo page lacks %q", want)
		}
	}
	b.assertClean("demo page")
	if tr := b.takeTrail(); !trailHas(tr, "POST "+e.srv.URL+"/login", "GET "+e.srv.URL+"/demo/") {
		t.Errorf("sign-in did not go POST /login → /demo/:\n  %s", strings.Join(tr, "\n  "))
	}
	// Chrome accepted the __Host- session cookie: Secure, HttpOnly,
	// SameSite=Lax, path /.
	session := b.cookie(e.srv.URL, e.app.sessions.CookieName())
	if session == nil || !strings.HasPrefix(session.Name, "__Host-") || !session.Secure || !session.HTTPOnly ||
		session.Path != "/" || session.SameSite != network.CookieSameSiteLax {
		t.Errorf("session cookie in Chrome: %+v", session)
	}

	// Sign out: the link on the demo page, the confirmation, the button.
	b.do("follow the demo page's sign-out link", chromedp.Click(chromedp.CSS(`a[href="/logout"]`)))
	b.onPage("sign-out confirmation", e.srv.URL+"/logout", "Sign out of Gatehouse on this browser?")
	b.assertClean("sign-out confirmation")
	b.do("confirm sign-out", chromedp.Click(chromedp.CSS(`form[action="/logout"] button[type=submit]`)))
	b.onPage("signed-out page", e.srv.URL+"/logout", "You have been signed out.")
	b.assertClean("signed-out page")
	if c := b.cookie(e.srv.URL, e.app.sessions.CookieName()); c != nil {
		t.Errorf("session cookie still in Chrome after sign-out: %+v", c)
	}

	b.do("open /demo/ after sign-out", chromedp.Navigate(e.srv.URL+"/demo/"))
	b.onPage("signed out: sign in again", e.srv.URL+"/login", "Sign in")
	b.assertClean("sign-in page after sign-out")
	t.Logf("flow took %v", time.Since(began).Round(time.Millisecond))
}

// browserRP is a relying party's callback endpoint that a browser can load:
// it records what arrives (query, or form for response_mode=form_post) and
// answers "callback ok".
type browserRP struct {
	srv  *httptest.Server
	mu   sync.Mutex
	hits []rpHit
}

type rpHit struct {
	method string
	values url.Values
}

func newBrowserRP(t *testing.T) *browserRP {
	rp := &browserRP{}
	rp.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/cb" {
			http.NotFound(w, r)
			return
		}
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rp.mu.Lock()
		rp.hits = append(rp.hits, rpHit{r.Method, r.Form})
		rp.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>RP</title><p>callback ok: %s %s</p>", r.Method, html.EscapeString(r.Form.Get("state")))
	}))
	t.Cleanup(rp.srv.Close)
	return rp
}

func (rp *browserRP) take() []rpHit {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	h := rp.hits
	rp.hits = nil
	return h
}

const (
	browserFirstSecret = "browser-first-secret-0123456789ab"
	browserThirdSecret = "browser-third-secret-0123456789ab"
)

// TestBrowser_OIDCCodeFlow: the authorization code flow (PKCE, state, iss)
// as Chrome runs it, through every way an authorization response leaves
// Gatehouse: the continue page after the sign-in form, the redirect that
// answers the consent form (Chrome checks form-action against it), and the
// auto-submitting form_post page (Chrome checks its script nonce and
// form-action). Each code is then redeemed with golang.org/x/oauth2 and
// its ID token verified with go-oidc.
func TestBrowser_OIDCCodeFlow(t *testing.T) {
	relying := newBrowserRP(t)
	cb := relying.srv.URL + "/cb"
	e := newOIDCEnv(t, func(c *config.Config) {
		c.OIDC.Clients = append(c.OIDC.Clients,
			config.Client{ClientID: "browser-first", ClientSecret: browserFirstSecret, Name: "Browser First Party",
				RedirectURLs: []string{cb}, SkipConsent: true, RequirePKCE: true},
			config.Client{ClientID: "browser-third", ClientSecret: browserThirdSecret, Name: "Browser Third Party",
				RedirectURLs: []string{cb}},
		)
	})

	// Control: a form under form-action 'self' whose answer redirects to
	// another origin. Chrome must refuse to follow; otherwise the flows
	// below would pass without proving anything about form-action.
	control := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			http.Redirect(w, r, cb+"?control=1", http.StatusSeeOther)
			return
		}
		web.SecurityHeaders(w.Header())
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>control</title><form method="post" action="/go"><button type="submit">Go</button></form>`)
	}))
	t.Cleanup(control.Close)

	b := newBrowser(t, []*httptest.Server{e.srv, relying.srv, control})
	began := time.Now()

	b.do("form-action control", chromedp.Navigate(control.URL+"/"), chromedp.Click(chromedp.CSS("button")))
	var seen []string
	b.poll("Chrome blocks a redirect after a form POST outside form-action", func(pageState) bool {
		seen = append(seen, b.takeProblems()...)
		return slices.ContainsFunc(seen, func(s string) bool { return strings.Contains(s, "form-action") })
	}, false)
	if hits := relying.take(); len(hits) != 0 {
		t.Fatalf("Chrome followed a redirect that form-action forbids: the RP saw %v", hits)
	}
	b.takeTrail()

	type authz struct {
		r        *rp
		verifier string
		nonce    string
	}
	// start builds an authorization request and sends the browser to it.
	start := func(clientID, secret string, extra ...oauth2.AuthCodeOption) authz {
		t.Helper()
		a := authz{r: e.rp(clientID, secret, cb, oidc.ScopeOpenID, "profile"), verifier: oauth2.GenerateVerifier(), nonce: randomString()}
		opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(a.verifier), oidc.Nonce(a.nonce)}, extra...)
		u := a.r.conf.AuthCodeURL("xyz", opts...)
		if !strings.HasPrefix(u, e.issuer+"/authorize?") {
			t.Fatalf("authorization URL %s", u)
		}
		b.do("open the authorization URL for "+clientID, chromedp.Navigate(u))
		return a
	}
	// back waits for the browser on the RP's callback and returns what the
	// RP received.
	back := func(step, method string) url.Values {
		t.Helper()
		b.onPage(step, cb, "callback ok: "+method+" xyz")
		hits := relying.take()
		if len(hits) != 1 || hits[0].method != method {
			b.fail("%s: the RP saw %v, want one %s", step, hits, method)
		}
		v := hits[0].values
		if v.Get("state") != "xyz" || v.Get("iss") != e.issuer {
			t.Errorf("%s: state/iss not returned: %v", step, v)
		}
		return v
	}
	// redeem exchanges the code like a relying party and checks the ID
	// token.
	redeem := func(step string, a authz, v url.Values) {
		t.Helper()
		if v.Get("code") == "" {
			t.Fatalf("%s: no code in %v", step, v)
		}
		tok, err := a.r.conf.Exchange(e.ctx, v.Get("code"), oauth2.VerifierOption(a.verifier))
		if err != nil {
			t.Fatalf("%s: exchange: %v", step, err)
		}
		raw, _ := tok.Extra("id_token").(string)
		idt, err := a.r.verifier.Verify(e.ctx, raw)
		if err != nil {
			t.Fatalf("%s: verify ID token: %v", step, err)
		}
		if idt.Subject != "u-alice" || idt.Nonce != a.nonce {
			t.Errorf("%s: ID token sub %q nonce %q", step, idt.Subject, idt.Nonce)
		}
	}
	// consent waits for the consent page and clicks a button on it.
	consent := func(step, decision string) {
		t.Helper()
		st := b.onPage(step, e.issuer+"/", "Allow Browser Third Party?")
		for _, want := range []string{"You are signed in as alice", "asks to:"} {
			if !strings.Contains(st.Text, want) {
				b.fail("%s: consent page lacks %q", step, want)
			}
		}
		b.assertClean(step)
		b.do(step+": click "+decision, chromedp.Click(chromedp.CSS(`button[name=decision][value=`+decision+`]`)))
	}

	// 1. A first-party client (no consent), not signed in: the sign-in
	// form's POST leads back to /authorize, which answers with the
	// continue page (a redirect would break form-action 'self'), whose
	// meta refresh takes the browser to the RP.
	a := start("browser-first", browserFirstSecret)
	b.signIn(e.srv.URL, "alice", alicePassword)
	v := back("first party: back at the RP", http.MethodGet)
	b.assertClean("first party")
	if tr := b.takeTrail(); !trailHas(tr, "GET "+e.issuer+"/authorize?", "POST "+e.srv.URL+"/login", "GET "+e.issuer+"/authorize?resume=", "GET "+cb+"?code=") {
		t.Errorf("first party: unexpected document trail:\n  %s", strings.Join(tr, "\n  "))
	}
	redeem("first party", a, v)

	// 2. A third-party client, signed in: the consent page; Allow answers
	// with a 303 to the RP, which the consent form's form-action allows.
	a = start("browser-third", browserThirdSecret)
	consent("third party: consent page", "allow")
	v = back("third party: back at the RP", http.MethodGet)
	b.assertClean("third party")
	if tr := b.takeTrail(); !trailHas(tr, "POST "+e.issuer+"/consent", "GET "+cb+"?code=") {
		t.Errorf("third party: unexpected document trail:\n  %s", strings.Join(tr, "\n  "))
	}
	redeem("third party", a, v)

	// 3. response_mode=form_post after the consent form: the page's
	// nonce'd inline script posts the code to the RP.
	a = start("browser-third", browserThirdSecret, oauth2.SetAuthURLParam("response_mode", "form_post"), oauth2.SetAuthURLParam("prompt", "consent"))
	consent("form_post: consent page", "allow")
	v = back("form_post: posted to the RP", http.MethodPost)
	b.assertClean("form_post after consent")
	if tr := b.takeTrail(); !trailHas(tr, "POST "+e.issuer+"/consent", "POST "+cb) {
		t.Errorf("form_post: unexpected document trail:\n  %s", strings.Join(tr, "\n  "))
	}
	redeem("form_post after consent", a, v)

	// 4. Deny: access_denied goes back to the RP, with the state.
	start("browser-third", browserThirdSecret, oauth2.SetAuthURLParam("prompt", "consent"))
	consent("deny: consent page", "deny")
	v = back("deny: back at the RP", http.MethodGet)
	if v.Get("error") != "access_denied" || v.Has("code") {
		t.Errorf("deny: the RP got %v", v)
	}
	b.assertClean("deny")
	b.takeTrail()

	// 5. form_post right after the sign-in form, in a signed-out browser.
	b.clearCookies()
	a = start("browser-first", browserFirstSecret, oauth2.SetAuthURLParam("response_mode", "form_post"))
	b.signIn(e.srv.URL, "alice", alicePassword)
	v = back("form_post after sign-in: posted to the RP", http.MethodPost)
	b.assertClean("form_post after sign-in")
	if tr := b.takeTrail(); !trailHas(tr, "POST "+e.srv.URL+"/login", "GET "+e.issuer+"/authorize?resume=", "POST "+cb) {
		t.Errorf("form_post after sign-in: unexpected document trail:\n  %s", strings.Join(tr, "\n  "))
	}
	redeem("form_post after sign-in", a, v)
	t.Logf("flows took %v", time.Since(began).Round(time.Millisecond))
}

// TestBrowser_GatewaySignIn: an app host behind the gateway, in Chromium.
// The app host resolves to the test server through Chromium's
// --host-resolver-rules; the httptest certificate covers *.example.com.
// Anonymous → the gateway's sign-in start → the IdP's sign-in page on
// Gatehouse's own host → the continue page → the callback on the app host
// (its SameSite=Lax flow cookie must come along on that cross-site
// navigation) → the page asked for, with the upstream seeing alice. Then
// sign-out on the app host ends the session.
func TestBrowser_GatewaySignIn(t *testing.T) {
	e := newGatewayEnv(t, nil)
	b := newBrowser(t, []*httptest.Server{e.srv},
		chromedp.Flag("host-resolver-rules", "MAP *.example.com 127.0.0.1"))
	began := time.Now()

	target := e.app("app.example.com", "/docs/page?x=1")
	b.do("open the app", chromedp.Navigate(target))
	b.signIn(e.srv.URL, "alice", alicePassword)
	st := b.waitFor("back on the app, signed in", func(p pageState) bool { return p.URL == target })
	if strings.TrimSpace(st.Text) != "app says hello to alice" {
		b.fail("app page after sign-in: %q", st.Text)
	}
	b.assertClean("gateway sign-in")
	if tr := b.takeTrail(); !trailHas(tr,
		"GET "+target,
		"GET "+e.app("app.example.com", "/.gatehouse/start?"),
		"GET "+e.issuer+"/authorize?",
		"POST "+e.srv.URL+"/login",
		"GET "+e.issuer+"/authorize?resume=",
		"GET "+e.app("app.example.com", "/.gatehouse/callback?"),
		"GET "+target) {
		t.Errorf("unexpected document trail:\n  %s", strings.Join(tr, "\n  "))
	}
	h, _ := e.up.seen()
	if h.Get(proxy.HeaderForwardedUser) != "alice" || h.Get(proxy.HeaderForwardedEmail) != "alice@example.com" || h.Get("Cookie") != "" {
		t.Errorf("upstream saw %v", h)
	}

	// Next request: straight through on the app cookie.
	b.do("reload the app", chromedp.Navigate(e.app("app.example.com", "/other")))
	b.waitFor("second page", func(p pageState) bool {
		return p.URL == e.app("app.example.com", "/other") && strings.TrimSpace(p.Text) == "app says hello to alice"
	})
	if tr := b.takeTrail(); len(tr) != 1 {
		t.Errorf("signed-in request was not direct:\n  %s", strings.Join(tr, "\n  "))
	}

	// Sign out on the app host: "You are signed out" there (styled, no
	// console error), and its link signs in again.
	b.do("sign out on the app host", chromedp.Navigate(e.app("app.example.com", "/.gatehouse/logout")))
	b.onPage("signed out", e.app("app.example.com", "/.gatehouse/signed-out"), "You are signed out")
	b.do("sign in again", chromedp.Click(chromedp.CSS(`a#sign-in`)))
	b.onPage("signed out: sign in again", e.srv.URL+"/login", "Sign in")
	b.assertClean("gateway sign-out")
	b.takeTrail()
	t.Logf("flow took %v", time.Since(began).Round(time.Millisecond))
}

// TestBrowser_ReturnToRegisteredURL: a return target registered in
// login.allowed_return_urls may be on another origin. The sign-in and
// sign-out forms answer with a 303 to it, and Chrome applies the page's
// CSP form-action to that redirect: the pages must allow the target's
// origin, or the browser stays on the form without being told (the
// HTTP-level TestLogin_OpenRedirect only sees the Location header).
func TestBrowser_ReturnToRegisteredURL(t *testing.T) {
	portal := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "portal ok %s", r.URL.Path)
	}))
	t.Cleanup(portal.Close)
	e := newEnv(t, func(c *config.Config) { c.Login.AllowedReturnURLs = []string{portal.URL + "/portal"} })
	b := newBrowser(t, []*httptest.Server{e.srv, portal})

	b.do("open the sign-in page with a registered return URL",
		chromedp.Navigate(e.srv.URL+"/login?rd="+url.QueryEscape(portal.URL+"/portal/in")))
	b.signIn(e.srv.URL, "alice", alicePassword)
	b.onPage("signed in: at the return URL", portal.URL+"/portal/in", "portal ok")
	b.assertClean("sign-in with a registered return URL")

	b.do("open the sign-out page with a registered return URL",
		chromedp.Navigate(e.srv.URL+"/logout?rd="+url.QueryEscape(portal.URL+"/portal/out")))
	b.do("confirm sign-out", chromedp.Click(chromedp.CSS(`form[action="/logout"] button[type=submit]`)))
	b.onPage("signed out: at the return URL", portal.URL+"/portal/out", "portal ok")
	b.assertClean("sign-out with a registered return URL")
}

// TestBrowser_GatewayDenied: a user a rule refuses sees Gatehouse's
// not-allowed page on the app host, styled and without a console error or
// CSP violation, and "Sign in as someone else" asks for credentials again
// although a session exists, then returns to the refused page as the new
// user.
func TestBrowser_GatewayDenied(t *testing.T) {
	e := newGatewayEnv(t, nil)
	b := newBrowser(t, []*httptest.Server{e.srv},
		chromedp.Flag("host-resolver-rules", "MAP *.example.com 127.0.0.1"))

	docs := e.app("app.example.com", "/docs")
	b.do("open the app", chromedp.Navigate(docs))
	b.signIn(e.srv.URL, "carol", "carol-password-123")
	b.waitFor("back on the app as carol", func(p pageState) bool {
		return p.URL == docs && strings.TrimSpace(p.Text) == "app says hello to carol"
	})
	admin := e.app("app.example.com", "/admin/x?y=1")
	b.do("open a page carol may not see", chromedp.Navigate(admin))
	b.onPage("not-allowed page", admin, "You are signed in as carol")
	b.assertClean("not-allowed page")
	b.takeTrail()

	b.do("sign in as someone else", chromedp.Click(chromedp.CSS(`a#switch-user`)))
	b.signIn(e.srv.URL, "alice", alicePassword)
	st := b.waitFor("back on the refused page as alice", func(p pageState) bool { return p.URL == admin })
	if strings.TrimSpace(st.Text) != "app says hello to alice" {
		b.fail("refused page after switching user: %q", st.Text)
	}
	b.assertClean("switch user")
	if tr := b.takeTrail(); !trailHas(tr,
		"GET "+e.app("app.example.com", "/.gatehouse/start?rd=%2Fadmin%2Fx%3Fy%3D1&switch_user=1"),
		"GET "+e.issuer+"/authorize?",
		"POST "+e.srv.URL+"/login",
		"GET "+e.app("app.example.com", "/.gatehouse/callback?"),
		"GET "+admin) {
		t.Errorf("unexpected document trail:\n  %s", strings.Join(tr, "\n  "))
	}
}
