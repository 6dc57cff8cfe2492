package proxy

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/config"
	"github.com/gatehouse-sso/gatehouse/idp/keys"
)

// faRequest builds the headers each reverse proxy sends with its
// forward-auth subrequest for an original request.
func faRequest(f flavour, method, host, uri string, extra http.Header) (path string, h http.Header) {
	h = http.Header{}
	switch f {
	case nginx:
		path = "/forward-auth/nginx"
		h.Set("X-Original-URL", "https://"+host+uri)
		h.Set("X-Original-Method", method)
	case traefik:
		path = "/forward-auth/traefik"
		h.Set("X-Forwarded-Method", method)
		h.Set("X-Forwarded-Proto", "https")
		h.Set("X-Forwarded-Host", host)
		h.Set("X-Forwarded-Uri", uri)
		h.Set("X-Forwarded-For", "198.51.100.7")
	case caddy:
		path = "/forward-auth/caddy"
		h.Set("X-Forwarded-Method", method)
		h.Set("X-Forwarded-Uri", uri)
		h.Set("X-Forwarded-Host", host)
		h.Set("X-Forwarded-Proto", "https")
	}
	for k, v := range extra {
		h[k] = v
	}
	return path, h
}

func TestForwardAuth(t *testing.T) {
	e := newTestEnv(t, nil)
	aliceFA := e.signIn(alice, "fa.test")
	carolFA := e.signIn(carol, "fa.test")
	aliceApp := e.signIn(alice, "app.test")
	names := map[flavour]string{nginx: "nginx", traefik: "traefik", caddy: "caddy"}
	for _, f := range []flavour{nginx, traefik, caddy} {
		t.Run(names[f], func(t *testing.T) {
			cases := []struct {
				name           string
				method, host   string
				uri            string
				hdr            http.Header
				cookie         *http.Cookie
				status         int
				location       string // Location (302) or X-Gatehouse-Location (401)
				user           string // X-Forwarded-User / Remote-User in the answer
				ownSpoofsGone  bool
				wwwAuthenticat string
			}{
				{name: "signed in and allowed", method: "GET", host: "fa.test", uri: "/staff/x?y=1", cookie: aliceFA,
					status: http.StatusOK, user: "alice"},
				{name: "group member on its path", method: "POST", host: "fa.test", uri: "/staff/", cookie: carolFA,
					status: http.StatusOK, user: "carol"},
				{name: "outside the group", method: "GET", host: "fa.test", uri: "/admin", cookie: carolFA,
					status: http.StatusForbidden},
				{name: "anonymous API client", method: "GET", host: "fa.test", uri: "/staff/x",
					hdr: hdr("Accept", "application/json"), status: http.StatusUnauthorized,
					location: "https://fa.test/.gatehouse/start?rd=%2Fstaff%2Fx"},
				{name: "anonymous browser", method: "GET", host: "fa.test", uri: "/staff/x?y=1", hdr: browser,
					status:   map[flavour]int{nginx: http.StatusUnauthorized, traefik: http.StatusFound, caddy: http.StatusFound}[f],
					location: "https://fa.test/.gatehouse/start?rd=%2Fstaff%2Fx%3Fy%3D1"},
				{name: "cookie of another host", method: "GET", host: "fa.test", uri: "/staff/x", cookie: aliceApp,
					status: http.StatusUnauthorized},
				{name: "spoofed identity headers are not believed", method: "GET", host: "fa.test", uri: "/staff/x",
					hdr: hdr("X-Forwarded-User", "alice", "Remote-User", "alice", "Remote-Groups", "admins"), status: http.StatusUnauthorized},
				{name: "path traversal is normalised", method: "GET", host: "fa.test", uri: "/staff/../admin", cookie: carolFA,
					status: http.StatusForbidden},
				{name: "encoded slash", method: "GET", host: "fa.test", uri: "/staff/..%2fadmin", cookie: carolFA,
					status: map[flavour]int{nginx: http.StatusForbidden, traefik: http.StatusBadRequest, caddy: http.StatusBadRequest}[f]},
				{name: "malformed host", method: "GET", host: "fa test", uri: "/", cookie: carolFA,
					status: map[flavour]int{nginx: http.StatusForbidden, traefik: http.StatusBadRequest, caddy: http.StatusBadRequest}[f]},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					path, h := faRequest(f, c.method, c.host, c.uri, c.hdr)
					var cookies []*http.Cookie
					if c.cookie != nil {
						cookies = append(cookies, c.cookie)
					}
					r := e.do("GET", e.url("auth.test", path), nil, h, cookies...)
					if r.status != c.status {
						t.Fatalf("status %d, want %d", r.status, c.status)
					}
					if r.body != "" || r.header.Get("Content-Length") != "0" {
						t.Errorf("body %q, Content-Length %q: forward-auth answers must be empty", r.body, r.header.Get("Content-Length"))
					}
					if c.location != "" {
						got := r.header.Get(HeaderLocation)
						if r.status == http.StatusFound {
							got = r.header.Get("Location")
						}
						if got != c.location {
							t.Errorf("location %q, want %q", got, c.location)
						}
					}
					if c.user != "" {
						for _, name := range []string{HeaderForwardedUser, HeaderRemoteUser} {
							if got := r.header.Get(name); got != c.user {
								t.Errorf("%s = %q, want %q", name, got, c.user)
							}
						}
						if r.header.Get(HeaderAssertion) == "" {
							t.Error("no assertion")
						}
					} else if r.header.Get(HeaderForwardedUser) != "" || r.header.Get(HeaderRemoteUser) != "" {
						t.Errorf("identity in a refusal: %v", r.header)
					}
				})
			}
		})
	}
	t.Run("on the app host", func(t *testing.T) {
		// nginx forwards /.gatehouse/auth on the app's own host.
		h := hdr("X-Original-URL", "https://fa.test/staff/", "X-Original-Method", "GET")
		r := e.do("GET", e.url("fa.test", "/.gatehouse/auth"), nil, h, aliceFA)
		if r.status != http.StatusOK || r.header.Get(HeaderForwardedUser) != "alice" {
			t.Fatalf("%d %v", r.status, r.header)
		}
		// The same answer as on Gatehouse's host: its 200 goes to the
		// proxy alone, so it carries no header but the identity ones.
		if got := r.header.Get("Cache-Control"); got != "" {
			t.Errorf("Cache-Control %q on the 200 of /.gatehouse/auth", got)
		}
		// ... and the subrequest may carry any Host (proxy_pass to an address).
		r = e.do("GET", e.url("127.0.0.1", "/.gatehouse/auth/traefik"), nil,
			hdr("X-Forwarded-Host", "fa.test", "X-Forwarded-Uri", "/staff/", "X-Forwarded-Method", "GET"), aliceFA)
		if r.status != http.StatusOK {
			t.Fatalf("any host: %d", r.status)
		}
	})
	t.Run("no store I/O for a cached session", func(t *testing.T) {
		path, h := faRequest(nginx, "GET", "fa.test", "/staff/", nil)
		e.do("GET", e.url("auth.test", path), nil, h, carolFA)
		gets := e.store.gets.Load()
		for range 20 {
			if r := e.do("GET", e.url("auth.test", path), nil, h, carolFA); r.status != http.StatusOK {
				t.Fatal(r.status)
			}
		}
		if n := e.store.gets.Load() - gets; n != 0 {
			t.Fatalf("%d store reads for a cached session", n)
		}
	})
}

