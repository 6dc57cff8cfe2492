package main

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/config"
	"github.com/gatehouse-sso/gatehouse/proxy"
)

// gwEnv is Gatehouse with the IdP and the gateway in front of a recording
// upstream; browsers reach every host name at the test server.
type gwEnv struct {
	*oidcEnv
	up   *recorder
	port string
}

// recorder is an upstream app that records what it receives.
type recorder struct {
	srv  *httptest.Server
	mu   sync.Mutex
	last http.Header
	host string
	path string
	hits int
}

func newRecorder(t *testing.T) *recorder {
	rec := &recorder{}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.last, rec.host, rec.path = r.Header.Clone(), r.Host, r.URL.EscapedPath()
		rec.hits++
		rec.mu.Unlock()
		_, _ = io.WriteString(w, "app says hello to "+r.Header.Get(proxy.HeaderForwardedUser))
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (rec *recorder) seen() (http.Header, int) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.last, rec.hits
}

var carolUser = config.User{ID: "u-carol", Username: "carol", Email: "carol@example.com", Groups: []string{"staff"}}

func newGatewayEnv(t *testing.T, mutate func(*config.Config)) *gwEnv {
	t.Helper()
	up := newRecorder(t)
	e := newOIDCEnv(t, func(c *config.Config) {
		carol := carolUser
		carol.PasswordHash = hashFor(t, "carol-password-123")
		c.Users = append(c.Users, carol)
		route := func(name, host string, bearer ...string) config.Route {
			r := config.DefaultRoute()
			r.Name, r.Host, r.Upstreams, r.Bearer = name, host, []string{up.srv.URL}, config.Bearer{Clients: bearer}
			return r
		}
		c.Gateway.Routes = []config.Route{
			route("app", "app.example.com"),
			route("apps", "*.apps.example.com"),
			route("api", "api.example.com", "trusted", "svc"),
		}
		c.Gateway.Routes[0].Headers.AccessToken = true
		c.Gateway.Rules = []config.Rule{
			{Name: "admin", Hosts: []string{"app.example.com"}, PathPrefix: "/admin", Decision: "authenticated", GroupsAny: []string{"admins"}},
			{Name: "app", Hosts: []string{"app.example.com", "*.apps.example.com"}, Decision: "authenticated"},
			{Name: "api-jobs", Hosts: []string{"api.example.com"}, PathPrefix: "/v1/jobs", Decision: "authenticated",
				Clients: []string{"svc"}, Scopes: []string{"api.read"}},
			{Name: "api", Hosts: []string{"api.example.com"}, Decision: "authenticated", Scopes: []string{"api.read"}},
			{Name: "fa", Hosts: []string{"fa.example.com"}, Decision: "authenticated", GroupsAny: []string{"staff"}},
		}
		if mutate != nil {
			mutate(c)
		}
	})
	_, port, _ := net.SplitHostPort(e.srv.Listener.Addr().String())
	return &gwEnv{oidcEnv: e, up: up, port: port}
}

