package main

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-sso/gatehouse/config"
	"github.com/gatehouse-sso/gatehouse/identity"
	"github.com/gatehouse-sso/gatehouse/store/memory"
)

// longCache makes the gateway trust a validated session or token for the
// longest time allowed: a revocation that waited for the cache to run out
// would fail.
func longCache(c *config.Config) { c.Gateway.SessionCacheTTL = config.Duration(5 * time.Minute) }

// TestRevocation_BearerRefusedAtOnce: a bearer token the gateway has
// validated and cached is refused on the very next request once it is
// revoked, however it is revoked.
func TestRevocation_BearerRefusedAtOnce(t *testing.T) {
	const davePassword = "dave-password-123"
	cases := []struct {
		name string
		// signIn returns the access token of a fresh sign-in (and the
		// refresh token when there is one) in browser b.
		signIn func(e *gwEnv, b *http.Client) login
		revoke func(t *testing.T, e *gwEnv, b *http.Client, l login)
	}{
		{
			name: "access token revoked",
			signIn: func(e *gwEnv, b *http.Client) login {
				return e.signInRP(b, e.rp("trusted", trustedSecret, rpCallback, "openid", "api.read"), asAlice)
			},
			revoke: func(t *testing.T, e *gwEnv, _ *http.Client, l login) {
				if st, _, _ := e.post(e.endpoint("revocation_endpoint"), url.Values{"token": {l.tok.AccessToken}}, "trusted", trustedSecret); st != http.StatusOK {
					t.Fatalf("revoke: %d", st)
				}
			},
		},
		{
			name: "refresh token family revoked",
			signIn: func(e *gwEnv, b *http.Client) login {
				return e.signInRP(b, e.rp("trusted", trustedSecret, rpCallback, "openid", "api.read", "offline_access"), asAlice)
			},
			revoke: func(t *testing.T, e *gwEnv, _ *http.Client, l login) {
				if l.tok.RefreshToken == "" {
					t.Fatal("no refresh token")
				}
				if st, _, _ := e.post(e.endpoint("revocation_endpoint"), url.Values{"token": {l.tok.RefreshToken}}, "trusted", trustedSecret); st != http.StatusOK {
					t.Fatalf("revoke: %d", st)
				}
			},
		},
		{
			name: "consent withdrawn",
			signIn: func(e *gwEnv, b *http.Client) login {
				return e.signInRP(b, e.rp("third", thirdSecret, thirdCallback, "openid", "api.read"), asAlice)
			},
			revoke: func(t *testing.T, e *gwEnv, b *http.Client, _ login) {
				list := e.fetch(b, "GET", e.issuer+"/consents", nil, nil)
				tok := csrfRE.FindStringSubmatch(list.body)
				if tok == nil {
					t.Fatalf("consents page: %d %.300s", list.status, list.body)
				}
				rev := e.fetch(b, "POST", e.issuer+"/consents", url.Values{"csrf_token": {tok[1]}, "client_id": {"third"}}, nil)
				if rev.status != http.StatusSeeOther {
					t.Fatalf("withdraw consent: %d", rev.status)
				}
			},
		},
		{
			name: "user disabled",
			signIn: func(e *gwEnv, b *http.Client) login {
				if _, err := e.env.app.users.Create(context.Background(), identity.User{Username: "dave", Email: "dave@example.com"}, davePassword); err != nil {
					e.t.Fatal(err)
				}
				return e.signInRP(b, e.rp("trusted", trustedSecret, rpCallback, "openid", "api.read"), flow{user: "dave", password: davePassword})
			},
			revoke: func(t *testing.T, e *gwEnv, _ *http.Client, l login) {
				ctx := context.Background()
				u, err := e.env.app.users.ByLogin(ctx, "dave")
				if err != nil {
					t.Fatal(err)
				}
				if err := e.env.app.users.SetDisabled(ctx, u.ID, true); err != nil {
					t.Fatal(err)
				}
				if _, err := e.env.app.sessions.RevokeUser(ctx, u.ID); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newGatewayEnv(t, func(c *config.Config) {
				longCache(c)
				c.OIDC.Clients[1].Scopes = append(c.OIDC.Clients[1].Scopes, "api.read") // third
				c.Gateway.Routes[2].Bearer.Clients = append(c.Gateway.Routes[2].Bearer.Clients, "third")
			})
			b := e.oidcEnv.browser()
			l := tc.signIn(e, b)
			api := e.browser()
			call := func() int {
				return e.fetch(api, "GET", e.app("api.example.com", "/v1/items"), nil, map[string]string{"Authorization": "Bearer " + l.tok.AccessToken}).status
			}
			if st := call(); st != http.StatusOK {
				t.Fatalf("token before revocation: %d", st)
			}
			tc.revoke(t, e, b, l)
			if st := call(); st != http.StatusUnauthorized {
				t.Fatalf("token right after revocation: %d, want 401", st)
			}
		})
	}
}

