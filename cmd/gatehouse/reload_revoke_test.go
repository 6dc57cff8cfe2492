package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-sso/gatehouse/config"
)

// liveEnv serves e through a live, as serve does, so that tests can
// reload it; the running generation is the one e built.
func liveEnv(t *testing.T, e *gwEnv) *live {
	t.Helper()
	g := newGroup(context.Background())
	l := &live{st: e.store, log: slog.New(slog.NewTextHandler(t.Output(), nil)), g: g}
	l.cur.Store(&generation{app: e.env.app, cancel: func() {}})
	e.srv.Config.Handler = l
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = l.close(ctx)
		_ = g.stop()
	})
	return l
}

// withUser returns cfg with the configured user id changed by f (or
// removed when f is nil), leaving cfg's own list alone.
func withUser(cfg config.Config, id string, f func(*config.User)) config.Config {
	users := slices.Clone(cfg.Users)
	for i := range users {
		if users[i].ID == id {
			if f == nil {
				users = slices.Delete(users, i, i+1)
			} else {
				f(&users[i])
			}
			break
		}
	}
	cfg.Users = users
	return cfg
}

// TestReload_WithdrawnUserLosesEverything: a reload that disables or
// removes a configured user ends, at once, the user's SSO session, app
// sessions, bearer tokens and refresh tokens, while the gateway still
// holds them in its caches; enabling the user again (or adding it back)
// brings none of them back. Other users keep theirs.
func TestReload_WithdrawnUserLosesEverything(t *testing.T) {
	carol := flow{user: "carol", password: "carol-password-123", consent: "allow"}
	for _, tc := range []struct {
		name            string
		withdraw, again func(config.Config) config.Config
	}{
		{"disabled",
			func(c config.Config) config.Config {
				return withUser(c, carolUser.ID, func(u *config.User) { u.Disabled = true })
			},
			func(c config.Config) config.Config { return c }},
		{"removed",
			func(c config.Config) config.Config { return withUser(c, carolUser.ID, nil) },
			func(c config.Config) config.Config { return c }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newGatewayEnv(t, longCache)
			l := liveEnv(t, e)
			original := e.env.app.cfg

			b := e.browser()
			trusted := e.rp("trusted", trustedSecret, rpCallback, "openid", "api.read", "offline_access")
			// Two grants: one to try refreshing while the user is
			// withdrawn, one left alone until the user is back.
			first := e.signInRP(b, trusted, carol)
			second := e.signInRP(b, trusted, carol)
			if first.tok.RefreshToken == "" || second.tok.RefreshToken == "" {
				t.Fatal("no refresh tokens")
			}
			target := e.app("app.example.com", "/page")
			if r := e.signInTo(b, target, carol); r.status != http.StatusOK {
				t.Fatalf("app before the reload: %d", r.status)
			}
			ab := e.browser()
			if r := e.signInTo(ab, target, asAlice); r.status != http.StatusOK {
				t.Fatalf("alice's app before the reload: %d", r.status)
			}
			api := e.browser()
			bearer := func(tok string) int {
				return e.fetch(api, "GET", e.app("api.example.com", "/v1/items"), nil, map[string]string{"Authorization": "Bearer " + tok}).status
			}
			app := func(b *http.Client) int { return e.fetch(b, "GET", target, nil, acceptHTML).status }
			for _, l := range []login{first, second} {
				if st := bearer(l.tok.AccessToken); st != http.StatusOK {
					t.Fatalf("bearer before the reload: %d", st)
				}
			}
			if st := app(b); st != http.StatusOK {
				t.Fatalf("app session before the reload: %d", st)
			}
			// The SSO session: a new authorization goes through without
			// a sign-in page.
			ssoAlive := func() bool {
				r := e.fetch(b, "GET", trusted.conf.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), nil, nil)
				return r.status == http.StatusFound && !strings.Contains(r.header.Get("Location"), "/login")
			}
			if !ssoAlive() {
				t.Fatal("no SSO session before the reload")
			}

			if !l.apply(tc.withdraw(original), time.Second) {
				t.Fatal("reload refused")
			}
			if st := app(b); st == http.StatusOK {
				t.Fatal("app session still served right after the reload")
			}
			for _, l := range []login{first, second} {
				if st := bearer(l.tok.AccessToken); st != http.StatusUnauthorized {
					t.Fatalf("bearer right after the reload: %d, want 401", st)
				}
			}
			if st, body := e.refresh("trusted", trustedSecret, first.tok.RefreshToken); st != http.StatusBadRequest || body["error"] != "invalid_grant" {
				t.Fatalf("refresh right after the reload: %d %v", st, body)
			}
			if st := app(ab); st != http.StatusOK {
				t.Fatalf("another user's app session after the reload: %d", st)
			}

			// Back as before: nothing of the old credentials works again.
			if !l.apply(tc.again(original), time.Second) {
				t.Fatal("second reload refused")
			}
			if ssoAlive() {
				t.Fatal("the SSO session is back with the user")
			}
			if st := app(b); st == http.StatusOK {
				t.Fatal("the app session is back with the user")
			}
			if st := bearer(second.tok.AccessToken); st != http.StatusUnauthorized {
				t.Fatalf("bearer once the user is back: %d, want 401", st)
			}
			if st, body := e.refresh("trusted", trustedSecret, second.tok.RefreshToken); st != http.StatusBadRequest || body["error"] != "invalid_grant" {
				t.Fatalf("offline refresh token once the user is back: %d %v", st, body)
			}
			if in := e.introspect(second.tok.RefreshToken); in["active"] != false {
				t.Fatalf("introspection once the user is back: %v", in)
			}
		})
	}
}

