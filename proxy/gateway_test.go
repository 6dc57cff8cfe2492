package proxy

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/config"
	"github.com/gatehouse-sso/gatehouse/internal/oidcrp"
)

// TestGateway_Requests is the table of proxied requests: routing,
// authentication, policy outcomes and what the upstream sees.
func TestGateway_Requests(t *testing.T) {
	e := newTestEnv(t, nil)
	aliceApp := e.signIn(alice, "app.test")
	carolApp := e.signIn(carol, "app.test")
	aliceWild := e.signIn(alice, "a.wild.test")

	type check func(t *testing.T, r result, s seen)
	noIdentity := func(t *testing.T, r result, s seen) {
		for name := range s.Header {
			if isIdentityHeader(name) {
				t.Errorf("upstream saw identity header %s: %q", name, s.Header[name])
			}
		}
	}
	identityOf := func(user string) check {
		return func(t *testing.T, r result, s seen) {
			for _, h := range []string{HeaderForwardedUser, HeaderRemoteUser, HeaderForwardedPreferredUsername} {
				if got := s.Header[h]; len(got) != 1 || got[0] != user {
					t.Errorf("upstream %s = %q, want [%s]", h, got, user)
				}
			}
			if s.Header.Get(HeaderAssertion) == "" {
				t.Error("no signed assertion")
			}
		}
	}
	cases := []struct {
		name     string
		method   string
		url      string
		hdr      http.Header
		cookie   *http.Cookie
		status   int
		location string // prefix
		upstream bool   // the request must reach the upstream
		check    check
	}{
		{name: "anonymous browser is sent to sign in", url: e.url("app.test", "/docs?page=2"), hdr: browser,
			status: http.StatusFound, location: "/.gatehouse/start?rd=%2Fdocs%3Fpage%3D2"},
		{name: "anonymous API client gets 401", url: e.url("app.test", "/docs"), hdr: hdr("Accept", "application/json"),
			status: http.StatusUnauthorized},
		{name: "browser with an Authorization header is an API client", url: e.url("app.test", "/docs"),
			hdr: hdr("Accept", "text/html", "Authorization", "Basic eDp5"), status: http.StatusUnauthorized},
		{name: "signed-in user reaches the upstream with identity", url: e.url("app.test", "/docs"), cookie: aliceApp,
			status: http.StatusOK, upstream: true, check: identityOf("alice")},
		{name: "user outside the group is refused", url: e.url("app.test", "/admin/users"), hdr: browser, cookie: carolApp,
			status: http.StatusForbidden},
		{name: "user in the group passes", url: e.url("app.test", "/admin/users"), cookie: aliceApp,
			status: http.StatusOK, upstream: true, check: identityOf("alice")},
		{name: "public path needs nobody", url: e.url("app.test", "/public/logo.png"),
			status: http.StatusOK, upstream: true, check: noIdentity},
		{name: "spoofed identity headers never reach the upstream", url: e.url("app.test", "/public/x"),
			hdr: hdr("X-Forwarded-User", "mallory", "x-forwarded-email", "m@evil", "Remote-User", "mallory",
				"Remote-Groups", "admins", "X-Gatehouse-Assertion", "forged", "X-Forwarded-Access-Token", "t",
				"X-Auth-Request-User", "mallory"),
			status: http.StatusOK, upstream: true, check: noIdentity},
		{name: "spoofed headers of a signed-in user are replaced", url: e.url("app.test", "/docs"), cookie: aliceApp,
			hdr:    hdr("X-Forwarded-User", "mallory", "X-Forwarded-Groups", "root", "Remote-Email", "m@evil"),
			status: http.StatusOK, upstream: true, check: func(t *testing.T, r result, s seen) {
				identityOf("alice")(t, r, s)
				if got := s.Header[HeaderForwardedGroups]; len(got) != 1 || got[0] != "admins,staff" {
					t.Errorf("groups %q", got)
				}
				if got := s.Header[HeaderRemoteEmail]; len(got) != 1 || got[0] != "alice@example.com" {
					t.Errorf("email %q", got)
				}
			}},
		{name: "a traversal to a protected path is judged on the normalised path", url: e.url("app.test", "/public/%2e%2e/admin"),
			status: http.StatusUnauthorized},
		{name: "the upstream sees the normalised path", url: e.url("app.test", "/a//b/./c/%7Euser/../d"), cookie: aliceApp,
			status: http.StatusOK, upstream: true, check: func(t *testing.T, r result, s seen) {
				if s.Path != "/a/b/c/d" {
					t.Errorf("upstream path %q, want /a/b/c/d", s.Path)
				}
			}},
		{name: "an encoded slash is refused", url: e.url("app.test", "/public/..%2fadmin"), status: http.StatusBadRequest},
		{name: "a double-encoded dot is refused", url: e.url("app.test", "/public/%252e%252e/admin"), status: http.StatusBadRequest},
		{name: "step-up: second factor missing (browser)", url: e.url("app.test", "/secure/x"), hdr: browser, cookie: aliceApp,
			status: http.StatusFound, location: "/.gatehouse/start?rd=%2Fsecure%2Fx"},
		{name: "step-up: second factor missing (API)", url: e.url("app.test", "/secure/x"), cookie: aliceApp,
			status: http.StatusUnauthorized, check: func(t *testing.T, r result, s seen) {
				if !strings.Contains(r.header.Get("WWW-Authenticate"), "insufficient_user_authentication") {
					t.Errorf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
				}
			}},
		{name: "wildcard host", url: e.url("a.wild.test", "/"), cookie: aliceWild, status: http.StatusOK, upstream: true,
			check: identityOf("alice")},
		{name: "a host-only session does not work on another host", url: e.url("b.wild.test", "/"), cookie: aliceWild,
			hdr: browser, status: http.StatusFound},
		{name: "a tampered cookie is anonymous", url: e.url("app.test", "/docs"),
			cookie: &http.Cookie{Name: aliceApp.Name, Value: aliceApp.Value[:len(aliceApp.Value)-4] + "AAAA"},
			status: http.StatusUnauthorized},
		{name: "a host with rules but no route", url: e.url("fa.test", "/"), hdr: browser, status: http.StatusNotFound},
		{name: "an unknown host is misdirected", url: e.url("elsewhere.test", "/"), status: http.StatusMisdirectedRequest},
		{name: "Gatehouse's own host goes to Gatehouse", url: e.url("auth.test", "/login"), status: http.StatusOK},
		{name: "reserved path on an app host is not proxied", url: e.url("app.test", "/.gatehouse/nothing"), cookie: aliceApp,
			status: http.StatusNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.up.hits.Load()
			method := c.method
			if method == "" {
				method = http.MethodGet
			}
			var cookies []*http.Cookie
			if c.cookie != nil {
				cookies = append(cookies, c.cookie)
			}
			r := e.do(method, c.url, nil, c.hdr, cookies...)
			if r.status != c.status {
				t.Fatalf("status %d, want %d (body %.200q)", r.status, c.status, r.body)
			}
			if c.location != "" && !strings.HasPrefix(r.header.Get("Location"), c.location) {
				t.Errorf("Location %q, want prefix %q", r.header.Get("Location"), c.location)
			}
			reached := e.up.hits.Load() > before
			if reached != c.upstream {
				t.Fatalf("upstream reached = %v, want %v", reached, c.upstream)
			}
			if c.status == http.StatusUnauthorized {
				if r.body != "" || r.header.Get("Content-Length") != "0" {
					t.Errorf("401 body %q, Content-Length %q: want empty", r.body, r.header.Get("Content-Length"))
				}
				if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), `Bearer realm="gatehouse"`) {
					t.Errorf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
				}
			}
			if c.check != nil {
				var s seen
				if reached {
					_ = json.Unmarshal([]byte(r.body), &s)
				}
				c.check(t, r, s)
			}
		})
	}
}

