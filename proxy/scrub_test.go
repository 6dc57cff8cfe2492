package proxy

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/config"
	"github.com/gatehouse-sso/gatehouse/identity"
)

// spellings are the ways a client can write a header name: Go
// canonicalises dashed names, CGI-style upstreams fold '_' into '-'.
func spellings(name string) []string {
	lower := strings.ToLower(name)
	return []string{name, lower, strings.ToUpper(name), strings.ReplaceAll(name, "-", "_"),
		strings.ReplaceAll(lower, "-", "_")}
}

// TestClassify: every listed header in every spelling gets its class,
// look-alikes get none.
func TestClassify(t *testing.T) {
	cases := []struct {
		names []string
		want  headerClass
	}{
		{identityHeaders, classIdentity},
		{rewriteHeaders[1:], classRewrite},
		{[]string{"X-Original-URL"}, classOriginalURL},
		{forwardingHeaders, classForwarding},
		{[]string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-Port",
			"X-Forwarded-Server", "X-Forwarded-Uri", "X-Forwarded-Prefix", "X-Forwarded-Method",
			"X-Forwarded-Ssl", "X-Forwarded-Scheme", "X-Forwarded-Client-Cert",
			"X-Forwarded-" + strings.Repeat("Long", 20)}, classForwarding},
		{[]string{"Connection"}, classConnection},
		{[]string{"Accept", "X-Original-URLs", "X-Forwarded", "X-Forwarded-", "Forwarded-For", "X-Http-Method-Overrid",
			"Remote-Addr", "X-Original-Method", strings.Repeat("X", 100)}, 0},
	}
	for _, c := range cases {
		for _, n := range c.names {
			for _, s := range spellings(n) {
				if got := classify(s); got != c.want {
					t.Errorf("classify(%q) = %d, want %d", s, got, c.want)
				}
			}
		}
	}
}

// TestGateway_RewriteHeadersStripped: headers that make an upstream serve
// another path or method than the one the policy judged never reach it,
// in any spelling, unless the route passes them.
func TestGateway_RewriteHeadersStripped(t *testing.T) {
	bad := map[string]string{
		"X-Original-URL": "/admin", "X-Rewrite-URL": "/admin",
		"X-HTTP-Method-Override": "DELETE", "X-HTTP-Method": "DELETE", "X-Method-Override": "DELETE",
	}
	var b strings.Builder
	for name, v := range bad {
		for _, s := range spellings(name) {
			b.WriteString(s + ": " + v + "\r\n")
		}
	}
	send := func(t *testing.T, e *env) http.Header {
		t.Helper()
		before := e.up.hits.Load()
		res := e.raw(t, "GET /public/x HTTP/1.1\r\nHost: app.test:"+e.port+"\r\nX-Keep: 1\r\n"+b.String()+"\r\n")
		if len(res) != 1 || res[0].StatusCode != http.StatusOK || e.up.hits.Load() != before+1 {
			t.Fatalf("request failed: %d responses", len(res))
		}
		return e.up.seen().Header
	}
	t.Run("stripped by default", func(t *testing.T) {
		h := send(t, newTestEnv(t, nil))
		for name := range h {
			if c := classify(name); c == classRewrite || c == classOriginalURL {
				t.Errorf("upstream saw %q", name)
			}
		}
		if h.Get("X-Keep") != "1" {
			t.Error("an unrelated header was removed")
		}
	})
	t.Run("passed when the route opts in", func(t *testing.T) {
		e := newTestEnv(t, func(g *config.Gateway) { g.Routes[0].PassRewriteHeaders = true })
		h := send(t, e)
		for name := range bad {
			if h.Get(name) == "" {
				t.Errorf("%s not passed", name)
			}
		}
	})
}

