package proxy

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/config"
	"github.com/gatehouse-sso/gatehouse/session"
)

// TestGateway_RevocationsEvict: what is published on the revocation topic
// leaves the caches before the publisher's Bus.Publish returns, however
// long the cache would have kept it.
func TestGateway_RevocationsEvict(t *testing.T) {
	e := newTestEnv(t, func(g *config.Gateway) { g.SessionCacheTTL = config.Duration(5 * time.Minute) })
	bus := session.NewBus(e.store, nil)
	if _, err := e.gw.Watch(t.Context(), bus); err != nil {
		t.Fatal(err)
	}
	publish := func(r session.Revocation) {
		t.Helper()
		if err := bus.Publish(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	api := func(tok string) int {
		return e.do("GET", e.url("api.test", "/v1"), nil, hdr("Authorization", "Bearer "+tok)).status
	}
	cached := func(tok string) bool {
		p, _ := e.gw.bearers.get(tok, e.clock.now().UnixNano())
		return p != nil
	}

	t.Run("session", func(t *testing.T) {
		c := e.signIn(carol, "app.test")
		other := e.signIn(carol, "a.wild.test")
		for host, c := range map[string]*http.Cookie{"app.test": c, "a.wild.test": other} {
			if r := e.do("GET", e.url(host, "/docs"), nil, browser, c); r.status != http.StatusOK {
				t.Fatalf("%s: %d", host, r.status)
			}
		}
		publish(session.Revocation{Kind: session.KindSession, SID: "sid-" + carol.ID, UserID: carol.ID})
		for host, c := range map[string]*http.Cookie{"app.test": c, "a.wild.test": other} {
			if r := e.do("GET", e.url(host, "/docs"), nil, browser, c); r.status != http.StatusFound {
				t.Fatalf("%s after the SSO session ended: %d", host, r.status)
			}
		}
	})
	t.Run("user", func(t *testing.T) {
		c := e.signIn(alice, "app.test")
		tok := e.accessToken(alice.ID, "cli", "g-alice", "api.read", time.Hour)
		if r := e.do("GET", e.url("app.test", "/docs"), nil, browser, c); r.status != http.StatusOK {
			t.Fatal(r.status)
		}
		if st := api(tok); st != http.StatusOK {
			t.Fatalf("bearer: %d", st)
		}
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
		// Still cached: disabling alone is not seen before the cache runs out.
		if st := api(tok); st != http.StatusOK {
			t.Fatalf("bearer before the revocation: %d", st)
		}
		publish(session.Revocation{Kind: session.KindUser, UserID: alice.ID})
		if r := e.do("GET", e.url("app.test", "/docs"), nil, browser, c); r.status != http.StatusFound {
			t.Fatalf("app session of a revoked user: %d", r.status)
		}
		if st := api(tok); st != http.StatusUnauthorized {
			t.Fatalf("bearer of a revoked user: %d", st)
		}
	})
	t.Run("token and grant", func(t *testing.T) {
		a := e.accessToken(carol.ID, "cli", "g-1", "api.read", time.Hour)
		b := e.accessToken(carol.ID, "cli", "g-1", "api.read", time.Hour)
		c := e.accessToken(carol.ID, "cli", "g-2", "api.read", time.Hour)
		for _, tok := range []string{a, b, c} {
			if st := api(tok); st != http.StatusOK || !cached(tok) {
				t.Fatalf("bearer: %d, cached %v", st, cached(tok))
			}
		}
		jti := func(tok string) string {
			payload, _, err := e.keys.Verify(tok)
			if err != nil {
				t.Fatal(err)
			}
			var c accessClaims
			if err := json.Unmarshal(payload, &c); err != nil {
				t.Fatal(err)
			}
			return c.Jti
		}
		publish(session.Revocation{Kind: session.KindToken, JTI: jti(a)})
		if cached(a) || !cached(b) || !cached(c) {
			t.Fatalf("after revoking token a: cached %v %v %v, want false true true", cached(a), cached(b), cached(c))
		}
		publish(session.Revocation{Kind: session.KindGrant, GrantID: "g-1"})
		if cached(b) || !cached(c) {
			t.Fatalf("after revoking grant g-1: cached %v %v, want false true", cached(b), cached(c))
		}
		c2 := e.signIn(carol, "app.test")
		if r := e.do("GET", e.url("app.test", "/docs"), nil, browser, c2); r.status != http.StatusOK {
			t.Fatal(r.status)
		}
		// Lost messages: nothing cached is trusted any more.
		e.gw.revoked(context.Background(), session.Revocation{Kind: session.KindLost})
		if cached(c) {
			t.Fatal("a lost message left a bearer token cached")
		}
		n := 0
		e.gw.sessions.m.Range(func(any, any) bool { n++; return true })
		if n != 0 {
			t.Fatalf("a lost message left %d sessions cached", n)
		}
	})
}