// TestGateway_MaxSessionAge: a sign-in older than the rule's
// max_session_age must sign in again, cached session or not.
func TestGateway_MaxSessionAge(t *testing.T) {
	e := newTestEnv(t, nil)
	c := e.signIn(alice, "app.test")
	if r := e.do("GET", e.url("app.test", "/admin"), nil, browser, c); r.status != http.StatusOK {
		t.Fatalf("fresh sign-in: %d", r.status)
	}
	e.clock.advance(2 * time.Hour)
	r := e.do("GET", e.url("app.test", "/admin"), nil, browser, c)
	if r.status != http.StatusFound || !strings.HasPrefix(r.header.Get("Location"), "/.gatehouse/start?rd=%2Fadmin") {
		t.Fatalf("old sign-in: %d %q", r.status, r.header.Get("Location"))
	}
	// The start asks the IdP to authenticate again, with max_age.
	r = e.do("GET", e.url("app.test", r.header.Get("Location")), nil, browser, c)
	loc := must(t, r.header.Get("Location"))
	if r.status != http.StatusFound || loc.Query().Get("prompt") != "login" || loc.Query().Get("max_age") != "3600" {
		t.Fatalf("start: %d %s", r.status, loc)
	}
	// Other paths do not care about the age.
	if r := e.do("GET", e.url("app.test", "/docs"), nil, browser, c); r.status != http.StatusOK {
		t.Fatalf("unbounded path: %d", r.status)
	}
}