// traefikLocation is the Location a browser gets from Traefik's
// forwardAuth middleware (preserveLocationHeader: false, its default)
// when the authentication server at address answers with location:
// Traefik reads it with net/http's Response.Location, which resolves it
// against the URL of the request it sent, the forward-auth address, and
// sends the result on.
func traefikLocation(t *testing.T, address, location string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, address, nil)
	if err != nil {
		t.Fatal(err)
	}
	res := &http.Response{Header: http.Header{"Location": {location}}, Request: req}
	u, err := res.Location()
	if err != nil {
		t.Fatalf("Traefik refuses Location %q: %v", location, err)
	}
	return u.String()
}

// TestForwardAuth_TraefikResolvesLocation: the sign-in redirect survives
// Traefik's rewriting of the Location, whatever address Traefik asks
// Gatehouse at, and takes the browser to the app's host, where the
// sign-in starts; every proxy flavour gets the same absolute URL, built
// from the scheme and host (with port) of the original request.
func TestForwardAuth_TraefikResolvesLocation(t *testing.T) {
	e := newTestEnv(t, nil)
	for _, c := range []struct {
		f           flavour
		proto, host string
		want        string
	}{
		{traefik, "http", "fa.test:" + e.port, "http://fa.test:" + e.port + "/.gatehouse/start?rd=%2Fstaff%2Fx%3Fy%3D1"},
		{traefik, "https", "fa.test", "https://fa.test/.gatehouse/start?rd=%2Fstaff%2Fx%3Fy%3D1"},
		{traefik, "", "FA.test:8443", "http://FA.test:8443/.gatehouse/start?rd=%2Fstaff%2Fx%3Fy%3D1"}, // the configured scheme
		{caddy, "https", "fa.test:8443", "https://fa.test:8443/.gatehouse/start?rd=%2Fstaff%2Fx%3Fy%3D1"},
		{nginx, "", "fa.test", "https://fa.test/.gatehouse/start?rd=%2Fstaff%2Fx%3Fy%3D1"},
	} {
		path, h := faRequest(c.f, "GET", c.host, "/staff/x?y=1", browser)
		h.Del("X-Forwarded-Proto")
		if c.proto != "" {
			h.Set("X-Forwarded-Proto", c.proto)
		}
		for _, address := range []string{e.url("auth.test", path), "http://127.0.0.1:9091" + path, "http://gatehouse.internal" + path} {
			r := e.do("GET", address, nil, h)
			loc := r.header.Get("Location")
			if c.f == nginx {
				loc = r.header.Get(HeaderLocation)
			}
			if got := traefikLocation(t, address, loc); got != c.want {
				t.Errorf("flavour %d, host %s, via %s: browser sent to %q, want %q", c.f, c.host, address, got, c.want)
			}
		}
	}
	// Followed, the resolved URL starts the sign-in on the app's host.
	path, h := faRequest(traefik, "GET", "fa.test:"+e.port, "/staff/x", browser)
	h.Set("X-Forwarded-Proto", "http")
	address := "http://127.0.0.1:9091" + path
	next := traefikLocation(t, address, e.do("GET", e.url("auth.test", path), nil, h).header.Get("Location"))
	u := must(t, next)
	if u.Hostname() != "fa.test" {
		t.Fatalf("browser sent to %s", next)
	}
	r := e.do("GET", e.url("fa.test", u.RequestURI()), nil, browser)
	if auth := must(t, r.header.Get("Location")); r.status != http.StatusFound || auth.Path != "/authorize" ||
		auth.Query().Get("redirect_uri") != "http://fa.test:"+e.port+"/.gatehouse/callback" {
		t.Fatalf("sign-in start on the app host: %d %s", r.status, r.header.Get("Location"))
	}
}

