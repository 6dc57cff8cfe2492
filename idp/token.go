package idp

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/gatehouse-sso/gatehouse/identity"
	"github.com/gatehouse-sso/gatehouse/idp/clients"
	"github.com/gatehouse-sso/gatehouse/idp/grants"
)

// Messages shared by several token errors; they never say which part of a
// stolen or guessed value was wrong.
const (
	msgBadCode     = "the authorization code is invalid, expired or already used"
	msgBadRefresh  = "the refresh token is invalid, expired or revoked"
	msgUserGone    = "the user is disabled or no longer exists"
	msgUnavailable = "the service is temporarily unavailable"
)

// grantHandler fills in the token response of one grant type for an
// authenticated client.
type grantHandler func(ctx context.Context, c *clients.Client, form url.Values) (*tokenResponse, *oauthError)

// token serves POST {issuer}/token: the form is parsed once, the client
// authenticated once, then the grant type's handler runs.
func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	client := p.clientRequest(w, r)
	if client == nil {
		return
	}
	gt := r.PostForm.Get("grant_type")
	var h grantHandler
	switch gt {
	case "":
		p.writeError(w, newError(errInvalidRequest, "grant_type is required"))
		return
	case clients.GrantAuthorizationCode:
		h = p.codeGrant
	case clients.GrantRefreshToken:
		h = p.refreshGrant
	case clients.GrantClientCredentials:
		h = p.clientCredentialsGrant
	default:
		p.writeError(w, newError(errUnsupportedGrantType, "grant_type "+quote(gt)+" is not supported"))
		return
	}
	if !client.AllowsGrant(gt) {
		p.writeError(w, newError(errUnauthorizedClient, "this client may not use grant_type "+gt))
		return
	}
	resp, e := h(r.Context(), client, r.PostForm)
	if e != nil {
		if e.Code != errTemporarilyUnavailable {
			p.log.InfoContext(r.Context(), "token request refused", "client_id", client.ID, "grant_type", gt, "error", e.Code, "reason", e.Description)
		}
		p.writeError(w, e)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// clientRequest begins a token, revocation or introspection request:
// Cache-Control: no-store, the form parsed, the client authenticated. On
// failure it has written the RFC 6749 error and returns nil.
func (p *Provider) clientRequest(w http.ResponseWriter, r *http.Request) *clients.Client {
	noStore(w.Header())
	if e := p.parsePostForm(w, r); e != nil {
		p.writeError(w, e)
		return nil
	}
	client, e := p.authenticate(r)
	if e != nil {
		p.writeError(w, e)
		return nil
	}
	return client
}

// authenticate identifies the client of a token, revocation or
// introspection request whose form is parsed.
func (p *Provider) authenticate(r *http.Request) (*clients.Client, *oauthError) {
	c, err := p.o.Clients.Authenticate(r)
	if err == nil {
		return c, nil
	}
	var ae *clients.AuthError
	if errors.As(err, &ae) {
		p.log.InfoContext(r.Context(), "client authentication failed", "error", ae.Code, "reason", ae.Description)
		return nil, newError(ae.Code, ae.Description)
	}
	p.log.ErrorContext(r.Context(), "client authentication", "err", err)
	return nil, unavailableError()
}

func unavailableError() *oauthError {
	return &oauthError{Code: errTemporarilyUnavailable, Description: msgUnavailable, Status: http.StatusServiceUnavailable}
}

// storeFailure logs a store failure and returns the 503 error.
func (p *Provider) storeFailure(ctx context.Context, what string, err error) *oauthError {
	p.log.ErrorContext(ctx, what, "err", err)
	return unavailableError()
}

// codeGrant redeems an authorization code (RFC 6749 §4.1.3, RFC 7636).
func (p *Provider) codeGrant(ctx context.Context, c *clients.Client, form url.Values) (*tokenResponse, *oauthError) {
	raw := form.Get("code")
	if raw == "" {
		return nil, newError(errInvalidRequest, "code is required")
	}
	if form.Get("redirect_uri") == "" {
		return nil, newError(errInvalidRequest, "redirect_uri is required")
	}
	code, err := p.o.Grants.TakeCode(ctx, raw)
	var replay *grants.ReplayError
	switch {
	case errors.As(err, &replay):
		p.log.WarnContext(ctx, "authorization code replayed: its grant was revoked", "client_id", c.ID, "grant_id", replay.GrantID)
		return nil, newError(errInvalidGrant, msgBadCode)
	case errors.Is(err, grants.ErrNotFound), errors.Is(err, grants.ErrRevoked):
		return nil, newError(errInvalidGrant, msgBadCode)
	case err != nil:
		return nil, p.storeFailure(ctx, "token: take code", err)
	}
	if code.ClientID != c.ID {
		// Someone else's code: it is burnt now, and so is its grant.
		if err := p.o.Grants.RevokeGrant(ctx, code.GrantID); err != nil {
			p.log.ErrorContext(ctx, "token: revoke grant of a misused code", "err", err)
		}
		return nil, newError(errInvalidGrant, "the authorization code was issued to another client")
	}
	if code.RedirectURI != form.Get("redirect_uri") {
		return nil, newError(errInvalidGrant, "redirect_uri does not match the authorization request")
	}
	if e := checkVerifier(code, form.Get("code_verifier")); e != nil {
		return nil, e
	}
	g, err := p.o.Grants.Grant(ctx, code.GrantID)
	if errors.Is(err, grants.ErrNotFound) || errors.Is(err, grants.ErrRevoked) {
		return nil, newError(errInvalidGrant, msgBadCode)
	}
	if err != nil {
		return nil, p.storeFailure(ctx, "token: load grant", err)
	}
	u, ok, err := p.liveUser(ctx, g.UserID)
	if err != nil {
		return nil, p.storeFailure(ctx, "token: load user", err)
	}
	if !ok {
		return nil, newError(errInvalidGrant, msgUserGone)
	}
	now := p.now()
	resp, e := p.tokens(ctx, c, g, u, g.Scopes, true, now)
	if e != nil {
		return nil, e
	}
	if hasScope(g.Scopes, scopeOfflineAccess) && c.AllowsGrant(clients.GrantRefreshToken) {
		exp := now.Add(p.refreshTTL(c))
		if exp.After(g.ExpiresAt) {
			exp = g.ExpiresAt
		}
		rt, err := p.o.Grants.NewRefreshToken(ctx, grants.RefreshToken{GrantID: g.ID, ClientID: c.ID, IssuedAt: now, ExpiresAt: exp})
		if err != nil {
			return nil, p.storeFailure(ctx, "token: store refresh token", err)
		}
		resp.RefreshToken = rt
	}
	p.log.InfoContext(ctx, "tokens issued", "grant_type", clients.GrantAuthorizationCode, "client_id", c.ID, "user_id", u.ID, "grant_id", g.ID)
	return resp, nil
}

// checkVerifier checks the PKCE code_verifier against the code's
// challenge (S256, compared in constant time). A verifier for a code
// issued without a challenge is refused too: it means PKCE was stripped.
func checkVerifier(code grants.Code, verifier string) *oauthError {
	if code.CodeChallenge == "" {
		if verifier != "" {
			return newError(errInvalidGrant, "code_verifier was sent but the authorization request had no code_challenge")
		}
		return nil
	}
	if verifier == "" {
		return newError(errInvalidGrant, "code_verifier required")
	}
	if code.CodeChallengeMethod != "S256" || !validPKCE(verifier) {
		return newError(errInvalidGrant, "code_verifier does not match the code_challenge")
	}
	sum := sha256.Sum256([]byte(verifier))
	want := base64.RawURLEncoding.EncodeToString(sum[:])
	if subtle.ConstantTimeCompare([]byte(want), []byte(code.CodeChallenge)) != 1 {
		return newError(errInvalidGrant, "code_verifier does not match the code_challenge")
	}
	return nil
}

// refreshGrant rotates a refresh token (RFC 6749 §6). scope may narrow the
// granted scopes for the new access token, never widen them.
func (p *Provider) refreshGrant(ctx context.Context, c *clients.Client, form url.Values) (*tokenResponse, *oauthError) {
	raw := form.Get("refresh_token")
	if raw == "" {
		return nil, newError(errInvalidRequest, "refresh_token is required")
	}
	var narrowed []string
	if s := form.Get("scope"); s != "" {
		// Checked before rotating, so a bad scope costs the client nothing.
		rt, g, err := p.o.Grants.LookupRefreshToken(ctx, raw)
		switch {
		case errors.Is(err, grants.ErrNotFound), errors.Is(err, grants.ErrRevoked):
			return nil, newError(errInvalidGrant, msgBadRefresh)
		case err != nil:
			return nil, p.storeFailure(ctx, "token: look up refresh token", err)
		case rt.ClientID != c.ID:
			return nil, newError(errInvalidGrant, msgBadRefresh)
		}
		narrowed = splitScopes(s)
		for _, x := range narrowed {
			if !hasScope(g.Scopes, x) {
				return nil, newError(errInvalidScope, "scope "+quote(x)+" was not granted")
			}
		}
	}
	next, _, g, err := p.o.Grants.RotateRefreshToken(ctx, raw, c.ID, p.refreshTTL(c))
	var replay *grants.ReplayError
	switch {
	case errors.As(err, &replay):
		p.log.WarnContext(ctx, "rotated refresh token reused after the grace window: its grant was revoked", "client_id", c.ID, "grant_id", replay.GrantID)
		return nil, newError(errInvalidGrant, msgBadRefresh)
	case errors.Is(err, grants.ErrNotFound), errors.Is(err, grants.ErrRevoked):
		return nil, newError(errInvalidGrant, msgBadRefresh)
	case err != nil:
		return nil, p.storeFailure(ctx, "token: rotate refresh token", err)
	}
	u, ok, err := p.liveUser(ctx, g.UserID)
	if err != nil {
		return nil, p.storeFailure(ctx, "token: load user", err)
	}
	if !ok {
		if err := p.o.Grants.RevokeGrant(ctx, g.ID); err != nil {
			p.log.ErrorContext(ctx, "token: revoke grant of a disabled user", "err", err)
		}
		return nil, newError(errInvalidGrant, msgUserGone)
	}
	scopes := g.Scopes
	if narrowed != nil {
		scopes = narrowed
	}
	resp, e := p.tokens(ctx, c, g, u, scopes, false, p.now())
	if e != nil {
		return nil, e
	}
	resp.RefreshToken = next
	p.log.InfoContext(ctx, "tokens issued", "grant_type", clients.GrantRefreshToken, "client_id", c.ID, "user_id", u.ID, "grant_id", g.ID)
	return resp, nil
}

// userScopes only make sense with a user: client_credentials refuses them.
var userScopes = []string{scopeOpenID, scopeProfile, scopeEmail, scopeGroups, scopeOfflineAccess}

// clientCredentialsGrant issues a service token to a confidential client
// for itself (RFC 6749 §4.4): sub is the client id, no ID token, no
// refresh token.
func (p *Provider) clientCredentialsGrant(ctx context.Context, c *clients.Client, form url.Values) (*tokenResponse, *oauthError) {
	if c.Public {
		return nil, newError(errUnauthorizedClient, "public clients cannot use client_credentials")
	}
	scopes := splitScopes(form.Get("scope"))
	for _, s := range scopes {
		switch {
		case hasScope(userScopes, s):
			return nil, newError(errInvalidScope, "scope "+quote(s)+" needs a user and cannot be granted to a client for itself")
		case !p.scopes.known(s):
			return nil, newError(errInvalidScope, "scope "+quote(s)+" is not known")
		case !c.AllowsScope(s):
			return nil, newError(errInvalidScope, "scope "+quote(s)+" is not allowed for this client")
		}
	}
	at, ttl, err := p.mintAccess(c, c.ID, nil, scopes, p.now())
	if err != nil {
		p.log.ErrorContext(ctx, "token: sign", "err", err)
		return nil, &oauthError{Code: errServerError, Description: "the token could not be signed", Status: http.StatusInternalServerError}
	}
	p.log.InfoContext(ctx, "tokens issued", "grant_type", clients.GrantClientCredentials, "client_id", c.ID)
	return &tokenResponse{AccessToken: at, TokenType: "Bearer", ExpiresIn: int64(ttl / time.Second), Scope: joinScopes(scopes)}, nil
}

// tokens signs the access token and, for openid, the ID token of grant g.
func (p *Provider) tokens(ctx context.Context, c *clients.Client, g grants.Grant, u identity.User, scopes []string, withNonce bool, now time.Time) (*tokenResponse, *oauthError) {
	at, ttl, err := p.mintAccess(c, u.ID, &g, scopes, now)
	if err != nil {
		p.log.ErrorContext(ctx, "token: sign access token", "err", err)
		return nil, &oauthError{Code: errServerError, Description: "the token could not be signed", Status: http.StatusInternalServerError}
	}
	resp := &tokenResponse{AccessToken: at, TokenType: "Bearer", ExpiresIn: int64(ttl / time.Second), Scope: joinScopes(scopes)}
	if hasScope(scopes, scopeOpenID) {
		id, err := p.mintID(c, u, g, scopes, at, withNonce, now)
		if err != nil {
			p.log.ErrorContext(ctx, "token: sign id token", "err", err)
			return nil, &oauthError{Code: errServerError, Description: "the token could not be signed", Status: http.StatusInternalServerError}
		}
		resp.IDToken = id
	}
	return resp, nil
}
