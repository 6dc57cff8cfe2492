package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/config"
	"github.com/gatehouse-sso/gatehouse/demo"
	"github.com/gatehouse-sso/gatehouse/identity"
	"github.com/gatehouse-sso/gatehouse/store"
	"github.com/gatehouse-sso/gatehouse/store/memory"
)

// testParams keeps argon2id cheap under -race; production defaults are
// covered by the identity package's benchmark.
var testParams = identity.Params{MemoryKiB: 8 * 1024, Iterations: 1, Parallelism: 1}

const (
	alicePassword = "alice-correct-horse"
	bobPassword   = "bob-battery-staple"
)

type env struct {
	t      *testing.T
	srv    *httptest.Server
	app    *app
	store  store.Store
	client *http.Client
}

func hashFor(t *testing.T, password string) config.Secret {
	t.Helper()
	h, err := identity.NewHasher(testParams, 2).Hash(context.Background(), password)
	if err != nil {
		t.Fatal(err)
	}
	return config.Secret(h)
}

// newEnv starts Gatehouse on an httptest TLS server in front of the demo
// upstream, with alice (enabled) and bob (disabled) as config users.
func newEnv(t *testing.T, mutate func(*config.Config)) *env {
	t.Helper()
	upstream := httptest.NewServer(demo.Whoami())
	t.Cleanup(upstream.Close)
	upstreamURL, _ := url.Parse(upstream.URL)

	srv := httptest.NewUnstartedServer(nil)
	srv.StartTLS()
	t.Cleanup(srv.Close)

	cfg := config.Default()
	cfg.Server.PublicURL = srv.URL
	cfg.Store.Backend = config.StoreMemory
	cfg.Password.MemoryKiB = testParams.MemoryKiB
	cfg.Users = []config.User{
		{ID: "u-alice", Username: "alice", Email: "alice@example.com", Name: "Alice Liddell",
			Groups: []string{"admins", "staff"}, PasswordHash: hashFor(t, alicePassword)},
		{ID: "u-bob", Username: "bob", Email: "bob@example.com", Disabled: true, PasswordHash: hashFor(t, bobPassword)},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config invalid: %v", err)
	}
	st := memory.New()
	t.Cleanup(func() { _ = st.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := newApp(context.Background(), cfg, st, log, upstreamURL)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = a.handler
	e := &env{t: t, srv: srv, app: a, store: st}
	e.client = e.newClient()
	return e
}

// newClient is a new browser: its own cookie jar, no automatic redirects,
// trusting the test server's certificate.
func (e *env) newClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Transport:     e.srv.Client().Transport,
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

type resp struct {
	status int
	header http.Header
	body   string
}

func (e *env) do(c *http.Client, method, path string, form url.Values, hdr map[string]string) resp {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	res, err := c.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, string(b)}
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// formToken loads a page and returns its CSRF token.
func (e *env) formToken(c *http.Client, path string) string {
	e.t.Helper()
	r := e.do(c, "GET", path, nil, nil)
	m := csrfRE.FindStringSubmatch(r.body)
	if r.status != http.StatusOK || m == nil {
		e.t.Fatalf("GET %s: status %d, no csrf token in %q", path, r.status, r.body)
	}
	return m[1]
}

func (e *env) login(c *http.Client, user, password, rd string) resp {
	e.t.Helper()
	tok := e.formToken(c, "/login")
	return e.do(c, "POST", "/login", url.Values{"csrf_token": {tok}, "username": {user}, "password": {password}, "rd": {rd}}, nil)
}

func (e *env) sessionCookie(c *http.Client) *http.Cookie {
	u, _ := url.Parse(e.srv.URL)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == e.app.sessions.CookieName() {
			return ck
		}
	}
	return nil
}

func TestLoginSessionLogout(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client

	// Signed out: the protected app sends the browser to sign in and keeps
	// the URL it asked for.
	r := e.do(c, "GET", "/demo/page?x=1", nil, nil)
	if r.status != http.StatusFound || r.header.Get("Location") != "/login?rd=%2Fdemo%2Fpage%3Fx%3D1" {
		t.Fatalf("anonymous /demo/: %d %q", r.status, r.header.Get("Location"))
	}

	page := e.do(c, "GET", "/login?rd=%2Fdemo%2Fpage%3Fx%3D1", nil, nil)
	for _, want := range []string{`autocomplete="username"`, `autocomplete="current-password"`, `name="rd" value="/demo/page?x=1"`, `name="csrf_token"`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("login page lacks %s", want)
		}
	}
	if page.header.Get("Content-Security-Policy") == "" || page.header.Get("X-Frame-Options") != "DENY" || page.header.Get("Cache-Control") != "no-store" {
		t.Errorf("login page security headers: %v", page.header)
	}

	r = e.login(c, "alice", alicePassword, "/demo/page?x=1")
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/demo/page?x=1" {
		t.Fatalf("login: %d %q %s", r.status, r.header.Get("Location"), r.body)
	}
	ck := e.sessionCookie(c)
	if ck == nil || ck.Name != "__Host-gatehouse_session" {
		t.Fatalf("no __Host- session cookie after login")
	}

	// Signed in: the upstream sees alice, not what the client claimed.
	r = e.do(c, "GET", "/demo/page?x=1", nil, map[string]string{
		"X-Forwarded-User": "mallory", "Remote-User": "mallory", "X_Forwarded_Email": "mallory@evil.example",
		"Remote-Groups": "admins",
	})
	if r.status != http.StatusOK {
		t.Fatalf("signed-in /demo/: %d", r.status)
	}
	for _, want := range []string{"Hello, alice", "alice@example.com", "admins,staff", "Alice Liddell"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("demo page lacks %q", want)
		}
	}
	if strings.Contains(r.body, "mallory") {
		t.Fatalf("spoofed identity header reached the upstream:\n%s", r.body)
	}
	home := e.do(c, "GET", "/", nil, nil)
	if home.status != http.StatusOK || !strings.Contains(home.body, "alice@example.com") {
		t.Fatalf("home: %d", home.status)
	}
	// Already signed in: the login page forwards to the target.
	if r := e.do(c, "GET", "/login?rd=%2Fdemo%2F", nil, nil); r.status != http.StatusSeeOther || r.header.Get("Location") != "/demo/" {
		t.Fatalf("login while signed in: %d %q", r.status, r.header.Get("Location"))
	}

	// Logout: a confirmation page, then a CSRF-protected POST.
	tok := e.formToken(c, "/logout")
	r = e.do(c, "POST", "/logout", url.Values{"csrf_token": {tok}}, nil)
	if r.status != http.StatusOK || !strings.Contains(r.body, "signed out") {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	if e.sessionCookie(c) != nil {
		t.Fatal("session cookie not cleared by logout")
	}
	if r := e.do(c, "GET", "/demo/", nil, nil); r.status != http.StatusFound {
		t.Fatalf("after logout /demo/: %d", r.status)
	}
	// Replaying the old cookie does not bring the session back.
	thief := e.newClient()
	u, _ := url.Parse(e.srv.URL)
	thief.Jar.SetCookies(u, []*http.Cookie{{Name: ck.Name, Value: ck.Value, Path: "/"}})
	if r := e.do(thief, "GET", "/demo/", nil, nil); r.status != http.StatusFound {
		t.Fatalf("replayed cookie after logout: %d", r.status)
	}
}

