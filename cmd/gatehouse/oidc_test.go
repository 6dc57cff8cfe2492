package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/gatehouse-sso/gatehouse/config"
	"github.com/gatehouse-sso/gatehouse/identity"
)

// Relying parties registered in every OIDC test.
const (
	rpCallback    = "https://rp.example/api/auth/oauth2/callback/gatehouse"
	rpHome        = "https://rp.example/"
	trustedSecret = "trusted-secret-0123456789abcdef"
	thirdSecret   = "third-secret-0123456789abcdefgh"
	thirdCallback = "https://third.example/cb"
	spaCallback   = "https://spa.example/cb"
	svcSecret     = "svc-secret-0123456789abcdefghij"
	esSecret      = "es-secret-0123456789abcdefghijk"
	esCallback    = "https://es.example/cb"
)

// oidcClients are the clients of the tests: "trusted" is kuploy's
// first-party shape (skipConsent, requirePKCE, the home page doubling as
// post-logout target), "third" a third party behind consent, "spa" a
// public client, "svc" a service client, "es" a client with ES256 ID
// tokens.
func oidcClients() []config.Client {
	return []config.Client{
		{ClientID: "trusted", ClientSecret: trustedSecret, Name: "Trusted App",
			RedirectURLs: []string{rpCallback, rpHome}, SkipConsent: true, RequirePKCE: true},
		{ClientID: "third", ClientSecret: thirdSecret, Name: "Third Party",
			RedirectURLs: []string{thirdCallback}, Scopes: []string{"openid", "profile", "email", "offline_access"}},
		{ClientID: "spa", Public: true, Name: "Single Page", RedirectURLs: []string{spaCallback}, SkipConsent: true},
		{ClientID: "svc", ClientSecret: svcSecret, Name: "Service",
			GrantTypes: []string{"client_credentials"}, Scopes: []string{"api.read"}},
		{ClientID: "es", ClientSecret: esSecret, Name: "EC App", RedirectURLs: []string{esCallback},
			SkipConsent: true, SigningAlg: "ES256"},
	}
}

type oidcEnv struct {
	*env
	issuer string
	// ctx carries the http.Client that trusts the test server, for go-oidc
	// and golang.org/x/oauth2.
	ctx      context.Context
	provider *oidc.Provider
}

// newOIDCEnv starts Gatehouse with the test clients, a custom scope
// (api.read) and kuploy's admin claim.
func newOIDCEnv(t *testing.T, mutate func(*config.Config)) *oidcEnv {
	t.Helper()
	e := newEnv(t, func(c *config.Config) {
		c.OIDC.Clients = oidcClients()
		c.OIDC.Scopes = []config.Scope{{Name: "api.read", Description: "Read the API", Claims: []string{"api_tier"}}}
		c.OIDC.Claims = []config.Claim{
			{Name: "kuploy_hub_admin", AnyGroup: []string{"admins"}},
			{Name: "api_tier", Attribute: "tier"},
		}
		if mutate != nil {
			mutate(c)
		}
	})
	hc := &http.Client{Transport: e.srv.Client().Transport, Timeout: 10 * time.Second}
	ctx := oidc.ClientContext(context.Background(), hc)
	issuer := e.app.cfg.IssuerURL()
	p, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	return &oidcEnv{env: e, issuer: issuer, ctx: ctx, provider: p}
}

// browser is a fresh browser: its own cookie jar, no automatic redirects.
func (e *oidcEnv) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Transport:     e.srv.Client().Transport,
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}
}

// fetch sends a request to an absolute URL.
func (e *oidcEnv) fetch(c *http.Client, method, abs string, form url.Values, hdr map[string]string) resp {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, abs, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, abs, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, string(b)}
}

var (
	rdRE       = regexp.MustCompile(`name="rd" value="([^"]*)"`)
	pendingRE  = regexp.MustCompile(`name="pending" value="([^"]+)"`)
	continueRE = regexp.MustCompile(`<a id="continue" href="([^"]+)"`)
	hiddenRE   = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
	formRE     = regexp.MustCompile(`<form method="post" action="([^"]+)">`)
)

// flow is how a browser answers the pages of an authorization.
type flow struct {
	user, password string
	consent        string // "allow", "deny", or "" to fail on a consent page
}

var asAlice = flow{user: "alice", password: alicePassword, consent: "allow"}

// drive follows an authorization in browser b from authURL until
// Gatehouse sends the browser to a URL outside itself, signing in and
// answering consent as f says, and returns that URL. Pages that move on by
// themselves (the continue page) are followed like redirects.
func (e *oidcEnv) drive(b *http.Client, authURL string, f flow) *url.URL {
	e.t.Helper()
	next := authURL
	for range 12 {
		if !strings.HasPrefix(next, e.srv.URL+"/") {
			u, err := url.Parse(next)
			if err != nil {
				e.t.Fatal(err)
			}
			return u
		}
		r := e.fetch(b, "GET", next, nil, nil)
		switch {
		case r.status == http.StatusFound || r.status == http.StatusSeeOther:
			next = e.resolve(next, r.header.Get("Location"))
			if u, _ := url.Parse(next); strings.HasPrefix(next, e.srv.URL) && u.Path == "/login" {
				next = e.signIn(b, next, f)
			}
		case r.status == http.StatusOK && pendingRE.MatchString(r.body):
			if f.consent == "" {
				e.t.Fatalf("unexpected consent page")
			}
			res := e.answerConsent(b, r.body, f.consent)
			if res.status != http.StatusSeeOther {
				e.t.Fatalf("consent answer: %d %s", res.status, res.body)
			}
			next = e.resolve(next, res.header.Get("Location"))
		case r.status == http.StatusOK && continueRE.MatchString(r.body):
			next = html.UnescapeString(continueRE.FindStringSubmatch(r.body)[1])
		default:
			e.t.Fatalf("GET %s: unexpected %d: %.400s", next, r.status, r.body)
		}
	}
	e.t.Fatalf("authorization did not finish")
	return nil
}

// signIn fills in the sign-in page at loginURL and returns where the
// browser goes next.
func (e *oidcEnv) signIn(b *http.Client, loginURL string, f flow) string {
	e.t.Helper()
	page := e.fetch(b, "GET", loginURL, nil, nil)
	tok := csrfRE.FindStringSubmatch(page.body)
	rd := rdRE.FindStringSubmatch(page.body)
	if page.status != http.StatusOK || tok == nil || rd == nil {
		e.t.Fatalf("login page: %d %.300s", page.status, page.body)
	}
	r := e.fetch(b, "POST", e.srv.URL+"/login", url.Values{
		"csrf_token": {tok[1]}, "username": {f.user}, "password": {f.password}, "rd": {html.UnescapeString(rd[1])},
	}, nil)
	if r.status != http.StatusSeeOther {
		e.t.Fatalf("login: %d %.300s", r.status, r.body)
	}
	return e.resolve(loginURL, r.header.Get("Location"))
}

func (e *oidcEnv) answerConsent(b *http.Client, page, decision string) resp {
	e.t.Helper()
	action := html.UnescapeString(formRE.FindStringSubmatch(page)[1])
	return e.fetch(b, "POST", e.resolve(e.srv.URL+"/", action), url.Values{
		"csrf_token": {csrfRE.FindStringSubmatch(page)[1]},
		"pending":    {pendingRE.FindStringSubmatch(page)[1]},
		"decision":   {decision},
	}, nil)
}

func (e *oidcEnv) resolve(base, ref string) string {
	b, err := url.Parse(base)
	if err != nil {
		e.t.Fatal(err)
	}
	r, err := url.Parse(ref)
	if err != nil {
		e.t.Fatal(err)
	}
	return b.ResolveReference(r).String()
}

// rp is a relying party: golang.org/x/oauth2 with go-oidc.
type rp struct {
	conf     oauth2.Config
	verifier *oidc.IDTokenVerifier
}

func (e *oidcEnv) rp(clientID, secret, redirect string, scopes ...string) *rp {
	if len(scopes) == 0 {
		scopes = []string{oidc.ScopeOpenID, "profile", "email", "offline_access"}
	}
	return &rp{
		conf: oauth2.Config{ClientID: clientID, ClientSecret: secret, Endpoint: e.provider.Endpoint(),
			RedirectURL: redirect, Scopes: scopes},
		verifier: e.provider.Verifier(&oidc.Config{ClientID: clientID}),
	}
}

// login is a whole sign-in at relying party r: authorization with PKCE,
// state and nonce, code exchange, and ID token verification.
type login struct {
	tok     *oauth2.Token
	idToken *oidc.IDToken
	rawID   string
	claims  map[string]any
}