// TestGateway_CookiesStripped: Gatehouse's cookies never reach the
// upstream; the app's own cookies do.
func TestGateway_CookiesStripped(t *testing.T) {
	e := newTestEnv(t, nil)
	c := e.signIn(alice, "app.test")
	r := e.do("GET", e.url("app.test", "/docs"), nil, nil, c,
		&http.Cookie{Name: "gatehouse_session", Value: "sso"}, &http.Cookie{Name: "theme", Value: "dark"},
		&http.Cookie{Name: "gatehouse_csrf", Value: "x"}, &http.Cookie{Name: e.gw.flowPrefix + "abc", Value: "state"},
		&http.Cookie{Name: "lang", Value: "en"})
	var s seen
	_ = json.Unmarshal([]byte(r.body), &s)
	if r.status != http.StatusOK || s.Header.Get("Cookie") != "theme=dark; lang=en" {
		t.Fatalf("status %d, upstream Cookie %q", r.status, s.Header["Cookie"])
	}
	// Only Gatehouse's cookie: no Cookie header at all.
	r = e.do("GET", e.url("app.test", "/docs"), nil, nil, c)
	var s2 seen
	_ = json.Unmarshal([]byte(r.body), &s2)
	if _, ok := s2.Header["Cookie"]; ok || r.status != http.StatusOK {
		t.Fatalf("status %d, upstream got Cookie %q", r.status, s2.Header["Cookie"])
	}
}

// TestGateway_ForwardedHeaders: X-Forwarded-* from an untrusted peer are
// replaced, from a trusted proxy extended.
func TestGateway_ForwardedHeaders(t *testing.T) {
	spoof := hdr("X-Forwarded-For", "203.0.113.9", "X-Forwarded-Host", "evil.test", "X-Forwarded-Proto", "https", "X-Real-Ip", "203.0.113.9")
	t.Run("untrusted peer", func(t *testing.T) {
		e := newTestEnv(t, func(g *config.Gateway) { g.TrustedProxies = []string{"10.0.0.0/8"} })
		r := e.do("GET", e.url("app.test", "/public/x"), nil, spoof)
		var s seen
		_ = json.Unmarshal([]byte(r.body), &s)
		if got := s.Header["X-Forwarded-For"]; len(got) != 1 || got[0] != "127.0.0.1" {
			t.Errorf("X-Forwarded-For %q", got)
		}
		if got := s.Header.Get("X-Forwarded-Host"); got != "app.test:"+e.port {
			t.Errorf("X-Forwarded-Host %q", got)
		}
		if got := s.Header.Get("X-Forwarded-Proto"); got != "http" {
			t.Errorf("X-Forwarded-Proto %q", got)
		}
		if got := s.Header.Get("X-Real-Ip"); got != "" {
			t.Errorf("X-Real-Ip %q survived", got)
		}
	})
	t.Run("trusted proxy", func(t *testing.T) {
		e := newTestEnv(t, nil) // loopback is trusted by default
		r := e.do("GET", e.url("app.test", "/public/x"), nil, spoof)
		var s seen
		_ = json.Unmarshal([]byte(r.body), &s)
		if got := s.Header.Get("X-Forwarded-For"); got != "203.0.113.9, 127.0.0.1" {
			t.Errorf("X-Forwarded-For %q", got)
		}
		if got := s.Header.Get("X-Forwarded-Host"); got != "evil.test" {
			t.Errorf("X-Forwarded-Host %q", got)
		}
	})
}