// TestReload_RemovedClientTokensRefused: once a reload removes a client,
// its access tokens are refused by the gateway (no route may name it),
// userinfo and introspection, its refresh tokens are inactive, and its
// service tokens too.
func TestReload_RemovedClientTokensRefused(t *testing.T) {
	e := newGatewayEnv(t, longCache)
	l := liveEnv(t, e)
	b := e.browser()
	li := e.signInRP(b, e.rp("trusted", trustedSecret, rpCallback, "openid", "api.read", "offline_access"), asAlice)
	st, _, body := e.post(e.endpoint("token_endpoint"), url.Values{"grant_type": {"client_credentials"}, "scope": {"api.read"}}, "svc", svcSecret)
	if st != http.StatusOK {
		t.Fatalf("client_credentials: %d %v", st, body)
	}
	service, _ := body["access_token"].(string)
	api := e.browser()
	bearer := func() int {
		return e.fetch(api, "GET", e.app("api.example.com", "/v1/items"), nil, map[string]string{"Authorization": "Bearer " + li.tok.AccessToken}).status
	}
	// introspect asks as "third", which stays.
	introspect := func(tok string) any {
		st, _, body := e.post(e.endpoint("introspection_endpoint"), url.Values{"token": {tok}}, "third", thirdSecret)
		if st != http.StatusOK {
			t.Fatalf("introspect: %d %v", st, body)
		}
		return body["active"]
	}
	userinfo := func() int {
		return e.fetch(api, "GET", e.endpoint("userinfo_endpoint"), nil, map[string]string{"Authorization": "Bearer " + li.tok.AccessToken}).status
	}
	if st := bearer(); st != http.StatusOK {
		t.Fatalf("bearer before: %d", st)
	}
	for _, tok := range []string{li.tok.AccessToken, li.tok.RefreshToken, service} {
		if introspect(tok) != true {
			t.Fatal("token inactive before the reload")
		}
	}
	if st := userinfo(); st != http.StatusOK {
		t.Fatalf("userinfo before: %d", st)
	}

	cfg := e.env.app.cfg
	cfg.OIDC.Clients = slices.DeleteFunc(slices.Clone(cfg.OIDC.Clients), func(c config.Client) bool {
		return c.ClientID == "trusted" || c.ClientID == "svc"
	})
	cfg.Gateway.Rules = slices.DeleteFunc(slices.Clone(cfg.Gateway.Rules), func(r config.Rule) bool { return slices.Contains(r.Clients, "svc") })
	// A route cannot name a client that is not configured: the API route
	// accepts the tokens of "third" from now on.
	cfg.Gateway.Routes = slices.Clone(cfg.Gateway.Routes)
	for i := range cfg.Gateway.Routes {
		if len(cfg.Gateway.Routes[i].Bearer.Clients) > 0 {
			cfg.Gateway.Routes[i].Bearer.Clients = []string{"third"}
		}
	}
	if !l.apply(cfg, time.Second) {
		t.Fatal("reload refused")
	}
	if st := bearer(); st != http.StatusUnauthorized {
		t.Fatalf("bearer of a removed client: %d, want 401", st)
	}
	if st := userinfo(); st != http.StatusUnauthorized {
		t.Fatalf("userinfo with a removed client's token: %d, want 401", st)
	}
	for name, tok := range map[string]string{"access": li.tok.AccessToken, "refresh": li.tok.RefreshToken, "service": service} {
		if got := introspect(tok); got != false {
			t.Errorf("%s token of a removed client: active = %v", name, got)
		}
	}
}

func TestWithdrawnUsers(t *testing.T) {
	u := func(id string, disabled bool) config.User { return config.User{ID: id, Disabled: disabled} }
	for _, tc := range []struct {
		name          string
		running, next []config.User
		want          []string
	}{
		{"unchanged", []config.User{u("a", false)}, []config.User{u("a", false)}, nil},
		{"removed", []config.User{u("a", false), u("b", false)}, []config.User{u("b", false)}, []string{"a"}},
		{"disabled", []config.User{u("a", false)}, []config.User{u("a", true)}, []string{"a"}},
		{"already disabled, then removed", []config.User{u("a", true)}, nil, nil},
		{"enabled again", []config.User{u("a", true)}, []config.User{u("a", false)}, nil},
		{"added", nil, []config.User{u("a", false)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := withdrawnUsers(tc.running, tc.next); !slices.Equal(got, tc.want) {
				t.Fatalf("withdrawnUsers = %q, want %q", got, tc.want)
			}
		})
	}
}