func TestLogin_FailuresLookAlike(t *testing.T) {
	e := newEnv(t, nil)
	cases := []struct{ name, user, password string }{
		{"wrong password", "alice", "not-her-password"},
		{"unknown user", "nobody", "whatever-password"},
		{"disabled user with right password", "bob", bobPassword},
		{"right password, e-mail as login, wrong case of password", "ALICE@example.com", strings.ToUpper(alicePassword)},
		{"empty password", "alice", ""},
		{"empty username", "", alicePassword},
		{"oversized username", strings.Repeat("a", 300), alicePassword},
		{"oversized password", "alice", strings.Repeat("p", 2000)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := e.newClient()
			r := e.login(c, tc.user, tc.password, "")
			if r.status != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", r.status)
			}
			if !strings.Contains(r.body, "Incorrect username or password.") {
				t.Fatalf("generic message missing: %s", r.body)
			}
			for _, leak := range []string{"disabled", "not found", "unknown", "exist"} {
				if strings.Contains(strings.ToLower(r.body), leak) {
					t.Fatalf("page reveals %q", leak)
				}
			}
			if e.sessionCookie(c) != nil {
				t.Fatal("a session cookie was set on a failed login")
			}
		})
	}
	// Login by e-mail, case-insensitively, works.
	c := e.newClient()
	if r := e.login(c, "ALICE@Example.com", alicePassword, ""); r.status != http.StatusSeeOther {
		t.Fatalf("login by e-mail: %d", r.status)
	}
}