// TestGateway_StoreFailure: a store failure answers 503 and is not
// cached; a session validated before keeps working from the cache
// without store I/O.
func TestGateway_StoreFailure(t *testing.T) {
	e := newTestEnv(t, nil)
	cached := e.signIn(alice, "app.test")
	fresh := e.signIn(carol, "app.test")
	if r := e.do("GET", e.url("app.test", "/docs"), nil, nil, cached); r.status != http.StatusOK {
		t.Fatal(r.status)
	}
	e.store.broken.Store(true)
	gets := e.store.gets.Load()
	if r := e.do("GET", e.url("app.test", "/docs"), nil, nil, cached); r.status != http.StatusOK {
		t.Fatalf("cached session during the outage: %d", r.status)
	}
	if n := e.store.gets.Load() - gets; n != 0 {
		t.Fatalf("cached session did %d store reads", n)
	}
	r := e.do("GET", e.url("app.test", "/docs"), nil, browser, fresh)
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("uncached session during the outage: %d", r.status)
	}
	// Public paths stay available.
	if r := e.do("GET", e.url("app.test", "/public/x"), nil, nil, fresh); r.status != http.StatusOK {
		t.Fatalf("public path during the outage: %d", r.status)
	}
	e.store.broken.Store(false)
	if r := e.do("GET", e.url("app.test", "/docs"), nil, nil, fresh); r.status != http.StatusOK {
		t.Fatalf("after the outage: %d (the failure was cached?)", r.status)
	}
}

// TestGateway_LogoutEvictsAtOnce: ending a session on this node takes
// effect on the next request, though the session was cached.
func TestGateway_LogoutEvictsAtOnce(t *testing.T) {
	e := newTestEnv(t, nil)
	t.Run("app logout", func(t *testing.T) {
		c := e.signIn(alice, "app.test")
		if r := e.do("GET", e.url("app.test", "/docs"), nil, browser, c); r.status != http.StatusOK {
			t.Fatal(r.status)
		}
		r := e.do("GET", e.url("app.test", "/.gatehouse/logout"), nil, browser, c)
		loc := must(t, r.header.Get("Location"))
		if r.status != http.StatusFound || loc.Path != "/end_session" || loc.Query().Get("client_id") != ClientID ||
			loc.Query().Get("post_logout_redirect_uri") != e.url("app.test", "/.gatehouse/signed-out") {
			t.Fatalf("logout: %d %s", r.status, loc)
		}
		if r := e.do("GET", e.url("app.test", "/docs"), nil, browser, c); r.status != http.StatusFound {
			t.Fatalf("after logout: %d", r.status)
		}
	})
	t.Run("SSO session ended", func(t *testing.T) {
		c := e.signIn(carol, "app.test")
		other := e.signIn(carol, "a.wild.test")
		for _, x := range []struct {
			host string
			c    *http.Cookie
		}{{"app.test", c}, {"a.wild.test", other}} {
			if r := e.do("GET", e.url(x.host, "/docs"), nil, browser, x.c); r.status != http.StatusOK {
				t.Fatal(r.status)
			}
		}
		e.gw.EndSSO(t.Context(), "sid-"+carol.ID)
		for _, x := range []struct {
			host string
			c    *http.Cookie
		}{{"app.test", c}, {"a.wild.test", other}} {
			if r := e.do("GET", e.url(x.host, "/docs"), nil, browser, x.c); r.status != http.StatusFound {
				t.Fatalf("%s after the SSO session ended: %d", x.host, r.status)
			}
		}
	})
	t.Run("disabled user", func(t *testing.T) {
		c := e.signIn(alice, "app.test")
		e.users.mu.Lock()
		a := alice
		a.Disabled = true
		e.users.m[alice.ID] = a
		e.users.mu.Unlock()
		t.Cleanup(func() {
			e.users.mu.Lock()
			e.users.m[alice.ID] = alice
			e.users.mu.Unlock()
		})
		if r := e.do("GET", e.url("app.test", "/docs"), nil, browser, c); r.status != http.StatusFound {
			t.Fatalf("disabled user: %d", r.status)
		}
	})
}

