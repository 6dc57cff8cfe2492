package idp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"time"

	"github.com/gatehouse-sso/gatehouse/identity"
	"github.com/gatehouse-sso/gatehouse/idp/authn"
	"github.com/gatehouse-sso/gatehouse/idp/clients"
	"github.com/gatehouse-sso/gatehouse/idp/grants"
	"github.com/gatehouse-sso/gatehouse/session"
	"github.com/gatehouse-sso/gatehouse/store"
	"github.com/gatehouse-sso/gatehouse/web"
)

// pending is an authorization request waiting for the user to sign in or
// to answer the consent page. It is stored under a random id for
// pendingTTL and resumed at {issuer}/authorize?resume=<id>.
type pending struct {
	Req authorizeRequest `json:"req"`
	// Created is when the authorization request arrived: a session that
	// authenticated at or after it satisfies prompt=login and max_age.
	Created time.Time `json:"created"`
	// Force asks for a fresh authentication (prompt=login, max_age).
	Force bool `json:"force,omitempty"`
	// ACRAsked records that the browser was sent to sign in for the
	// request's acr_values: they are voluntary, so what it came back
	// with is accepted.
	ACRAsked bool `json:"acr_asked,omitempty"`
	// SID and UserID are the session and user the consent page was shown
	// to; authentication was already checked for that session.
	SID    string `json:"sid,omitempty"`
	UserID string `json:"uid,omitempty"`
}

func pendingKey(id string) string { return pendingPrefix + id }

// pendingIDLen is the length of a pending id: 32 random bytes, base64url.
const pendingIDLen = 43

// authorize serves GET and POST {issuer}/authorize.
//
// The client and the redirect URI are checked first; when either cannot
// be trusted an error page is shown and the browser is never redirected.
// Every later problem goes back to the redirect URI with the state.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	var v url.Values
	if r.Method == http.MethodPost {
		ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || ct != "application/x-www-form-urlencoded" {
			p.o.Pages.Error(w, http.StatusUnsupportedMediaType, "The authorization request must be sent as application/x-www-form-urlencoded.")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, p.o.MaxBodyBytes)
		if err := r.ParseForm(); err != nil {
			p.o.Pages.Error(w, http.StatusBadRequest, "The authorization request could not be read.")
			return
		}
		v = r.PostForm
	} else {
		v = r.URL.Query()
		if v.Has("resume") && !v.Has("client_id") {
			p.resume(w, r, v.Get("resume"))
			return
		}
	}
	req, pageErr, redirErr := parseAuthorize(v, p.scopes.known)
	if pageErr != "" {
		p.authorizePage(w, r, pageErr)
		return
	}
	client, ok := p.o.Clients.Get(req.ClientID)
	if !ok {
		p.authorizePage(w, r, "The application sent an unknown client_id.")
		return
	}
	if !client.RedirectAllowed(req.RedirectURI) {
		p.authorizePage(w, r, "The application asked to return to an address that is not registered for it (redirect_uri).")
		return
	}
	if redirErr == nil {
		redirErr = p.checkClient(client, &req)
	}
	if redirErr != nil {
		p.log.InfoContext(r.Context(), "authorization request refused", "client_id", client.ID, "error", redirErr.Code, "reason", redirErr.Description)
		p.redirectError(w, r, req, redirErr, false)
		return
	}
	p.proceed(w, r, req, client, nil, "")
}

// authorizePage shows an authorization error that must not be redirected.
func (p *Provider) authorizePage(w http.ResponseWriter, r *http.Request, msg string) {
	p.log.InfoContext(r.Context(), "authorization request refused without redirect", "reason", msg)
	p.o.Pages.Error(w, http.StatusBadRequest, "This sign-in request is invalid: "+msg+" Go back to the application and try again, or tell its operator.")
}

// checkClient applies the client's own rules to a request.
func (p *Provider) checkClient(c *clients.Client, req *authorizeRequest) *oauthError {
	if !c.AllowsGrant(clients.GrantAuthorizationCode) {
		return newError(errUnauthorizedClient, "this client may not use the authorization code flow")
	}
	for _, s := range req.Scopes {
		if !c.AllowsScope(s) {
			return newError(errInvalidScope, "scope "+quote(s)+" is not allowed for this client")
		}
	}
	if c.RequirePKCE && req.CodeChallenge == "" {
		return newError(errInvalidRequest, "code_challenge required")
	}
	return nil
}

