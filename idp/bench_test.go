package idp

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/idp/grants"
	"github.com/gatehouse-sso/gatehouse/idp/keys"
)

// BenchmarkCodeExchange is one whole sign-in of a relying party whose user
// already has an SSO session and whose consent is skipped, over HTTP:
// GET /authorize → 302 with a code, then POST /token (client_secret_basic,
// PKCE) → access, ID and refresh tokens.
func BenchmarkCodeExchange(b *testing.B) {
	h := newHarness(b, nil)
	cookie := h.signIn("u1")
	b.ReportAllocs()
	for b.Loop() {
		body := h.exchange(h.authorize(cookie, "openid profile email offline_access"))
		if body["refresh_token"] == nil {
			b.Fatal("no refresh token")
		}
	}
}

// BenchmarkRefreshGrant is one refresh_token grant over HTTP: rotation,
// live user load, new access and ID tokens.
func BenchmarkRefreshGrant(b *testing.B) {
	h := newHarness(b, nil)
	rt := h.exchange(h.authorize(h.signIn("u1"), "openid profile email offline_access"))["refresh_token"].(string)
	b.ReportAllocs()
	for b.Loop() {
		st, body := h.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
		if st != http.StatusOK {
			b.Fatalf("refresh: %d %v", st, body)
		}
		rt = body["refresh_token"].(string)
	}
}

// BenchmarkIDTokenSign signs an ID token (claims computed from the user,
// at_hash included) with each algorithm.
func BenchmarkIDTokenSign(b *testing.B) {
	h := newHarness(b, nil)
	u, _ := h.users.ByID(b.Context(), "u1")
	g := grants.Grant{ID: "g", ClientID: "app", UserID: "u1", SessionID: "sid", Scopes: []string{"openid", "profile", "email"},
		AuthTime: time.Now(), AMR: []string{"pwd"}, Nonce: "n"}
	for _, tc := range []struct{ alg, client string }{{keys.RS256, "app"}, {keys.ES256, "es"}} {
		c, _ := h.p.o.Clients.Get(tc.client)
		if c.SigningAlg != tc.alg {
			b.Fatalf("client %s signs with %s", tc.client, c.SigningAlg)
		}
		b.Run(tc.alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.p.mintID(c, u, g, g.Scopes, "access-token", true, time.Now()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