// TestGateway_CacheExpiry: after session_cache_ttl the store is asked
// again, so a session deleted on another replica ends within that bound.
func TestGateway_CacheExpiry(t *testing.T) {
	e := newTestEnv(t, nil)
	c := e.signIn(alice, "app.test")
	if r := e.do("GET", e.url("app.test", "/docs"), nil, nil, c); r.status != http.StatusOK {
		t.Fatal(r.status)
	}
	// Another replica deletes the record; this node does not know.
	id, _ := e.gw.decodeCookie(c.Value)
	if err := e.store.Delete(t.Context(), hashKey(keySession, id)); err != nil {
		t.Fatal(err)
	}
	if r := e.do("GET", e.url("app.test", "/docs"), nil, nil, c); r.status != http.StatusOK {
		t.Fatalf("within the cache period: %d", r.status)
	}
	e.clock.advance(11 * time.Second)
	if r := e.do("GET", e.url("app.test", "/docs"), nil, nil, c); r.status != http.StatusUnauthorized {
		t.Fatalf("after the cache period: %d", r.status)
	}
}

// TestGateway_ReturnURL is the open-redirect table of the sign-in start.
func TestGateway_ReturnURL(t *testing.T) {
	e := newTestEnv(t, nil)
	self := "http://app.test:" + e.port
	good := map[string]string{
		"":                              "/",
		"/":                             "/",
		"/docs?page=2&x=y":              "/docs?page=2&x=y",
		self + "/admin?q=1":             "/admin?q=1",
		"http://APP.test:" + e.port:     "/",
		"/%0d%0aSet-Cookie:x":           "/%0d%0aSet-Cookie:x",
		"/a/../b":                       "/a/../b",
		self + "/x#fragment":            "/x",
		"/search?q=http://evil.example": "/search?q=http://evil.example",
	}
	bad := []string{
		"//evil.example/",
		"///evil.example/",
		"/\\evil.example/",
		"\\\\evil.example",
		"https://evil.example/",
		"http://evil.example/",
		"http://app.test.evil.example:" + e.port + "/",
		"http://app.test:" + e.port + "@evil.example/",
		"http://evil.example\\@app.test:" + e.port + "/",
		"http://evil.example#@app.test:" + e.port + "/",
		"https://app.test:" + e.port + "/",
		"http://app.test:1/",
		"http://app.test/",
		"http://api.test:" + e.port + "/",
		"javascript:alert(1)",
		"data:text/html,<script>alert(1)</script>",
		"http:evil.example",
		"http:/evil.example",
		"\t//evil.example",
		"/\t/evil.example",
		"/x\r\nLocation: http://evil.example",
		"evil.example",
		"./x",
		"/" + strings.Repeat("a", maxReturnLen),
	}
	for raw, want := range good {
		got, ok := e.gw.returnTo(raw, "app.test")
		if !ok || got != want {
			t.Errorf("returnTo(%q) = %q, %v; want %q", raw, got, ok, want)
		}
	}
	for _, raw := range bad {
		if got, ok := e.gw.returnTo(raw, "app.test"); ok {
			t.Errorf("returnTo(%q) = %q, accepted", raw, got)
		}
		r := e.do("GET", e.url("app.test", "/.gatehouse/start?rd="+url.QueryEscape(raw)), nil, browser)
		if r.status != http.StatusBadRequest || r.header.Get("Location") != "" || len(r.header["Set-Cookie"]) != 0 {
			t.Errorf("start with rd=%q: %d Location %q", raw, r.status, r.header.Get("Location"))
		}
	}
	// A good one goes to the IdP with PKCE, state and nonce, and binds the
	// state to the browser.
	r := e.do("GET", e.url("app.test", "/.gatehouse/start?rd=%2Fdocs"), nil, browser)
	loc := must(t, r.header.Get("Location"))
	q := loc.Query()
	if r.status != http.StatusFound || loc.Path != "/authorize" || q.Get("code_challenge_method") != "S256" ||
		q.Get("state") == "" || q.Get("nonce") == "" || q.Get("redirect_uri") != self+"/.gatehouse/callback" ||
		q.Get("client_id") != ClientID {
		t.Fatalf("start: %d %s", r.status, loc)
	}
	if cs := r.header["Set-Cookie"]; len(cs) != 1 || !strings.HasPrefix(cs[0], e.gw.rp.BindingCookie(q.Get("state"))+"=") {
		t.Fatalf("binding cookie: %q", cs)
	}
	// A wildcard host signs in through Gatehouse's own callback.
	r = e.do("GET", e.url("x.wild.test", "/.gatehouse/start"), nil, browser)
	if q := must(t, r.header.Get("Location")).Query(); q.Get("redirect_uri") != "http://auth.test:"+e.port+"/.gatehouse/callback" {
		t.Fatalf("wildcard start: redirect_uri %q", q.Get("redirect_uri"))
	}
}

