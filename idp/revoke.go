package idp

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-sso/gatehouse/idp/grants"
)

// looksLikeJWT tells a signed access token from an opaque refresh token.
func looksLikeJWT(s string) bool { return strings.Count(s, ".") == 2 }

// revoke serves POST {issuer}/revoke (RFC 7009). A refresh token revokes
// its whole grant (every access and refresh token issued from it); an
// access token revokes itself only. Unknown, invalid or expired tokens,
// and tokens of another client, are answered 200 and change nothing: the
// endpoint must not tell a client whether someone else's token is valid.
// token_type_hint is accepted and not needed.
func (p *Provider) revoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	client := p.clientRequest(w, r)
	if client == nil {
		return
	}
	tok := r.PostForm.Get("token")
	if tok == "" {
		p.writeError(w, newError(errInvalidRequest, "token is required"))
		return
	}
	if err := p.revokeToken(ctx, client.ID, tok); err != nil {
		p.writeError(w, p.storeFailure(ctx, "revoke", err))
		return
	}
	w.WriteHeader(http.StatusOK)
}

// revokeToken revokes tok when it belongs to clientID; only store failures
// are errors.
func (p *Provider) revokeToken(ctx context.Context, clientID, tok string) error {
	if looksLikeJWT(tok) {
		c, err := p.parseAccess(tok)
		if err != nil || c.ClientID != clientID {
			return nil
		}
		if err := p.o.Grants.RevokeAccessToken(ctx, c.Jti, time.Unix(c.Exp, 0)); err != nil {
			return err
		}
		p.log.InfoContext(ctx, "access token revoked", "client_id", clientID, "grant_id", c.Gid)
		return nil
	}
	rt, g, err := p.o.Grants.LookupRefreshToken(ctx, tok)
	switch {
	case errors.Is(err, grants.ErrNotFound), errors.Is(err, grants.ErrRevoked):
		return nil
	case err != nil:
		return err
	case rt.ClientID != clientID:
		return nil
	}
	if err := p.o.Grants.RevokeGrant(ctx, g.ID); err != nil {
		return err
	}
	p.log.InfoContext(ctx, "refresh token revoked with its grant", "client_id", clientID, "grant_id", g.ID)
	return nil
}

// introspection is the RFC 7662 answer.
type introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	Username  string `json:"username,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	Exp       int64  `json:"exp,omitempty"`
	Iat       int64  `json:"iat,omitempty"`
	Sub       string `json:"sub,omitempty"`
	Aud       string `json:"aud,omitempty"`
	Iss       string `json:"iss,omitempty"`
	Jti       string `json:"jti,omitempty"`
	Sid       string `json:"sid,omitempty"`
}

// introspect serves POST {issuer}/introspect (RFC 7662). Any confidential
// client may introspect any token (resource servers are clients too);
// public clients may not, since they cannot authenticate. Anything invalid,
// expired or revoked is {"active": false}.
func (p *Provider) introspect(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	client := p.clientRequest(w, r)
	if client == nil {
		return
	}
	if client.Public {
		p.writeError(w, newError(errInvalidClient, "public clients may not introspect tokens"))
		return
	}
	tok := r.PostForm.Get("token")
	if tok == "" {
		p.writeError(w, newError(errInvalidRequest, "token is required"))
		return
	}
	res, err := p.inspect(ctx, tok)
	if err != nil {
		p.writeError(w, p.storeFailure(ctx, "introspect", err))
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// inspect describes tok; only store failures are errors.
func (p *Provider) inspect(ctx context.Context, tok string) (introspection, error) {
	inactive := introspection{}
	if looksLikeJWT(tok) {
		c, err := p.parseAccess(tok)
		if err != nil {
			return inactive, nil
		}
		if _, err := p.liveAccess(ctx, c); err != nil {
			if errors.Is(err, errBadToken) {
				return inactive, nil
			}
			return inactive, err
		}
		res := introspection{Active: true, Scope: c.Scope, ClientID: c.ClientID, TokenType: "Bearer",
			Exp: c.Exp, Iat: c.Iat, Sub: c.Sub, Aud: c.Aud, Iss: c.Iss, Jti: c.Jti, Sid: c.Sid}
		if c.Gid != "" {
			u, ok, err := p.liveUser(ctx, c.Sub)
			if err != nil {
				return inactive, err
			}
			if !ok {
				return inactive, nil
			}
			res.Username = u.Username
		}
		return res, nil
	}
	rt, g, err := p.o.Grants.LookupRefreshToken(ctx, tok)
	switch {
	case errors.Is(err, grants.ErrNotFound), errors.Is(err, grants.ErrRevoked):
		return inactive, nil
	case err != nil:
		return inactive, err
	case !p.now().Before(rt.ExpiresAt), !rt.RotatedAt.IsZero():
		// A rotated token is superseded, even inside its grace window.
		return inactive, nil
	}
	if _, ok := p.o.Clients.Get(rt.ClientID); !ok {
		return inactive, nil // the client was removed from the configuration
	}
	u, ok, err := p.liveUser(ctx, g.UserID)
	if err != nil {
		return inactive, err
	}
	if !ok {
		return inactive, nil
	}
	return introspection{Active: true, Scope: joinScopes(g.Scopes), ClientID: rt.ClientID, Username: u.Username,
		TokenType: "refresh_token", Exp: rt.ExpiresAt.Unix(), Iat: rt.IssuedAt.Unix(), Sub: g.UserID,
		Aud: rt.ClientID, Iss: p.issuer, Sid: g.SessionID}, nil
}
