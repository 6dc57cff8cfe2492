package idp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/gatehouse-sso/gatehouse/idp/grants"
)

// errBadToken is wrapped by every reason an access token is not accepted.
var errBadToken = errors.New("invalid access token")

// parseAccess verifies an access token offline: signature by one of our
// keys, typ at+jwt, our issuer, not expired.
func (p *Provider) parseAccess(raw string) (accessClaims, error) {
	payload, h, err := p.o.Keys.Verify(raw)
	if err != nil {
		return accessClaims{}, fmt.Errorf("%w: signature", errBadToken)
	}
	if !strings.EqualFold(h.Typ, typAccessToken) && !strings.EqualFold(h.Typ, "application/"+typAccessToken) {
		return accessClaims{}, fmt.Errorf("%w: not an access token", errBadToken)
	}
	var c accessClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return accessClaims{}, fmt.Errorf("%w: claims", errBadToken)
	}
	switch {
	case c.Iss != p.issuer:
		return accessClaims{}, fmt.Errorf("%w: issuer", errBadToken)
	case c.Sub == "" || c.Jti == "" || c.ClientID == "":
		return accessClaims{}, fmt.Errorf("%w: missing claims", errBadToken)
	case p.now().Unix() >= c.Exp:
		return accessClaims{}, fmt.Errorf("%w: expired", errBadToken)
	}
	return c, nil
}

// liveAccess checks that an access token was not revoked, that its client
// is still registered and, when it belongs to a grant, that the grant is
// live. Store failures are errors
// not wrapping errBadToken.
func (p *Provider) liveAccess(ctx context.Context, c accessClaims) (*grants.Grant, error) {
	revoked, err := p.o.Grants.AccessTokenRevoked(ctx, c.Jti)
	if err != nil {
		return nil, fmt.Errorf("check access token revocation: %w", err)
	}
	if revoked {
		return nil, fmt.Errorf("%w: revoked", errBadToken)
	}
	if _, ok := p.o.Clients.Get(c.ClientID); !ok {
		// The client was removed from the configuration.
		return nil, fmt.Errorf("%w: unknown client", errBadToken)
	}
	if c.Gid == "" {
		return nil, nil
	}
	g, err := p.o.Grants.Grant(ctx, c.Gid)
	if errors.Is(err, grants.ErrNotFound) || errors.Is(err, grants.ErrRevoked) {
		return nil, fmt.Errorf("%w: grant revoked", errBadToken)
	}
	if err != nil {
		return nil, fmt.Errorf("load grant: %w", err)
	}
	if g.ClientID != c.ClientID || g.UserID != c.Sub {
		return nil, fmt.Errorf("%w: grant mismatch", errBadToken)
	}
	return &g, nil
}

// bearerError answers a protected-resource error (RFC 6750 §3).
func bearerError(w http.ResponseWriter, status int, code, description string) {
	h := w.Header()
	noStore(h)
	challenge := `Bearer realm="gatehouse"`
	if code != "" {
		challenge += `, error="` + code + `", error_description="` + description + `"`
		if code == errInsufficientScope {
			challenge += `, scope="openid"`
		}
	}
	h.Set("WWW-Authenticate", challenge)
	if code == "" {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{code, description})
}

// bearerToken finds the access token of a userinfo request: the
// Authorization header, or (POST) the access_token form field (RFC 6750
// §2.1, §2.2). Exactly one must be used.
func (p *Provider) bearerToken(w http.ResponseWriter, r *http.Request) (token string, status int, code, desc string) {
	var fromHeader string
	if a := r.Header.Get("Authorization"); a != "" {
		// Another scheme is no token at all: answered with the challenge.
		if scheme, tok, _ := strings.Cut(a, " "); strings.EqualFold(scheme, "Bearer") {
			if fromHeader = strings.TrimSpace(tok); fromHeader == "" {
				return "", http.StatusBadRequest, errInvalidRequest, "the Bearer token is empty"
			}
		}
	}
	var fromBody string
	if r.Method == http.MethodPost {
		if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/x-www-form-urlencoded" {
			r.Body = http.MaxBytesReader(w, r.Body, p.o.MaxBodyBytes)
			if err := r.ParseForm(); err != nil {
				return "", http.StatusBadRequest, errInvalidRequest, "the request body could not be parsed"
			}
			if len(r.PostForm["access_token"]) > 1 {
				return "", http.StatusBadRequest, errInvalidRequest, "access_token is repeated"
			}
			fromBody = r.PostForm.Get("access_token")
		}
	}
	switch {
	case fromHeader != "" && fromBody != "":
		return "", http.StatusBadRequest, errInvalidRequest, "the access token was sent twice"
	case fromHeader != "":
		return fromHeader, 0, "", ""
	case fromBody != "":
		return fromBody, 0, "", ""
	}
	return "", http.StatusUnauthorized, "", ""
}

// userinfo serves GET and POST {issuer}/userinfo: the claims the access
// token's scopes release, computed from the user as they are now.
func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	raw, status, code, desc := p.bearerToken(w, r)
	if raw == "" {
		bearerError(w, status, code, desc)
		return
	}
	c, err := p.parseAccess(raw)
	if err != nil {
		bearerError(w, http.StatusUnauthorized, errInvalidToken, "the access token is invalid or expired")
		return
	}
	scopes := splitScopes(c.Scope)
	if c.Gid == "" || !hasScope(scopes, scopeOpenID) {
		// A client_credentials or plain OAuth token: no user to describe.
		bearerError(w, http.StatusForbidden, errInsufficientScope, "the access token was not issued with the openid scope")
		return
	}
	if _, err := p.liveAccess(ctx, c); err != nil {
		if errors.Is(err, errBadToken) {
			bearerError(w, http.StatusUnauthorized, errInvalidToken, "the access token was revoked")
			return
		}
		p.log.ErrorContext(ctx, "userinfo", "err", err)
		bearerError(w, http.StatusServiceUnavailable, errTemporarilyUnavailable, msgUnavailable)
		return
	}
	u, ok, err := p.liveUser(ctx, c.Sub)
	if err != nil {
		p.log.ErrorContext(ctx, "userinfo", "err", err)
		bearerError(w, http.StatusServiceUnavailable, errTemporarilyUnavailable, msgUnavailable)
		return
	}
	if !ok {
		bearerError(w, http.StatusUnauthorized, errInvalidToken, "the user is disabled or no longer exists")
		return
	}
	body := make(map[string]any, 16)
	p.scopes.userClaims(body, u, scopes)
	body["sub"] = u.ID
	noStore(w.Header())
	writeJSON(w, http.StatusOK, body)
}