func (e *oidcEnv) signInRP(b *http.Client, r *rp, f flow, opts ...oauth2.AuthCodeOption) login {
	e.t.Helper()
	state, nonce, verifier := randomString(), randomString(), oauth2.GenerateVerifier()
	opts = append(opts, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce))
	back := e.drive(b, r.conf.AuthCodeURL(state, opts...), f)
	q := back.Query()
	if q.Get("error") != "" {
		e.t.Fatalf("authorization failed: %s: %s", q.Get("error"), q.Get("error_description"))
	}
	if q.Get("state") != state || q.Get("iss") != e.issuer {
		e.t.Fatalf("state/iss not echoed: %v", q)
	}
	if got := back.Scheme + "://" + back.Host + back.Path; got != r.conf.RedirectURL {
		e.t.Fatalf("returned to %s, want %s", got, r.conf.RedirectURL)
	}
	tok, err := r.conf.Exchange(e.ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		e.t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := r.verifier.Verify(e.ctx, raw)
	if err != nil {
		e.t.Fatalf("verify id token: %v", err)
	}
	if idt.Nonce != nonce {
		e.t.Fatalf("nonce %q, want %q", idt.Nonce, nonce)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		e.t.Fatalf("at_hash: %v", err)
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		e.t.Fatal(err)
	}
	return login{tok: tok, idToken: idt, rawID: raw, claims: claims}
}

func randomString() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// post sends a form to an OIDC endpoint with optional HTTP Basic client
// credentials and decodes the JSON answer.
func (e *oidcEnv) post(endpoint string, form url.Values, basicUser, basicPass string) (int, http.Header, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", endpoint, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicUser != "" {
		req.SetBasicAuth(url.QueryEscape(basicUser), url.QueryEscape(basicPass))
	}
	res, err := e.srv.Client().Transport.RoundTrip(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var body map[string]any
	b, _ := io.ReadAll(res.Body)
	if len(b) > 0 {
		if err := json.Unmarshal(b, &body); err != nil {
			e.t.Fatalf("POST %s: %d, not JSON: %q", endpoint, res.StatusCode, b)
		}
	}
	return res.StatusCode, res.Header, body
}

func (e *oidcEnv) endpoint(name string) string {
	var doc map[string]any
	if err := e.provider.Claims(&doc); err != nil {
		e.t.Fatal(err)
	}
	s, _ := doc[name].(string)
	if s == "" {
		e.t.Fatalf("discovery has no %s", name)
	}
	return s
}

// refresh posts a refresh_token grant for the trusted client.
func (e *oidcEnv) refresh(clientID, secret, token string) (int, map[string]any) {
	e.t.Helper()
	st, _, body := e.post(e.endpoint("token_endpoint"), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}}, clientID, secret)
	return st, body
}

func (e *oidcEnv) introspect(token string) map[string]any {
	e.t.Helper()
	st, _, body := e.post(e.endpoint("introspection_endpoint"), url.Values{"token": {token}}, "trusted", trustedSecret)
	if st != http.StatusOK {
		e.t.Fatalf("introspect: %d %v", st, body)
	}
	return body
}

func trustedRP(e *oidcEnv) *rp { return e.rp("trusted", trustedSecret, rpCallback) }

func TestOIDC_Discovery(t *testing.T) {
	e := newOIDCEnv(t, nil)
	var doc map[string]any
	if err := e.provider.Claims(&doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"issuer":                 e.issuer,
		"authorization_endpoint": e.issuer + "/authorize",
		"token_endpoint":         e.issuer + "/token",
		"userinfo_endpoint":      e.issuer + "/userinfo",
		"jwks_uri":               e.issuer + "/.well-known/jwks.json",
		"end_session_endpoint":   e.issuer + "/end_session",
		"revocation_endpoint":    e.issuer + "/revoke",
		"introspection_endpoint": e.issuer + "/introspect",
	}
	for k, v := range want {
		if doc[k] != v {
			t.Errorf("%s = %v, want %s", k, doc[k], v)
		}
	}
	list := func(k string) []string {
		var out []string
		for _, x := range doc[k].([]any) {
			out = append(out, x.(string))
		}
		return out
	}
	if got := list("id_token_signing_alg_values_supported"); len(got) == 0 || got[0] != "RS256" || slices.Contains(got, "none") || !slices.Contains(got, "ES256") {
		t.Errorf("id_token_signing_alg_values_supported = %v", got)
	}
	for k, v := range map[string][]string{
		"response_types_supported":              {"code"},
		"response_modes_supported":              {"query", "form_post"},
		"code_challenge_methods_supported":      {"S256"},
		"subject_types_supported":               {"public"},
		"token_endpoint_auth_methods_supported": {"client_secret_basic", "client_secret_post", "none"},
	} {
		if got := list(k); !slices.Equal(got, v) {
			t.Errorf("%s = %v, want %v", k, got, v)
		}
	}
	for _, s := range []string{"openid", "profile", "email", "groups", "offline_access", "api.read"} {
		if !slices.Contains(list("scopes_supported"), s) {
			t.Errorf("scopes_supported lacks %s", s)
		}
	}
	if !slices.Contains(list("claims_supported"), "kuploy_hub_admin") {
		t.Errorf("claims_supported lacks the custom claim")
	}
	for _, k := range []string{"request_parameter_supported", "request_uri_parameter_supported", "claims_parameter_supported"} {
		if doc[k] != false {
			t.Errorf("%s = %v", k, doc[k])
		}
	}
	if doc["backchannel_logout_supported"] != true || doc["backchannel_logout_session_supported"] != true {
		t.Errorf("back-channel logout not advertised")
	}
	// Browsers of any origin may read discovery and the keys.
	for _, u := range []string{e.issuer + "/.well-known/openid-configuration", e.issuer + "/.well-known/jwks.json"} {
		r := e.fetch(e.browser(), "GET", u, nil, map[string]string{"Origin": "https://anything.example"})
		if r.status != http.StatusOK || r.header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s: %d, CORS %q", u, r.status, r.header.Get("Access-Control-Allow-Origin"))
		}
	}
}

