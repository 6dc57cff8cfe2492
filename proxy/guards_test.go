package proxy

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/config"
	"github.com/gatehouse-sso/gatehouse/identity"
	"github.com/gatehouse-sso/gatehouse/policy"
	"github.com/gatehouse-sso/gatehouse/store/memory"
	"github.com/gatehouse-sso/gatehouse/web"
)

// signInFor is env.signIn with a session lifetime of its own.
func (e *env) signInFor(u identity.User, host string, life time.Duration) *http.Cookie {
	e.t.Helper()
	now := e.clock.now()
	rec := appSession{UserID: u.ID, SID: "sid-" + u.ID, Host: host, AMR: []string{"pwd"}, AuthTime: now,
		Created: now, Expires: now.Add(life), Scopes: []string{"openid"}}
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

// TestAppSession_HostOnlyIsBoundToItsExactHost: a host-only session is
// refused on a host whose name merely ends with its host, whether or not
// the session is already cached from its own host.
func TestAppSession_HostOnlyIsBoundToItsExactHost(t *testing.T) {
	for _, warm := range []bool{false, true} {
		name := "cold cache"
		if warm {
			name = "cached on its own host first"
		}
		t.Run(name, func(t *testing.T) {
			e := newTestEnv(t, nil)
			c := e.signIn(alice, "a.wild.test")
			if warm {
				if r := e.do("GET", e.url("a.wild.test", "/"), nil, nil, c); r.status != http.StatusOK {
					t.Fatalf("own host: %d", r.status)
				}
			}
			for _, host := range []string{"xa.wild.test", "b.a.wild.test"} {
				hits := e.up.hits.Load()
				r := e.do("GET", e.url(host, "/"), nil, browser, c)
				if r.status == http.StatusOK || e.up.hits.Load() != hits {
					t.Errorf("session of a.wild.test accepted on %s: %d", host, r.status)
				}
			}
		})
	}
}

// TestAppSession_CacheNeverOutlivesTheSession: a cached session is refused
// once the session itself has expired, even within the cache lifetime.
func TestAppSession_CacheNeverOutlivesTheSession(t *testing.T) {
	e := newTestEnv(t, func(gc *config.Gateway) { gc.SessionCacheTTL = config.Duration(time.Minute) })
	c := e.signInFor(alice, "app.test", 5*time.Second)
	if r := e.do("GET", e.url("app.test", "/"), nil, nil, c); r.status != http.StatusOK {
		t.Fatalf("fresh session: %d", r.status)
	}
	e.clock.advance(4 * time.Second)
	if r := e.do("GET", e.url("app.test", "/"), nil, nil, c); r.status != http.StatusOK {
		t.Fatalf("session within its lifetime: %d", r.status)
	}
	e.clock.advance(2 * time.Second) // past the session, well within the cache
	if r := e.do("GET", e.url("app.test", "/"), nil, browser, c); r.status == http.StatusOK {
		t.Fatal("an expired session was served from the cache")
	}
}

// TestAppCookie_Attributes reads the app cookie's attributes from the raw
// Set-Cookie header: host-only behind https is __Host- (Secure, Path=/, no
// Domain), HttpOnly and SameSite=Lax; with a parent domain it is
// __Secure- with that Domain.
func TestAppCookie_Attributes(t *testing.T) {
	for _, tc := range []struct {
		name, domain, prefix string
		wantDomain           string
	}{
		{"host-only", "", "__Host-gatehouse_app=", ""},
		{"parent domain", "example.test", "__Secure-gatehouse_app=", "Domain=example.test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gc := config.Default().Gateway
			gc.CookieDomain = tc.domain
			gc.Rules = testRules()
			pol, err := policy.Compile(config.PolicyRules(gc.Rules))
			if err != nil {
				t.Fatal(err)
			}
			pages, err := web.NewRenderer(slog.New(slog.DiscardHandler), web.Brand{})
			if err != nil {
				t.Fatal(err)
			}
			st := memory.New()
			t.Cleanup(func() { st.Close() })
			e := newTestEnv(t, nil)
			gw, err := New(Options{
				Gateway: gc, PublicURL: "https://auth.example.test", Issuer: "https://auth.example.test",
				Policy: pol, Keys: e.keys, Store: st, Users: e.users, Secrets: [][]byte{[]byte(strings.Repeat("s", 32))},
				SessionTTL: 24 * time.Hour, Pages: pages, Log: slog.New(slog.DiscardHandler),
				IdP: http.NotFoundHandler(), ClientSecret: "secret",
			})
			if err != nil {
				t.Fatal(err)
			}
			rr := httptest.NewRecorder()
			if err := gw.setAppCookie(rr, randomToken()); err != nil {
				t.Fatal(err)
			}
			raw := rr.Header().Values("Set-Cookie")
			if len(raw) != 1 {
				t.Fatalf("Set-Cookie: %q", raw)
			}
			attrs := map[string]bool{}
			parts := strings.Split(raw[0], "; ")
			if !strings.HasPrefix(parts[0], tc.prefix) {
				t.Errorf("cookie %q, want the name %s", parts[0], strings.TrimSuffix(tc.prefix, "="))
			}
			for _, a := range parts[1:] {
				attrs[a] = true
			}
			for _, want := range []string{"HttpOnly", "Secure", "SameSite=Lax", "Path=/"} {
				if !attrs[want] {
					t.Errorf("Set-Cookie %q lacks %s", raw[0], want)
				}
			}
			hasDomain := strings.Contains(raw[0], "Domain=")
			switch {
			case tc.wantDomain == "" && hasDomain:
				t.Errorf("host-only cookie has a Domain: %q", raw[0])
			case tc.wantDomain != "" && !attrs[tc.wantDomain]:
				t.Errorf("Set-Cookie %q lacks %s", raw[0], tc.wantDomain)
			}
		})
	}
}