// browser reaches every host at the test server (app hosts are not in
// its certificate, hence no verification).
func (e *gwEnv) browser() *http.Client {
	addr := e.srv.Listener.Addr().String()
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	}
	e.t.Cleanup(tr.CloseIdleConnections)
	jar, _ := cookiejar.New(nil)
	return &http.Client{Transport: tr, Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (e *gwEnv) app(host, path string) string { return "https://" + host + ":" + e.port + path }

var acceptHTML = map[string]string{"Accept": "text/html,application/xhtml+xml"}

// signInTo follows a browser from an anonymous request for target through
// the gateway's sign-in and the IdP back to target, and returns the final
// answer.
func (e *gwEnv) signInTo(b *http.Client, target string, f flow) resp {
	e.t.Helper()
	r := e.fetch(b, "GET", target, nil, acceptHTML)
	if r.status != http.StatusFound || !strings.HasPrefix(r.header.Get("Location"), "/.gatehouse/start?rd=") {
		e.t.Fatalf("anonymous %s: %d %q", target, r.status, r.header.Get("Location"))
	}
	start := e.resolve(target, r.header.Get("Location"))
	r = e.fetch(b, "GET", start, nil, acceptHTML)
	if r.status != http.StatusFound {
		e.t.Fatalf("start: %d %.300s", r.status, r.body)
	}
	back := e.drive(b, e.resolve(start, r.header.Get("Location")), f).String()
	for range 3 { // callback (and, for wildcard hosts, the handoff)
		r = e.fetch(b, "GET", back, nil, acceptHTML)
		if r.status != http.StatusFound {
			e.t.Fatalf("GET %s: %d %.300s", back, r.status, r.body)
		}
		back = e.resolve(back, r.header.Get("Location"))
		if !strings.Contains(back, "/.gatehouse/") {
			break
		}
	}
	if back != target {
		e.t.Fatalf("returned to %s, want %s", back, target)
	}
	return e.fetch(b, "GET", back, nil, acceptHTML)
}

// TestGateway_BrowserSignIn: anonymous browser → sign-in start → IdP →
// callback on the app host → the upstream sees who it is.
func TestGateway_BrowserSignIn(t *testing.T) {
	e := newGatewayEnv(t, nil)
	b := e.browser()
	target := e.app("app.example.com", "/docs/page?x=1")
	r := e.signInTo(b, target, asAlice)
	if r.status != http.StatusOK || r.body != "app says hello to alice" {
		t.Fatalf("after sign-in: %d %q", r.status, r.body)
	}
	h, _ := e.up.seen()
	for name, want := range map[string]string{
		proxy.HeaderForwardedUser: "alice", proxy.HeaderForwardedEmail: "alice@example.com",
		proxy.HeaderForwardedGroups: "admins,staff", proxy.HeaderRemoteUser: "alice", proxy.HeaderRemoteName: "Alice Liddell",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("upstream %s = %q, want %q", name, got, want)
		}
	}
	if h.Get("Cookie") != "" {
		t.Errorf("Gatehouse's cookies reached the upstream: %q", h.Get("Cookie"))
	}
	// The assertion verifies with the published keys, audience = route.
	_, claims := decodeJWT(t, h.Get(proxy.HeaderAssertion))
	if claims["aud"] != "app" || claims["sub"] != "u-alice" || claims["iss"] != e.issuer {
		t.Errorf("assertion claims %v", claims)
	}
	if _, _, err := e.env.app.keys.Verify(h.Get(proxy.HeaderAssertion)); err != nil {
		t.Errorf("assertion does not verify: %v", err)
	}
	// The access token is the gateway's, issued by the IdP.
	_, at := decodeJWT(t, h.Get(proxy.HeaderAccessToken))
	if at["client_id"] != proxy.ClientID || at["sub"] != "u-alice" {
		t.Errorf("access token claims %v", at)
	}
	// The app cookie is host-only, Secure, HttpOnly, SameSite=Lax.
	u, _ := url.Parse(target)
	var app *http.Cookie
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == "__Host-gatehouse_app" {
			app = c
		}
	}
	if app == nil {
		t.Fatal("no __Host-gatehouse_app cookie on the app host")
	}
	// Signed in: the next request goes straight through; spoofed headers
	// are replaced.
	r = e.fetch(b, "GET", e.app("app.example.com", "/other"), nil, map[string]string{"X-Forwarded-User": "mallory", "Remote_User": "mallory"})
	h, _ = e.up.seen()
	if r.status != http.StatusOK || h.Get(proxy.HeaderForwardedUser) != "alice" || h.Get("Remote_user") != "" {
		t.Fatalf("second request: %d %v", r.status, h)
	}
	// The request id: one per response, the same sent upstream; the test
	// client is on loopback, a trusted proxy by default, so its
	// well-formed id is reused and a malformed one replaced.
	for in, reused := range map[string]bool{"front-proxy-id-1": true, "bad id\"": false} {
		r = e.fetch(b, "GET", e.app("app.example.com", "/other"), nil, map[string]string{"X-Request-Id": in})
		h, _ = e.up.seen()
		got, up := r.header.Values("X-Request-Id"), h.Values("X-Request-Id")
		if len(got) != 1 || len(up) != 1 || up[0] != got[0] || (got[0] == in) != reused {
			t.Fatalf("incoming id %q: response %q, upstream %q: want one id, the same in both, reused %v", in, got, up, reused)
		}
	}
	// The demo and the IdP still answer on Gatehouse's own host.
	if r := e.fetch(b, "GET", e.srv.URL+"/demo/", nil, acceptHTML); r.status != http.StatusOK || !strings.Contains(r.body, "Hello, alice") {
		t.Fatalf("demo: %d", r.status)
	}
	// An unknown host is misdirected.
	if r := e.fetch(b, "GET", e.app("unknown.example.com", "/"), nil, acceptHTML); r.status != http.StatusMisdirectedRequest {
		t.Fatalf("unknown host: %d", r.status)
	}
}