func TestOIDC_CodeFlowPKCE(t *testing.T) {
	e := newOIDCEnv(t, nil)
	r := trustedRP(e)
	b := e.browser()
	before := time.Now().Add(-time.Second)
	l := e.signInRP(b, r, asAlice)

	c := l.claims
	if c["sub"] != "u-alice" || c["aud"] != "trusted" || c["azp"] != "trusted" || c["iss"] != e.issuer {
		t.Fatalf("identity claims: %v", c)
	}
	if c["email"] != "alice@example.com" || c["name"] != "Alice Liddell" || c["preferred_username"] != "alice" {
		t.Errorf("scope claims: %v", c)
	}
	if c["kuploy_hub_admin"] != true {
		t.Errorf("custom claim: %v", c["kuploy_hub_admin"])
	}
	if c["acr"] != "1" || !slices.Equal(toStrings(c["amr"]), []string{"pwd"}) || c["sid"] == nil || c["sid"] == "" {
		t.Errorf("acr/amr/sid: %v %v %v", c["acr"], c["amr"], c["sid"])
	}
	if at := time.Unix(int64(c["auth_time"].(float64)), 0); at.Before(before) || at.After(time.Now().Add(time.Second)) {
		t.Errorf("auth_time %v", at)
	}
	if exp := time.Until(l.idToken.Expiry); exp < 59*time.Minute || exp > 61*time.Minute {
		t.Errorf("ID token lifetime %v, want 1h", exp)
	}
	if l.tok.RefreshToken == "" {
		t.Errorf("no refresh token for offline_access with skipConsent")
	}
	if d := time.Until(l.tok.Expiry); d < 29*time.Minute || d > 31*time.Minute {
		t.Errorf("expires_in gives %v, want 30m", d)
	}
	if s, _ := l.tok.Extra("scope").(string); s != "openid profile email offline_access" {
		t.Errorf("scope %q", s)
	}

	// The access token is an RFC 9068 JWT.
	hdr, claims := decodeJWT(t, l.tok.AccessToken)
	if hdr["typ"] != "at+jwt" || hdr["alg"] != "RS256" || hdr["kid"] == nil {
		t.Errorf("access token header %v", hdr)
	}
	for _, k := range []string{"iss", "sub", "aud", "client_id", "exp", "iat", "jti", "scope", "auth_time", "acr", "amr", "sid"} {
		if claims[k] == nil {
			t.Errorf("access token lacks %s", k)
		}
	}
	if claims["sub"] != "u-alice" || claims["client_id"] != "trusted" || claims["sid"] != c["sid"] {
		t.Errorf("access token claims %v", claims)
	}

	// userinfo, through go-oidc.
	ui, err := e.provider.UserInfo(e.ctx, oauth2.StaticTokenSource(l.tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	var uc map[string]any
	_ = ui.Claims(&uc)
	if ui.Subject != "u-alice" || ui.Email != "alice@example.com" || uc["kuploy_hub_admin"] != true || uc["groups"] != nil {
		t.Errorf("userinfo %v", uc)
	}

	// SSO: the next authorization needs no sign-in and returns at once.
	v := oauth2.GenerateVerifier()
	res := e.fetch(b, "GET", r.conf.AuthCodeURL("s2", oauth2.S256ChallengeOption(v)), nil, nil)
	loc, _ := url.Parse(res.header.Get("Location"))
	if res.status != http.StatusFound || loc.Query().Get("code") == "" || loc.Query().Get("state") != "s2" {
		t.Fatalf("SSO authorization: %d %s", res.status, res.header.Get("Location"))
	}
	if res.header.Get("Cache-Control") != "no-store" {
		t.Errorf("authorization response is cacheable")
	}
	if res := e.fetch(b, "HEAD", r.conf.AuthCodeURL("s3", oauth2.S256ChallengeOption(v)), nil, nil); res.status != http.StatusMethodNotAllowed {
		t.Errorf("HEAD authorize: %d", res.status)
	}
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func decodeJWT(t *testing.T, tok string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	return header, claims
}

func TestOIDC_StateEchoedExactly(t *testing.T) {
	e := newOIDCEnv(t, nil)
	b := e.browser()
	e.login(b, "alice", alicePassword, "")
	state := "a b+c/d?e=f&g=%20h~ü\"<>"
	v := oauth2.GenerateVerifier()
	u := trustedRP(e).conf.AuthCodeURL(state, oauth2.S256ChallengeOption(v))
	back := e.drive(b, u, asAlice)
	if back.Query().Get("state") != state {
		t.Fatalf("state %q, want %q", back.Query().Get("state"), state)
	}
}

func TestOIDC_ConsentRememberedAndRevocable(t *testing.T) {
	e := newOIDCEnv(t, nil)
	r := e.rp("third", thirdSecret, thirdCallback)
	b := e.browser()

	// Signed out: sign-in first, then the consent page. Deny:
	// access_denied goes back with the state; nothing is issued.
	back := e.drive(b, r.conf.AuthCodeURL("st-deny"), flow{user: "alice", password: alicePassword, consent: "deny"})
	if q := back.Query(); q.Get("error") != "access_denied" || q.Get("state") != "st-deny" || q.Has("code") {
		t.Fatalf("deny: %v", q)
	}

	// The consent page names the client and the scopes, with CSRF.
	page := e.fetch(b, "GET", r.conf.AuthCodeURL("st"), nil, nil)
	for _, want := range []string{"Third Party", "See your e-mail address", "Stay connected", `name="csrf_token"`, `value="allow"`, `value="deny"`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	if csp := page.header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' https://third.example") {
		t.Errorf("consent page CSP does not let the answer reach the client: %q", csp)
	}
	// A forged answer (no CSRF token) is refused.
	forged := e.fetch(b, "POST", e.issuer+"/consent", url.Values{"pending": {pendingRE.FindStringSubmatch(page.body)[1]}, "decision": {"allow"}}, nil)
	if forged.status != http.StatusForbidden {
		t.Fatalf("consent without CSRF token: %d", forged.status)
	}
	// Allow: offline_access is granted without prompt=consent.
	ans := e.answerConsent(b, page.body, "allow")
	loc, _ := url.Parse(ans.header.Get("Location"))
	if ans.status != http.StatusSeeOther || loc.Query().Get("code") == "" {
		t.Fatalf("allow: %d %s", ans.status, ans.header.Get("Location"))
	}
	tok, err := r.conf.Exchange(e.ctx, loc.Query().Get("code"))
	if err != nil || tok.RefreshToken == "" {
		t.Fatalf("exchange after consent: %v (refresh %q)", err, tok.RefreshToken)
	}
	// The same form cannot be answered twice.
	if again := e.answerConsent(b, page.body, "allow"); again.status != http.StatusBadRequest {
		t.Fatalf("second answer: %d", again.status)
	}

	// Remembered: prompt=none now succeeds.
	res := e.fetch(b, "GET", r.conf.AuthCodeURL("st2", oauth2.SetAuthURLParam("prompt", "none")), nil, nil)
	if loc, _ := url.Parse(res.header.Get("Location")); loc == nil || loc.Query().Get("code") == "" {
		t.Fatalf("remembered consent: %d %s", res.status, res.header.Get("Location"))
	}
	// prompt=consent asks again.
	if res := e.fetch(b, "GET", r.conf.AuthCodeURL("st3", oauth2.SetAuthURLParam("prompt", "consent")), nil, nil); !pendingRE.MatchString(res.body) {
		t.Fatalf("prompt=consent did not show the consent page: %d", res.status)
	}

	// The account page lists the consent; revoking it forgets it and
	// kills the tokens.
	list := e.fetch(b, "GET", e.issuer+"/consents", nil, nil)
	if !strings.Contains(list.body, "Third Party") || strings.Contains(list.body, "Trusted App") {
		t.Fatalf("consents page: %s", list.body)
	}
	rev := e.fetch(b, "POST", e.issuer+"/consents", url.Values{"csrf_token": {csrfRE.FindStringSubmatch(list.body)[1]}, "client_id": {"third"}}, nil)
	if rev.status != http.StatusSeeOther {
		t.Fatalf("revoke consent: %d %s", rev.status, rev.body)
	}
	if st, body := e.refresh("third", thirdSecret, tok.RefreshToken); st != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("refresh after consent revoked: %d %v", st, body)
	}
	if e.introspect(tok.AccessToken)["active"] != false {
		t.Fatal("access token active after consent revoked")
	}
	res = e.fetch(b, "GET", r.conf.AuthCodeURL("st4", oauth2.SetAuthURLParam("prompt", "none")), nil, nil)
	if loc, _ := url.Parse(res.header.Get("Location")); loc == nil || loc.Query().Get("error") != "consent_required" {
		t.Fatalf("after revocation, prompt=none: %s", res.header.Get("Location"))
	}
}

func TestOIDC_RefreshRotationAndReuse(t *testing.T) {
	const grace = time.Second
	e := newOIDCEnv(t, func(c *config.Config) { c.OIDC.RefreshGrace = config.Duration(grace) })
	r := trustedRP(e)
	l := e.signInRP(e.browser(), r, asAlice)

	// golang.org/x/oauth2 refreshes an expired token by itself.
	expired := *l.tok
	expired.Expiry = time.Now().Add(-time.Minute)
	fresh, err := r.conf.TokenSource(e.ctx, &expired).Token()
	if err != nil {
		t.Fatalf("token source refresh: %v", err)
	}
	if fresh.RefreshToken == "" || fresh.RefreshToken == l.tok.RefreshToken || fresh.AccessToken == l.tok.AccessToken {
		t.Fatal("refresh did not rotate")
	}
	raw, _ := fresh.Extra("id_token").(string)
	idt, err := r.verifier.Verify(e.ctx, raw)
	if err != nil {
		t.Fatalf("refreshed ID token: %v", err)
	}
	if idt.Nonce != "" || idt.Subject != "u-alice" {
		t.Errorf("refreshed ID token: nonce %q sub %q", idt.Nonce, idt.Subject)
	}
	if err := idt.VerifyAccessToken(fresh.AccessToken); err != nil {
		t.Errorf("refreshed at_hash: %v", err)
	}

	// Within the grace window the rotated token still works (parallel
	// tabs); after it, its reuse revokes the whole family.
	st, second := e.refresh("trusted", trustedSecret, l.tok.RefreshToken)
	if st != http.StatusOK {
		t.Fatalf("reuse within grace: %d %v", st, second)
	}
	time.Sleep(grace + 200*time.Millisecond)
	st, body := e.refresh("trusted", trustedSecret, l.tok.RefreshToken)
	if st != http.StatusBadRequest || body["error"] != "invalid_grant" || body["access_token"] != nil {
		t.Fatalf("reuse after grace: %d %v", st, body)
	}
	if st, body := e.refresh("trusted", trustedSecret, fresh.RefreshToken); st != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("family not revoked after reuse: %d %v", st, body)
	}
	if e.introspect(fresh.AccessToken)["active"] != false || e.introspect(second["access_token"].(string))["active"] != false {
		t.Fatal("access tokens of a revoked family still active")
	}

	// Narrowing the scope works, widening does not.
	l = e.signInRP(e.browser(), r, asAlice)
	st, _, body = e.post(e.endpoint("token_endpoint"), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {l.tok.RefreshToken}, "scope": {"openid groups"}}, "trusted", trustedSecret)
	if st != http.StatusBadRequest || body["error"] != "invalid_scope" {
		t.Fatalf("widening refresh: %d %v", st, body)
	}
	st, _, body = e.post(e.endpoint("token_endpoint"), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {l.tok.RefreshToken}, "scope": {"openid email"}}, "trusted", trustedSecret)
	if st != http.StatusOK || body["scope"] != "openid email" {
		t.Fatalf("narrowing refresh: %d %v", st, body)
	}
}

