package idp

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/csrf"
	"github.com/gatehouse-sso/gatehouse/identity"
	"github.com/gatehouse-sso/gatehouse/idp/clients"
	"github.com/gatehouse-sso/gatehouse/idp/grants"
	"github.com/gatehouse-sso/gatehouse/idp/keys"
	"github.com/gatehouse-sso/gatehouse/session"
	"github.com/gatehouse-sso/gatehouse/store"
	"github.com/gatehouse-sso/gatehouse/store/memory"
	"github.com/gatehouse-sso/gatehouse/web"
)

// fakeUsers is a directory whose users a test can change under the
// provider's feet (demotion, deletion).
type fakeUsers struct {
	mu    sync.Mutex
	users map[string]identity.User
}

func (f *fakeUsers) ByID(_ context.Context, id string) (identity.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.users[id]
	if !ok {
		return identity.User{}, identity.ErrNotFound
	}
	return u, nil
}

func (f *fakeUsers) set(u identity.User) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users[u.ID] = u
}

const (
	hClientSecret = "bench-secret-0123456789abcdef"
	hCallback     = "https://rp.example/cb"
)

// harness is a Provider on a plain-HTTP httptest server with the memory
// store, one trusted client ("app", skipConsent, PKCE) and one user.
type harness struct {
	tb       testing.TB
	srv      *httptest.Server
	p        *Provider
	users    *fakeUsers
	sessions *session.Manager
	keys     *keys.Manager
	grants   *grants.Store
	st       store.Store
	client   *http.Client
}

func newHarness(tb testing.TB, mutate func(*Options)) *harness {
	tb.Helper()
	ctx := context.Background()
	st := memory.New()
	tb.Cleanup(func() { _ = st.Close() })
	km, err := keys.New(ctx, st, keys.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	reg, err := clients.New([]clients.Spec{
		{ID: "app", Secret: hClientSecret, Name: "App", RedirectURLs: []string{hCallback}, SkipConsent: true, RequirePKCE: true},
		{ID: "es", Secret: hClientSecret, Name: "EC", RedirectURLs: []string{hCallback}, SkipConsent: true, SigningAlg: keys.ES256},
	})
	if err != nil {
		tb.Fatal(err)
	}
	sessions, err := session.New(st, session.Options{
		CookieName: "gh", IdleTimeout: time.Hour, AbsoluteTimeout: 24 * time.Hour,
		Secrets: [][]byte{[]byte(strings.Repeat("s", 32))},
	})
	if err != nil {
		tb.Fatal(err)
	}
	protector, err := csrf.New([]byte(strings.Repeat("c", 32)), false)
	if err != nil {
		tb.Fatal(err)
	}
	pages, err := web.NewRenderer(nil, web.Brand{})
	if err != nil {
		tb.Fatal(err)
	}
	users := &fakeUsers{users: map[string]identity.User{}}
	users.set(identity.User{ID: "u1", Username: "alice", Email: "alice@example.com", EmailVerified: true,
		Name: "Alice", Groups: []string{"admins"}, Attributes: map[string]any{"role": "admin", "org": map[string]any{"tier": "gold"}}})
	g := grants.New(st, grants.Options{RefreshGrace: 3 * time.Second})

	srv := httptest.NewUnstartedServer(nil)
	srv.Start()
	tb.Cleanup(srv.Close)
	o := Options{
		Issuer: srv.URL, Keys: km, Clients: reg, Grants: g, Users: users, Sessions: sessions,
		CSRF: protector, Pages: pages, Store: st,
		CodeTTL: 5 * time.Minute, AccessTokenTTL: 30 * time.Minute, IDTokenTTL: time.Hour, RefreshTokenTTL: 14 * 24 * time.Hour,
		Claims: []Claim{{Name: "admin", AnyGroup: []string{"admins"}}},
	}
	if mutate != nil {
		mutate(&o)
	}
	p, err := New(o)
	if err != nil {
		tb.Fatal(err)
	}
	wctx, stop := context.WithCancel(ctx)
	tb.Cleanup(stop)
	if err := p.Watch(wctx); err != nil {
		tb.Fatal(err)
	}
	mux := http.NewServeMux()
	p.Mount(mux)
	srv.Config.Handler = mux
	return &harness{tb: tb, srv: srv, p: p, users: users, sessions: sessions, keys: km, grants: g, st: st,
		client: &http.Client{
			Transport:     srv.Client().Transport,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}}
}

// signIn starts a session for user id and returns its cookie.
func (h *harness) signIn(id string) *http.Cookie {
	h.tb.Helper()
	rec := httptest.NewRecorder()
	if _, err := h.sessions.Start(context.Background(), rec, httptest.NewRequest("GET", "/", nil), id, []string{"pwd"}); err != nil {
		h.tb.Fatal(err)
	}
	return rec.Result().Cookies()[0]
}

const hVerifier = "bench-verifier-0123456789-0123456789-0123456789"

func challengeOf(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// authorize runs an authorization with an existing session and returns
// the code.
func (h *harness) authorize(cookie *http.Cookie, scope string) string {
	h.tb.Helper()
	q := url.Values{"client_id": {"app"}, "redirect_uri": {hCallback}, "response_type": {"code"}, "scope": {scope},
		"state": {"s"}, "nonce": {"n"}, "code_challenge": {challengeOf(hVerifier)}, "code_challenge_method": {"S256"}}
	req, _ := http.NewRequest("GET", h.srv.URL+"/authorize?"+q.Encode(), nil)
	req.AddCookie(cookie)
	res, err := h.client.Do(req)
	if err != nil {
		h.tb.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || err != nil || loc.Query().Get("code") == "" {
		h.tb.Fatalf("authorize: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	return loc.Query().Get("code")
}

// token posts a token request with client_secret_basic for "app".
func (h *harness) token(form url.Values) (int, map[string]any) {
	h.tb.Helper()
	req, _ := http.NewRequest("POST", h.srv.URL+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("app", hClientSecret)
	res, err := h.client.Do(req)
	if err != nil {
		h.tb.Fatal(err)
	}
	defer res.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		h.tb.Fatalf("token: %d, %v", res.StatusCode, err)
	}
	return res.StatusCode, body
}

func (h *harness) exchange(code string) map[string]any {
	h.tb.Helper()
	st, body := h.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {hCallback}, "code_verifier": {hVerifier}})
	if st != http.StatusOK {
		h.tb.Fatalf("exchange: %d %v", st, body)
	}
	return body
}

// userinfo calls userinfo with a Bearer token.
func (h *harness) userinfo(at string) (int, map[string]any, http.Header) {
	h.tb.Helper()
	req, _ := http.NewRequest("GET", h.srv.URL+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+at)
	res, err := h.client.Do(req)
	if err != nil {
		h.tb.Fatal(err)
	}
	defer res.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(res.Body).Decode(&body)
	return res.StatusCode, body, res.Header
}