// TestRevocation_ReauthenticationEndsThePreviousSession: signing in again
// in the same browser (prompt=login) ends the session it replaces, so
// what was created from it (an app session, a relying party's grant) is
// gone: a later sign-out cannot leave it behind.
func TestRevocation_ReauthenticationEndsThePreviousSession(t *testing.T) {
	e := newGatewayEnv(t, longCache)
	b := e.browser()
	app := e.app("app.example.com", "/")
	if r := e.signInTo(b, app, asAlice); r.status != http.StatusOK {
		t.Fatalf("app after sign-in: %d", r.status)
	}
	// A relying party without offline_access: its grant lives as long as
	// the SSO session.
	r := e.rp("trusted", trustedSecret, rpCallback, "openid", "email")
	first := e.signInRP(b, r, asAlice)
	if e.introspect(first.tok.AccessToken)["active"] != true {
		t.Fatal("first grant not active")
	}

	// Re-authenticate at the relying party, as a step-up would.
	second := e.signInRP(b, r, asAlice, oauth2.SetAuthURLParam("prompt", "login"))
	if second.claims["sid"] == first.claims["sid"] {
		t.Fatal("re-authentication kept the session id")
	}
	// Sign out of the new session.
	if res := e.fetch(b, "GET", e.issuer+"/end_session?"+url.Values{"client_id": {"trusted"}, "post_logout_redirect_uri": {rpHome}}.Encode(), nil, nil); res.status != http.StatusFound {
		t.Fatalf("end session: %d", res.status)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.env.app.oidc.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if res := e.fetch(b, "GET", app, nil, acceptHTML); res.status != http.StatusFound {
		t.Fatalf("the app session of the replaced session outlived sign-out: %d", res.status)
	}
	for name, tok := range map[string]string{"first": first.tok.AccessToken, "second": second.tok.AccessToken} {
		if e.introspect(tok)["active"] != false {
			t.Errorf("the %s grant outlived sign-out", name)
		}
	}
}

// TestRevocation_LogoutEvictsOtherReplica: two Gatehouse processes on one
// store (two handles, as two replicas on Redis). A session cached by the
// second is refused there as soon as the user signs out through the
// first.
func TestRevocation_LogoutEvictsOtherReplica(t *testing.T) {
	e := newGatewayEnv(t, longCache)
	b := e.browser()
	target := e.app("app.example.com", "/")
	if r := e.signInTo(b, target, asAlice); r.status != http.StatusOK {
		t.Fatalf("sign-in: %d", r.status)
	}
	u, _ := url.Parse(target)
	var cookie string
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == "__Host-gatehouse_app" {
			cookie = c.Name + "=" + c.Value
		}
	}
	if cookie == "" {
		t.Fatal("no app cookie")
	}

	// The second replica: its own handle on the store, its own caches.
	h, err := e.store.(*memory.Store).Handle()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	ctx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	other, err := newApp(ctx, e.env.app.cfg, h, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(other.handler)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	}
	t.Cleanup(tr.CloseIdleConnections)
	viaOther := func() int {
		req, _ := http.NewRequest("GET", target, nil)
		req.Header.Set("Cookie", cookie)
		req.Header.Set("Accept", "text/html")
		res, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	if st := viaOther(); st != http.StatusOK {
		t.Fatalf("app session through the second replica: %d", st)
	}

	// Sign out through the first replica.
	r := e.fetch(b, "GET", e.app("app.example.com", "/.gatehouse/logout"), nil, acceptHTML)
	if r = e.fetch(b, "GET", r.header.Get("Location"), nil, acceptHTML); r.status != http.StatusFound && r.status != http.StatusSeeOther {
		t.Fatalf("end_session: %d %.200s", r.status, r.body)
	}
	// The second replica hears of it within the bus's delivery time, long
	// before its cache entry would run out.
	wait, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := other.revoked.Sync(wait); err != nil {
		t.Fatal(err)
	}
	if st := viaOther(); st != http.StatusFound {
		t.Fatalf("app session through the second replica after sign-out: %d, want 302", st)
	}
}