func TestOIDC_RevocationAndIntrospection(t *testing.T) {
	e := newOIDCEnv(t, nil)
	r := trustedRP(e)
	l := e.signInRP(e.browser(), r, asAlice)

	in := e.introspect(l.tok.AccessToken)
	if in["active"] != true || in["client_id"] != "trusted" || in["sub"] != "u-alice" || in["username"] != "alice" ||
		in["token_type"] != "Bearer" || in["iss"] != e.issuer || in["scope"] != "openid profile email offline_access" || in["jti"] == nil || in["sid"] == nil {
		t.Fatalf("introspect access token: %v", in)
	}
	in = e.introspect(l.tok.RefreshToken)
	if in["active"] != true || in["token_type"] != "refresh_token" || in["client_id"] != "trusted" || in["sub"] != "u-alice" {
		t.Fatalf("introspect refresh token: %v", in)
	}
	for _, junk := range []string{"junk", "a.b.c", strings.Repeat("x", 43)} {
		if e.introspect(junk)["active"] != false {
			t.Errorf("junk %q introspected active", junk)
		}
	}
	// Introspection needs a confidential client.
	if st, _, body := e.post(e.endpoint("introspection_endpoint"), url.Values{"token": {l.tok.AccessToken}, "client_id": {"spa"}}, "", ""); st != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Fatalf("public client introspecting: %d %v", st, body)
	}

	revoke := e.endpoint("revocation_endpoint")
	// Another client's token: 200, nothing revoked.
	if st, _, _ := e.post(revoke, url.Values{"token": {l.tok.AccessToken}}, "third", thirdSecret); st != http.StatusOK {
		t.Fatalf("revoke another client's token: %d", st)
	}
	if e.introspect(l.tok.AccessToken)["active"] != true {
		t.Fatal("another client revoked the token")
	}
	// The access token alone.
	if st, _, _ := e.post(revoke, url.Values{"token": {l.tok.AccessToken}, "token_type_hint": {"access_token"}}, "trusted", trustedSecret); st != http.StatusOK {
		t.Fatalf("revoke access token: %d", st)
	}
	if e.introspect(l.tok.AccessToken)["active"] != false {
		t.Fatal("revoked access token still active")
	}
	if _, err := e.provider.UserInfo(e.ctx, oauth2.StaticTokenSource(l.tok)); err == nil {
		t.Fatal("userinfo accepted a revoked access token")
	}
	if e.introspect(l.tok.RefreshToken)["active"] != true {
		t.Fatal("revoking the access token revoked the refresh token")
	}
	// The refresh token takes its whole grant with it.
	l = e.signInRP(e.browser(), r, asAlice)
	if st, _, _ := e.post(revoke, url.Values{"token": {l.tok.RefreshToken}, "token_type_hint": {"bogus"}}, "trusted", trustedSecret); st != http.StatusOK {
		t.Fatalf("revoke refresh token: %d", st)
	}
	if e.introspect(l.tok.AccessToken)["active"] != false || e.introspect(l.tok.RefreshToken)["active"] != false {
		t.Fatal("tokens active after their refresh token was revoked")
	}
	if st, body := e.refresh("trusted", trustedSecret, l.tok.RefreshToken); st != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("refresh after revocation: %d %v", st, body)
	}
	// Unknown tokens are fine (RFC 7009 §2.2); a missing one is not.
	if st, _, _ := e.post(revoke, url.Values{"token": {"unknown"}}, "trusted", trustedSecret); st != http.StatusOK {
		t.Fatalf("revoke unknown token: %d", st)
	}
	if st, _, body := e.post(revoke, url.Values{}, "trusted", trustedSecret); st != http.StatusBadRequest || body["error"] != "invalid_request" {
		t.Fatalf("revoke without token: %d %v", st, body)
	}
}

// signExpiredHint signs an ID token for alice that expired an hour ago,
// with the server's own key: kuploy's stored idToken at sign-out time.
func signExpiredHint(t *testing.T, e *oidcEnv, sid string) string {
	t.Helper()
	now := time.Now()
	tok, err := e.app.keys.Sign("RS256", "JWT", map[string]any{
		"iss": e.issuer, "sub": "u-alice", "aud": "trusted", "azp": "trusted", "sid": sid,
		"iat": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// foreignHint is an ID token signed by a key that is not Gatehouse's.
func foreignHint(t *testing.T, issuer string) string {
	t.Helper()
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: k}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"iss": issuer, "sub": "u-alice", "aud": "trusted", "exp": time.Now().Add(time.Hour).Unix()})
	jws, err := s.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := jws.CompactSerialize()
	return out
}

// TestOIDC_EndSession_Kuploy follows kuploy's sign-out: the issuer has a
// path (/api/auth), the consumer sends client_id, its stored (expired) ID
// token and its home page to /api/auth/oauth2/endsession.
func TestOIDC_EndSession_Kuploy(t *testing.T) {
	e := newOIDCEnv(t, func(c *config.Config) { c.OIDC.Issuer = c.Server.PublicURL + "/api/auth" })
	if !strings.HasSuffix(e.issuer, "/api/auth") {
		t.Fatalf("issuer %s", e.issuer)
	}
	r := trustedRP(e)
	b := e.browser()
	l := e.signInRP(b, r, asAlice)
	sid := l.claims["sid"].(string)
	hint := signExpiredHint(t, e, sid)
	if _, err := r.verifier.Verify(e.ctx, hint); err == nil {
		t.Fatal("the test hint is not expired")
	}
	endsession := e.issuer + "/oauth2/endsession"

	// The documented errors, on a page: nothing is redirected and the
	// session survives.
	errCases := []struct {
		name string
		q    url.Values
		msg  string
	}{
		{"hint not ours, no client_id", url.Values{"id_token_hint": {foreignHint(t, e.issuer)}, "post_logout_redirect_uri": {rpHome}},
			"invalid_request: client_id is required when using post_logout_redirect_uri without a valid id_token_hint"},
		{"no hint, no client_id", url.Values{"post_logout_redirect_uri": {rpHome}},
			"invalid_request: client_id is required when using post_logout_redirect_uri without a valid id_token_hint"},
		{"unregistered target", url.Values{"client_id": {"trusted"}, "id_token_hint": {hint}, "post_logout_redirect_uri": {"https://evil.example/"}},
			"invalid_request: post_logout_redirect_uri is not registered for this client"},
		{"another client's target", url.Values{"client_id": {"trusted"}, "post_logout_redirect_uri": {thirdCallback}},
			"invalid_request: post_logout_redirect_uri is not registered for this client"},
		{"hint of another client", url.Values{"client_id": {"third"}, "id_token_hint": {hint}, "post_logout_redirect_uri": {thirdCallback}},
			"invalid_request: client_id does not match the id_token_hint"},
		{"foreign hint alone", url.Values{"id_token_hint": {foreignHint(t, e.issuer)}},
			"invalid_request: id_token_hint was not issued by this provider"},
	}
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			res := e.fetch(b, "GET", endsession+"?"+tc.q.Encode(), nil, nil)
			if res.status != http.StatusBadRequest || res.header.Get("Location") != "" || !strings.Contains(res.body, tc.msg) {
				t.Fatalf("%d %q %s", res.status, res.header.Get("Location"), res.body)
			}
			if e.sessionCookie(b) == nil {
				t.Fatal("session ended by a refused request")
			}
		})
	}

	// The real thing: 302 to the home page with the state; session gone.
	old := e.sessionCookie(b)
	q := url.Values{"client_id": {"trusted"}, "id_token_hint": {hint}, "post_logout_redirect_uri": {rpHome}, "state": {"bye"}}
	res := e.fetch(b, "GET", endsession+"?"+q.Encode(), nil, nil)
	if res.status != http.StatusFound || res.header.Get("Location") != rpHome+"?state=bye" {
		t.Fatalf("end session: %d %q %s", res.status, res.header.Get("Location"), res.body)
	}
	if e.sessionCookie(b) != nil {
		t.Fatal("session cookie not cleared")
	}
	// The old cookie does not sign anyone in any more.
	thief := e.browser()
	u, _ := url.Parse(e.srv.URL)
	thief.Jar.SetCookies(u, []*http.Cookie{{Name: old.Name, Value: old.Value, Path: "/"}})
	v := oauth2.GenerateVerifier()
	res = e.fetch(thief, "GET", r.conf.AuthCodeURL("s", oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("prompt", "none")), nil, nil)
	if loc, _ := url.Parse(res.header.Get("Location")); loc == nil || loc.Query().Get("error") != "login_required" {
		t.Fatalf("after logout, prompt=none: %d %s", res.status, res.header.Get("Location"))
	}
	// HEAD signs nobody out.
	if res := e.fetch(b, "HEAD", endsession, nil, nil); res.status != http.StatusMethodNotAllowed {
		t.Errorf("HEAD end_session: %d", res.status)
	}
	// The endpoint aliases exist.
	for _, p := range []string{"/end_session", "/auth/logout", "/oauth2/endsession"} {
		if res := e.fetch(e.browser(), "GET", e.issuer+p, nil, nil); res.status != http.StatusOK {
			t.Errorf("%s: %d", p, res.status)
		}
	}
}

