package oidcrp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
)

const redirectURI = "https://app.example/cb"

// provider is a fake authorization server: it remembers the requests
// the relying party sent browsers to, redeems each code once with the
// PKCE verifier, and signs ID tokens with an ES256 key.
type provider struct {
	t      testing.TB
	srv    *httptest.Server
	key    *ecdsa.PrivateKey
	issuer string

	mu    sync.Mutex
	codes map[string]url.Values // code → the authorization request

	// tweak changes the ID token's claims before signing.
	tweak func(claims map[string]any)
	// fail makes the token endpoint answer with this status.
	fail atomic.Int32
	// noIDToken leaves id_token out of the token response.
	noIDToken bool
	// auth is the client authentication the last token request used
	// ("basic" or "post").
	auth atomic.Value
}

func newProvider(t testing.TB) *provider {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p := &provider{t: t, key: key, codes: map[string]url.Values{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": p.issuer, "authorization_endpoint": p.issuer + "/authorize", "token_endpoint": p.issuer + "/token",
			"jwks_uri": p.issuer + "/jwks", "userinfo_endpoint": p.issuer + "/userinfo",
			"authorization_response_iss_parameter_supported": true,
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	p.issuer = p.srv.URL
	return p
}

// authorize plays the browser's visit to the authorization endpoint:
// it records the request and returns the callback's query.
func (p *provider) authorize(authURL string) url.Values {
	p.t.Helper()
	u, err := url.Parse(authURL)
	if err != nil {
		p.t.Fatal(err)
	}
	q := u.Query()
	code := rand.Text()
	p.mu.Lock()
	p.codes[code] = q
	p.mu.Unlock()
	return url.Values{"code": {code}, "state": {q.Get("state")}, "iss": {p.issuer}}
}

func (p *provider) token(w http.ResponseWriter, r *http.Request) {
	if s := p.fail.Load(); s != 0 {
		w.WriteHeader(int(s))
		_, _ = w.Write([]byte(`{"error":"server_error"}`))
		return
	}
	_ = r.ParseForm()
	id, secret, basic := r.BasicAuth()
	if basic {
		p.auth.Store("basic")
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		p.auth.Store("post")
	}
	p.mu.Lock()
	req, ok := p.codes[r.PostForm.Get("code")]
	delete(p.codes, r.PostForm.Get("code"))
	p.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	switch {
	case !ok, id != "client", secret != "s3cret", req.Get("client_id") != id,
		req.Get("redirect_uri") != r.PostForm.Get("redirect_uri"),
		req.Get("code_challenge_method") != "S256",
		req.Get("code_challenge") != base64.RawURLEncoding.EncodeToString(sum[:]):
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"invalid_grant"}`))
		return
	}
	resp := map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 3600, "scope": req.Get("scope")}
	if !p.noIDToken {
		now := time.Now()
		claims := map[string]any{"iss": p.issuer, "aud": "client", "sub": "u1", "nonce": req.Get("nonce"),
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "email": "u1@example.com"}
		if p.tweak != nil {
			p.tweak(claims)
		}
		resp["id_token"] = p.sign(claims)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

func (p *provider) sign(claims map[string]any) string {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: p.key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	if err != nil {
		p.t.Fatal(err)
	}
	b, _ := json.Marshal(claims)
	jws, err := s.Sign(b)
	if err != nil {
		p.t.Fatal(err)
	}
	out, _ := jws.CompactSerialize()
	return out
}

func (p *provider) config() Config {
	return Config{
		Issuer: p.issuer, ClientID: "client", ClientSecret: "s3cret", AuthStyle: oauth2.AuthStyleInHeader,
		Endpoints:   Endpoints{AuthURL: p.issuer + "/authorize", TokenURL: p.issuer + "/token"},
		Scopes:      []string{"email"},
		KeySet:      &oidc.StaticKeySet{PublicKeys: []crypto.PublicKey{&p.key.PublicKey}},
		SigningAlgs: []string{oidc.ES256},
		HTTPClient:  p.srv.Client(),
		Secrets:     [][]byte{bytes.Repeat([]byte{1}, 32)},
		Label:       "test rp", CookiePrefix: "__Host-flow_", Secure: true,
	}
}

func newRP(t testing.TB, c Config) *RP {
	t.Helper()
	rp, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return rp
}

// browser runs Start and returns the callback query the provider sends
// back and the binding cookie Start set.
func start(t testing.TB, rp *RP, p *provider, app any) (url.Values, *http.Cookie) {
	t.Helper()
	w := httptest.NewRecorder()
	authURL, err := rp.Start(w, redirectURI, app, url.Values{"prompt": {"login"}})
	if err != nil {
		t.Fatal(err)
	}
	cs := w.Result().Cookies()
	if len(cs) != 1 {
		t.Fatalf("Start set %d cookies", len(cs))
	}
	return p.authorize(authURL), cs[0]
}

func callback(rp *RP, q url.Values, cookies ...*http.Cookie) (*Flow, *Result, *httptest.ResponseRecorder, error) {
	r := httptest.NewRequest("GET", redirectURI+"?"+q.Encode(), nil)
	for _, c := range cookies {
		r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	w := httptest.NewRecorder()
	f, res, err := rp.Callback(w, r)
	return f, res, w, err
}

// TestFlow: a flow started here completes, carries its data and the
// granted scopes, asks for PKCE, nonce, the configured and per-flow
// parameters, and clears its binding cookie.
func TestFlow(t *testing.T) {
	p := newProvider(t)
	c := p.config()
	c.AuthParams = url.Values{"hd": {"example.com"}}
	rp := newRP(t, c)
	type app struct{ RD string }
	w := httptest.NewRecorder()
	authURL, err := rp.Start(w, redirectURI, app{RD: "/docs"}, url.Values{"prompt": {"login"}})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(authURL)
	aq := u.Query()
	for k, want := range map[string]string{
		"client_id": "client", "redirect_uri": redirectURI, "response_type": "code", "scope": "openid email",
		"code_challenge_method": "S256", "hd": "example.com", "prompt": "login",
	} {
		if aq.Get(k) != want {
			t.Errorf("authorization request %s = %q, want %q", k, aq.Get(k), want)
		}
	}
	if aq.Get("nonce") == "" || aq.Get("code_challenge") == "" || aq.Get("state") == "" {
		t.Fatalf("authorization request lacks nonce, challenge or state: %s", authURL)
	}
	set := w.Result().Cookies()[0]
	if !set.Secure || !set.HttpOnly || set.SameSite != http.SameSiteLaxMode || set.Path != "/" ||
		set.Name != rp.BindingCookie(aq.Get("state")) || set.Value != Digest(aq.Get("state")) {
		t.Fatalf("binding cookie %+v", set)
	}
	f, res, rec, err := callback(rp, p.authorize(authURL), set)
	if err != nil {
		t.Fatal(err)
	}
	var got app
	if err := f.App(&got); err != nil || got.RD != "/docs" || f.RedirectURI != redirectURI {
		t.Fatalf("flow data %+v %v", got, err)
	}
	var claims struct{ Email string }
	if err := res.Claims(&claims); err != nil || res.IDToken.Subject != "u1" || claims.Email != "u1@example.com" {
		t.Fatalf("claims %+v %v", claims, err)
	}
	if s := res.Scopes(); strings.Join(s, " ") != "openid email" {
		t.Fatalf("scopes %q", s)
	}
	if cleared := rec.Result().Cookies(); len(cleared) != 1 || cleared[0].Name != set.Name || cleared[0].MaxAge >= 0 {
		t.Fatalf("binding cookie not cleared: %+v", cleared)
	}
}

// TestCallbackRefusals: every bad callback is refused with its reason
// and never reaches a completed flow.
func TestCallbackRefusals(t *testing.T) {
	p := newProvider(t)
	rp := newRP(t, p.config())
	otherC := p.config()
	otherC.Secrets = [][]byte{bytes.Repeat([]byte{2}, 32)}
	other := newRP(t, otherC)
	relabeledC := p.config()
	relabeledC.Label = "another rp"
	relabeled := newRP(t, relabeledC)

	type tc struct {
		name string
		// prepare returns the callback query and cookies, from a good
		// flow's.
		prepare func(q url.Values, c *http.Cookie) (url.Values, []*http.Cookie)
		setup   func() (cleanup func())
		want    error
	}
	same := func(q url.Values, c *http.Cookie) (url.Values, []*http.Cookie) { return q, []*http.Cookie{c} }
	foreign := func(from *RP) func(url.Values, *http.Cookie) (url.Values, []*http.Cookie) {
		return func(q url.Values, c *http.Cookie) (url.Values, []*http.Cookie) {
			fq, fc := start(t, from, p, nil)
			return fq, []*http.Cookie{fc}
		}
	}
	with := func(k, v string) func(url.Values, *http.Cookie) (url.Values, []*http.Cookie) {
		return func(q url.Values, c *http.Cookie) (url.Values, []*http.Cookie) {
			q.Set(k, v)
			return q, []*http.Cookie{c}
		}
	}
	without := func(k string) func(url.Values, *http.Cookie) (url.Values, []*http.Cookie) {
		return func(q url.Values, c *http.Cookie) (url.Values, []*http.Cookie) {
			q.Del(k)
			return q, []*http.Cookie{c}
		}
	}
	tweak := func(f func(map[string]any)) func() func() {
		return func() func() { p.tweak = f; return func() { p.tweak = nil } }
	}
	for _, c := range []tc{
		{"no state", without("state"), nil, ErrState},
		{"forged state", with("state", "Zm9yZ2Vk"), nil, ErrState},
		{"tampered state", func(q url.Values, c *http.Cookie) (url.Values, []*http.Cookie) {
			s := []byte(q.Get("state"))
			s[len(s)/2] ^= 1
			q.Set("state", string(s))
			return q, []*http.Cookie{c}
		}, nil, ErrState},
		{"over-long state", with("state", strings.Repeat("a", DefaultMaxStateLen+1)), nil, ErrState},
		{"state sealed with other secrets", foreign(other), nil, ErrState},
		{"state of another relying party", foreign(relabeled), nil, ErrState},
		{"no binding cookie (another browser)", func(q url.Values, c *http.Cookie) (url.Values, []*http.Cookie) { return q, nil }, nil, ErrBinding},
		{"binding cookie of another flow", func(q url.Values, c *http.Cookie) (url.Values, []*http.Cookie) {
			_, c2 := start(t, rp, p, nil)
			return q, []*http.Cookie{{Name: c.Name, Value: c2.Value}}
		}, nil, ErrBinding},
		{"iss of another issuer", with("iss", "https://evil.example"), nil, ErrIssuer},
		{"iss repeated", func(q url.Values, c *http.Cookie) (url.Values, []*http.Cookie) {
			q.Add("iss", q.Get("iss"))
			return q, []*http.Cookie{c}
		}, nil, ErrIssuer},
		{"iss empty", with("iss", ""), nil, ErrIssuer},
		{"error from the provider", func(q url.Values, c *http.Cookie) (url.Values, []*http.Cookie) {
			q.Del("code")
			q.Set("error", "access_denied")
			return q, []*http.Cookie{c}
		}, nil, ErrProvider},
		{"error beside a code", with("error", "server_error"), nil, ErrProvider},
		{"missing code", without("code"), nil, ErrNoCode},
		{"empty code", with("code", ""), nil, ErrNoCode},
		{"two codes", func(q url.Values, c *http.Cookie) (url.Values, []*http.Cookie) {
			q.Add("code", "x")
			return q, []*http.Cookie{c}
		}, nil, ErrNoCode},
		{"unknown code", with("code", "guessed"), nil, ErrRefused},
		{"token endpoint down", same, func() func() { p.fail.Store(502); return func() { p.fail.Store(0) } }, ErrUnavailable},
		{"no ID token", same, func() func() { p.noIDToken = true; return func() { p.noIDToken = false } }, ErrIDToken},
		{"ID token of another flow (nonce)", same, tweak(func(m map[string]any) { m["nonce"] = "other" }), ErrIDToken},
		{"ID token for another client", same, tweak(func(m map[string]any) { m["aud"] = "other" }), ErrIDToken},
		{"ID token of another issuer", same, tweak(func(m map[string]any) { m["iss"] = "https://evil.example" }), ErrIDToken},
		{"expired ID token", same, tweak(func(m map[string]any) { m["exp"] = time.Now().Add(-time.Hour).Unix() }), ErrIDToken},
	} {
		t.Run(c.name, func(t *testing.T) {
			q, cookie := start(t, rp, p, map[string]string{"rd": "/"})
			q, cookies := c.prepare(q, cookie)
			if c.setup != nil {
				defer c.setup()()
			}
			_, res, _, err := callback(rp, q, cookies...)
			if !errors.Is(err, c.want) || res != nil {
				t.Fatalf("err = %v (result %v), want %v", err, res != nil, c.want)
			}
		})
	}
}

// TestProviderError: the provider's error code is handed to the caller.
func TestProviderError(t *testing.T) {
	p := newProvider(t)
	rp := newRP(t, p.config())
	q, c := start(t, rp, p, nil)
	q.Del("code")
	q.Set("error", "access_denied")
	q.Set("error_description", "The user said no")
	_, _, _, err := callback(rp, q, c)
	var pe *ProviderError
	if !errors.As(err, &pe) || pe.Code != "access_denied" || pe.Description != "The user said no" {
		t.Fatalf("err = %#v", err)
	}
}

// TestIssRequired: a provider that promises iss (RFC 9207) must send it.
func TestIssRequired(t *testing.T) {
	p := newProvider(t)
	c := p.config()
	c.Endpoints.IssParameter = true
	rp := newRP(t, c)
	q, ck := start(t, rp, p, nil)
	q.Del("iss")
	if _, _, _, err := callback(rp, q, ck); !errors.Is(err, ErrIssuer) {
		t.Fatalf("missing iss: %v", err)
	}
	// Without the promise, a callback without iss is fine.
	rp = newRP(t, p.config())
	q, ck = start(t, rp, p, nil)
	q.Del("iss")
	if _, _, _, err := callback(rp, q, ck); err != nil {
		t.Fatalf("missing iss, not promised: %v", err)
	}
}

// onceSet is an in-memory Once.
type onceSet struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (o *onceSet) Use(_ context.Context, key string, _ time.Duration) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.seen[key] {
		return errors.New("used")
	}
	o.seen[key] = true
	return nil
}

// TestReplay: a flow completes once. The first callback clears the
// binding cookie, so a browser cannot come back; a replay that still
// holds the cookie meets the provider's single-use code, or, with Once,
// is refused before the code is even sent.
func TestReplay(t *testing.T) {
	p := newProvider(t)
	rp := newRP(t, p.config())
	q, c := start(t, rp, p, nil)
	if _, _, rec, err := callback(rp, q, c); err != nil {
		t.Fatal(err)
	} else if len(rec.Result().Cookies()) != 1 || rec.Result().Cookies()[0].MaxAge >= 0 {
		t.Fatal("binding cookie not cleared")
	}
	if _, _, _, err := callback(rp, q); !errors.Is(err, ErrBinding) {
		t.Errorf("replay by the browser: %v", err)
	}
	if _, _, _, err := callback(rp, q, c); !errors.Is(err, ErrRefused) {
		t.Errorf("replay with a stolen cookie: %v", err)
	}

	conf := p.config()
	conf.Once = &onceSet{seen: map[string]bool{}}
	rp = newRP(t, conf)
	q, c = start(t, rp, p, nil)
	if _, _, _, err := callback(rp, q, c); err != nil {
		t.Fatal(err)
	}
	// Even a fresh code for the same state is refused.
	q.Set("code", p.authorize(must(t, rp, q.Get("state"))).Get("code"))
	if _, _, _, err := callback(rp, q, c); !errors.Is(err, ErrReplay) {
		t.Errorf("replay with Once: %v", err)
	}
}

// must rebuilds an authorization URL for state, as the provider saw it
// (used to mint a second code for one state).
func must(t *testing.T, rp *RP, state string) string {
	t.Helper()
	f, err := rp.Decode(state)
	if err != nil {
		t.Fatal(err)
	}
	return rp.oauth.AuthCodeURL(state, oauth2.S256ChallengeOption(f.verifier), oidc.Nonce(f.nonce),
		oauth2.SetAuthURLParam("redirect_uri", f.RedirectURI))
}

// TestExpiry: a state older than the TTL does not open, by the
// configured clock.
func TestExpiry(t *testing.T) {
	p := newProvider(t)
	now := time.Now()
	c := p.config()
	c.Now = func() time.Time { return now }
	rp := newRP(t, c)
	q, _ := start(t, rp, p, nil)
	now = now.Add(DefaultTTL - time.Second)
	if _, err := rp.Decode(q.Get("state")); err != nil {
		t.Fatalf("just before the TTL: %v", err)
	}
	now = now.Add(time.Second)
	if _, err := rp.Decode(q.Get("state")); !errors.Is(err, ErrState) {
		t.Fatalf("at the TTL: %v", err)
	}
}

// TestClientAuth: the client authenticates at the token endpoint as
// configured.
func TestClientAuth(t *testing.T) {
	p := newProvider(t)
	for style, want := range map[oauth2.AuthStyle]string{oauth2.AuthStyleInHeader: "basic", oauth2.AuthStyleInParams: "post"} {
		c := p.config()
		c.AuthStyle = style
		rp := newRP(t, c)
		q, ck := start(t, rp, p, nil)
		if _, _, _, err := callback(rp, q, ck); err != nil || p.auth.Load() != want {
			t.Errorf("style %v: %v, authenticated with %v", style, err, p.auth.Load())
		}
	}
}

// TestNoIDToken: a plain OAuth 2 provider completes without nonce or ID
// token, and its access token reaches the provider's API.
func TestNoIDToken(t *testing.T) {
	p := newProvider(t)
	p.noIDToken = true
	c := p.config()
	c.NoIDToken, c.KeySet, c.Issuer = true, nil, ""
	rp := newRP(t, c)
	w := httptest.NewRecorder()
	authURL, err := rp.Start(w, redirectURI, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := url.Parse(authURL); u.Query().Has("nonce") || u.Query().Get("scope") != "email" {
		t.Fatalf("authorization request %s", authURL)
	}
	_, res, _, err := callback(rp, p.authorize(authURL), w.Result().Cookies()[0])
	if err != nil || res.IDToken != nil || res.Token.AccessToken != "at" {
		t.Fatalf("%v %+v", err, res)
	}
	if res.Claims(&struct{}{}) == nil {
		t.Fatal("Claims without an ID token succeeded")
	}
}

// TestDiscover: endpoints and keys come from the provider's OpenID
// configuration, and a flow completes with them.
func TestDiscover(t *testing.T) {
	p := newProvider(t)
	e, err := Discover(context.Background(), p.srv.Client(), p.issuer)
	if err != nil {
		t.Fatal(err)
	}
	if e.AuthURL != p.issuer+"/authorize" || e.TokenURL != p.issuer+"/token" || e.JWKSURL != p.issuer+"/jwks" ||
		e.UserInfoURL != p.issuer+"/userinfo" || !e.IssParameter {
		t.Fatalf("endpoints %+v", e)
	}
	c := p.config()
	c.Endpoints, c.KeySet = e, nil
	rp := newRP(t, c)
	q, ck := start(t, rp, p, nil)
	if _, _, _, err := callback(rp, q, ck); err != nil {
		t.Fatal(err)
	}
	if _, err := Discover(context.Background(), p.srv.Client(), p.issuer+"/other"); err == nil {
		t.Fatal("discovery of an unknown issuer succeeded")
	}
}

// TestNewRefuses: a configuration missing what a flow needs is refused.
func TestNewRefuses(t *testing.T) {
	p := newProvider(t)
	for name, mut := range map[string]func(*Config){
		"no client id":     func(c *Config) { c.ClientID = "" },
		"no token URL":     func(c *Config) { c.Endpoints.TokenURL = "" },
		"no issuer":        func(c *Config) { c.Issuer = "" },
		"no keys":          func(c *Config) { c.KeySet = nil },
		"no label":         func(c *Config) { c.Label = "" },
		"no cookie prefix": func(c *Config) { c.CookiePrefix = "" },
		"no secrets":       func(c *Config) { c.Secrets = nil },
		"short secret":     func(c *Config) { c.Secrets = [][]byte{[]byte("short")} },
	} {
		c := p.config()
		mut(&c)
		if _, err := New(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
