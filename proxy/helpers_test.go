package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/config"
	"github.com/gatehouse-sso/gatehouse/identity"
	"github.com/gatehouse-sso/gatehouse/idp/keys"
	"github.com/gatehouse-sso/gatehouse/policy"
	"github.com/gatehouse-sso/gatehouse/server"
	"github.com/gatehouse-sso/gatehouse/store"
	"github.com/gatehouse-sso/gatehouse/store/memory"
	"github.com/gatehouse-sso/gatehouse/web"
)

// Test users.
var (
	alice = identity.User{ID: "u-alice", Username: "alice", Email: "alice@example.com", EmailVerified: true,
		Name: "Alice Liddell", Groups: []string{"admins", "staff"}}
	carol = identity.User{ID: "u-carol", Username: "carol", Email: "carol@example.com", Name: "Carol", Groups: []string{"staff"}}
)

// users is a fake directory.
type users struct {
	mu sync.Mutex
	m  map[string]identity.User
}

func (u *users) ByID(_ context.Context, id string) (identity.User, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	x, ok := u.m[id]
	if !ok {
		return identity.User{}, identity.ErrNotFound
	}
	return x, nil
}

// flaky is a store whose reads fail while broken is set; it counts Gets
// and writes (Put, Create, SetAdd).
type flaky struct {
	store.Store
	broken atomic.Bool
	gets   atomic.Int64
	puts   atomic.Int64
}

func (f *flaky) Put(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	f.puts.Add(1)
	return f.Store.Put(ctx, key, value, ttl)
}

func (f *flaky) Create(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	f.puts.Add(1)
	return f.Store.Create(ctx, key, value, ttl)
}

func (f *flaky) SetAdd(ctx context.Context, set, member string, ttl time.Duration) error {
	f.puts.Add(1)
	return f.Store.SetAdd(ctx, set, member, ttl)
}

var errBroken = errors.New("store is down")

func (f *flaky) Get(ctx context.Context, key string) ([]byte, error) {
	f.gets.Add(1)
	if f.broken.Load() {
		return nil, errBroken
	}
	return f.Store.Get(ctx, key)
}

func (f *flaky) SetMembers(ctx context.Context, set string) ([]string, error) {
	if f.broken.Load() {
		return nil, errBroken
	}
	return f.Store.SetMembers(ctx, set)
}

// clock is a settable test clock.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// seen is what an upstream received.
type seen struct {
	Method, Host, Path, RawQuery string
	Header                       http.Header
}

// echo is an upstream that records every request and answers with it.
type echo struct {
	srv  *httptest.Server
	hits atomic.Int64
	mu   sync.Mutex
	last seen
}

func newEcho(t testing.TB) *echo {
	e := &echo{}
	e.srv = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *echo) serve(w http.ResponseWriter, r *http.Request) {
	e.hits.Add(1)
	_, _ = io.Copy(io.Discard, r.Body)
	s := seen{Method: r.Method, Host: r.Host, Path: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery, Header: r.Header.Clone()}
	e.mu.Lock()
	e.last = s
	e.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(s)
}

func (e *echo) seen() seen {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last
}

// env is a gateway under test on a plain-HTTP server whose clients reach
// every host name at the server's address.
type env struct {
	t      testing.TB
	gw     *Gateway
	srv    *httptest.Server
	port   string
	store  *flaky
	users  *users
	keys   *keys.Manager
	clock  *clock
	client *http.Client
	up     *echo
	own    atomic.Int64 // requests that reached Gatehouse's own handler
}

// testRules is the policy of most tests.
func testRules() []config.Rule {
	return []config.Rule{
		{Name: "public", Hosts: []string{"app.test"}, PathPrefix: "/public", Decision: "public"},
		{Name: "admin", Hosts: []string{"app.test"}, PathPrefix: "/admin", Decision: "authenticated",
			GroupsAny: []string{"admins"}, MaxSessionAge: config.Duration(time.Hour)},
		{Name: "step-up", Hosts: []string{"app.test"}, PathPrefix: "/secure", Decision: "authenticated", SecondFactor: true},
		{Name: "app", Hosts: []string{"app.test", "*.wild.test"}, Decision: "authenticated"},
		{Name: "api-svc", Hosts: []string{"api.test"}, PathPrefix: "/svc", Decision: "authenticated", Clients: []string{"svc"}, Scopes: []string{"api.read"}},
		{Name: "api-write", Hosts: []string{"api.test"}, Methods: []string{"POST"}, Decision: "authenticated", Scopes: []string{"api.write"}},
		{Name: "api", Hosts: []string{"api.test"}, Decision: "authenticated", Scopes: []string{"api.read"}},
		{Name: "fa", Hosts: []string{"fa.test"}, PathPrefix: "/staff", Decision: "authenticated", GroupsAny: []string{"staff"}},
		{Name: "fa-admin", Hosts: []string{"fa.test"}, Decision: "authenticated", GroupsAny: []string{"admins"}},
	}
}

