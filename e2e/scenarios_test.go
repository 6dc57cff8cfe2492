package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// The example users of examples/forward-auth.yaml.
type user struct {
	id, name, password, email, fullName, groups string
}

var (
	alice = user{"u-alice-7f3c", "alice", "demo-password-alice", "alice@example.com", "Alice Example", "admins,engineering"}
	bob   = user{"u-bob-2a91", "bob", "demo-password-bob", "bob@example.com", "Bob Example", "engineering"}
)

// stack is a running proxy in front of Gatehouse and the upstream app,
// as examples/forward-auth.yaml lays them out: the app at localhost and
// Gatehouse's own pages at 127.0.0.1, both on the proxy's port.
type stack struct {
	app   string // the app's origin, http://localhost:PORT
	auth  string // Gatehouse's origin (public_url), http://127.0.0.1:PORT
	proxy string // the proxy's listen address
	up    *upstream
	relay *connCounter // between the proxy and Gatehouse
	// internalAuth is true when the proxy hides /.gatehouse/auth from
	// clients (nginx's internal location).
	internalAuth bool
}

func (s *stack) browser(t *testing.T) *browser { return newBrowser(t, s.proxy) }

// newStack reserves the proxy's address and starts the app and Gatehouse
// (reached through a connection counter); the caller starts the proxy.
// The proxy serves the app as localhost and Gatehouse as 127.0.0.1.
func newStack(t *testing.T, dir string, internalAuth bool) *stack {
	t.Helper()
	proxyAddr := freeAddr(t)
	s := &stack{
		app:          "http://localhost:" + port(proxyAddr),
		auth:         "http://127.0.0.1:" + port(proxyAddr),
		proxy:        proxyAddr,
		up:           newUpstream(t),
		internalAuth: internalAuth,
	}
	s.relay = newConnCounter(t, startGatehouse(t, dir, s.auth))
	return s
}

var (
	csrfRE     = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
	rdRE       = regexp.MustCompile(`name="rd" value="([^"]*)"`)
	formRE     = regexp.MustCompile(`<form method="post" action="([^"]+)">`)
	continueRE = regexp.MustCompile(`<a id="continue" href="([^"]+)"`)
)

func resolve(t *testing.T, base, ref string) string {
	t.Helper()
	b, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	r, err := url.Parse(ref)
	if err != nil {
		t.Fatalf("bad Location %q: %v", ref, err)
	}
	return b.ResolveReference(r).String()
}

// signIn follows a browser from an anonymous request for target, all
// through the proxy: the proxy's redirect to /.gatehouse/start on the
// app's host, Gatehouse's sign-in page on its own site (CSRF token,
// username, password), the callback on the app's host, back to target.
// It returns target's answer.
func (s *stack) signIn(t *testing.T, b *browser, target string, u user) response {
	t.Helper()
	r := b.get(target, nil)
	loc := r.header.Get("Location")
	if r.status != http.StatusFound || !strings.HasPrefix(loc, s.app+"/.gatehouse/start?rd=") {
		t.Fatalf("anonymous GET %s: %d, Location %q; want 302 to /.gatehouse/start", target, r.status, loc)
	}
	visited := s.follow(t, b, resolve(t, target, loc), target, u)
	// The sign-in went the whole way through the proxy.
	for _, want := range []string{s.app + "/.gatehouse/start?", s.auth + "/login", s.app + "/.gatehouse/callback?"} {
		if !slices.ContainsFunc(visited, func(v string) bool { return strings.HasPrefix(v, want) }) {
			t.Errorf("sign-in never visited %s…; went through %q", want, visited)
		}
	}
	return b.get(target, nil)
}