// TestForwardAuth_UntrustedPeer: only gateway.trusted_proxies may ask;
// anyone else's X-Forwarded-* would let them choose the answer.
func TestForwardAuth_UntrustedPeer(t *testing.T) {
	e := newTestEnv(t, func(g *config.Gateway) { g.TrustedProxies = []string{"10.0.0.0/8"} })
	c := e.signIn(alice, "fa.test")
	for _, f := range []flavour{nginx, traefik, caddy} {
		path, h := faRequest(f, "GET", "fa.test", "/staff/", nil)
		r := e.do("GET", e.url("auth.test", path), nil, h, c)
		if r.status != http.StatusForbidden || r.header.Get(HeaderForwardedUser) != "" || r.body != "" {
			t.Errorf("%s from an untrusted peer: %d %v", path, r.status, r.header)
		}
	}
}

// TestForwardAuth_Disabled: with forward_auth.enabled false the endpoints
// do not exist.
func TestForwardAuth_Disabled(t *testing.T) {
	e := newTestEnv(t, func(g *config.Gateway) { g.ForwardAuth.Enabled = false })
	path, h := faRequest(nginx, "GET", "fa.test", "/staff/", nil)
	if r := e.do("GET", e.url("auth.test", path), nil, h); r.status != http.StatusOK || r.body != "gatehouse itself" {
		t.Fatalf("own host: %d %q", r.status, r.body)
	}
	if r := e.do("GET", e.url("fa.test", "/.gatehouse/auth"), nil, h); r.status != http.StatusNotFound {
		t.Fatalf("app host: %d", r.status)
	}
}