// TestGateway_Refusals: API clients get 401, users outside the group 403.
func TestGateway_Refusals(t *testing.T) {
	e := newGatewayEnv(t, nil)
	_, before := e.up.seen()
	api := e.fetch(e.browser(), "GET", e.app("app.example.com", "/docs"), nil, map[string]string{"Accept": "application/json"})
	if api.status != http.StatusUnauthorized || api.body != "" || api.header.Get("WWW-Authenticate") != `Bearer realm="gatehouse"` {
		t.Fatalf("API client: %d %q %q", api.status, api.header.Get("WWW-Authenticate"), api.body)
	}
	b := e.browser()
	r := e.signInTo(b, e.app("app.example.com", "/docs"), flow{user: "carol", password: "carol-password-123"})
	if r.status != http.StatusOK {
		t.Fatalf("carol on /docs: %d", r.status)
	}
	_, mid := e.up.seen()
	r = e.fetch(b, "GET", e.app("app.example.com", "/admin/"), nil, acceptHTML)
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "do not have access") {
		t.Fatalf("carol on /admin: %d", r.status)
	}
	r = e.fetch(b, "GET", e.app("app.example.com", "/admin/"), nil, map[string]string{"Accept": "application/json"})
	if r.status != http.StatusForbidden || r.body != "" {
		t.Fatalf("carol on /admin as an API client: %d %q", r.status, r.body)
	}
	if _, after := e.up.seen(); after != mid || mid != before+1 {
		t.Fatalf("upstream hits %d → %d → %d", before, mid, after)
	}
}

