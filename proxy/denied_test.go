package proxy

import (
	"html"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-sso/gatehouse/config"
)

// switchLink is the "sign in as someone else" link of a not-allowed
// page for return target rd (query-escaped), as the HTML carries it.
func switchLink(rd string) string {
	return `href="` + html.EscapeString("/.gatehouse/start?rd="+rd+"&switch_user=1") + `"`
}

// TestForwardAuth_DeniedPage: a signed-in browser that a rule refuses
// gets Gatehouse's not-allowed page (who it is signed in as, a link to
// sign in as someone else and back) from Traefik and Caddy, which relay
// forward-auth's answer; nginx, which drops it, gets an empty 403 and
// the page from /.gatehouse/denied, to which its recipe sends 403s.
// Other clients still get an empty 403.
func TestForwardAuth_DeniedPage(t *testing.T) {
	e := newTestEnv(t, nil)
	carolFA := e.signIn(carol, "fa.test")
	for _, f := range []flavour{nginx, traefik, caddy} {
		path, h := faRequest(f, "GET", "fa.test", "/admin/x?y=1", browser)
		r := e.do("GET", e.url("auth.test", path), nil, h, carolFA)
		if r.status != http.StatusForbidden {
			t.Fatalf("flavour %d: %d", f, r.status)
		}
		if f == nginx {
			if r.body != "" {
				t.Errorf("nginx: a body it would drop: %.100q", r.body)
			}
			continue
		}
		if !strings.Contains(r.body, "You are signed in as <strong>carol</strong>") ||
			!strings.Contains(r.body, switchLink("%2Fadmin%2Fx%3Fy%3D1")) ||
			!strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("flavour %d: not the not-allowed page: %v %.600s", f, r.header, r.body)
		}
		// An API client gets no page.
		path, h = faRequest(f, "GET", "fa.test", "/admin/x", hdr("Accept", "application/json"))
		if r := e.do("GET", e.url("auth.test", path), nil, h, carolFA); r.status != http.StatusForbidden || r.body != "" {
			t.Errorf("flavour %d, API client: %d %.100q", f, r.status, r.body)
		}
	}

	// nginx's error_page: the page on the app host, for the URL the
	// trusted proxy names.
	r := e.do("GET", e.url("fa.test", "/.gatehouse/denied"), nil,
		hdr("Accept", "text/html", "X-Original-URL", "http://fa.test/admin/x?y=1"), carolFA)
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "You are signed in as <strong>carol</strong>") ||
		!strings.Contains(r.body, switchLink("%2Fadmin%2Fx%3Fy%3D1")) {
		t.Fatalf("/.gatehouse/denied: %d %.600s", r.status, r.body)
	}
	// An original URL on another host, or none, returns to the home page.
	for _, orig := range []string{"http://evil.example/x", ""} {
		r := e.do("GET", e.url("fa.test", "/.gatehouse/denied"), nil, hdr("Accept", "text/html", "X-Original-URL", orig), carolFA)
		if r.status != http.StatusForbidden || !strings.Contains(r.body, switchLink("%2F")) {
			t.Errorf("X-Original-URL %q: %d %.600s", orig, r.status, r.body)
		}
	}
	// Nobody signed in: a plain sign-in link.
	r = e.do("GET", e.url("fa.test", "/.gatehouse/denied?rd=%2Fadmin"), nil, browser)
	if r.status != http.StatusForbidden || strings.Contains(r.body, "signed in as") ||
		!strings.Contains(r.body, `href="/.gatehouse/start?rd=%2Fadmin"`) {
		t.Fatalf("anonymous /.gatehouse/denied: %d %.600s", r.status, r.body)
	}

	// Following the link asks the IdP for credentials again, although
	// carol has a session, and returns to the refused page.
	r = e.do("GET", e.url("fa.test", "/.gatehouse/start?rd=%2Fadmin%2Fx%3Fy%3D1&switch_user=1"), nil, browser, carolFA)
	loc := must(t, r.header.Get("Location"))
	if r.status != http.StatusFound || loc.Path != "/authorize" || loc.Query().Get("prompt") != "login" {
		t.Fatalf("switch user: %d %s", r.status, loc)
	}
	// Without it, a refused page's sign-in does not ask again (the IdP
	// would sign carol straight back in).
	r = e.do("GET", e.url("fa.test", "/.gatehouse/start?rd=%2Fadmin"), nil, browser, carolFA)
	if loc := must(t, r.header.Get("Location")); loc.Query().Has("prompt") {
		t.Fatalf("plain start asks for %q", loc.Query().Get("prompt"))
	}
}