// TestGateway_ConnectionCannotDropGatehouseHeaders: a client's Connection
// header naming Gatehouse's headers does not make the reverse proxy drop
// them after Gatehouse set them; other hop-by-hop tokens still work.
func TestGateway_ConnectionCannotDropGatehouseHeaders(t *testing.T) {
	e := newTestEnv(t, nil)
	cookie := e.signIn(alice, "app.test")
	cases := []string{
		"X-Forwarded-User, Remote-User, X-Gatehouse-Assertion",
		"keep-alive, x-forwarded-user,remote-user , x-gatehouse-assertion",
		"X-Forwarded-Email\tX-Forwarded-For", // not a list: one odd token, nothing removed
		"X-Forwarded-Groups, Remote-Groups, Remote-Email, Remote-Name, X-Forwarded-Preferred-Username, X-Forwarded-Email",
		"X-Forwarded-For, X-Forwarded-Host, X-Forwarded-Proto",
	}
	for _, conn := range cases {
		t.Run(conn, func(t *testing.T) {
			before := e.up.hits.Load()
			res := e.raw(t, "GET /x HTTP/1.1\r\nHost: app.test:"+e.port+"\r\nCookie: "+cookie.Name+"="+cookie.Value+
				"\r\nConnection: "+conn+"\r\nX-Hop: drop me\r\nConnection: X-Hop\r\n\r\n")
			if len(res) != 1 || res[0].StatusCode != http.StatusOK || e.up.hits.Load() != before+1 {
				t.Fatalf("request failed: %d responses", len(res))
			}
			h := e.up.seen().Header
			for _, name := range []string{HeaderForwardedUser, HeaderRemoteUser, HeaderAssertion, HeaderForwardedEmail,
				HeaderForwardedGroups, HeaderRemoteGroups, HeaderRemoteEmail, HeaderRemoteName, HeaderForwardedPreferredUsername,
				"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
				if h.Get(name) == "" {
					t.Errorf("upstream lost %s", name)
				}
			}
			if h.Get(HeaderForwardedUser) != "alice" {
				t.Errorf("X-Forwarded-User %q", h.Get(HeaderForwardedUser))
			}
			if h.Get("X-Hop") != "" {
				t.Error("a hop-by-hop header the client named was passed on")
			}
		})
	}
}

// TestGateway_ForwardingHeadersFromUntrusted: every forwarding header of
// an untrusted client is removed (X-Forwarded-For, -Host and -Proto are
// then set afresh); a trusted proxy's are passed on.
func TestGateway_ForwardingHeadersFromUntrusted(t *testing.T) {
	spoof := []string{"X-Forwarded-Port", "X-Forwarded-Server", "X-Forwarded-Uri", "X-Forwarded-Prefix",
		"X-Forwarded-Method", "X-Forwarded-Ssl", "X-Forwarded-Scheme", "X-Forwarded-Client-Cert",
		"Forwarded", "X-Real-IP", "X-Client-IP", "True-Client-IP", "X-Cluster-Client-IP", "Front-End-Https", "X-Url-Scheme"}
	var b strings.Builder
	for _, name := range spoof {
		for _, s := range spellings(name) {
			b.WriteString(s + ": 203.0.113.9\r\n")
		}
	}
	send := func(t *testing.T, e *env) http.Header {
		t.Helper()
		res := e.raw(t, "GET /public/x HTTP/1.1\r\nHost: app.test:"+e.port+"\r\n"+b.String()+"\r\n")
		if len(res) != 1 || res[0].StatusCode != http.StatusOK {
			t.Fatalf("request failed: %d responses", len(res))
		}
		return e.up.seen().Header
	}
	t.Run("untrusted peer", func(t *testing.T) {
		h := send(t, newTestEnv(t, func(g *config.Gateway) { g.TrustedProxies = []string{"10.0.0.0/8"} }))
		for name, v := range h {
			if classify(name) == classForwarding && !contains([]string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"}, name) {
				t.Errorf("upstream saw %s: %q", name, v)
			}
		}
		if got := h.Get("X-Forwarded-For"); got != "127.0.0.1" {
			t.Errorf("X-Forwarded-For %q", got)
		}
	})
	t.Run("trusted proxy", func(t *testing.T) {
		h := send(t, newTestEnv(t, nil))
		for _, name := range spoof {
			if name == "Forwarded" {
				continue // Go's reverse proxy never passes it on
			}
			if h.Get(name) == "" {
				t.Errorf("a trusted proxy's %s was dropped", name)
			}
		}
	})
}