// TestForwardAuth_Assertion: the signed assertion verifies with the keys,
// has the route (or host) as audience and a short life.
func TestForwardAuth_Assertion(t *testing.T) {
	e := newTestEnv(t, nil)
	c := e.signIn(alice, "fa.test")
	path, h := faRequest(caddy, "GET", "fa.test", "/staff/", nil)
	r := e.do("GET", e.url("auth.test", path), nil, h, c)
	tok := r.header.Get(HeaderAssertion)
	payload, hd, err := e.keys.Verify(tok)
	if err != nil || hd.Alg != keys.ES256 || hd.Typ != "JWT" {
		t.Fatalf("verify: %v %+v", err, hd)
	}
	var claims assertionClaims
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	now := e.clock.now().Unix()
	if claims.Aud != "fa.test" || claims.Sub != alice.ID || claims.Iss != "http://auth.test:"+e.port ||
		claims.Email != alice.Email || claims.PreferredUsername != "alice" || claims.Exp-now != 60 || claims.Jti == "" ||
		strings.Join(claims.Groups, ",") != "admins,staff" {
		t.Fatalf("claims %+v", claims)
	}
	// Reused for 30 s, then renewed.
	if r2 := e.do("GET", e.url("auth.test", path), nil, h, c); r2.header.Get(HeaderAssertion) != tok {
		t.Error("assertion not reused")
	}
	e.clock.advance(31 * time.Second)
	if r3 := e.do("GET", e.url("auth.test", path), nil, h, c); r3.header.Get(HeaderAssertion) == tok {
		t.Error("assertion not renewed")
	}
	// In proxy mode the audience is the route name.
	app := e.signIn(alice, "app.test")
	var s seen
	_ = json.Unmarshal([]byte(e.do("GET", e.url("app.test", "/x"), nil, nil, app).body), &s)
	payload, _, _ = e.keys.Verify(s.Header.Get(HeaderAssertion))
	_ = json.Unmarshal(payload, &claims)
	if claims.Aud != "app" {
		t.Fatalf("route audience %q", claims.Aud)
	}
}

// revoked is a fake revocation list.
type revoked struct {
	jtis  map[string]bool
	calls atomic.Int64
}

func (r *revoked) AccessTokenLive(_ context.Context, jti, _ string) (bool, error) {
	r.calls.Add(1)
	return !r.jtis[jti], nil
}

