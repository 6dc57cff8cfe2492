// Package authntest runs a sign-in dispatcher on an httptest server for
// the tests of sign-in methods: a memory store, sessions, CSRF, pages, a
// user directory with one user and one password, and browsers (HTTP
// clients with their own cookie jars) that read and submit its forms.
package authntest

import (
	"bytes"
	"context"
	"crypto/subtle"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/csrf"
	"github.com/gatehouse-sso/gatehouse/identity"
	"github.com/gatehouse-sso/gatehouse/idp/authn"
	"github.com/gatehouse-sso/gatehouse/redirect"
	"github.com/gatehouse-sso/gatehouse/session"
	"github.com/gatehouse-sso/gatehouse/store/memory"
	"github.com/gatehouse-sso/gatehouse/web"
)

// The one user the directory knows.
const (
	UserID   = "u1"
	Username = "alice"
	Password = "correct horse battery staple"
)

// Users is a user directory in memory; it implements authn.Users and
// password.Users.
type Users struct {
	mu    sync.Mutex
	users map[string]identity.User
}

// ByID returns the user id.
func (u *Users) ByID(_ context.Context, id string) (identity.User, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	x, ok := u.users[id]
	if !ok {
		return identity.User{}, identity.ErrNotFound
	}
	return x, nil
}

// Authenticate accepts Username with Password.
func (u *Users) Authenticate(ctx context.Context, login, password string) (identity.User, error) {
	x, err := u.ByID(ctx, UserID)
	if err != nil || login != x.Username || subtle.ConstantTimeCompare([]byte(password), []byte(Password)) != 1 {
		return identity.User{}, identity.ErrInvalidCredentials
	}
	if x.Disabled {
		return x, identity.ErrDisabled
	}
	return x, nil
}

// SetDisabled disables or enables the user.
func (u *Users) SetDisabled(disabled bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	x := u.users[UserID]
	x.Disabled = disabled
	u.users[UserID] = x
}

// Env is a dispatcher on a test server.
type Env struct {
	T        testing.TB
	Server   *httptest.Server
	Users    *Users
	Sessions *session.Manager
	// Logs holds every log line, as JSON.
	Logs *SyncBuffer
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// New starts a dispatcher with the methods that methods returns for the
// test directory; mutate may change its options before it is built (nil
// for none).
func New(t testing.TB, methods func(*Users) []authn.Method, mutate func(*authn.Options)) *Env {
	t.Helper()
	st := memory.New()
	t.Cleanup(func() { _ = st.Close() })
	sessions, err := session.New(st, session.Options{CookieName: "gh", IdleTimeout: time.Hour, AbsoluteTimeout: 24 * time.Hour,
		Secrets: [][]byte{[]byte(strings.Repeat("s", 32))}})
	if err != nil {
		t.Fatal(err)
	}
	protector, err := csrf.New([]byte(strings.Repeat("c", 32)), false)
	if err != nil {
		t.Fatal(err)
	}
	pages, err := web.NewRenderer(nil, web.Brand{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(nil)
	t.Cleanup(srv.Close)
	redirects, err := redirect.New(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	users := &Users{users: map[string]identity.User{UserID: {ID: UserID, Username: Username, Email: "alice@example.com"}}}
	logs := &SyncBuffer{}
	o := authn.Options{
		Methods: methods(users), Users: users, Sessions: sessions, Store: st, CSRF: protector, Redirects: redirects,
		Pages: pages, Log: slog.New(slog.NewJSONHandler(logs, nil)), MaxBodyBytes: 64 << 10, PublicURL: srv.URL,
	}
	if mutate != nil {
		mutate(&o)
	}
	d, err := authn.New(o)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	d.Mount(mux)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "home") })
	srv.Config.Handler = mux
	return &Env{T: t, Server: srv, Users: users, Sessions: sessions, Logs: logs}
}

// Browser is a client with its own cookies that does not follow
// redirects.
func (e *Env) Browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Response is a finished request.
type Response struct {
	Status   int
	Location string
	Body     string
	Header   http.Header
}

// Get fetches path (or an absolute URL) in browser b.
func (e *Env) Get(b *http.Client, target string) Response {
	e.T.Helper()
	return e.do(b, "GET", target, nil)
}

// Submit posts the first form of page with the given fields added to its
// hidden ones (and its CSRF token), as browser b.
func (e *Env) Submit(b *http.Client, page string, fields url.Values) Response {
	e.T.Helper()
	m := regexp.MustCompile(`<form method="post" action="([^"]+)">`).FindStringSubmatch(page)
	if m == nil {
		e.T.Fatalf("no form on the page: %s", page)
	}
	v := url.Values{}
	for _, h := range regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`).FindAllStringSubmatch(page, -1) {
		v.Set(h[1], html.UnescapeString(h[2]))
	}
	for k, vals := range fields {
		v[k] = vals
	}
	return e.do(b, "POST", html.UnescapeString(m[1]), v)
}

func (e *Env) do(b *http.Client, method, target string, form url.Values) Response {
	e.T.Helper()
	if strings.HasPrefix(target, "/") {
		target = e.Server.URL + target
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		e.T.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", e.Server.URL)
	}
	res, err := b.Do(req)
	if err != nil {
		e.T.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return Response{Status: res.StatusCode, Location: res.Header.Get("Location"), Body: string(raw), Header: res.Header}
}

// Session returns browser b's session (ok false when signed out).
func (e *Env) Session(b *http.Client) (session.Record, bool) {
	e.T.Helper()
	u, _ := url.Parse(e.Server.URL)
	r := httptest.NewRequest("GET", e.Server.URL+"/", nil)
	for _, c := range b.Jar.Cookies(u) {
		r.AddCookie(c)
	}
	rec, err := e.Sessions.Load(context.Background(), r)
	if err != nil {
		return session.Record{}, false
	}
	return rec, true
}