// TestForwardAuth_RefusesWhatItCannotStrip: the proxy forwards the
// original request itself, so a forward-auth request carrying a method
// override, a rewrite header or a Connection header naming the answer's
// headers is refused.
func TestForwardAuth_RefusesWhatItCannotStrip(t *testing.T) {
	e := newTestEnv(t, func(g *config.Gateway) {
		g.Routes = append(g.Routes, withDefaults(config.Route{Host: "pass.test", Upstreams: []string{"http://127.0.0.1:9"}}))
		g.Routes[len(g.Routes)-1].PassRewriteHeaders = true
		g.Rules = append(g.Rules, config.Rule{Hosts: []string{"pass.test"}, Decision: "authenticated"})
	})
	aliceFA := e.signIn(alice, "fa.test")
	alicePass := e.signIn(alice, "pass.test")
	cases := []struct {
		name   string
		f      flavour
		host   string
		hdr    http.Header
		status int
	}{
		{"plain", nginx, "fa.test", nil, http.StatusOK},
		{"nginx's own X-Original-URL", nginx, "fa.test", nil, http.StatusOK},
		{"method override", nginx, "fa.test", hdr("X-Http-Method-Override", "DELETE"), http.StatusForbidden},
		{"X-HTTP-Method", traefik, "fa.test", hdr("X-Http-Method", "DELETE"), http.StatusBadRequest},
		{"X-Method-Override underscored", caddy, "fa.test", hdr("x_method_override", "DELETE"), http.StatusBadRequest},
		{"X-Rewrite-URL", nginx, "fa.test", hdr("X-Rewrite-Url", "/admin"), http.StatusForbidden},
		{"X-Original-URL from Traefik's client", traefik, "fa.test", hdr("X-Original-Url", "/admin"), http.StatusBadRequest},
		{"X-Original-URL from Caddy's client", caddy, "fa.test", hdr("X-Original-Url", "/admin"), http.StatusBadRequest},
		{"Connection naming identity", traefik, "fa.test", hdr("Connection", "keep-alive, Remote-User"), http.StatusBadRequest},
		{"Connection naming the assertion", nginx, "fa.test", hdr("Connection", "X-Gatehouse-Assertion"), http.StatusForbidden},
		{"Connection, harmless", traefik, "fa.test", hdr("Connection", "keep-alive, X-Hop"), http.StatusOK},
		{"route passes rewrite headers", traefik, "pass.test", hdr("X-Http-Method-Override", "DELETE"), http.StatusOK},
		{"route passing rewrite headers still refuses Connection", traefik, "pass.test", hdr("Connection", "X-Forwarded-User"), http.StatusBadRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path, h := faRequest(c.f, "GET", c.host, "/staff/x", c.hdr)
			ck := aliceFA
			if c.host == "pass.test" {
				ck = alicePass
			}
			// Through the handler: Go's client would treat Connection itself.
			r := httptest.NewRequest("GET", "http://auth.test:"+e.port+path, nil)
			r.RemoteAddr = "127.0.0.1:5000"
			r.Header = h
			r.AddCookie(ck)
			w := httptest.NewRecorder()
			e.gw.Dispatch(http.NotFoundHandler()).ServeHTTP(w, r)
			if w.Code != c.status {
				t.Fatalf("status %d, want %d", w.Code, c.status)
			}
		})
	}
}

// TestGuard_Scrubs: the demo guard strips rewrite and forwarding headers
// and keeps its identity headers whatever Connection says.
func TestGuard_Scrubs(t *testing.T) {
	up := newEcho(t)
	g := NewGuard(must(t, up.srv.URL), identifyAs{alice}, "/login", slog.New(slog.DiscardHandler))
	r := httptest.NewRequest("GET", "http://demo.test/demo/", nil)
	r.Header.Set("Connection", "Remote-User, X-Forwarded-User")
	r.Header.Set("X-Original-URL", "/admin")
	r.Header.Set("X-Http-Method-Override", "DELETE")
	r.Header.Set("X-Forwarded-Prefix", "/evil")
	r.Header.Set("Forwarded", "for=203.0.113.9")
	w := httptest.NewRecorder()
	g.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	h := up.seen().Header
	if h.Get(HeaderRemoteUser) != "alice" || h.Get(HeaderForwardedUser) != "alice" {
		t.Errorf("identity headers lost: %v", h)
	}
	for _, n := range []string{"X-Original-Url", "X-Http-Method-Override", "X-Forwarded-Prefix", "Forwarded"} {
		if h.Get(n) != "" {
			t.Errorf("upstream saw %s", n)
		}
	}
}

// identifyAs is an Identifier that always answers one user.
type identifyAs struct{ u identity.User }

func (i identifyAs) Identify(context.Context, *http.Request) (identity.User, bool, error) {
	return i.u, true, nil
}