func TestOIDC_EndSession_ConfirmationAndHint(t *testing.T) {
	e := newOIDCEnv(t, nil)
	r := trustedRP(e)

	// Nothing proves which client asked: the user confirms.
	b := e.browser()
	e.signInRP(b, r, asAlice)
	page := e.fetch(b, "GET", e.issuer+"/end_session", nil, nil)
	if page.status != http.StatusOK || !strings.Contains(page.body, "Sign out?") || e.sessionCookie(b) == nil {
		t.Fatalf("confirmation page: %d %s", page.status, page.body)
	}
	if r := e.fetch(b, "POST", e.issuer+"/end_session", url.Values{"csrf_token": {"forged"}}, nil); r.status != http.StatusForbidden || e.sessionCookie(b) == nil {
		t.Fatalf("forged confirmation: %d", r.status)
	}
	res := e.fetch(b, "POST", e.issuer+"/end_session", url.Values{"csrf_token": {csrfRE.FindStringSubmatch(page.body)[1]}}, nil)
	if res.status != http.StatusOK || !strings.Contains(res.body, "signed out") || e.sessionCookie(b) != nil {
		t.Fatalf("confirmed: %d %s", res.status, res.body)
	}

	// client_id without a target proves nothing either; the confirmation
	// carries the client.
	b = e.browser()
	e.signInRP(b, r, asAlice)
	page = e.fetch(b, "GET", e.issuer+"/end_session?client_id=trusted", nil, nil)
	if !strings.Contains(page.body, "Trusted App") || e.sessionCookie(b) == nil {
		t.Fatalf("confirmation with client_id: %s", page.body)
	}

	// A valid hint alone signs out at once and shows the signed-out page.
	l := e.signInRP(b, r, asAlice)
	res = e.fetch(b, "GET", e.issuer+"/end_session?id_token_hint="+url.QueryEscape(l.rawID), nil, nil)
	if res.status != http.StatusOK || !strings.Contains(res.body, "signed out") || e.sessionCookie(b) != nil {
		t.Fatalf("hint only: %d %s", res.status, res.body)
	}

	// A hint for another user than the signed-in one asks first.
	b2 := e.browser()
	e.signInRP(b2, r, asAlice)
	other, _ := e.app.keys.Sign("RS256", "JWT", map[string]any{"iss": e.issuer, "sub": "u-someone-else", "aud": "trusted", "exp": time.Now().Add(time.Hour).Unix()})
	res = e.fetch(b2, "GET", e.issuer+"/end_session?id_token_hint="+url.QueryEscape(other), nil, nil)
	if res.status != http.StatusOK || !strings.Contains(res.body, "Sign out?") || e.sessionCookie(b2) == nil {
		t.Fatalf("hint of another user: %d %s", res.status, res.body)
	}
	// POST from the client works like GET.
	res = e.fetch(b2, "POST", e.issuer+"/end_session", url.Values{"client_id": {"trusted"}, "post_logout_redirect_uri": {rpHome}}, nil)
	if res.status != http.StatusSeeOther || res.header.Get("Location") != rpHome || e.sessionCookie(b2) != nil {
		t.Fatalf("POST end_session: %d %q", res.status, res.header.Get("Location"))
	}
}

// backchannelRP is a relying party's back-channel logout endpoint: it
// verifies each logout token as an RP would, with the provider's published
// keys, and records its claims.
type backchannelRP struct {
	srv *httptest.Server

	mu       sync.Mutex
	keySet   *oidc.RemoteKeySet
	issuer   string
	clientID string
	claims   []map[string]any
	errs     []string
}

// newBackchannelRP starts the endpoint; arm must be called once the
// provider runs.
func newBackchannelRP(t *testing.T) *backchannelRP {
	rec := &backchannelRP{}
	rec.srv = httptest.NewServer(http.HandlerFunc(rec.serve))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (rec *backchannelRP) url() string { return rec.srv.URL + "/backchannel" }

func (rec *backchannelRP) arm(e *oidcEnv, clientID string) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.keySet = oidc.NewRemoteKeySet(e.ctx, e.endpoint("jwks_uri"))
	rec.issuer, rec.clientID = e.issuer, clientID
}

func (rec *backchannelRP) serve(w http.ResponseWriter, r *http.Request) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	fail := func(msg string) { rec.errs = append(rec.errs, msg); w.WriteHeader(http.StatusBadRequest) }
	if r.Method != "POST" || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		fail("method/content type")
		return
	}
	tok := r.PostFormValue("logout_token")
	payload, err := rec.keySet.VerifySignature(r.Context(), tok)
	if err != nil {
		fail("signature: " + err.Error())
		return
	}
	var h map[string]any
	hb, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	_ = json.Unmarshal(hb, &h)
	if h["typ"] != "logout+jwt" {
		fail("typ")
		return
	}
	var c map[string]any
	_ = json.Unmarshal(payload, &c)
	ev, _ := c["events"].(map[string]any)
	if c["iss"] != rec.issuer || c["aud"] != rec.clientID || c["nonce"] != nil || ev == nil ||
		ev["http://schemas.openid.net/event/backchannel-logout"] == nil || c["iat"] == nil || c["exp"] == nil || c["jti"] == nil {
		fail(fmt.Sprintf("claims %v", c))
		return
	}
	rec.claims = append(rec.claims, c)
	w.WriteHeader(http.StatusOK)
}

func TestOIDC_BackchannelLogout(t *testing.T) {
	rec := newBackchannelRP(t)
	e := newOIDCEnv(t, func(c *config.Config) {
		c.OIDC.Clients[0].BackchannelLogoutURI = rec.url() // trusted
	})
	rec.arm(e, "trusted")

	r := trustedRP(e)
	b := e.browser()
	// One grant with offline_access, one without, from one session.
	l := e.signInRP(b, r, asAlice)
	online := e.rp("trusted", trustedSecret, rpCallback, "openid", "email")
	l2 := e.signInRP(b, online, asAlice)
	if l.claims["sid"] != l2.claims["sid"] {
		t.Fatal("two sign-ins of one session have different sids")
	}
	res := e.fetch(b, "GET", e.issuer+"/end_session?"+url.Values{"client_id": {"trusted"}, "post_logout_redirect_uri": {rpHome}}.Encode(), nil, nil)
	if res.status != http.StatusFound {
		t.Fatalf("end session: %d", res.status)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.app.oidc.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.errs) > 0 {
		t.Fatalf("RP refused logout tokens: %v", rec.errs)
	}
	if len(rec.claims) != 1 {
		t.Fatalf("%d logout tokens, want 1 per client", len(rec.claims))
	}
	if c := rec.claims[0]; c["sid"] != l.claims["sid"] || c["sub"] != "u-alice" {
		t.Fatalf("logout token: %v", c)
	}
	// The session's online grant died with it; offline access survives.
	if e.introspect(l2.tok.AccessToken)["active"] != false {
		t.Error("online grant survived logout")
	}
	if e.introspect(l.tok.RefreshToken)["active"] != true {
		t.Error("offline_access grant was revoked by logout")
	}
}