// TestGateway_Bearer: IdP access tokens on a bearer route, with scopes.
func TestGateway_Bearer(t *testing.T) {
	e := newTestEnv(t, nil)
	rev := &revoked{jtis: map[string]bool{}}
	e.gw.o.Revocations = rev
	read := e.accessToken(alice.ID, "cli", "g1", "openid api.read", time.Minute)
	write := e.accessToken(alice.ID, "cli", "g1", "api.read api.write", time.Minute)
	service := e.accessToken("svc", "svc", "", "api.read", time.Minute)
	expired := e.accessToken(alice.ID, "cli", "g1", "api.read", -time.Minute)
	revokedTok := e.accessToken(alice.ID, "cli", "g1", "api.read", time.Minute)
	_, payload, _ := strings.Cut(revokedTok, ".")
	_ = payload
	idToken, _ := e.keys.Sign(keys.ES256, "JWT", map[string]any{"iss": "http://auth.test:" + e.port, "sub": alice.ID,
		"exp": time.Now().Add(time.Minute).Unix(), "jti": "x", "client_id": "cli", "scope": "api.read"})
	foreign := "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9."
	p, _, _ := e.keys.Verify(revokedTok)
	var rc accessClaims
	_ = json.Unmarshal(p, &rc)
	rev.jtis[rc.Jti] = true

	auth := func(tok string) http.Header { return hdr("Authorization", "Bearer "+tok) }
	cases := []struct {
		name   string
		method string
		host   string
		tok    string
		status int
		user   string
		err    string
	}{
		{"read scope reads", "GET", "api.test", read, http.StatusOK, "alice", ""},
		{"read scope cannot write", "POST", "api.test", read, http.StatusForbidden, "", ""},
		{"write scope writes", "POST", "api.test", write, http.StatusOK, "alice", ""},
		{"service token on a rule for people", "GET", "api.test", service, http.StatusForbidden, "", ""},
		{"service token on a rule naming it", "GET", "api.test/svc", service, http.StatusOK, "", ""},
		{"person on a rule naming only a service", "GET", "api.test/svc", read, http.StatusForbidden, "", ""},
		{"expired", "GET", "api.test", expired, http.StatusUnauthorized, "", "invalid_token"},
		{"revoked", "GET", "api.test", revokedTok, http.StatusUnauthorized, "", "invalid_token"},
		{"an ID token is not an access token", "GET", "api.test", idToken, http.StatusUnauthorized, "", "invalid_token"},
		{"alg none", "GET", "api.test", foreign, http.StatusUnauthorized, "", "invalid_token"},
		{"not a bearer route", "GET", "app.test", read, http.StatusUnauthorized, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			host, path, ok := strings.Cut(c.host, "/")
			if path = "/" + path; !ok {
				path = "/v1/things"
			}
			r := e.do(c.method, e.url(host, path), nil, auth(c.tok))
			if r.status != c.status {
				t.Fatalf("status %d, want %d", r.status, c.status)
			}
			if c.err != "" && !strings.Contains(r.header.Get("WWW-Authenticate"), `error="`+c.err+`"`) {
				t.Errorf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
			}
			if r.status != http.StatusOK {
				return
			}
			var s seen
			_ = json.Unmarshal([]byte(r.body), &s)
			if got := s.Header.Get(HeaderForwardedUser); got != c.user {
				t.Errorf("X-Forwarded-User %q, want %q", got, c.user)
			}
			if s.Header.Get("Authorization") == "" {
				t.Error("the token was not passed on")
			}
			claimsOf := func(tok string) assertionClaims {
				p, _, err := e.keys.Verify(tok)
				if err != nil {
					t.Fatal(err)
				}
				var a assertionClaims
				_ = json.Unmarshal(p, &a)
				return a
			}
			a := claimsOf(s.Header.Get(HeaderAssertion))
			if c.user == "" && (a.Sub != "svc" || a.ClientID != "svc" || a.Email != "") {
				t.Errorf("service assertion %+v", a)
			}
		})
	}
	// The revocation check runs once per token per cache period.
	calls := rev.calls.Load()
	for range 5 {
		e.do("GET", e.url("api.test", "/v1/things"), nil, auth(read))
	}
	if rev.calls.Load() != calls {
		t.Errorf("revocation checked %d times for a cached token", rev.calls.Load()-calls)
	}
	// Forward-auth accepts bearer tokens only where configured
	// (TestGateway_BearerAudience).
	path, h := faRequest(nginx, "GET", "fa.test", "/staff/", auth(read))
	if r := e.do("GET", e.url("auth.test", path), nil, h); r.status != http.StatusUnauthorized {
		t.Errorf("forward-auth with a bearer token for a host without bearer clients: %d", r.status)
	}
	_ = url.Values{}
}

// TestForwardAuth_AppHostPathsAreTheApps: /forward-auth/ on a routed app
// host belongs to the app; only /.gatehouse/auth is Gatehouse's there.
func TestForwardAuth_AppHostPathsAreTheApps(t *testing.T) {
	e := newTestEnv(t, nil)
	c := e.signIn(alice, "app.test")
	before := e.up.hits.Load()
	r := e.do("GET", e.url("app.test", "/forward-auth/nginx"), nil, hdr("X-Original-URL", "https://fa.test/staff/"), c)
	if r.status != http.StatusOK || e.up.hits.Load() != before+1 {
		t.Fatalf("app path: %d, upstream hits %d", r.status, e.up.hits.Load()-before)
	}
}