func TestLogin_CSRF(t *testing.T) {
	e := newEnv(t, nil)
	creds := url.Values{"username": {"alice"}, "password": {alicePassword}}
	with := func(extra url.Values) url.Values {
		v := url.Values{}
		for k, vs := range creds {
			v[k] = vs
		}
		for k, vs := range extra {
			v[k] = vs
		}
		return v
	}
	other := e.newClient()
	otherTok := e.formToken(other, "/login")

	cases := []struct {
		name  string
		setup func(c *http.Client) url.Values
		hdr   map[string]string
	}{
		{"no token, no cookie", func(c *http.Client) url.Values { return with(nil) }, nil},
		{"cookie but no token", func(c *http.Client) url.Values { e.formToken(c, "/login"); return with(nil) }, nil},
		{"token but no cookie", func(c *http.Client) url.Values { return with(url.Values{"csrf_token": {otherTok}}) }, nil},
		{"another browser's token", func(c *http.Client) url.Values {
			e.formToken(c, "/login")
			return with(url.Values{"csrf_token": {otherTok}})
		}, nil},
		{"forged token", func(c *http.Client) url.Values {
			e.formToken(c, "/login")
			return with(url.Values{"csrf_token": {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}})
		}, nil},
		{"valid token from a cross-site form", func(c *http.Client) url.Values {
			return with(url.Values{"csrf_token": {e.formToken(c, "/login")}})
		}, map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"valid token, foreign Origin", func(c *http.Client) url.Values {
			return with(url.Values{"csrf_token": {e.formToken(c, "/login")}})
		}, map[string]string{"Origin": "https://evil.example"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := e.newClient()
			r := e.do(c, "POST", "/login", tc.setup(c), tc.hdr)
			if r.status != http.StatusForbidden || !strings.Contains(r.body, "expired or did not come from this site") {
				t.Fatalf("status %d, body %s", r.status, r.body)
			}
			if e.sessionCookie(c) != nil {
				t.Fatal("session created despite CSRF failure")
			}
		})
	}
	t.Run("logout needs the token too", func(t *testing.T) {
		c := e.newClient()
		if r := e.login(c, "alice", alicePassword, ""); r.status != http.StatusSeeOther {
			t.Fatalf("login: %d", r.status)
		}
		if r := e.do(c, "POST", "/logout", url.Values{}, nil); r.status != http.StatusForbidden {
			t.Fatalf("logout without token: %d", r.status)
		}
		if e.sessionCookie(c) == nil {
			t.Fatal("session ended by a forged logout")
		}
		if r := e.do(c, "GET", "/demo/", nil, nil); r.status != http.StatusOK {
			t.Fatalf("session no longer works after a refused logout: %d", r.status)
		}
	})
}

func TestLogin_OpenRedirect(t *testing.T) {
	e := newEnv(t, func(c *config.Config) {
		c.Login.AllowedReturnURLs = []string{"https://app.example.com/portal"}
	})
	host := strings.TrimPrefix(e.srv.URL, "https://")
	crafted := []string{
		"https://evil.example/",
		"//evil.example",
		"///evil.example",
		"/\\evil.example",
		"\\\\evil.example",
		"/\t/evil.example",
		"https:evil.example",
		"javascript:alert(document.cookie)",
		"data:text/html,<script>alert(1)</script>",
		"https://" + host + "@evil.example/",
		"https://" + host + ".evil.example/",
		"https://app.example.com/portalx",
		"https://app.example.com/portal/../admin",
		"http://" + host + "/",
		" //evil.example",
		"https://evil.example\\@" + host,
	}
	for _, rd := range crafted {
		t.Run(rd, func(t *testing.T) {
			c := e.newClient()
			page := e.do(c, "GET", "/login?rd="+url.QueryEscape(rd), nil, nil)
			if strings.Contains(page.body, "evil.example") {
				t.Fatalf("login page carries the crafted target")
			}
			r := e.login(c, "alice", alicePassword, rd)
			if r.status != http.StatusSeeOther || r.header.Get("Location") != "/demo/" {
				t.Fatalf("login with rd=%q redirected to %q (status %d), want the default /demo/", rd, r.header.Get("Location"), r.status)
			}
			tok := e.formToken(c, "/logout")
			r = e.do(c, "POST", "/logout", url.Values{"csrf_token": {tok}, "rd": {rd}}, nil)
			if loc := r.header.Get("Location"); strings.Contains(loc, "evil") || strings.HasPrefix(loc, "//") {
				t.Fatalf("logout with rd=%q redirected to %q", rd, loc)
			}
		})
	}
	t.Run("registered URL is honoured", func(t *testing.T) {
		c := e.newClient()
		r := e.login(c, "alice", alicePassword, "https://app.example.com/portal/x?y=1")
		if r.header.Get("Location") != "https://app.example.com/portal/x?y=1" {
			t.Fatalf("registered target refused: %q", r.header.Get("Location"))
		}
	})
}