// follow drives a browser from next through a sign-in as u (the IdP's
// redirects, its sign-in form, the callback) until it is sent to target,
// and returns the URLs it visited.
func (s *stack) follow(t *testing.T, b *browser, next, target string, u user) []string {
	t.Helper()
	var visited []string
	for range 16 {
		if next == target {
			break
		}
		visited = append(visited, next)
		r := b.get(next, nil)
		switch {
		case r.status == http.StatusFound || r.status == http.StatusSeeOther:
			next = resolve(t, next, r.header.Get("Location"))
		case r.status == http.StatusOK && csrfRE.MatchString(r.body) && formRE.MatchString(r.body):
			tok, rd := csrfRE.FindStringSubmatch(r.body)[1], rdRE.FindStringSubmatch(r.body)
			if rd == nil {
				t.Fatalf("sign-in page without a return target: %.400s", r.body)
			}
			action := resolve(t, next, html.UnescapeString(formRE.FindStringSubmatch(r.body)[1]))
			form := url.Values{"csrf_token": {tok}, "rd": {html.UnescapeString(rd[1])}, "username": {u.name}, "password": {u.password}}
			p := b.do(http.MethodPost, action, form.Encode(), map[string]string{"Accept": "text/html"})
			if p.status != http.StatusSeeOther && p.status != http.StatusFound {
				t.Fatalf("POST %s as %s: %d %.400s", action, u.name, p.status, p.body)
			}
			next = resolve(t, action, p.header.Get("Location"))
		case r.status == http.StatusOK && continueRE.MatchString(r.body):
			next = html.UnescapeString(continueRE.FindStringSubmatch(r.body)[1])
		default:
			t.Fatalf("GET %s during sign-in: unexpected %d: %.400s", next, r.status, r.body)
		}
	}
	if next != target {
		t.Fatalf("sign-in did not come back to %s; went through %q", target, visited)
	}
	return visited
}

// identityNames are the identity headers (lower case, '-' for '_') that
// only Gatehouse may set: its own and other gateways'.
var identityNames = []string{
	"x-forwarded-user", "x-forwarded-email", "x-forwarded-groups", "x-forwarded-preferred-username",
	"remote-user", "remote-email", "remote-groups", "remote-name",
	"x-gatehouse-assertion", "x-forwarded-access-token",
	"x-auth-request-user", "x-auth-request-email", "x-auth-request-groups",
	"x-auth-request-preferred-username", "x-auth-request-access-token", "x-remote-user",
}

// spoofed are identity headers a hostile client sends, in every spelling
// an upstream might read as the real thing.
var spoofed = map[string]string{
	"X-Forwarded-User":         "mallory",
	"x-forwarded-user":         "mallory",
	"X_Forwarded_User":         "mallory",
	"x_forwarded_email":        "mallory@evil.example",
	"X-Forwarded-Groups":       "admins",
	"Remote-User":              "mallory",
	"remote_user":              "mallory",
	"Remote_User":              "mallory",
	"REMOTE-GROUPS":            "admins",
	"Remote-Name":              "mallory",
	"X-Gatehouse-Assertion":    "forged",
	"X-Forwarded-Access-Token": "forged",
	"X-Auth-Request-User":      "mallory",
	"X-Remote-User":            "mallory",
}

// present stands for a header that must be there once, with any value.
const present = "\x00present"

// checkIdentity fails unless the upstream received exactly the identity
// headers in want (name → value, or present), each once, no other
// identity header in any spelling, no header name with an underscore,
// and nothing a spoofing client sent.
func checkIdentity(t *testing.T, got seen, want map[string]string) {
	t.Helper()
	byName := map[string][]string{}
	for name, values := range got.Header {
		if strings.Contains(name, "_") {
			t.Errorf("the upstream received a header with an underscore: %s: %q", name, values)
		}
		n := strings.ReplaceAll(strings.ToLower(name), "_", "-")
		byName[n] = append(byName[n], values...)
		for _, v := range values {
			if strings.Contains(v, "mallory") || strings.Contains(v, "forged") {
				t.Errorf("a spoofed value reached the upstream: %s: %q", name, v)
			}
		}
	}
	for _, name := range identityNames {
		values, w := byName[name], want[name]
		switch {
		case w == "" && len(values) > 0:
			t.Errorf("upstream got %s: %q; want none", name, values)
		case w == "":
		case len(values) != 1:
			t.Errorf("upstream got %s: %q; want exactly one value", name, values)
		case w != present && values[0] != w:
			t.Errorf("upstream got %s: %q; want %q", name, values[0], w)
		}
	}
}

func identityOf(u user) map[string]string {
	return map[string]string{
		"x-forwarded-user": u.name, "x-forwarded-email": u.email, "x-forwarded-groups": u.groups,
		"x-forwarded-preferred-username": u.name,
		"remote-user":                    u.name, "remote-email": u.email, "remote-groups": u.groups, "remote-name": u.fullName,
		"x-gatehouse-assertion": present,
	}
}