func TestOIDC_BackchannelLogout_FailureIsLogged(t *testing.T) {
	var hits int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
	e := newOIDCEnv(t, func(c *config.Config) {
		c.OIDC.Clients[0].BackchannelLogoutURI = srv.URL + "/bc"
	})
	b := e.browser()
	e.signInRP(b, trustedRP(e), asAlice)
	e.fetch(b, "GET", e.issuer+"/end_session?"+url.Values{"client_id": {"trusted"}, "post_logout_redirect_uri": {rpHome}}.Encode(), nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.app.oidc.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if hits != 2 {
		t.Fatalf("%d attempts, want 2 (one retry)", hits)
	}
}

func TestOIDC_IssuerWithPath(t *testing.T) {
	e := newOIDCEnv(t, func(c *config.Config) { c.OIDC.Issuer = c.Server.PublicURL + "/api/auth" })
	for _, k := range []string{"authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri", "end_session_endpoint", "revocation_endpoint", "introspection_endpoint"} {
		if !strings.HasPrefix(e.endpoint(k), e.srv.URL+"/api/auth/") {
			t.Errorf("%s = %s", k, e.endpoint(k))
		}
	}
	l := e.signInRP(e.browser(), trustedRP(e), asAlice)
	if l.claims["iss"] != e.srv.URL+"/api/auth" {
		t.Fatalf("iss %v", l.claims["iss"])
	}
	if _, err := e.provider.UserInfo(e.ctx, oauth2.StaticTokenSource(l.tok)); err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	if r := e.fetch(e.browser(), "GET", e.srv.URL+"/.well-known/openid-configuration", nil, nil); r.status != http.StatusNotFound {
		t.Errorf("discovery also at the root: %d", r.status)
	}
}

func TestOIDC_ES256Client(t *testing.T) {
	e := newOIDCEnv(t, nil)
	r := e.rp("es", esSecret, esCallback)
	r.verifier = e.provider.Verifier(&oidc.Config{ClientID: "es", SupportedSigningAlgs: []string{oidc.ES256}})
	l := e.signInRP(e.browser(), r, asAlice)
	if h, _ := decodeJWT(t, l.rawID); h["alg"] != "ES256" {
		t.Fatalf("ID token alg %v", h["alg"])
	}
	rsOnly := e.provider.Verifier(&oidc.Config{ClientID: "es", SupportedSigningAlgs: []string{oidc.RS256}})
	if _, err := rsOnly.Verify(e.ctx, l.rawID); err == nil {
		t.Fatal("an RS256-only verifier accepted the ES256 token")
	}
	// Access tokens stay RS256 (RFC 9068's default).
	if h, _ := decodeJWT(t, l.tok.AccessToken); h["alg"] != "RS256" {
		t.Fatalf("access token alg %v", h["alg"])
	}
}

// TestOIDC_KuployTrustedClientsEnv registers the client the way kuploy's
// guide does: GATEHOUSE_OIDC_TRUSTED_CLIENTS holding a JSON array.
func TestOIDC_KuployTrustedClientsEnv(t *testing.T) {
	const js = `[{"clientId": "leeram-business", "clientSecret": "leeram-secret-0123456789abcdef",
		"name": "Leeram Business", "redirectUrls": ["https://business.example.com/api/auth/oauth2/callback/kuploy",
		"https://business.example.com/"], "skipConsent": true, "requirePKCE": true}]`
	env := map[string]string{"GATEHOUSE_OIDC_TRUSTED_CLIENTS": js}
	fromEnv, err := config.Load("", func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	e := newOIDCEnv(t, func(c *config.Config) {
		c.OIDC.Clients = append(c.OIDC.Clients, fromEnv.OIDC.Clients...)
		c.OIDC.Issuer = c.Server.PublicURL + "/api/auth"
	})
	r := e.rp("leeram-business", "leeram-secret-0123456789abcdef", "https://business.example.com/api/auth/oauth2/callback/kuploy")
	b := e.browser()
	l := e.signInRP(b, r, asAlice)
	if l.tok.RefreshToken == "" || l.claims["kuploy_hub_admin"] != true {
		t.Fatalf("kuploy sign-in: refresh %q, admin %v", l.tok.RefreshToken, l.claims["kuploy_hub_admin"])
	}
	// Without PKCE the trusted client is refused (requirePKCE).
	res := e.fetch(b, "GET", r.conf.AuthCodeURL("x"), nil, nil)
	if loc, _ := url.Parse(res.header.Get("Location")); loc == nil || loc.Query().Get("error") != "invalid_request" || loc.Query().Get("error_description") != "code_challenge required" {
		t.Fatalf("no PKCE: %s", res.header.Get("Location"))
	}
	q := url.Values{"client_id": {"leeram-business"}, "id_token_hint": {l.rawID}, "post_logout_redirect_uri": {"https://business.example.com/"}}
	res = e.fetch(b, "GET", e.issuer+"/oauth2/endsession?"+q.Encode(), nil, nil)
	if res.status != http.StatusFound || res.header.Get("Location") != "https://business.example.com/" {
		t.Fatalf("kuploy sign-out: %d %q", res.status, res.header.Get("Location"))
	}
}

func TestOIDC_FormPost(t *testing.T) {
	e := newOIDCEnv(t, nil)
	r := trustedRP(e)
	b := e.browser()
	e.login(b, "alice", alicePassword, "")
	v := oauth2.GenerateVerifier()
	res := e.fetch(b, "GET", r.conf.AuthCodeURL("fp-state", oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("response_mode", "form_post")), nil, nil)
	if res.status != http.StatusOK {
		t.Fatalf("form_post: %d %s", res.status, res.body)
	}
	if m := formRE.FindStringSubmatch(res.body); m == nil || html.UnescapeString(m[1]) != rpCallback {
		t.Fatalf("form action: %v", m)
	}
	fields := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(res.body, -1) {
		fields.Add(m[1], html.UnescapeString(m[2]))
	}
	if fields.Get("state") != "fp-state" || fields.Get("iss") != e.issuer || fields.Get("code") == "" {
		t.Fatalf("fields %v", fields)
	}
	// The page may post to the client and run its one script, nothing
	// else.
	csp := res.header.Get("Content-Security-Policy")
	nonce := regexp.MustCompile(`<script nonce="([^"]+)">`).FindStringSubmatch(res.body)
	if nonce == nil || !strings.Contains(csp, "script-src 'nonce-"+nonce[1]+"'") || !strings.Contains(csp, "form-action 'self' https://rp.example") {
		t.Fatalf("CSP %q, script %v", csp, nonce)
	}
	if _, err := r.conf.Exchange(e.ctx, fields.Get("code"), oauth2.VerifierOption(v)); err != nil {
		t.Fatalf("exchange: %v", err)
	}
	// Errors go back the same way.
	res = e.fetch(b, "GET", r.conf.AuthCodeURL("fp2", oauth2.SetAuthURLParam("response_mode", "form_post")), nil, nil)
	if !strings.Contains(res.body, `name="error" value="invalid_request"`) || !strings.Contains(res.body, `name="state" value="fp2"`) {
		t.Fatalf("form_post error: %s", res.body)
	}
}

func TestOIDC_ClientCredentials(t *testing.T) {
	e := newOIDCEnv(t, nil)
	st, _, body := e.post(e.endpoint("token_endpoint"), url.Values{"grant_type": {"client_credentials"}, "scope": {"api.read"}}, "svc", svcSecret)
	if st != http.StatusOK || body["id_token"] != nil || body["refresh_token"] != nil || body["scope"] != "api.read" || body["expires_in"].(float64) != 1800 {
		t.Fatalf("client_credentials: %d %v", st, body)
	}
	at := body["access_token"].(string)
	_, c := decodeJWT(t, at)
	if c["sub"] != "svc" || c["client_id"] != "svc" {
		t.Errorf("service token claims %v", c)
	}
	if in := e.introspect(at); in["active"] != true || in["sub"] != "svc" || in["username"] != nil {
		t.Errorf("introspect service token: %v", in)
	}
	r := e.fetch(e.browser(), "GET", e.endpoint("userinfo_endpoint"), nil, map[string]string{"Authorization": "Bearer " + at})
	if r.status != http.StatusForbidden || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
		t.Fatalf("userinfo with a service token: %d %q", r.status, r.header.Get("WWW-Authenticate"))
	}
	for _, tc := range []struct{ scope, err string }{{"openid", "invalid_scope"}, {"api.write", "invalid_scope"}, {"offline_access", "invalid_scope"}} {
		if st, _, body := e.post(e.endpoint("token_endpoint"), url.Values{"grant_type": {"client_credentials"}, "scope": {tc.scope}}, "svc", svcSecret); st != http.StatusBadRequest || body["error"] != tc.err {
			t.Errorf("scope %s: %d %v", tc.scope, st, body)
		}
	}
}

func TestOIDC_Userinfo(t *testing.T) {
	e := newOIDCEnv(t, nil)
	l := e.signInRP(e.browser(), trustedRP(e), asAlice)
	ui := e.endpoint("userinfo_endpoint")
	b := e.browser()
	// POST with the token in the body (RFC 6750 §2.2).
	r := e.fetch(b, "POST", ui, url.Values{"access_token": {l.tok.AccessToken}}, nil)
	if r.status != http.StatusOK || !strings.Contains(r.body, `"sub":"u-alice"`) || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("POST userinfo: %d %s", r.status, r.body)
	}
	cases := []struct {
		name, auth string
		status     int
		challenge  string
	}{
		{"no token", "", 401, `Bearer realm="gatehouse"`},
		{"garbage", "Bearer garbage", 401, `error="invalid_token"`},
		{"ID token as access token", "Bearer " + l.rawID, 401, `error="invalid_token"`},
		{"basic scheme", "Basic dXNlcjpwYXNz", 401, `Bearer realm="gatehouse"`},
	}
	for _, tc := range cases {
		hdr := map[string]string{}
		if tc.auth != "" {
			hdr["Authorization"] = tc.auth
		}
		r := e.fetch(b, "GET", ui, nil, hdr)
		if r.status != tc.status || !strings.Contains(r.header.Get("WWW-Authenticate"), tc.challenge) {
			t.Errorf("%s: %d %q", tc.name, r.status, r.header.Get("WWW-Authenticate"))
		}
		if (tc.name == "no token" || tc.name == "basic scheme") && strings.Contains(r.header.Get("WWW-Authenticate"), "error=") {
			t.Errorf("missing token must not carry an error code: %q", r.header.Get("WWW-Authenticate"))
		}
	}
}

func TestOIDC_CORS(t *testing.T) {
	e := newOIDCEnv(t, nil)
	b := e.browser()
	for _, origin := range []string{"https://spa.example", "https://rp.example"} {
		r := e.fetch(b, "OPTIONS", e.endpoint("token_endpoint"), nil, map[string]string{"Origin": origin, "Access-Control-Request-Method": "POST"})
		if r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != origin || !strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "Authorization") {
			t.Errorf("preflight from %s: %d %v", origin, r.status, r.header)
		}
	}
	r := e.fetch(b, "OPTIONS", e.endpoint("userinfo_endpoint"), nil, map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
	if r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("unregistered origin allowed: %v", r.header)
	}
	// A public SPA client exchanges its code from the browser.
	spa := e.rp("spa", "", spaCallback)
	l := e.signInRP(e.browser(), spa, asAlice)
	if l.tok.RefreshToken == "" {
		t.Fatal("public client got no refresh token")
	}
}