// msgPendingGone is the page of a pending authorization that expired or
// was completed already (by another tab, or a replayed form).
const msgPendingGone = "This sign-in request has expired or was already completed. Go back to the application and sign in again."

// resume continues a pending request after sign-in.
func (p *Provider) resume(w http.ResponseWriter, r *http.Request, id string) {
	ctx := r.Context()
	pend, err := p.loadPending(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		p.o.Pages.Error(w, http.StatusBadRequest, msgPendingGone)
		return
	}
	if err != nil {
		p.unavailable(w, r, "load pending authorization", err)
		return
	}
	client, ok := p.o.Clients.Get(pend.Req.ClientID)
	if !ok || !client.RedirectAllowed(pend.Req.RedirectURI) {
		p.authorizePage(w, r, "The application is no longer registered.")
		return
	}
	p.proceed(w, r, pend.Req, client, &pend, id)
}

// validPendingID reports whether id has the shape randomID(32) gives.
func validPendingID(id string) bool {
	if len(id) != pendingIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func (p *Provider) loadPending(ctx context.Context, id string) (pending, error) {
	if !validPendingID(id) {
		return pending{}, store.ErrNotFound
	}
	raw, err := p.o.Store.Get(ctx, pendingKey(id))
	if err != nil {
		return pending{}, err
	}
	var pend pending
	if err := json.Unmarshal(raw, &pend); err != nil {
		return pending{}, fmt.Errorf("decode pending authorization: %w", err)
	}
	return pend, nil
}

func (p *Provider) savePending(ctx context.Context, id string, pend pending) error {
	b, err := json.Marshal(pend)
	if err != nil {
		return fmt.Errorf("encode pending authorization: %w", err)
	}
	ttl := pendingTTL - p.now().Sub(pend.Created)
	if ttl <= 0 {
		ttl = time.Second
	}
	if err := p.o.Store.Put(ctx, pendingKey(id), b, ttl); err != nil {
		return fmt.Errorf("store pending authorization: %w", err)
	}
	return nil
}

// unavailable answers a store or directory failure on a browser page:
// fail closed, 503.
func (p *Provider) unavailable(w http.ResponseWriter, r *http.Request, what string, err error) {
	p.log.ErrorContext(r.Context(), what, "err", err)
	p.o.Pages.Error(w, http.StatusServiceUnavailable, "Sign-in is temporarily unavailable. Please try again in a moment.")
}

// proceed takes a valid request through sign-in, re-authentication and
// consent to the code. pend and id are set when resuming a stored request.
func (p *Provider) proceed(w http.ResponseWriter, r *http.Request, req authorizeRequest, client *clients.Client, pend *pending, id string) {
	ctx := r.Context()
	resumed := pend != nil
	rec, err := p.o.Sessions.Load(ctx, r)
	signedIn := err == nil
	if err != nil && !errors.Is(err, session.ErrNoSession) {
		p.log.ErrorContext(ctx, "authorize: load session", "err", err)
		p.redirectError(w, r, req, newError(errTemporarilyUnavailable, "the sign-in service is temporarily unavailable"), resumed)
		return
	}
	var user identity.User
	if signedIn {
		u, ok, err := p.liveUser(ctx, rec.UserID)
		if err != nil {
			p.log.ErrorContext(ctx, "authorize: load user", "err", err)
			p.redirectError(w, r, req, newError(errTemporarilyUnavailable, "the sign-in service is temporarily unavailable"), resumed)
			return
		}
		signedIn, user = ok, u
	}
	if !signedIn {
		if req.prompts(promptNone) {
			p.redirectError(w, r, req, newError(errLoginRequired, "the user is not signed in"), resumed)
			return
		}
		p.toLogin(w, r, req, pend, id, false, authn.RequiredACR(req.ACRValues))
		return
	}
	// acr_values: a session that has not reached the level asked for is
	// sent to add a factor (once; acr_values are voluntary, so the code
	// then carries the acr achieved). prompt=none never asks.
	wantACR := authn.RequiredACR(req.ACRValues)
	if authn.Satisfies(authn.ACR(rec.AMR), wantACR) || (pend != nil && pend.ACRAsked) || req.prompts(promptNone) {
		wantACR = ""
	}

	// Re-authentication: prompt=login and max_age. A session that signed
	// in at or after the request satisfies both, so coming back from the
	// sign-in page cannot loop.
	authOK := false
	if pend != nil {
		switch {
		case pend.SID != "" && pend.SID == rec.SID:
			authOK = true // checked when the consent page was shown
		case !rec.AuthTime.Before(pend.Created):
			authOK = true
		case pend.Force:
			p.toLogin(w, r, req, pend, id, true, wantACR)
			return
		}
	}
	if !authOK {
		tooOld := req.MaxAge >= 0 && p.now().Sub(rec.AuthTime) > time.Duration(req.MaxAge)*time.Second
		if req.prompts(promptLogin) || tooOld {
			if req.prompts(promptNone) {
				p.redirectError(w, r, req, newError(errLoginRequired, "the authentication is older than max_age"), resumed)
				return
			}
			p.toLogin(w, r, req, pend, id, true, wantACR)
			return
		}
	}
	if wantACR != "" {
		p.toLogin(w, r, req, pend, id, false, wantACR)
		return
	}

	// Consent: skipped for trusted clients and remembered consent, always
	// asked for with prompt=consent.
	needConsent := req.prompts(promptConsent)
	if !needConsent && !client.SkipConsent {
		covered, err := p.o.Grants.ConsentCovers(ctx, user.ID, client.ID, req.Scopes)
		if err != nil {
			p.log.ErrorContext(ctx, "authorize: check consent", "err", err)
			p.redirectError(w, r, req, newError(errTemporarilyUnavailable, "the sign-in service is temporarily unavailable"), resumed)
			return
		}
		needConsent = !covered
	}
	if needConsent {
		if req.prompts(promptNone) {
			p.redirectError(w, r, req, newError(errConsentRequired, "the user has not consented to this client"), resumed)
			return
		}
		p.showConsent(w, r, req, client, rec, user, pend, id)
		return
	}
	if id != "" {
		if err := p.o.Store.Delete(ctx, pendingKey(id)); err != nil {
			p.log.WarnContext(ctx, "authorize: delete pending authorization", "err", err)
		}
	}
	p.issueCode(w, r, req, client, rec, user, resumed)
}

// toLogin stores the request (or updates the stored one) and sends the
// browser to the sign-in page, which returns to the resume URL. force asks
// for a new sign-in even with a session; acr is the acr to reach (with a
// second factor, when one is available), "" for none.
func (p *Provider) toLogin(w http.ResponseWriter, r *http.Request, req authorizeRequest, pend *pending, id string, force bool, acr string) {
	ctx := r.Context()
	if pend == nil {
		pend = &pending{Req: req, Created: p.now()}
		id = randomID(32)
	}
	if force {
		pend.Force = true
	}
	if acr != "" {
		pend.ACRAsked = true
	}
	pend.SID, pend.UserID = "", ""
	if err := p.savePending(ctx, id, *pend); err != nil {
		p.unavailable(w, r, "authorize", err)
		return
	}
	q := url.Values{"rd": {p.local(pathAuthorize) + "?resume=" + id}}
	if force {
		q.Set("force", "1")
	}
	if acr != "" {
		q.Set("acr", acr)
	}
	if req.LoginHint != "" {
		q.Set("login_hint", req.LoginHint)
	}
	p.browserRedirect(w, r, p.o.LoginPath+"?"+q.Encode())
}

// browserRedirect sends the browser to target: 302 for GET, 303 after a
// POST.
func (p *Provider) browserRedirect(w http.ResponseWriter, r *http.Request, target string) {
	status := http.StatusFound
	if r.Method == http.MethodPost {
		status = http.StatusSeeOther
	}
	noStore(w.Header())
	w.Header().Set("Location", target)
	w.WriteHeader(status)
}

// issueCode records the grant and its code and sends the code back.
func (p *Provider) issueCode(w http.ResponseWriter, r *http.Request, req authorizeRequest, client *clients.Client, rec session.Record, user identity.User, resumed bool) {
	ctx := r.Context()
	now := p.now()
	life := p.o.CodeTTL + p.accessTTL(client)
	if hasScope(req.Scopes, scopeOfflineAccess) {
		life = p.o.CodeTTL + p.refreshTTL(client) + p.accessTTL(client)
	}
	g, err := p.o.Grants.CreateGrant(ctx, grants.Grant{
		ClientID:  client.ID,
		UserID:    user.ID,
		SessionID: rec.SID,
		Scopes:    req.Scopes,
		AuthTime:  rec.AuthTime,
		AMR:       rec.AMR,
		Nonce:     req.Nonce,
		CreatedAt: now,
		ExpiresAt: now.Add(life),
	})
	if err != nil {
		p.log.ErrorContext(ctx, "authorize: create grant", "err", err)
		p.redirectError(w, r, req, newError(errTemporarilyUnavailable, "the sign-in service is temporarily unavailable"), resumed)
		return
	}
	code, err := p.o.Grants.NewCode(ctx, grants.Code{
		GrantID:             g.ID,
		ClientID:            client.ID,
		RedirectURI:         req.RedirectURI,
		CodeChallenge:       req.CodeChallenge,
		CodeChallengeMethod: req.CodeChallengeMethod,
	}, p.o.CodeTTL)
	if err != nil {
		p.log.ErrorContext(ctx, "authorize: store code", "err", err)
		p.redirectError(w, r, req, newError(errTemporarilyUnavailable, "the sign-in service is temporarily unavailable"), resumed)
		return
	}
	p.log.InfoContext(ctx, "authorization code issued", "client_id", client.ID, "user_id", user.ID, "grant_id", g.ID)
	params := url.Values{"code": {code}}
	p.respond(w, r, req, clientName(client), params, resumed)
}

// redirectError sends error back to the (already validated) redirect URI.
func (p *Provider) redirectError(w http.ResponseWriter, r *http.Request, req authorizeRequest, e *oauthError, resumed bool) {
	params := url.Values{"error": {e.Code}}
	if e.Description != "" {
		params.Set("error_description", e.Description)
	}
	p.respond(w, r, req, "", params, resumed)
}

// respond delivers an authorization response (RFC 6749 §4.1.2, with
// state, and iss per RFC 9207) in the request's response mode. After a
// form submission (interstitial), a query response is a page that moves
// on by itself: browsers check a form's CSP form-action against every
// redirect that follows it, and the sign-in form allows only this site.
func (p *Provider) respond(w http.ResponseWriter, r *http.Request, req authorizeRequest, client string, params url.Values, interstitial bool) {
	if req.State != "" {
		params.Set("state", req.State)
	}
	params.Set("iss", p.issuer)
	noStore(w.Header())
	if req.formPost() {
		fields := make([]web.Field, 0, len(params))
		for _, k := range sortedKeys(params) {
			fields = append(fields, web.Field{Name: k, Value: params.Get(k)})
		}
		p.o.Pages.Render(w, http.StatusOK, &web.FormPostPage{
			Frame:  web.Frame{Title: "Signing you in", FormTargets: []string{origin(req.RedirectURI)}},
			Target: trustedURL(req.RedirectURI), Fields: fields,
		})
		return
	}
	target := appendQuery(req.RedirectURI, params)
	if interstitial {
		p.o.Pages.Render(w, http.StatusOK, &web.ContinuePage{Frame: web.Frame{Title: "Signed in"}, Target: trustedURL(target), Client: client})
		return
	}
	p.browserRedirect(w, r, target)
}

// appendQuery adds params to uri's query.
func appendQuery(uri string, params url.Values) string {
	sep := "?"
	for i := 0; i < len(uri); i++ {
		if uri[i] == '?' {
			sep = "&"
			break
		}
	}
	return uri + sep + params.Encode()
}

func hasScope(scopes []string, s string) bool {
	for _, x := range scopes {
		if x == s {
			return true
		}
	}
	return false
}