// TestGateway_AmbiguousPaths: paths that some upstreams read as another
// path (trailing dots and spaces, look-alike slashes) get 400 from the
// proxy and from forward-auth, and never reach the upstream.
func TestGateway_AmbiguousPaths(t *testing.T) {
	e := newTestEnv(t, nil)
	cookie := e.signIn(alice, "app.test")
	faCookie := e.signIn(alice, "fa.test")
	for _, p := range []string{
		"/admin./x", "/admin%20/x", "/admin.", "/admin%2E%20", "/admin.;x/y", "/admin%C2%A0/x",
		"/admin%EF%BC%8Fx", "/public/..%E2%88%95admin", "/public/..%E2%81%84admin", "/%EF%BD%81dmin",
		"/admin::$DATA", "/admin::%24DATA/x",
	} {
		t.Run(p, func(t *testing.T) {
			before := e.up.hits.Load()
			res := e.raw(t, "GET "+p+" HTTP/1.1\r\nHost: app.test:"+e.port+"\r\nCookie: "+cookie.Name+"="+cookie.Value+"\r\n\r\n")
			if len(res) != 1 || res[0].StatusCode != http.StatusBadRequest || e.up.hits.Load() != before {
				t.Fatalf("proxy: %d responses, upstream hit %d times", len(res), e.up.hits.Load()-before)
			}
			for _, f := range []flavour{nginx, traefik} {
				path, h := faRequest(f, "GET", "fa.test", p, nil)
				r := httptest.NewRequest("GET", "http://auth.test:"+e.port+path, nil)
				r.RemoteAddr = "127.0.0.1:5000"
				r.Header = h
				r.AddCookie(faCookie)
				w := httptest.NewRecorder()
				e.gw.Dispatch(http.NotFoundHandler()).ServeHTTP(w, r)
				if w.Code == http.StatusOK {
					t.Errorf("forward-auth (%d) allowed %q", f, p)
				}
			}
		})
	}
}

// TestGateway_BearerAudience: a token is accepted only where its audience
// says it may be: on a route that lists its client, and in forward-auth
// only for hosts that list its client (or whose route does).
func TestGateway_BearerAudience(t *testing.T) {
	e := newTestEnv(t, func(g *config.Gateway) {
		g.Routes[2].Bearer.Clients = []string{"cli", "mobile"} // api.test
		g.Routes = append(g.Routes, withDefaults(config.Route{Host: "fa.test", PathPrefix: "/routed",
			Upstreams: []string{"http://127.0.0.1:9"}, Bearer: config.Bearer{Clients: []string{"mobile"}}}))
		g.ForwardAuth.Bearer = []config.HostBearer{
			{Hosts: []string{"fa.test"}, Clients: []string{"cli"}},
			{Hosts: []string{"*.wild.test"}, Clients: []string{"mobile"}},
		}
	})
	tok := func(client string) string {
		return e.accessToken(alice.ID, client, "g-"+client, "api.read api.write", time.Minute)
	}
	auth := func(client string) http.Header { return hdr("Authorization", "Bearer "+tok(client)) }
	t.Run("route", func(t *testing.T) {
		cases := []struct {
			client, host string
			status       int
		}{
			{"cli", "api.test", http.StatusOK},
			{"mobile", "api.test", http.StatusOK},
			{"other", "api.test", http.StatusUnauthorized},
			{"svc", "api.test", http.StatusUnauthorized},
			{"gatehouse-gateway", "api.test", http.StatusUnauthorized},
			{"cli", "app.test", http.StatusUnauthorized}, // no bearer clients: the token is ignored, no session
		}
		for _, c := range cases {
			r := e.do("GET", e.url(c.host, "/v1/things"), nil, auth(c.client))
			if r.status != c.status {
				t.Errorf("%s token on %s: %d, want %d", c.client, c.host, r.status, c.status)
			}
			if c.status == http.StatusUnauthorized && c.host == "api.test" &&
				!strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Errorf("%s token on %s: WWW-Authenticate %q", c.client, c.host, r.header.Get("WWW-Authenticate"))
			}
		}
	})
	t.Run("forward-auth", func(t *testing.T) {
		cases := []struct {
			client, host, uri string
			status            int
		}{
			{"cli", "fa.test", "/staff/x", http.StatusOK},
			{"other", "fa.test", "/staff/x", http.StatusUnauthorized},
			{"mobile", "fa.test", "/staff/x", http.StatusUnauthorized},
			{"mobile", "fa.test", "/routed/x", http.StatusOK}, // the route's list
			{"cli", "fa.test", "/routed/x", http.StatusUnauthorized},
			{"mobile", "a.wild.test", "/x", http.StatusOK},
			{"cli", "a.wild.test", "/x", http.StatusUnauthorized},
			{"cli", "app.test", "/x", http.StatusUnauthorized}, // no list for the host: ignored
			{"cli", "api.test", "/v1/x", http.StatusOK},        // the route's list
			{"other", "api.test", "/v1/x", http.StatusUnauthorized},
		}
		for _, c := range cases {
			for _, f := range []flavour{nginx, traefik} {
				path, h := faRequest(f, "GET", c.host, c.uri, auth(c.client))
				if r := e.do("GET", e.url("auth.test", path), nil, h); r.status != c.status {
					t.Errorf("flavour %d: %s token for %s%s: %d, want %d", f, c.client, c.host, c.uri, r.status, c.status)
				}
			}
		}
	})
}