func TestLogin_BadRequests(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.Server.MaxBodyBytes = 4096 })
	c := e.newClient()
	tok := e.formToken(c, "/login")
	cases := []struct {
		name   string
		method string
		path   string
		body   string
		ctype  string
		status int
	}{
		{"oversized body", "POST", "/login", "csrf_token=" + tok + "&username=alice&password=" + strings.Repeat("x", 8192), "application/x-www-form-urlencoded", http.StatusRequestEntityTooLarge},
		{"json body", "POST", "/login", `{"username":"alice"}`, "application/json", http.StatusUnsupportedMediaType},
		{"multipart body", "POST", "/login", "--x--", "multipart/form-data; boundary=x", http.StatusUnsupportedMediaType},
		{"no content type", "POST", "/login", "username=alice", "", http.StatusUnsupportedMediaType},
		{"malformed form encoding", "POST", "/login", "csrf_token=%zz&username=alice", "application/x-www-form-urlencoded", http.StatusBadRequest},
		{"logout oversized", "POST", "/logout", strings.Repeat("a=b&", 2000), "application/x-www-form-urlencoded", http.StatusRequestEntityTooLarge},
		{"PUT login", "PUT", "/login", "", "", http.StatusMethodNotAllowed},
		{"DELETE logout", "DELETE", "/logout", "", "", http.StatusMethodNotAllowed},
		{"unknown path", "GET", "/nope", "", "", http.StatusNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, e.srv.URL+tc.path, strings.NewReader(tc.body))
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			res, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tc.status, b)
			}
			for _, leak := range []string{"panic", ".go:", "EOF"} {
				if strings.Contains(string(b), leak) {
					t.Fatalf("error body leaks %q: %s", leak, b)
				}
			}
			if e.sessionCookie(c) != nil {
				t.Fatal("session created by a bad request")
			}
		})
	}
}

func TestSession_IdleExpiry(t *testing.T) {
	e := newEnv(t, func(c *config.Config) {
		c.Session.IdleTimeout = config.Duration(time.Second)
		c.Session.AbsoluteTimeout = config.Duration(time.Hour)
	})
	c := e.client
	if r := e.login(c, "alice", alicePassword, "/demo/"); r.status != http.StatusSeeOther {
		t.Fatalf("login: %d", r.status)
	}
	if r := e.do(c, "GET", "/demo/", nil, nil); r.status != http.StatusOK {
		t.Fatalf("fresh session: %d", r.status)
	}
	time.Sleep(1500 * time.Millisecond)
	if r := e.do(c, "GET", "/demo/", nil, nil); r.status != http.StatusFound {
		t.Fatalf("idle session still accepted: %d", r.status)
	}
}

func TestSession_AbsoluteExpiry(t *testing.T) {
	e := newEnv(t, func(c *config.Config) {
		c.Session.IdleTimeout = config.Duration(time.Second)
		c.Session.AbsoluteTimeout = config.Duration(1500 * time.Millisecond)
	})
	c := e.client
	if r := e.login(c, "alice", alicePassword, "/demo/"); r.status != http.StatusSeeOther {
		t.Fatalf("login: %d", r.status)
	}
	// Keep the session busy; it must still end at the absolute timeout.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if r := e.do(c, "GET", "/demo/", nil, nil); r.status == http.StatusFound {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("busy session outlived its absolute timeout")
}

