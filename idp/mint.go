package idp

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/gatehouse-sso/gatehouse/identity"
	"github.com/gatehouse-sso/gatehouse/idp/authn"
	"github.com/gatehouse-sso/gatehouse/idp/clients"
	"github.com/gatehouse-sso/gatehouse/idp/grants"
)

// JWT "typ" header values.
const (
	typAccessToken = "at+jwt"     // RFC 9068
	typIDToken     = "JWT"        // OpenID Connect Core
	typLogoutToken = "logout+jwt" // OpenID Connect Back-Channel Logout
)

// accessClaims are the claims of an access token (RFC 9068), plus "gid",
// the grant it belongs to, so userinfo, revocation and introspection find
// the grant without a lookup table.
type accessClaims struct {
	Iss      string   `json:"iss"`
	Sub      string   `json:"sub"`
	Aud      string   `json:"aud"`
	ClientID string   `json:"client_id"`
	Exp      int64    `json:"exp"`
	Iat      int64    `json:"iat"`
	Jti      string   `json:"jti"`
	Scope    string   `json:"scope,omitempty"`
	AuthTime int64    `json:"auth_time,omitempty"`
	Acr      string   `json:"acr,omitempty"`
	Amr      []string `json:"amr,omitempty"`
	Sid      string   `json:"sid,omitempty"`
	Gid      string   `json:"gid,omitempty"`
}

// tokenResponse is the token endpoint's success answer (RFC 6749 §5.1).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	IDToken      string `json:"id_token,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// mintAccess signs an access token for grant g (gid empty for
// client_credentials) with the given scopes. It returns the token and its
// lifetime.
func (p *Provider) mintAccess(c *clients.Client, sub string, g *grants.Grant, scopes []string, now time.Time) (string, time.Duration, error) {
	ttl := p.accessTTL(c)
	claims := accessClaims{
		Iss:      p.issuer,
		Sub:      sub,
		Aud:      c.ID,
		ClientID: c.ID,
		Exp:      now.Add(ttl).Unix(),
		Iat:      now.Unix(),
		Jti:      randomID(16),
		Scope:    joinScopes(scopes),
	}
	if g != nil {
		claims.AuthTime = g.AuthTime.Unix()
		claims.Acr = authn.ACR(g.AMR)
		claims.Amr = g.AMR
		claims.Sid = g.SessionID
		claims.Gid = g.ID
	}
	tok, err := p.o.Keys.Sign(p.o.AccessTokenAlg, typAccessToken, claims)
	if err != nil {
		return "", 0, fmt.Errorf("sign access token: %w", err)
	}
	return tok, ttl, nil
}

// mintID signs an ID token for user u under grant g with the claims its
// scopes release (computed now). accessToken, when set, is bound by
// at_hash; withNonce adds the authorization request's nonce (not on
// refresh).
func (p *Provider) mintID(c *clients.Client, u identity.User, g grants.Grant, scopes []string, accessToken string, withNonce bool, now time.Time) (string, error) {
	claims := make(map[string]any, 24)
	p.scopes.userClaims(claims, u, scopes)
	claims["iss"] = p.issuer
	claims["sub"] = u.ID
	claims["aud"] = c.ID
	claims["azp"] = c.ID
	claims["exp"] = now.Add(p.idTTL(c)).Unix()
	claims["iat"] = now.Unix()
	claims["auth_time"] = g.AuthTime.Unix()
	claims["acr"] = authn.ACR(g.AMR)
	if len(g.AMR) > 0 {
		claims["amr"] = g.AMR
	}
	if g.SessionID != "" {
		claims["sid"] = g.SessionID
	}
	if withNonce && g.Nonce != "" {
		claims["nonce"] = g.Nonce
	}
	if accessToken != "" {
		claims["at_hash"] = halfHash(accessToken)
	}
	tok, err := p.o.Keys.Sign(c.SigningAlg, typIDToken, claims)
	if err != nil {
		return "", fmt.Errorf("sign id token: %w", err)
	}
	return tok, nil
}

// halfHash is the at_hash of a token for RS256 and ES256: the left half of
// its SHA-256, base64url (OpenID Connect Core §3.1.3.6).
func halfHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}