// TestGateway_DeniedPage: the gateway shows the same page on routes.
func TestGateway_DeniedPage(t *testing.T) {
	e := newTestEnv(t, nil)
	c := e.signIn(carol, "app.test")
	r := e.do("GET", e.url("app.test", "/admin/users?id=1"), nil, browser, c)
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "You are signed in as <strong>carol</strong>") ||
		!strings.Contains(r.body, switchLink("%2Fadmin%2Fusers%3Fid%3D1")) {
		t.Fatalf("%d %.600s", r.status, r.body)
	}
	if r := e.do("GET", e.url("app.test", "/admin/users"), nil, hdr("Accept", "application/json"), c); r.status != http.StatusForbidden || r.body != "" {
		t.Fatalf("API client: %d %.100q", r.status, r.body)
	}
}

// TestGateway_DeniedIgnoresUntrustedOriginal: X-Original-URL is believed
// only from a trusted proxy.
func TestGateway_DeniedIgnoresUntrustedOriginal(t *testing.T) {
	e := newTestEnv(t, func(g *config.Gateway) { g.TrustedProxies = []string{"192.0.2.0/24"} })
	r := e.do("GET", e.url("fa.test", "/.gatehouse/denied?rd=%2Fstaff"), nil,
		hdr("Accept", "text/html", "X-Original-URL", "http://fa.test/admin"))
	if r.status != http.StatusForbidden || !strings.Contains(r.body, `href="/.gatehouse/start?rd=%2Fstaff"`) {
		t.Fatalf("%d %.600s", r.status, r.body)
	}
}

// TestGateway_SignedOut: sign-out ends on "You are signed out" on the
// app's host (registered as the post-logout target), with a link to
// sign in again, not on a sign-in form.
func TestGateway_SignedOut(t *testing.T) {
	e := newTestEnv(t, nil)
	_, post, err := ClientRedirectURLs("http://auth.test:"+e.port, e.gw.o.Gateway)
	if err != nil || !strings.Contains(strings.Join(post, " "), e.url("app.test", "/.gatehouse/signed-out")) {
		t.Fatalf("post-logout URLs %q %v", post, err)
	}
	c := e.signIn(alice, "app.test")
	r := e.do("GET", e.url("app.test", "/.gatehouse/logout"), nil, browser, c)
	back := must(t, r.header.Get("Location")).Query().Get("post_logout_redirect_uri")
	if back != e.url("app.test", "/.gatehouse/signed-out") {
		t.Fatalf("post_logout_redirect_uri %q", back)
	}
	r = e.do("GET", back, nil, browser)
	if r.status != http.StatusOK || !strings.Contains(r.body, "You are signed out") ||
		!strings.Contains(r.body, `href="/.gatehouse/start?rd=%2F"`) || strings.Contains(r.body, "password") {
		t.Fatalf("signed-out page: %d %.600s", r.status, r.body)
	}
}

// TestGateway_PagesOnAppHostsLoadTheirStylesheet: Gatehouse's pages on an
// app host name their stylesheet under /.gatehouse/static/, which the
// gateway serves there; /static/ on an app host is the app's.
func TestGateway_PagesOnAppHostsLoadTheirStylesheet(t *testing.T) {
	e := newTestEnv(t, nil)
	c := e.signIn(carol, "app.test")
	for _, u := range []string{e.url("app.test", "/admin/x"), e.url("app.test", "/.gatehouse/signed-out"), e.url("app.test", "/.gatehouse/nothing")} {
		r := e.do("GET", u, nil, browser, c)
		if !strings.Contains(r.body, `href="/.gatehouse/static/gatehouse.css"`) {
			t.Errorf("%s: %d, stylesheet not under /.gatehouse/static/: %.300s", u, r.status, r.body)
		}
	}
	r := e.do("GET", e.url("app.test", "/.gatehouse/static/gatehouse.css"), nil, nil)
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/css") || r.body == "" {
		t.Fatalf("stylesheet on the app host: %d %q", r.status, r.header.Get("Content-Type"))
	}
	if r := e.do("POST", e.url("app.test", "/.gatehouse/static/gatehouse.css"), nil, nil); r.status != http.StatusMethodNotAllowed {
		t.Fatalf("POST to an asset: %d", r.status)
	}
}