func TestNonBrowserGets401(t *testing.T) {
	e := newEnv(t, nil)
	for _, hdr := range []map[string]string{
		{"Accept": "application/json"},
		{"Accept": "", "User-Agent": "curl/8"},
		{"Accept": "text/html", "Authorization": "Bearer abc"},
	} {
		r := e.do(e.newClient(), "GET", "/demo/", nil, hdr)
		if r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%v: status %d, WWW-Authenticate %q", hdr, r.status, r.header.Get("WWW-Authenticate"))
		}
	}
}

func TestTamperedCookieIsSignedOut(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client
	e.login(c, "alice", alicePassword, "")
	ck := e.sessionCookie(c)
	u, _ := url.Parse(e.srv.URL)
	b := []byte(ck.Value)
	b[10] ^= 1
	c.Jar.SetCookies(u, []*http.Cookie{{Name: ck.Name, Value: string(b), Path: "/"}})
	if r := e.do(c, "GET", "/demo/", nil, nil); r.status != http.StatusFound {
		t.Fatalf("tampered cookie: %d", r.status)
	}
}

// flakyStore fails reads and pings once broken is set.
type flakyStore struct {
	store.Store
	broken atomic.Bool
}

func (f *flakyStore) Get(ctx context.Context, key string) ([]byte, error) {
	if f.broken.Load() {
		return nil, io.ErrUnexpectedEOF
	}
	return f.Store.Get(ctx, key)
}

func (f *flakyStore) Ping(ctx context.Context) error {
	if f.broken.Load() {
		return io.ErrUnexpectedEOF
	}
	return f.Store.Ping(ctx)
}

func TestStoreFailureFailsClosed(t *testing.T) {
	e := newEnv(t, nil)
	flaky := &flakyStore{Store: e.store}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	upstream := httptest.NewServer(demo.Whoami())
	defer upstream.Close()
	uu, _ := url.Parse(upstream.URL)
	a, err := newApp(context.Background(), e.app.cfg, flaky, log, uu)
	if err != nil {
		t.Fatal(err)
	}
	e.srv.Config.Handler = a.handler
	e.app = a
	c := e.client
	if r := e.login(c, "alice", alicePassword, "/demo/"); r.status != http.StatusSeeOther {
		t.Fatalf("login: %d", r.status)
	}
	// The store starts failing: the gateway must answer 503, never let the
	// request through and never pretend the user is signed out.
	flaky.broken.Store(true)
	for _, path := range []string{"/demo/", "/", "/login"} {
		if r := e.do(c, "GET", path, nil, nil); r.status != http.StatusServiceUnavailable {
			t.Errorf("GET %s with a failing store: %d, want 503", path, r.status)
		}
	}
	if r := e.do(c, "GET", "/readyz", nil, nil); r.status != http.StatusServiceUnavailable {
		t.Errorf("/readyz with a failing store: %d", r.status)
	}
	if r := e.do(c, "GET", "/healthz", nil, nil); r.status != http.StatusOK {
		t.Errorf("/healthz: %d", r.status)
	}
}

func TestHealth(t *testing.T) {
	e := newEnv(t, nil)
	for _, p := range []string{"/healthz", "/readyz"} {
		if r := e.do(e.client, "GET", p, nil, nil); r.status != http.StatusOK || strings.TrimSpace(r.body) != "ok" {
			t.Errorf("%s: %d %q", p, r.status, r.body)
		}
	}
}

func TestLogin_ForceShowsFormWhenSignedIn(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client
	e.login(c, "alice", alicePassword, "")
	first := e.sessionCookie(c).Value
	r := e.do(c, "GET", "/login?force=1&rd=%2Fdemo%2F", nil, nil)
	if r.status != http.StatusOK || !strings.Contains(r.body, `autocomplete="current-password"`) {
		t.Fatalf("force=1 while signed in: %d", r.status)
	}
	tok := csrfRE.FindStringSubmatch(r.body)[1]
	r = e.do(c, "POST", "/login", url.Values{"csrf_token": {tok}, "username": {"alice"}, "password": {alicePassword}, "rd": {"/demo/"}}, nil)
	if r.status != http.StatusSeeOther {
		t.Fatalf("re-authentication: %d", r.status)
	}
	if e.sessionCookie(c).Value == first {
		t.Fatal("re-authentication kept the old session id")
	}
}