// newTestEnv starts a gateway with routes for app.test, *.wild.test and
// api.test (bearer) in front of one echo upstream; mutate may change the
// configuration before the gateway is built.
func newTestEnv(t testing.TB, mutate func(*config.Gateway)) *env {
	t.Helper()
	e := &env{t: t, up: newEcho(t), clock: &clock{}}
	e.clock.ns.Store(time.Now().UnixNano())
	e.users = &users{m: map[string]identity.User{alice.ID: alice, carol.ID: carol}}
	e.store = &flaky{Store: memory.New()}
	t.Cleanup(func() { _ = e.store.Close() })
	km, err := keys.New(context.Background(), memory.New(), keys.Options{Algorithms: []string{keys.ES256}})
	if err != nil {
		t.Fatal(err)
	}
	e.keys = km

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, e.port, _ = net.SplitHostPort(ln.Addr().String())

	gc := config.Default().Gateway
	gc.Routes = []config.Route{
		withDefaults(config.Route{Name: "app", Host: "app.test", Upstreams: []string{e.up.srv.URL}}),
		withDefaults(config.Route{Host: "*.wild.test", Upstreams: []string{e.up.srv.URL}}),
		withDefaults(config.Route{Name: "api", Host: "api.test", Upstreams: []string{e.up.srv.URL}, Bearer: config.Bearer{Clients: []string{"cli", "svc"}}}),
	}
	gc.Rules = testRules()
	if mutate != nil {
		mutate(&gc)
	}
	pol, err := policy.Compile(config.PolicyRules(gc.Rules))
	if err != nil {
		t.Fatal(err)
	}
	pages, err := web.NewRenderer(slog.New(slog.DiscardHandler), web.Brand{})
	if err != nil {
		t.Fatal(err)
	}
	gw, err := New(Options{
		Gateway: gc, PublicURL: "http://auth.test:" + e.port, Issuer: "http://auth.test:" + e.port,
		Policy: pol, Keys: km, Store: e.store, Users: e.users, Secrets: [][]byte{[]byte(strings.Repeat("s", 32))},
		SessionTTL: 24 * time.Hour, StripCookies: []string{"gatehouse_session", "gatehouse_csrf"},
		Pages: pages, Log: slog.New(slog.DiscardHandler), Now: e.clock.now,
		IdP: http.NotFoundHandler(), ClientSecret: "secret",
	})
	if err != nil {
		t.Fatal(err)
	}
	e.gw = gw
	own := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.own.Add(1)
		_, _ = io.WriteString(w, "gatehouse itself")
	})
	// Served as server.Serve serves: through the smuggling guard.
	hs := &http.Server{Handler: gw.Dispatch(own), MaxHeaderBytes: 8 << 10}
	server.Harden(hs, slog.New(slog.DiscardHandler))
	e.srv = &httptest.Server{Listener: server.Listen(ln, nil, hs.MaxHeaderBytes, 0, slog.New(slog.DiscardHandler)), Config: hs}
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	addr := ln.Addr().String()
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
		MaxIdleConnsPerHost: 64,
	}
	t.Cleanup(tr.CloseIdleConnections)
	e.client = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return e
}

func withDefaults(r config.Route) config.Route {
	d := config.DefaultRoute()
	d.Name, d.Host, d.PathPrefix, d.Upstreams, d.Bearer = r.Name, r.Host, r.PathPrefix, r.Upstreams, r.Bearer
	return d
}

// url is an absolute URL on host at the test server.
func (e *env) url(host, pathQuery string) string {
	return "http://" + host + ":" + e.port + pathQuery
}

// signIn creates an app session for u on host directly (the sign-in flow
// itself is tested end to end in cmd/gatehouse) and returns the cookie.
func (e *env) signIn(u identity.User, host string, amr ...string) *http.Cookie {
	e.t.Helper()
	if amr == nil {
		amr = []string{"pwd"}
	}
	now := e.clock.now()
	rec := appSession{UserID: u.ID, SID: "sid-" + u.ID, Host: host, AMR: amr, AuthTime: now,
		Created: now, Expires: now.Add(24 * time.Hour), Scopes: []string{"openid"}}
	if e.gw.cookieDomain != "" {
		rec.Host = ""
	}
	id, err := e.gw.createSession(context.Background(), rec)
	if err != nil {
		e.t.Fatal(err)
	}
	rr := httptest.NewRecorder()
	if err := e.gw.setAppCookie(rr, id); err != nil {
		e.t.Fatal(err)
	}
	return rr.Result().Cookies()[0]
}

type result struct {
	status int
	header http.Header
	body   string
}

// do sends a request; hdr values are set (a key with several values adds
// them all).
func (e *env) do(method, abs string, body io.Reader, hdr http.Header, cookies ...*http.Cookie) result {
	e.t.Helper()
	req, err := http.NewRequest(method, abs, body)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	res, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, abs, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return result{res.StatusCode, res.Header, string(b)}
}

var browser = http.Header{"Accept": {"text/html,application/xhtml+xml"}}

// bearerToken signs an access token like the IdP does.
func (e *env) accessToken(sub, clientID, gid, scope string, exp time.Duration) string {
	e.t.Helper()
	now := e.clock.now()
	tok, err := e.keys.Sign(keys.ES256, "at+jwt", map[string]any{
		"iss": "http://auth.test:" + e.port, "sub": sub, "aud": clientID, "client_id": clientID,
		"exp": now.Add(exp).Unix(), "iat": now.Unix(), "jti": randomToken()[:20], "scope": scope, "gid": gid,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h[kv[i]] = append(h[kv[i]], kv[i+1])
	}
	return h
}

func must(t testing.TB, u string) *url.URL {
	t.Helper()
	x, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return x
}