// TestGateway_CallbackRefusals: a callback needs a live state, bound to
// the browser that started the sign-in.
func TestGateway_CallbackRefusals(t *testing.T) {
	e := newTestEnv(t, nil)
	start := e.do("GET", e.url("app.test", "/.gatehouse/start?rd=%2F"), nil, browser)
	state := must(t, start.header.Get("Location")).Query().Get("state")
	for _, c := range []struct {
		name, query string
		cookie      bool
	}{
		{"no state", "code=x", true},
		{"unknown state", "code=x&state=forged", true},
		{"state of another browser", "code=x&state=" + url.QueryEscape(state), false},
		{"replayed state", "code=x&state=" + url.QueryEscape(state), true},
	} {
		var cookies []*http.Cookie
		if c.cookie {
			cookies = append(cookies, &http.Cookie{Name: e.gw.rp.BindingCookie(state), Value: state})
		}
		r := e.do("GET", e.url("app.test", "/.gatehouse/callback?"+c.query), nil, browser, cookies...)
		if r.status != http.StatusBadRequest || len(r.header.Values("Set-Cookie")) > 1 {
			t.Errorf("%s: %d %q", c.name, r.status, r.header.Values("Set-Cookie"))
		}
		for _, sc := range r.header.Values("Set-Cookie") {
			if strings.HasPrefix(sc, e.gw.cookieName+"=") {
				t.Errorf("%s: app cookie set", c.name)
			}
		}
	}
}

// TestGateway_CookieDomain: with a parent-domain cookie one sign-in
// serves every host under the domain, and no other.
func TestGateway_CookieDomain(t *testing.T) {
	e := newTestEnv(t, func(g *config.Gateway) { g.CookieDomain = ".Wild.test" })
	if e.gw.cookieName != "gatehouse_app" || e.gw.cookieDomain != "wild.test" {
		t.Fatalf("cookie %q domain %q", e.gw.cookieName, e.gw.cookieDomain)
	}
	c := e.signIn(alice, "")
	if c.Domain != "wild.test" {
		t.Fatalf("cookie domain %q", c.Domain)
	}
	for _, host := range []string{"a.wild.test", "b.c.wild.test"} {
		if r := e.do("GET", e.url(host, "/"), nil, nil, c); r.status != http.StatusOK {
			t.Errorf("%s: %d", host, r.status)
		}
	}
	if r := e.do("GET", e.url("app.test", "/docs"), nil, nil, c); r.status != http.StatusUnauthorized {
		t.Errorf("outside the domain: %d", r.status)
	}
}