// TestGateway_WildcardHostAndLogout: a wildcard host signs in through
// Gatehouse's own callback and a ticket; signing out on one app host
// ends the SSO session and with it the app sessions on every host, at
// once.
func TestGateway_WildcardHostAndLogout(t *testing.T) {
	e := newGatewayEnv(t, nil)
	b := e.browser()
	if r := e.signInTo(b, e.app("app.example.com", "/"), asAlice); r.status != http.StatusOK {
		t.Fatal(r.status)
	}
	wild := e.app("team.apps.example.com", "/board")
	r := e.fetch(b, "GET", wild, nil, acceptHTML)
	start := e.resolve(wild, r.header.Get("Location"))
	r = e.fetch(b, "GET", start, nil, acceptHTML)
	auth, _ := url.Parse(r.header.Get("Location"))
	if auth.Query().Get("redirect_uri") != e.srv.URL+"/.gatehouse/callback" {
		t.Fatalf("wildcard redirect_uri %q", auth.Query().Get("redirect_uri"))
	}
	// Already signed in at the IdP: no password this time.
	back := e.drive(b, auth.String(), flow{}).String()
	if !strings.HasPrefix(back, e.app("team.apps.example.com", "/.gatehouse/session?ticket=")) {
		t.Fatalf("handoff to %s", back)
	}
	// The ticket works only in the browser that started the sign-in.
	thief := e.browser()
	if r := e.fetch(thief, "GET", back, nil, acceptHTML); r.status != http.StatusBadRequest {
		t.Fatalf("ticket in another browser: %d", r.status)
	}
	// ... and only once: the thief burnt it.
	if r := e.fetch(b, "GET", back, nil, acceptHTML); r.status != http.StatusBadRequest {
		t.Fatalf("burnt ticket: %d", r.status)
	}
	r = e.signInTo(b, wild, flow{})
	if r.status != http.StatusOK || r.body != "app says hello to alice" {
		t.Fatalf("wildcard host after sign-in: %d %q", r.status, r.body)
	}

	// Sign out on the app host: the IdP ends the SSO session.
	r = e.fetch(b, "GET", e.app("app.example.com", "/.gatehouse/logout"), nil, acceptHTML)
	end, _ := url.Parse(r.header.Get("Location"))
	if r.status != http.StatusFound || !strings.HasPrefix(end.String(), e.issuer+"/end_session?") {
		t.Fatalf("logout: %d %s", r.status, end)
	}
	r = e.fetch(b, "GET", end.String(), nil, acceptHTML)
	if r.status != http.StatusFound && r.status != http.StatusSeeOther || r.header.Get("Location") != e.app("app.example.com", "/.gatehouse/signed-out") {
		t.Fatalf("end_session: %d %q %.200s", r.status, r.header.Get("Location"), r.body)
	}
	for _, u := range []string{e.app("app.example.com", "/"), wild} {
		if r := e.fetch(b, "GET", u, nil, acceptHTML); r.status != http.StatusFound {
			t.Fatalf("%s after sign-out: %d", u, r.status)
		}
	}
}

// TestGateway_BearerTokens: access tokens from the IdP are accepted on
// the API route, with scope checks.
func TestGateway_BearerTokens(t *testing.T) {
	e := newGatewayEnv(t, nil)
	st, _, body := e.post(e.endpoint("token_endpoint"), url.Values{"grant_type": {"client_credentials"}, "scope": {"api.read"}}, "svc", svcSecret)
	if st != http.StatusOK {
		t.Fatalf("client_credentials: %d %v", st, body)
	}
	svcToken := body["access_token"].(string)
	st, _, body = e.post(e.endpoint("token_endpoint"), url.Values{"grant_type": {"client_credentials"}}, "svc", svcSecret)
	if st != http.StatusOK {
		t.Fatalf("client_credentials: %d %v", st, body)
	}
	noScope := body["access_token"].(string)
	user := e.signInRP(e.oidcEnv.browser(), e.rp("trusted", trustedSecret, rpCallback, "openid", "api.read"), asAlice)
	b := e.browser()
	callPath := func(tok, path string) resp {
		return e.fetch(b, "GET", e.app("api.example.com", path), nil, map[string]string{"Authorization": "Bearer " + tok})
	}
	call := func(tok string) resp { return callPath(tok, "/v1/items") }
	// A service token is not a signed-in person: only a rule naming its
	// client lets it through.
	if r := call(svcToken); r.status != http.StatusForbidden {
		t.Fatalf("service token on a rule for people: %d", r.status)
	}
	if r := callPath(svcToken, "/v1/jobs/1"); r.status != http.StatusOK {
		t.Fatalf("service token on a rule naming it: %d", r.status)
	}
	if h, _ := e.up.seen(); h.Get(proxy.HeaderForwardedUser) != "" || h.Get("Authorization") == "" {
		t.Errorf("service token upstream headers: %v", h)
	}
	if r := callPath(noScope, "/v1/jobs/1"); r.status != http.StatusForbidden {
		t.Fatalf("token without api.read: %d", r.status)
	}
	if r := callPath(user.tok.AccessToken, "/v1/jobs/1"); r.status != http.StatusForbidden {
		t.Fatalf("a person's token on a rule naming only a service client: %d", r.status)
	}
	if r := call(user.tok.AccessToken); r.status != http.StatusOK || r.body != "app says hello to alice" {
		t.Fatalf("user token: %d %q", r.status, r.body)
	}
	// A token issued to another client is not for this route: its
	// audience is the es app.
	other := e.signInRP(e.oidcEnv.browser(), e.rp("es", esSecret, esCallback, "openid"), asAlice)
	if r := call(other.tok.AccessToken); r.status != http.StatusUnauthorized {
		t.Fatalf("another client's token: %d", r.status)
	}
	if r := call(user.rawID); r.status != http.StatusUnauthorized {
		t.Fatalf("ID token as a bearer token: %d", r.status)
	}
	// A revoked token stops working (after the cache period on other
	// nodes; here it was never cached).
	fresh := e.signInRP(e.oidcEnv.browser(), e.rp("trusted", trustedSecret, rpCallback, "openid", "api.read"), asAlice)
	st, _, _ = e.post(e.endpoint("revocation_endpoint"), url.Values{"token": {fresh.tok.AccessToken}}, "trusted", trustedSecret)
	if st != http.StatusOK {
		t.Fatalf("revoke: %d", st)
	}
	if r := call(fresh.tok.AccessToken); r.status != http.StatusUnauthorized {
		t.Fatalf("revoked token: %d", r.status)
	}
}