// TestOIDC_ReauthAndMaxAge checks prompt=login and max_age: the user signs
// in again, comes back without looping, and auth_time moves forward.
func TestOIDC_ReauthAndMaxAge(t *testing.T) {
	e := newOIDCEnv(t, nil)
	r := trustedRP(e)
	b := e.browser()
	first := e.signInRP(b, r, asAlice)
	t1 := authTime(first)
	time.Sleep(1100 * time.Millisecond) // auth_time has second resolution

	for _, opt := range []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("max_age", "0"), oauth2.SetAuthURLParam("prompt", "login")} {
		v := oauth2.GenerateVerifier()
		start := time.Now().Truncate(time.Second)
		res := e.fetch(b, "GET", r.conf.AuthCodeURL("re", opt, oauth2.S256ChallengeOption(v)), nil, nil)
		loc, _ := url.Parse(res.header.Get("Location"))
		if res.status != http.StatusFound || loc.Path != "/login" || loc.Query().Get("force") != "1" {
			t.Fatalf("re-authentication not forced: %d %s", res.status, res.header.Get("Location"))
		}
		// Coming back without signing in again sends the browser back to
		// the sign-in page, not to the client.
		resume := e.resolve(e.srv.URL+"/", loc.Query().Get("rd"))
		if res := e.fetch(b, "GET", resume, nil, nil); res.status != http.StatusFound || !strings.HasPrefix(res.header.Get("Location"), "/login?") {
			t.Fatalf("resume without re-authentication: %d %s", res.status, res.header.Get("Location"))
		}
		l := e.signInRP(b, r, asAlice, opt)
		if at := authTime(l); !at.After(t1) || at.Before(start) {
			t.Fatalf("auth_time %v not after %v", at, t1)
		}
		t1 = authTime(l)
		time.Sleep(1100 * time.Millisecond)
	}
	// prompt=none with max_age exceeded cannot ask: login_required.
	res := e.fetch(b, "GET", r.conf.AuthCodeURL("n", oauth2.SetAuthURLParam("max_age", "0"), oauth2.SetAuthURLParam("prompt", "none"), oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), nil, nil)
	if loc, _ := url.Parse(res.header.Get("Location")); loc == nil || loc.Query().Get("error") != "login_required" {
		t.Fatalf("prompt=none, max_age=0: %s", res.header.Get("Location"))
	}
	// The login_hint is carried to the sign-in page.
	res = e.fetch(e.browser(), "GET", r.conf.AuthCodeURL("h", oauth2.SetAuthURLParam("login_hint", "alice@example.com"), oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), nil, nil)
	page := e.fetch(e.browser(), "GET", e.resolve(e.srv.URL+"/", res.header.Get("Location")), nil, nil)
	if !strings.Contains(page.body, `value="alice@example.com"`) {
		t.Errorf("login_hint not prefilled")
	}
}

func authTime(l login) time.Time {
	f, _ := l.claims["auth_time"].(float64)
	return time.Unix(int64(f), 0)
}

func TestOIDC_DisabledUserLosesTokens(t *testing.T) {
	e := newOIDCEnv(t, nil)
	ctx := context.Background()
	u, err := e.app.users.Create(ctx, identity.User{Username: "carol", Email: "carol@example.com"}, "carol-password-123")
	if err != nil {
		t.Fatal(err)
	}
	l := e.signInRP(e.browser(), trustedRP(e), flow{user: "carol", password: "carol-password-123", consent: "allow"})
	if err := e.app.users.SetDisabled(ctx, u.ID, true); err != nil {
		t.Fatal(err)
	}
	if st, body := e.refresh("trusted", trustedSecret, l.tok.RefreshToken); st != http.StatusBadRequest || body["error"] != "invalid_grant" || body["access_token"] != nil {
		t.Fatalf("refresh of a disabled user: %d %v", st, body)
	}
	r := e.fetch(e.browser(), "GET", e.endpoint("userinfo_endpoint"), nil, map[string]string{"Authorization": "Bearer " + l.tok.AccessToken})
	if r.status != http.StatusUnauthorized || !strings.Contains(r.header.Get("WWW-Authenticate"), "invalid_token") {
		t.Fatalf("userinfo of a disabled user: %d", r.status)
	}
}

func TestOIDC_ExpiredCode(t *testing.T) {
	e := newOIDCEnv(t, func(c *config.Config) { c.OIDC.CodeTTL = config.Duration(time.Second) })
	r := trustedRP(e)
	b := e.browser()
	e.login(b, "alice", alicePassword, "")
	v := oauth2.GenerateVerifier()
	back := e.drive(b, r.conf.AuthCodeURL("x", oauth2.S256ChallengeOption(v)), asAlice)
	time.Sleep(1200 * time.Millisecond)
	st, _, body := e.post(e.endpoint("token_endpoint"), url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")},
		"redirect_uri": {rpCallback}, "code_verifier": {v}}, "trusted", trustedSecret)
	if st != http.StatusBadRequest || body["error"] != "invalid_grant" || body["access_token"] != nil {
		t.Fatalf("expired code: %d %v", st, body)
	}
}

