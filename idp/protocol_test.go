package idp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/idp/clients"
	"github.com/gatehouse-sso/gatehouse/idp/grants"
	"github.com/gatehouse-sso/gatehouse/idp/keys"
)

// Package-level tests of the provider's security checks: each test names
// the check it guards, and fails when that check is broken, without the
// whole-stack tests of cmd/gatehouse.

// Lifetimes of the "app" client in protoHarness: they all differ, so a
// token minted with the wrong one shows.
const (
	appAccessTTL  = 7 * time.Minute
	appIDTTL      = 11 * time.Minute
	appRefreshTTL = 13 * time.Hour
)

// protoHarness is the harness with more clients:
//
//	app      confidential, PKCE required, consent skipped, own lifetimes
//	other    confidential, the same redirect URI, consent skipped
//	ask      confidential, the same redirect URI, asks for consent
//	pub      public (PKCE), the same redirect URI, consent skipped
//	svc      confidential, client_credentials only
//	narrow   confidential, allowed scopes openid and profile only
//	nopkce   confidential, PKCE optional, consent skipped
func protoHarness(t *testing.T, mutate ...func(*Options)) *harness {
	t.Helper()
	reg, err := clients.New([]clients.Spec{
		{ID: "app", Secret: hClientSecret, RedirectURLs: []string{hCallback}, SkipConsent: true, RequirePKCE: true,
			AccessTokenTTL: appAccessTTL, IDTokenTTL: appIDTTL, RefreshTokenTTL: appRefreshTTL},
		{ID: "other", Secret: hClientSecret, RedirectURLs: []string{hCallback}, SkipConsent: true},
		{ID: "ask", Secret: hClientSecret, RedirectURLs: []string{hCallback}},
		{ID: "pub", Public: true, RedirectURLs: []string{hCallback}, SkipConsent: true},
		{ID: "svc", Secret: hClientSecret, GrantTypes: []string{clients.GrantClientCredentials}},
		{ID: "narrow", Secret: hClientSecret, RedirectURLs: []string{hCallback}, SkipConsent: true, Scopes: []string{"openid", "profile"}},
		{ID: "nopkce", Secret: hClientSecret, RedirectURLs: []string{hCallback}, SkipConsent: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	return newHarness(t, func(o *Options) {
		o.Clients = reg
		for _, m := range mutate {
			m(o)
		}
	})
}

// authz sends an authorization request (GET) with cookie (nil: none) and
// returns the response; the body is read into the returned string.
func (h *harness) authz(cookie *http.Cookie, q url.Values) (*http.Response, string) {
	h.tb.Helper()
	req, _ := http.NewRequest("GET", h.srv.URL+"/authorize?"+q.Encode(), nil)
	if cookie != nil {
		req.AddCookie(cookie)
	}
	res, err := h.client.Do(req)
	if err != nil {
		h.tb.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// authzQuery is a valid request of client with PKCE (hVerifier).
func authzQuery(client, scope string) url.Values {
	return url.Values{"client_id": {client}, "redirect_uri": {hCallback}, "response_type": {"code"}, "scope": {scope},
		"state": {"s"}, "nonce": {"n-123"}, "code_challenge": {challengeOf(hVerifier)}, "code_challenge_method": {"S256"}}
}

// redirected sends an authorization request and returns the query of its
// redirect to hCallback, failing on any other answer.
func (h *harness) redirected(t *testing.T, cookie *http.Cookie, q url.Values) url.Values {
	t.Helper()
	res, body := h.authz(cookie, q)
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusFound || !strings.HasPrefix(loc, hCallback+"?") {
		t.Fatalf("want a redirect to the client, got %d %q %.200s", res.StatusCode, loc, body)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// codeFor runs an authorization of client with a session and returns the
// code.
func (h *harness) codeFor(t *testing.T, cookie *http.Cookie, client, scope string) string {
	t.Helper()
	q := h.redirected(t, cookie, authzQuery(client, scope))
	if q.Get("code") == "" {
		t.Fatalf("no code: %v", q)
	}
	return q.Get("code")
}

// tokenAs posts a token request authenticated as client (Basic; none for
// a public client, whose id goes in the form).
func (h *harness) tokenAs(client string, form url.Values) (int, map[string]any) {
	h.tb.Helper()
	if client == "pub" {
		form.Set("client_id", "pub")
	}
	req, _ := http.NewRequest("POST", h.srv.URL+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if client != "pub" {
		req.SetBasicAuth(client, hClientSecret)
	}
	res, err := h.client.Do(req)
	if err != nil {
		h.tb.Fatal(err)
	}
	defer res.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(res.Body).Decode(&body)
	return res.StatusCode, body
}

func codeForm(code string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {hCallback}, "code_verifier": {hVerifier}}
}

// claimsOf decodes a JWT's payload without checking it.
func claimsOf(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func wantOAuthError(t *testing.T, status int, body map[string]any, wantStatus int, code string) {
	t.Helper()
	if status != wantStatus || body["error"] != code {
		t.Fatalf("got %d %v, want %d %s", status, body, wantStatus, code)
	}
}

// TestCodeGrant_AnotherClientCannotRedeem: a client that sends the right
// redirect_uri and verifier still cannot redeem another client's code, and
// the attempt burns the code (its grant is revoked).
func TestCodeGrant_AnotherClientCannotRedeem(t *testing.T) {
	h := protoHarness(t)
	code := h.codeFor(t, h.signIn("u1"), "app", "openid")
	st, body := h.tokenAs("other", codeForm(code))
	wantOAuthError(t, st, body, http.StatusBadRequest, "invalid_grant")
	if !strings.Contains(body["error_description"].(string), "another client") {
		t.Fatalf("refused for another reason than the client: %v", body)
	}
	st, body = h.tokenAs("app", codeForm(code))
	wantOAuthError(t, st, body, http.StatusBadRequest, "invalid_grant")
}

// TestCodeGrant_Binding: each binding of a code is checked on its own,
// with every other part of the request right.
func TestCodeGrant_Binding(t *testing.T) {
	const otherVerifier = "another-verifier-0123456789-0123456789-0123456789"
	for _, tc := range []struct {
		name   string
		client string
		edit   func(url.Values)
	}{
		{"redirect_uri differs", "app", func(f url.Values) { f.Set("redirect_uri", hCallback+"/x") }},
		{"verifier does not match", "app", func(f url.Values) { f.Set("code_verifier", otherVerifier) }},
		{"verifier missing", "app", func(f url.Values) { f.Del("code_verifier") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := protoHarness(t)
			code := h.codeFor(t, h.signIn("u1"), tc.client, "openid")
			f := codeForm(code)
			tc.edit(f)
			st, body := h.tokenAs(tc.client, f)
			wantOAuthError(t, st, body, http.StatusBadRequest, "invalid_grant")
		})
	}
	t.Run("verifier without a challenge", func(t *testing.T) {
		h := protoHarness(t)
		q := authzQuery("nopkce", "openid")
		q.Del("code_challenge")
		q.Del("code_challenge_method")
		code := h.redirected(t, h.signIn("u1"), q).Get("code")
		st, body := h.tokenAs("nopkce", codeForm(code))
		wantOAuthError(t, st, body, http.StatusBadRequest, "invalid_grant")
	})
	t.Run("all right", func(t *testing.T) {
		h := protoHarness(t)
		code := h.codeFor(t, h.signIn("u1"), "app", "openid")
		if st, body := h.tokenAs("app", codeForm(code)); st != http.StatusOK {
			t.Fatalf("%d %v", st, body)
		}
	})
}

// TestCodeGrant_SingleUse: a second redemption fails and revokes what the
// first one got.
func TestCodeGrant_SingleUse(t *testing.T) {
	h := protoHarness(t)
	code := h.codeFor(t, h.signIn("u1"), "app", "openid offline_access")
	st, first := h.tokenAs("app", codeForm(code))
	if st != http.StatusOK {
		t.Fatalf("%d %v", st, first)
	}
	st, body := h.tokenAs("app", codeForm(code))
	wantOAuthError(t, st, body, http.StatusBadRequest, "invalid_grant")
	if st, _, _ := h.userinfo(first["access_token"].(string)); st != http.StatusUnauthorized {
		t.Fatalf("access token of a replayed code still works at userinfo: %d", st)
	}
	st, body = h.tokenAs("app", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first["refresh_token"].(string)}})
	wantOAuthError(t, st, body, http.StatusBadRequest, "invalid_grant")
}

// TestCodeGrant_UserGone: a code whose user was disabled (or deleted)
// since it was issued yields no tokens.
func TestCodeGrant_UserGone(t *testing.T) {
	for _, gone := range []string{"disabled", "deleted"} {
		t.Run(gone, func(t *testing.T) {
			h := protoHarness(t)
			code := h.codeFor(t, h.signIn("u1"), "app", "openid")
			u, _ := h.users.ByID(context.Background(), "u1")
			if gone == "disabled" {
				u.Disabled = true
				h.users.set(u)
			} else {
				h.users.mu.Lock()
				delete(h.users.users, "u1")
				h.users.mu.Unlock()
			}
			st, body := h.tokenAs("app", codeForm(code))
			wantOAuthError(t, st, body, http.StatusBadRequest, "invalid_grant")
		})
	}
}

// TestCodeGrant_Expired: a code past its lifetime is refused.
func TestCodeGrant_Expired(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	reg, err := clients.New([]clients.Spec{{ID: "app", Secret: hClientSecret, RedirectURLs: []string{hCallback}, SkipConsent: true}})
	if err != nil {
		t.Fatal(err)
	}
	var g *grants.Store
	h := newHarness(t, func(o *Options) {
		o.Clients = reg
		g = grants.New(o.Store, grants.Options{Now: func() time.Time { return clock() }})
		o.Grants = g
	})
	code := h.codeFor(t, h.signIn("u1"), "app", "openid")
	now = now.Add(6 * time.Minute) // CodeTTL is 5 minutes
	st, body := h.tokenAs("app", codeForm(code))
	wantOAuthError(t, st, body, http.StatusBadRequest, "invalid_grant")
}

// TestAccessToken_LifetimeAndAudience: for a client whose lifetimes all
// differ, exp - iat of the access token is the access lifetime (and
// expires_in says so), the ID token's is the ID lifetime, and aud of both
// is the client id, as docs/oidc.md promises.
func TestAccessToken_LifetimeAndAudience(t *testing.T) {
	h := protoHarness(t)
	code := h.codeFor(t, h.signIn("u1"), "app", "openid offline_access")
	st, body := h.tokenAs("app", codeForm(code))
	if st != http.StatusOK {
		t.Fatalf("%d %v", st, body)
	}
	at := claimsOf(t, body["access_token"].(string))
	if got := at["exp"].(float64) - at["iat"].(float64); got != appAccessTTL.Seconds() {
		t.Errorf("access token exp - iat = %vs, want the access lifetime %v", got, appAccessTTL)
	}
	if body["expires_in"] != appAccessTTL.Seconds() {
		t.Errorf("expires_in = %v, want %v", body["expires_in"], appAccessTTL.Seconds())
	}
	if at["aud"] != "app" || at["client_id"] != "app" {
		t.Errorf("access token aud %v client_id %v, want app", at["aud"], at["client_id"])
	}
	id := claimsOf(t, body["id_token"].(string))
	if got := id["exp"].(float64) - id["iat"].(float64); got != appIDTTL.Seconds() {
		t.Errorf("ID token exp - iat = %vs, want %v", got, appIDTTL)
	}
	if id["aud"] != "app" || id["nonce"] != "n-123" {
		t.Errorf("ID token aud %v nonce %v", id["aud"], id["nonce"])
	}
	// The refreshed access token too.
	st, body = h.tokenAs("app", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {body["refresh_token"].(string)}})
	if st != http.StatusOK {
		t.Fatalf("refresh: %d %v", st, body)
	}
	at = claimsOf(t, body["access_token"].(string))
	if got := at["exp"].(float64) - at["iat"].(float64); got != appAccessTTL.Seconds() || at["aud"] != "app" {
		t.Errorf("refreshed access token: exp - iat %vs aud %v", got, at["aud"])
	}
	if _, ok := claimsOf(t, body["id_token"].(string))["nonce"]; ok {
		t.Error("refreshed ID token carries the nonce")
	}
}

// TestAccessToken_Checks: userinfo accepts only our live access tokens.
func TestAccessToken_Checks(t *testing.T) {
	h := protoHarness(t)
	body := h.exchangeAs(t, "app", "openid")
	at, idt := body["access_token"].(string), body["id_token"].(string)
	if st, _, _ := h.userinfo(at); st != http.StatusOK {
		t.Fatalf("userinfo with the access token: %d", st)
	}
	// An ID token is signed by the same keys but is not an access token.
	if st, _, _ := h.userinfo(idt); st != http.StatusUnauthorized {
		t.Errorf("userinfo accepted an ID token: %d", st)
	}
	c := claimsOf(t, at)
	sign := func(edit func(map[string]any)) string {
		m := map[string]any{}
		for k, v := range c {
			m[k] = v
		}
		edit(m)
		tok, err := h.keys.Sign(keys.RS256, typAccessToken, m)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for _, tc := range []struct {
		name string
		tok  string
		want int
	}{
		{"expired", sign(func(m map[string]any) { m["exp"] = time.Now().Add(-time.Second).Unix() }), http.StatusUnauthorized},
		{"another issuer", sign(func(m map[string]any) { m["iss"] = "https://evil.example" }), http.StatusUnauthorized},
		{"another client", sign(func(m map[string]any) { m["client_id"] = "other" }), http.StatusUnauthorized},
		{"another user", sign(func(m map[string]any) { m["sub"] = "u2" }), http.StatusUnauthorized},
		{"typ JWT", func() string { tok, _ := h.keys.Sign(keys.RS256, "JWT", c); return tok }(), http.StatusUnauthorized},
		{"no grant (a service token)", sign(func(m map[string]any) { delete(m, "gid") }), http.StatusForbidden},
	} {
		if st, _, _ := h.userinfo(tc.tok); st != tc.want {
			t.Errorf("%s: userinfo answered %d, want %d", tc.name, st, tc.want)
		}
	}
}

func (h *harness) exchangeAs(t *testing.T, client, scope string) map[string]any {
	t.Helper()
	code := h.codeFor(t, h.signIn("u1"), client, scope)
	st, body := h.tokenAs(client, codeForm(code))
	if st != http.StatusOK {
		t.Fatalf("exchange: %d %v", st, body)
	}
	return body
}

// TestRefreshGrant_Checks: scope narrowing only, client binding, rotation
// with family revocation on reuse.
func TestRefreshGrant_Checks(t *testing.T) {
	h := protoHarness(t)
	body := h.exchangeAs(t, "nopkce", "openid profile offline_access")
	rt := body["refresh_token"].(string)
	refresh := func(client, rt, scope string) (int, map[string]any) {
		f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
		if scope != "" {
			f.Set("scope", scope)
		}
		return h.tokenAs(client, f)
	}
	st, b := refresh("nopkce", rt, "openid email")
	wantOAuthError(t, st, b, http.StatusBadRequest, "invalid_scope")
	// Another client learns nothing, not even which scopes were granted.
	for _, scope := range []string{"", "openid", "openid email"} {
		st, b = refresh("other", rt, scope)
		wantOAuthError(t, st, b, http.StatusBadRequest, "invalid_grant")
	}
	st, b = refresh("nopkce", rt, "openid")
	if st != http.StatusOK || b["scope"] != "openid" {
		t.Fatalf("narrowing refresh: %d %v", st, b)
	}
	next := b["refresh_token"].(string)
	// Reuse of the rotated token after the grace window (3 s in the
	// harness; this view of the same store runs a minute ahead): refused,
	// and the whole family with it.
	g := grants.New(h.st, grants.Options{RefreshGrace: 3 * time.Second, Now: func() time.Time { return time.Now().Add(time.Minute) }})
	if _, _, _, err := g.RotateRefreshToken(context.Background(), rt, "nopkce", time.Hour); err == nil {
		t.Fatal("a rotated refresh token was rotated again after the grace window")
	}
	st, b = refresh("nopkce", next, "")
	wantOAuthError(t, st, b, http.StatusBadRequest, "invalid_grant")
}

// TestClientCredentials_Checks: user scopes and public clients refused.
func TestClientCredentials_Checks(t *testing.T) {
	h := protoHarness(t)
	for _, s := range []string{"openid", "profile", "offline_access"} {
		st, b := h.tokenAs("svc", url.Values{"grant_type": {"client_credentials"}, "scope": {s}})
		wantOAuthError(t, st, b, http.StatusBadRequest, "invalid_scope")
	}
	st, b := h.tokenAs("pub", url.Values{"grant_type": {"client_credentials"}})
	if st == http.StatusOK {
		t.Fatalf("public client got a service token: %v", b)
	}
	st, b = h.tokenAs("app", url.Values{"grant_type": {"client_credentials"}})
	wantOAuthError(t, st, b, http.StatusBadRequest, "unauthorized_client")
	st, b = h.tokenAs("svc", url.Values{"grant_type": {"client_credentials"}})
	if st != http.StatusOK || claimsOf(t, b["access_token"].(string))["sub"] != "svc" {
		t.Fatalf("service token: %d %v", st, b)
	}
}

// TestAuthorize_Checks covers the authorization endpoint's refusals.
func TestAuthorize_Checks(t *testing.T) {
	h := protoHarness(t)
	alice := h.signIn("u1")

	// An unregistered redirect URI gets a page, never a redirect.
	q := authzQuery("app", "openid")
	q.Set("redirect_uri", "https://evil.example/cb")
	if res, _ := h.authz(alice, q); res.StatusCode == http.StatusFound || res.Header.Get("Location") != "" {
		t.Errorf("unregistered redirect_uri: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	// A client requiring PKCE without a challenge.
	q = authzQuery("app", "openid")
	q.Del("code_challenge")
	q.Del("code_challenge_method")
	if got := h.redirected(t, alice, q).Get("error"); got != "invalid_request" {
		t.Errorf("no challenge for a PKCE client: error %q", got)
	}
	// PKCE plain, explicit or implied.
	for _, m := range []string{"plain", ""} {
		q = authzQuery("nopkce", "openid")
		q.Set("code_challenge", hVerifier)
		q.Set("code_challenge_method", m)
		if m == "" {
			q.Del("code_challenge_method")
		}
		if got := h.redirected(t, alice, q).Get("error"); got != "invalid_request" {
			t.Errorf("PKCE method %q: error %q", m, got)
		}
	}
	// A scope the client may not ask for.
	if got := h.redirected(t, alice, authzQuery("narrow", "openid email")).Get("error"); got != "invalid_scope" {
		t.Errorf("scope not allowed for the client: error %q", got)
	}
	// prompt=none without a session.
	q = authzQuery("app", "openid")
	q.Set("prompt", "none")
	if got := h.redirected(t, nil, q).Get("error"); got != "login_required" {
		t.Errorf("prompt=none signed out: error %q", got)
	}
	// prompt=none when consent is needed.
	q = authzQuery("ask", "openid")
	q.Set("prompt", "none")
	if got := h.redirected(t, alice, q).Get("error"); got != "consent_required" {
		t.Errorf("prompt=none needing consent: error %q", got)
	}
	// A client asking for consent shows the page instead of a code.
	if res, body := h.authz(alice, authzQuery("ask", "openid")); res.StatusCode != http.StatusOK || !strings.Contains(body, `name="pending"`) {
		t.Errorf("consent not asked: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
}

// TestAuthorize_Reauthentication: prompt=login and a max_age the session
// is older than send the user to sign in again, and under prompt=none
// answer login_required.
func TestAuthorize_Reauthentication(t *testing.T) {
	// The provider's clock runs 90 s ahead of the session's sign-in.
	h := protoHarness(t, func(o *Options) { o.Now = func() time.Time { return time.Now().Add(90 * time.Second) } })
	alice := h.signIn("u1")
	for _, tc := range []struct{ name, param, value string }{
		{"prompt=login", "prompt", "login"},
		{"max_age=0", "max_age", "0"},
		{"max_age=60", "max_age", "60"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := authzQuery("app", "openid")
			q.Set(tc.param, tc.value)
			res, _ := h.authz(alice, q)
			if loc := res.Header.Get("Location"); strings.HasPrefix(loc, hCallback) {
				t.Fatalf("issued without re-authentication: %q", loc)
			}
			if tc.param == "max_age" {
				q.Set("prompt", "none")
				if got := h.redirected(t, alice, q).Get("error"); got != "login_required" {
					t.Fatalf("max_age with prompt=none: error %q", got)
				}
			}
		})
	}
	q := authzQuery("app", "openid")
	q.Set("max_age", "600")
	if h.redirected(t, alice, q).Get("code") == "" {
		t.Fatal("a recent enough session was sent to sign in again")
	}
}

var (
	pendingRE = regexp.MustCompile(`name="pending" value="([^"]+)"`)
	csrfRE    = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
)

// TestConsent_BoundToTheSession: a consent form answered from another
// session of the same user issues nothing; from its own session it does.
func TestConsent_BoundToTheSession(t *testing.T) {
	h := protoHarness(t)
	first, second := h.signIn("u1"), h.signIn("u1")
	res, body := h.authz(first, authzQuery("ask", "openid"))
	if res.StatusCode != http.StatusOK || !pendingRE.MatchString(body) {
		t.Fatalf("consent page: %d %.200s", res.StatusCode, body)
	}
	pending := pendingRE.FindStringSubmatch(body)[1]
	token := html.UnescapeString(csrfRE.FindStringSubmatch(body)[1])
	csrfCookies := res.Cookies()
	post := func(session *http.Cookie) *http.Response {
		f := url.Values{"csrf_token": {token}, "pending": {pending}, "decision": {"allow"}}
		req, _ := http.NewRequest("POST", h.srv.URL+"/consent", strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(session)
		for _, c := range csrfCookies {
			req.AddCookie(c)
		}
		res, err := h.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	if res := post(second); strings.Contains(res.Header.Get("Location"), "code=") {
		t.Fatalf("consent from another session issued a code: %q", res.Header.Get("Location"))
	}
	// The pending request may be gone (taken once); a fresh one from the
	// right session goes through.
	res, body = h.authz(first, authzQuery("ask", "openid"))
	pending = pendingRE.FindStringSubmatch(body)[1]
	token = html.UnescapeString(csrfRE.FindStringSubmatch(body)[1])
	csrfCookies = res.Cookies()
	if res := post(first); !strings.Contains(res.Header.Get("Location"), "code=") {
		t.Fatalf("consent from its own session: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
}

// TestRevokeAndIntrospect_Checks: another client's access token is not
// revoked, and public clients cannot introspect.
func TestRevokeAndIntrospect_Checks(t *testing.T) {
	h := protoHarness(t)
	at := h.exchangeAs(t, "nopkce", "openid")["access_token"].(string)
	post := func(path, client string, f url.Values) int {
		if client == "pub" {
			f.Set("client_id", "pub")
		}
		req, _ := http.NewRequest("POST", h.srv.URL+path, strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if client != "pub" {
			req.SetBasicAuth(client, hClientSecret)
		}
		res, err := h.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if st := post("/revoke", "other", url.Values{"token": {at}}); st != http.StatusOK {
		t.Fatalf("revoke by another client: %d, want 200 and nothing changed", st)
	}
	if st, _, _ := h.userinfo(at); st != http.StatusOK {
		t.Fatalf("another client revoked the token: userinfo %d", st)
	}
	if st := post("/introspect", "pub", url.Values{"token": {at}}); st == http.StatusOK {
		t.Fatal("a public client introspected a token")
	}
	if st := post("/revoke", "nopkce", url.Values{"token": {at}}); st != http.StatusOK {
		t.Fatalf("revoke by its client: %d", st)
	}
	if st, _, _ := h.userinfo(at); st != http.StatusUnauthorized {
		t.Fatalf("revoked token still works: %d", st)
	}
}