// TestAppExpiry: an app session ends with the SSO session's absolute
// timeout, counted from the sign-in, however late the app was opened.
func TestAppExpiry(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	ttl := 12 * time.Hour
	for _, c := range []struct {
		name     string
		authTime time.Time
		want     time.Time
	}{
		{"signed in just now", now, now.Add(ttl)},
		{"signed in 11 hours ago", now.Add(-11 * time.Hour), now.Add(time.Hour)},
		{"auth_time in the future (clock skew)", now.Add(time.Minute), now.Add(ttl)},
		{"no auth_time", time.Time{}, now.Add(ttl)},
	} {
		if got := appExpiry(now, c.authTime, ttl); !got.Equal(c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestGateway_StartWritesNothing: starting a sign-in stores nothing (the
// state is sealed into the redirect), even with the longest return URL,
// and the state round-trips through the callback's checks.
func TestGateway_StartWritesNothing(t *testing.T) {
	e := newTestEnv(t, nil)
	puts := e.store.puts.Load()
	long := "/" + strings.Repeat("a", maxReturnLen-1)
	for _, rd := range []string{"/docs?x=1", long} {
		r := e.do("GET", e.url("app.test", "/.gatehouse/start?rd="+url.QueryEscape(rd)), nil, browser)
		loc := must(t, r.header.Get("Location"))
		state := loc.Query().Get("state")
		if r.status != http.StatusFound || state == "" || len(state) > maxStateLen || len(loc.String()) > 8000 {
			t.Fatalf("rd of %d bytes: %d, state of %d bytes, authorize URL of %d", len(rd), r.status, len(state), len(loc.String()))
		}
		var f flow
		fl, err := e.gw.rp.Decode(state)
		if err == nil {
			err = fl.App(&f)
		}
		if err != nil || f.RD != rd || f.Host != "app.test" {
			t.Fatalf("state does not decode to the flow: %v %+v", err, f)
		}
		var bound bool
		for _, c := range r.header.Values("Set-Cookie") {
			bound = bound || strings.HasPrefix(c, e.gw.rp.BindingCookie(state)+"="+oidcrp.Digest(state)+";")
		}
		if !bound {
			t.Fatalf("no binding cookie: %q", r.header.Values("Set-Cookie"))
		}
	}
	if n := e.store.puts.Load() - puts; n != 0 {
		t.Fatalf("starting sign-ins wrote %d times to the store", n)
	}
	// A state sealed with other keys, or tampered with, does not decode.
	other, err := oidcrp.New(oidcrp.Config{
		Issuer: e.gw.issuer, ClientID: ClientID, Endpoints: oidcrp.Endpoints{AuthURL: "http://x/a", TokenURL: "http://x/t"},
		KeySet: keySet{e.gw.o.Keys}, Secrets: [][]byte{bytes.Repeat([]byte{7}, 32)}, Label: "gatehouse gateway flow state",
		CookiePrefix: e.gw.flowPrefix,
	})
	if err != nil {
		t.Fatal(err)
	}
	loc, err := other.Start(httptest.NewRecorder(), e.url("app.test", "/.gatehouse/callback"), flow{Host: "app.test", RD: "/"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	forged := must(t, loc).Query().Get("state")
	r := e.do("GET", e.url("app.test", "/.gatehouse/callback?code=x&state="+url.QueryEscape(forged)), nil, browser,
		&http.Cookie{Name: e.gw.rp.BindingCookie(forged), Value: oidcrp.Digest(forged)})
	if r.status != http.StatusBadRequest {
		t.Fatalf("forged state: %d", r.status)
	}
}