// TestOIDC_Negative is a table in the spirit of the OpenID Basic OP
// conformance plan: each bad request gets its exact error, and nothing is
// issued.
func TestOIDC_Negative(t *testing.T) {
	e := newOIDCEnv(t, nil)
	b := e.browser()
	e.login(b, "alice", alicePassword, "")
	authz := e.endpoint("authorization_endpoint")
	tokenURL := e.endpoint("token_endpoint")
	challenge := func(v string) string { return oauth2.S256ChallengeFromVerifier(v) }
	good := func(client, redirect string) url.Values {
		return url.Values{"client_id": {client}, "redirect_uri": {redirect}, "response_type": {"code"},
			"scope": {"openid email"}, "state": {"st"}, "code_challenge": {challenge(strings.Repeat("v", 43))}, "code_challenge_method": {"S256"}}
	}
	with := func(v url.Values, edits ...string) url.Values {
		out := url.Values{}
		for k, vs := range v {
			out[k] = slices.Clone(vs)
		}
		for i := 0; i+1 < len(edits); i += 2 {
			if edits[i+1] == "<del>" {
				out.Del(edits[i])
			} else {
				out.Set(edits[i], edits[i+1])
			}
		}
		return out
	}
	base := good("trusted", rpCallback)

	t.Run("authorize errors shown on a page", func(t *testing.T) {
		dupClient := with(base)
		dupClient.Add("client_id", "third")
		for _, tc := range []struct {
			name string
			q    url.Values
		}{
			{"wrong redirect_uri", with(base, "redirect_uri", "https://evil.example/cb")},
			{"redirect_uri of another client", with(base, "redirect_uri", thirdCallback)},
			{"redirect_uri prefix", with(base, "redirect_uri", rpCallback+"/x")},
			{"missing redirect_uri", with(base, "redirect_uri", "<del>")},
			{"unknown client", with(base, "client_id", "nobody")},
			{"missing client_id", with(base, "client_id", "<del>")},
			{"duplicated client_id", dupClient},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := e.fetch(b, "GET", authz+"?"+tc.q.Encode(), nil, nil)
				if res.status != http.StatusBadRequest || res.header.Get("Location") != "" || !strings.Contains(res.body, "This sign-in request is invalid") {
					t.Fatalf("%d Location=%q", res.status, res.header.Get("Location"))
				}
				if strings.Contains(res.body, "evil.example") {
					t.Fatal("the page links to the unregistered redirect_uri")
				}
			})
		}
	})

	t.Run("authorize errors redirected", func(t *testing.T) {
		dupScope := with(base)
		dupScope.Add("scope", "openid")
		other := e.browser() // signed out
		for _, tc := range []struct {
			name   string
			b      *http.Client
			q      url.Values
			err    string
			errDsc string
		}{
			{"missing PKCE, public client", b, with(good("spa", spaCallback), "code_challenge", "<del>", "code_challenge_method", "<del>"), "invalid_request", "code_challenge required"},
			{"missing PKCE, requirePKCE client", b, with(base, "code_challenge", "<del>", "code_challenge_method", "<del>"), "invalid_request", "code_challenge required"},
			{"plain PKCE", b, with(base, "code_challenge_method", "plain", "code_challenge", strings.Repeat("p", 43)), "invalid_request", "PKCE method plain is not supported"},
			{"PKCE without method (plain)", b, with(base, "code_challenge_method", "<del>"), "invalid_request", "PKCE method plain is not supported"},
			{"short code_challenge", b, with(base, "code_challenge", "abc"), "invalid_request", ""},
			{"prompt=none without session", other, with(base, "prompt", "none"), "login_required", ""},
			{"prompt=none needing consent", b, with(good("third", thirdCallback), "prompt", "none"), "consent_required", ""},
			{"prompt=none with login", b, with(base, "prompt", "none login"), "invalid_request", ""},
			{"unknown prompt", b, with(base, "prompt", "bogus"), "invalid_request", ""},
			{"response_type token", b, with(base, "response_type", "token"), "unsupported_response_type", ""},
			{"response_type id_token", b, with(base, "response_type", "id_token"), "unsupported_response_type", ""},
			{"response_type code id_token", b, with(base, "response_type", "code id_token"), "unsupported_response_type", ""},
			{"missing response_type", b, with(base, "response_type", "<del>"), "invalid_request", ""},
			{"unknown scope", b, with(base, "scope", "openid admin"), "invalid_scope", ""},
			{"scope not allowed for client", b, with(good("third", thirdCallback), "scope", "openid groups"), "invalid_scope", ""},
			{"missing scope", b, with(base, "scope", "<del>"), "invalid_scope", ""},
			{"request object", b, with(base, "request", "eyJhbGciOiJub25lIn0.e30."), "request_not_supported", ""},
			{"request_uri", b, with(base, "request_uri", "https://rp.example/req"), "request_uri_not_supported", ""},
			{"duplicated scope", b, dupScope, "invalid_request", `parameter "scope" is repeated`},
			{"negative max_age", b, with(base, "max_age", "-1"), "invalid_request", "max_age must be a non-negative integer"},
			{"fragment response_mode", b, with(base, "response_mode", "fragment"), "invalid_request", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := e.fetch(tc.b, "GET", authz+"?"+tc.q.Encode(), nil, nil)
				loc, err := url.Parse(res.header.Get("Location"))
				if res.status != http.StatusFound || err != nil || !strings.HasPrefix(res.header.Get("Location"), tc.q.Get("redirect_uri")+"?") {
					t.Fatalf("%d Location=%q", res.status, res.header.Get("Location"))
				}
				q := loc.Query()
				if q.Get("error") != tc.err || q.Get("state") != "st" || q.Get("iss") != e.issuer || q.Has("code") {
					t.Fatalf("got %v", q)
				}
				if tc.errDsc != "" && q.Get("error_description") != tc.errDsc {
					t.Fatalf("error_description %q, want %q", q.Get("error_description"), tc.errDsc)
				}
			})
		}
	})

	// code obtains a fresh code for client with verifier v.
	code := func(client, redirect, v string, scope ...string) string {
		t.Helper()
		q := good(client, redirect)
		q.Set("code_challenge", challenge(v))
		if len(scope) > 0 {
			q.Set("scope", scope[0])
		}
		back := e.drive(b, authz+"?"+q.Encode(), asAlice)
		if back.Query().Get("code") == "" {
			t.Fatalf("no code: %v", back.Query())
		}
		return back.Query().Get("code")
	}
	exchange := func(c, v, redirect string) url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "code": {c}, "redirect_uri": {redirect}, "code_verifier": {v}}
	}
	v := oauth2.GenerateVerifier()

	t.Run("code reuse revokes the first tokens", func(t *testing.T) {
		c := code("trusted", rpCallback, v, "openid email offline_access")
		st, _, first := e.post(tokenURL, exchange(c, v, rpCallback), "trusted", trustedSecret)
		if st != http.StatusOK {
			t.Fatalf("first exchange: %d %v", st, first)
		}
		st, _, second := e.post(tokenURL, exchange(c, v, rpCallback), "trusted", trustedSecret)
		if st != http.StatusBadRequest || second["error"] != "invalid_grant" || second["access_token"] != nil {
			t.Fatalf("replay: %d %v", st, second)
		}
		if e.introspect(first["access_token"].(string))["active"] != false {
			t.Fatal("access token from the replayed code still active")
		}
		if st, body := e.refresh("trusted", trustedSecret, first["refresh_token"].(string)); st != http.StatusBadRequest || body["error"] != "invalid_grant" {
			t.Fatalf("refresh token from the replayed code: %d %v", st, body)
		}
	})

	otherClientRefresh := func() string {
		c := code("third", thirdCallback, v, "openid offline_access")
		st, _, body := e.post(tokenURL, exchange(c, v, thirdCallback), "third", thirdSecret)
		if st != http.StatusOK {
			t.Fatalf("third exchange: %d %v", st, body)
		}
		return body["refresh_token"].(string)
	}
	// Give consent to "third" once, so its codes come without a page.
	e.drive(b, authz+"?"+good("third", thirdCallback).Encode(), asAlice)

	for _, tc := range []struct {
		name       string
		form       func() url.Values
		user, pass string
		status     int
		err        string
		basic      bool
	}{
		{"wrong verifier", func() url.Values {
			return exchange(code("trusted", rpCallback, v), oauth2.GenerateVerifier(), rpCallback)
		}, "trusted", trustedSecret, 400, "invalid_grant", false},
		{"missing verifier", func() url.Values {
			return exchange(code("trusted", rpCallback, v), "", rpCallback)
		}, "trusted", trustedSecret, 400, "invalid_grant", false},
		{"redirect_uri differs", func() url.Values {
			return exchange(code("trusted", rpCallback, v), v, rpHome)
		}, "trusted", trustedSecret, 400, "invalid_grant", false},
		{"wrong client secret", func() url.Values {
			return exchange(code("trusted", rpCallback, v), v, rpCallback)
		}, "trusted", "not-the-secret-0123456789", 401, "invalid_client", true},
		{"unknown client", func() url.Values {
			return exchange(code("trusted", rpCallback, v), v, rpCallback)
		}, "mallory", "whatever-secret-0123456", 401, "invalid_client", true},
		{"code of another client", func() url.Values {
			return exchange(code("trusted", rpCallback, v), v, thirdCallback)
		}, "third", thirdSecret, 400, "invalid_grant", false},
		{"unsupported grant type", func() url.Values {
			return url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePassword}}
		}, "trusted", trustedSecret, 400, "unsupported_grant_type", false},
		{"client not allowed the grant", func() url.Values {
			return url.Values{"grant_type": {"client_credentials"}}
		}, "trusted", trustedSecret, 400, "unauthorized_client", false},
		{"refresh token of another client", func() url.Values {
			return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {otherClientRefresh()}}
		}, "trusted", trustedSecret, 400, "invalid_grant", false},
		{"duplicated parameter", func() url.Values {
			f := exchange(code("trusted", rpCallback, v), v, rpCallback)
			f.Add("code", "again")
			return f
		}, "trusted", trustedSecret, 400, "invalid_request", false},
		{"missing grant_type", func() url.Values { return url.Values{} }, "trusted", trustedSecret, 400, "invalid_request", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, hdr, body := e.post(tokenURL, tc.form(), tc.user, tc.pass)
			if st != tc.status || body["error"] != tc.err {
				t.Fatalf("%d %v", st, body)
			}
			if body["access_token"] != nil || body["id_token"] != nil || body["refresh_token"] != nil {
				t.Fatalf("tokens issued: %v", body)
			}
			if hdr.Get("Cache-Control") != "no-store" || hdr.Get("Content-Type") != "application/json" {
				t.Fatalf("headers %v", hdr)
			}
			if tc.basic && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Basic") {
				t.Fatalf("401 without WWW-Authenticate: %v", hdr)
			}
		})
	}

	t.Run("no token endpoint body leaks internals", func(t *testing.T) {
		req, _ := http.NewRequest("POST", tokenURL, strings.NewReader(`{"grant_type":"authorization_code"}`))
		req.Header.Set("Content-Type", "application/json")
		res, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "invalid_request") {
			t.Fatalf("JSON body: %d %s", res.StatusCode, b)
		}
		for _, leak := range []string{"panic", ".go:", "EOF"} {
			if strings.Contains(string(b), leak) {
				t.Fatalf("leaks %q", leak)
			}
		}
	})
}

// TestOIDC_LogoutTokenKeysVerify makes sure the keys Gatehouse publishes
// verify tokens of both algorithms (go-oidc's key set, as RPs use it).
func TestOIDC_PublishedKeysVerifyBothAlgorithms(t *testing.T) {
	e := newOIDCEnv(t, nil)
	ks := oidc.NewRemoteKeySet(e.ctx, e.endpoint("jwks_uri"))
	for _, alg := range []string{"RS256", "ES256"} {
		tok, err := e.app.keys.Sign(alg, "JWT", map[string]any{"iss": e.issuer})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ks.VerifySignature(e.ctx, tok); err != nil {
			t.Errorf("%s: %v", alg, err)
		}
	}
	// And a key that is not ours is refused.
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k}, nil)
	jws, _ := s.Sign([]byte(`{}`))
	out, _ := jws.CompactSerialize()
	if _, err := ks.VerifySignature(e.ctx, out); err == nil {
		t.Error("foreign key accepted")
	}
}