// verifyAssertion checks X-Gatehouse-Assertion against the keys Gatehouse
// publishes (fetched through the proxy, as an app would): ES256, issued
// by Gatehouse for the app's host, about u, not expired.
func (s *stack) verifyAssertion(t *testing.T, b *browser, token string, u user) {
	t.Helper()
	r := b.do(http.MethodGet, s.auth+"/.well-known/openid-configuration", "", nil)
	var disco struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal([]byte(r.body), &disco); r.status != http.StatusOK || err != nil {
		t.Fatalf("discovery: %d %v %.300s", r.status, err, r.body)
	}
	if disco.Issuer != s.auth {
		t.Errorf("issuer %q, want %q", disco.Issuer, s.auth)
	}
	ctx, cancel := context.WithTimeout(oidc.ClientContext(context.Background(), b.client), requestTimeout)
	defer cancel()
	payload, err := oidc.NewRemoteKeySet(ctx, disco.JWKSURI).VerifySignature(ctx, token)
	if err != nil {
		t.Fatalf("X-Gatehouse-Assertion does not verify with %s: %v", disco.JWKSURI, err)
	}
	var hdr struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
	}
	raw, _ := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err := json.Unmarshal(raw, &hdr); err != nil || hdr.Alg != "ES256" {
		t.Errorf("assertion header %s: want alg ES256", raw)
	}
	var c struct {
		Iss               string   `json:"iss"`
		Aud               string   `json:"aud"`
		Sub               string   `json:"sub"`
		PreferredUsername string   `json:"preferred_username"`
		Groups            []string `json:"groups"`
		Exp               int64    `json:"exp"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatalf("assertion claims: %v", err)
	}
	if c.Iss != s.auth || c.Aud != "localhost" || c.Sub != u.id || c.PreferredUsername != u.name ||
		strings.Join(c.Groups, ",") != u.groups || time.Unix(c.Exp, 0).Before(time.Now()) {
		t.Errorf("assertion claims %s; want iss %s, aud localhost, sub %s, user %s, groups %s, not expired",
			payload, s.auth, u.id, u.name, u.groups)
	}
}

// exercise runs the forward-auth scenarios against a running stack. They
// run in order: later ones use the browsers signed in by earlier ones.
func (s *stack) exercise(t *testing.T) {
	page := map[string]string{"Accept": "text/html"}
	apiAccept := map[string]string{"Accept": "application/json"}
	withHeaders := func(base map[string]string, more map[string]string) map[string]string {
		h := map[string]string{}
		for k, v := range base {
			h[k] = v
		}
		for k, v := range more {
			h[k] = v
		}
		return h
	}
	// notForwarded fails when the upstream was reached by what f sends.
	notForwarded := func(t *testing.T, f func()) {
		t.Helper()
		before := s.up.hits.Load()
		f()
		if after := s.up.hits.Load(); after != before {
			t.Errorf("the upstream was reached (%d requests)", after-before)
		}
	}

	t.Run("AnonymousBrowserIsSentToSignIn", func(t *testing.T) {
		b := s.browser(t)
		notForwarded(t, func() {
			r := b.get(s.app+"/docs/page?x=1", nil)
			// An absolute URL on the app's origin: a proxy that resolves
			// a relative one against Gatehouse's address (Traefik) would
			// send the browser there.
			if r.status != http.StatusFound || r.header.Get("Location") != s.app+"/.gatehouse/start?rd=%2Fdocs%2Fpage%3Fx%3D1" {
				t.Errorf("GET /docs/page?x=1: %d, Location %q; want 302 to %s/.gatehouse/start?rd=%%2Fdocs%%2Fpage%%3Fx%%3D1",
					r.status, r.header.Get("Location"), s.app)
			}
			// Identity headers sent by the client do not sign anyone in.
			r = b.get(s.app+"/docs", withHeaders(spoofed, page))
			if r.status != http.StatusFound {
				t.Errorf("GET /docs with spoofed identity headers: %d, want 302", r.status)
			}
		})
	})

	t.Run("APIClientGets401", func(t *testing.T) {
		b := s.browser(t)
		notForwarded(t, func() {
			r := b.do(http.MethodGet, s.app+"/docs", "", apiAccept)
			if r.status != http.StatusUnauthorized || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer ") {
				t.Errorf("GET /docs as an API client: %d, WWW-Authenticate %q; want 401 with a Bearer challenge",
					r.status, r.header.Get("WWW-Authenticate"))
			}
			// An Authorization header marks an API client even when it
			// accepts HTML.
			r = b.do(http.MethodGet, s.app+"/docs", "", withHeaders(page, map[string]string{"Authorization": "Bearer not-a-token"}))
			if r.status != http.StatusUnauthorized {
				t.Errorf("GET /docs with a bad bearer token: %d, want 401", r.status)
			}
		})
	})

	t.Run("PublicPathNeedsNoSignIn", func(t *testing.T) {
		b := s.browser(t)
		r := b.get(s.app+"/public/info", spoofed)
		if r.status != http.StatusOK {
			t.Fatalf("GET /public/info: %d %.300s", r.status, r.body)
		}
		checkIdentity(t, r.seen(t), nil)
	})

	if s.internalAuth {
		t.Run("AuthEndpointIsInternal", func(t *testing.T) {
			r := s.browser(t).do(http.MethodGet, s.app+"/.gatehouse/auth", "", nil)
			if r.status != http.StatusNotFound {
				t.Errorf("GET /.gatehouse/auth from a client: %d, want 404", r.status)
			}
		})
	}

	aliceBrowser := s.browser(t)
	t.Run("SignedInUserReachesTheApp", func(t *testing.T) {
		r := s.signIn(t, aliceBrowser, s.app+"/docs/page?x=1", alice)
		if r.status != http.StatusOK {
			t.Fatalf("after sign-in: %d %.300s", r.status, r.body)
		}
		got := r.seen(t)
		if got.URI != "/docs/page?x=1" || got.Host != "localhost:"+port(s.proxy) {
			t.Errorf("upstream got %s %s, want /docs/page?x=1 on localhost:%s", got.Host, got.URI, port(s.proxy))
		}
		checkIdentity(t, got, identityOf(alice))
		s.verifyAssertion(t, aliceBrowser, got.Header["X-Gatehouse-Assertion"][0], alice)
		// alice is an admin.
		if r := aliceBrowser.get(s.app+"/admin/users", nil); r.status != http.StatusOK {
			t.Errorf("alice on /admin/users: %d, want 200", r.status)
		}
	})

	t.Run("RewriteHeadersNeverReachTheApp", func(t *testing.T) {
		// Headers that make a framework serve another path or run another
		// method than the one judged. Each flavour either drops them
		// before the app or refuses the request; none lets them through.
		rewrite := []string{"x-original-url", "x-rewrite-url", "x-http-method-override", "x-http-method", "x-method-override"}
		for _, hostile := range []map[string]string{
			{"X-Original-URL": "/admin/users"},
			{"X-Original-URL": "/admin/users", "X-Rewrite-URL": "/admin/users", "X-HTTP-Method-Override": "DELETE",
				"X-HTTP-Method": "DELETE", "X-Method-Override": "DELETE"},
		} {
			r := aliceBrowser.get(s.app+"/docs", hostile)
			switch r.status {
			case http.StatusOK:
				got := r.seen(t)
				for name, values := range got.Header {
					if slices.Contains(rewrite, strings.ToLower(name)) {
						t.Errorf("sent %v: the app received %s: %q", hostile, name, values)
					}
				}
			case http.StatusBadRequest, http.StatusForbidden:
			default:
				t.Errorf("sent %v: GET /docs answered %d, want 200 without the headers, or 400/403", hostile, r.status)
			}
		}
	})

	t.Run("SpoofedIdentityHeadersNeverReachTheApp", func(t *testing.T) {
		r := aliceBrowser.get(s.app+"/docs", spoofed)
		if r.status != http.StatusOK {
			t.Fatalf("GET /docs: %d", r.status)
		}
		checkIdentity(t, r.seen(t), identityOf(alice))
		r = aliceBrowser.do(http.MethodPost, s.app+"/docs/form", "a=1", spoofed)
		if r.status != http.StatusOK {
			t.Fatalf("POST /docs/form: %d", r.status)
		}
		got := r.seen(t)
		if got.Method != http.MethodPost {
			t.Errorf("upstream got %s, want POST", got.Method)
		}
		checkIdentity(t, got, identityOf(alice))
	})

	t.Run("UserOutsideTheGroupGets403", func(t *testing.T) {
		b := s.browser(t)
		r := s.signIn(t, b, s.app+"/docs", bob)
		if r.status != http.StatusOK {
			t.Fatalf("bob on /docs: %d", r.status)
		}
		checkIdentity(t, r.seen(t), identityOf(bob))
		notForwarded(t, func() {
			for _, h := range []map[string]string{page, apiAccept, withHeaders(spoofed, page)} {
				if r := b.do(http.MethodGet, s.app+"/admin/users", "", h); r.status != http.StatusForbidden {
					t.Errorf("bob on /admin/users (%v): %d, want 403", h["Accept"], r.status)
				}
			}
		})
	})

	t.Run("RefusedBrowserSeesGatehousesPage", func(t *testing.T) {
		b := s.browser(t)
		if r := s.signIn(t, b, s.app+"/docs", bob); r.status != http.StatusOK {
			t.Fatalf("bob on /docs: %d", r.status)
		}
		notForwarded(t, func() {
			r := b.get(s.app+"/admin/users?id=7", nil)
			link := regexp.MustCompile(`<a id="switch-user" href="([^"]+)"`).FindStringSubmatch(r.body)
			if r.status != http.StatusForbidden || !strings.Contains(r.body, "You are signed in as <strong>bob</strong>") || link == nil {
				t.Fatalf("bob on /admin/users: %d %.600s; want 403 with Gatehouse's not-allowed page", r.status, r.body)
			}
			if got, want := html.UnescapeString(link[1]), "/.gatehouse/start?rd=%2Fadmin%2Fusers%3Fid%3D7&switch_user=1"; got != want {
				t.Errorf("sign in as someone else: %q, want %q", got, want)
			}
			// API clients get no page.
			if r := b.do(http.MethodGet, s.app+"/admin/users", "", apiAccept); r.status != http.StatusForbidden || r.body != "" {
				t.Errorf("bob on /admin/users as an API client: %d %.200q", r.status, r.body)
			}
		})
		// "Sign in as someone else": the IdP asks for credentials although
		// bob has a session; alice signs in and lands on the refused page.
		target := s.app + "/admin/users?id=7"
		s.follow(t, b, s.app+"/.gatehouse/start?rd=%2Fadmin%2Fusers%3Fid%3D7&switch_user=1", target, alice)
		r := b.get(target, nil)
		if r.status != http.StatusOK {
			t.Fatalf("alice on /admin/users after switching: %d %.300s", r.status, r.body)
		}
		checkIdentity(t, r.seen(t), identityOf(alice))
	})

	t.Run("SignOutSaysSignedOut", func(t *testing.T) {
		b := s.browser(t)
		if r := s.signIn(t, b, s.app+"/docs", bob); r.status != http.StatusOK {
			t.Fatalf("bob on /docs: %d", r.status)
		}
		next := s.app + "/.gatehouse/logout"
		var r response
		for range 8 {
			r = b.get(next, nil)
			if r.status != http.StatusFound && r.status != http.StatusSeeOther {
				break
			}
			next = resolve(t, next, r.header.Get("Location"))
		}
		if next != s.app+"/.gatehouse/signed-out" || r.status != http.StatusOK || !strings.Contains(r.body, "You are signed out") {
			t.Fatalf("sign-out ended at %s: %d %.400s; want %s/.gatehouse/signed-out saying so", next, r.status, r.body, s.app)
		}
		if r := b.get(s.app+"/docs", nil); r.status != http.StatusFound {
			t.Errorf("after sign-out, /docs: %d; want 302 to sign in", r.status)
		}
	})

	t.Run("ProxyKeepsConnectionsToGatehouseAlive", func(t *testing.T) {
		// One client connection, many requests: each costs the proxy an
		// auth request to Gatehouse, all over the connection it keeps.
		// A forward-auth answer with a body, or Connection: close, would
		// make the proxy dial once per request.
		const n = 50
		before := s.relay.accepted.Load()
		for i := range n {
			if r := aliceBrowser.get(s.app+"/docs", nil); r.status != http.StatusOK {
				t.Fatalf("request %d: %d", i, r.status)
			}
		}
		opened := s.relay.accepted.Load() - before
		t.Logf("%d requests opened %d new connections to Gatehouse", n, opened)
		if opened > 2 {
			t.Errorf("%d requests opened %d connections to Gatehouse; want at most 2 (keep-alive)", n, opened)
		}
	})
}