// TestGateway_ForwardAuthAfterSignIn: a host that only a rule names (no
// route) signs in through /.gatehouse/ — as when nginx or Traefik
// forward that path to Gatehouse — and forward-auth then answers for it.
func TestGateway_ForwardAuthAfterSignIn(t *testing.T) {
	e := newGatewayEnv(t, nil)
	b := e.browser()
	// The reverse proxy would answer the app itself; here the app host
	// has no route, so only the sign-in half is exercised through
	// Gatehouse.
	start := e.app("fa.example.com", "/.gatehouse/start?rd=%2Fwiki")
	r := e.fetch(b, "GET", start, nil, acceptHTML)
	if r.status != http.StatusFound {
		t.Fatalf("start: %d", r.status)
	}
	back := e.drive(b, r.header.Get("Location"), flow{user: "carol", password: "carol-password-123"}).String()
	r = e.fetch(b, "GET", back, nil, acceptHTML)
	if r.status != http.StatusFound || r.header.Get("Location") != "/wiki" {
		t.Fatalf("callback: %d %q", r.status, r.header.Get("Location"))
	}
	u, _ := url.Parse(e.app("fa.example.com", "/"))
	var cookie string
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == "__Host-gatehouse_app" {
			cookie = c.Name + "=" + c.Value
		}
	}
	if cookie == "" {
		t.Fatal("no app cookie on fa.example.com")
	}
	plain := &http.Client{Transport: e.srv.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	ask := func(hdr map[string]string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", e.srv.URL+"/forward-auth/traefik", nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := plain.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res, string(body)
	}
	res, body := ask(map[string]string{"X-Forwarded-Host": "fa.example.com", "X-Forwarded-Uri": "/wiki", "X-Forwarded-Method": "GET",
		"X-Forwarded-Proto": "https", "Cookie": cookie, "X-Forwarded-User": "mallory"})
	if res.StatusCode != http.StatusOK || body != "" || res.Header.Get(proxy.HeaderForwardedUser) != "carol" || res.Header.Get("Content-Length") != "0" {
		t.Fatalf("forward-auth: %d %q %v", res.StatusCode, body, res.Header)
	}
	res, _ = ask(map[string]string{"X-Forwarded-Host": "fa.example.com", "X-Forwarded-Uri": "/wiki", "Accept": "text/html"})
	if res.StatusCode != http.StatusFound || res.Header.Get("Location") != "https://fa.example.com/.gatehouse/start?rd=%2Fwiki" {
		t.Fatalf("anonymous browser: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
}
