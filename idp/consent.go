package idp

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"

	"github.com/gatehouse-sso/gatehouse/identity"
	"github.com/gatehouse-sso/gatehouse/idp/clients"
	"github.com/gatehouse-sso/gatehouse/idp/internal/form"
	"github.com/gatehouse-sso/gatehouse/session"
	"github.com/gatehouse-sso/gatehouse/store"
	"github.com/gatehouse-sso/gatehouse/web"
)

// showConsent stores the request (binding it to the session and user the
// page is shown to) and renders the consent page.
func (p *Provider) showConsent(w http.ResponseWriter, r *http.Request, req authorizeRequest, client *clients.Client, rec session.Record, user identity.User, pend *pending, id string) {
	ctx := r.Context()
	if pend == nil {
		pend = &pending{Req: req, Created: p.now()}
		id = randomID(32)
	}
	pend.SID, pend.UserID = rec.SID, user.ID
	if err := p.savePending(ctx, id, *pend); err != nil {
		p.unavailable(w, r, "authorize: store pending authorization", err)
		return
	}
	scopes := make([]web.ScopeView, 0, len(req.Scopes))
	for _, s := range req.Scopes {
		scopes = append(scopes, web.ScopeView{Name: s, Description: p.scopes.describe(s)})
	}
	p.o.Pages.Render(w, http.StatusOK, &web.ConsentPage{
		Frame: web.Frame{
			Title: "Allow access",
			CSRF:  p.o.CSRF.Token(w, r),
			// The answer is a redirect to the client: let the form lead there.
			FormTargets: []string{origin(req.RedirectURI)},
		},
		Client:      clientName(client),
		Scopes:      scopes,
		Pending:     id,
		Action:      p.local(pathConsent),
		ConsentsURL: p.local(pathConsents),
		User:        &web.UserView{Username: user.Username, Name: user.Name, Email: user.Email},
	})
}

// parsePageForm reads a form posted by one of Gatehouse's own pages; it
// writes the error page and returns false when it is not acceptable.
func (p *Provider) parsePageForm(w http.ResponseWriter, r *http.Request) bool {
	return form.Reader{Pages: p.o.Pages, CSRF: p.o.CSRF, Log: p.log, MaxBytes: p.o.MaxBodyBytes}.Read(w, r)
}

// submitConsent answers POST {issuer}/consent: Allow remembers the consent
// and issues the code, Deny returns access_denied. The pending request is
// taken atomically, so a form can be answered once.
func (p *Provider) submitConsent(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !p.parsePageForm(w, r) {
		return
	}
	decision := r.PostFormValue("decision")
	if decision != "allow" && decision != "deny" {
		p.o.Pages.Error(w, http.StatusBadRequest, "Choose Allow or Deny.")
		return
	}
	id := r.PostFormValue("pending")
	if !validPendingID(id) {
		p.o.Pages.Error(w, http.StatusBadRequest, msgPendingGone)
		return
	}
	raw, err := p.o.Store.Take(ctx, pendingKey(id))
	if errors.Is(err, store.ErrNotFound) {
		p.o.Pages.Error(w, http.StatusBadRequest, msgPendingGone)
		return
	}
	if err != nil {
		p.unavailable(w, r, "consent: take pending authorization", err)
		return
	}
	var pend pending
	if err := json.Unmarshal(raw, &pend); err != nil {
		p.unavailable(w, r, "consent: decode pending authorization", err)
		return
	}
	req := pend.Req
	client, ok := p.o.Clients.Get(req.ClientID)
	if !ok || !client.RedirectAllowed(req.RedirectURI) {
		p.authorizePage(w, r, "The application is no longer registered.")
		return
	}
	rec, err := p.o.Sessions.Load(ctx, r)
	if err != nil && !errors.Is(err, session.ErrNoSession) {
		p.unavailable(w, r, "consent: load session", err)
		return
	}
	var user identity.User
	signedIn := err == nil
	if signedIn {
		if user, signedIn, err = p.liveUser(ctx, rec.UserID); err != nil {
			p.unavailable(w, r, "consent: load user", err)
			return
		}
	}
	// The answer counts only from the session and user the page was shown
	// to.
	if !signedIn || pend.SID == "" || rec.SID != pend.SID || user.ID != pend.UserID {
		p.redirectError(w, r, req, newError(errLoginRequired, "the session changed before consent was given"), false)
		return
	}
	if decision == "deny" {
		p.log.InfoContext(ctx, "consent denied", "client_id", client.ID, "user_id", user.ID)
		p.redirectError(w, r, req, newError(errAccessDenied, "the user denied the request"), false)
		return
	}
	if err := p.o.Grants.RememberConsent(ctx, user.ID, client.ID, req.Scopes); err != nil {
		p.log.ErrorContext(ctx, "consent: remember", "err", err)
		p.redirectError(w, r, req, newError(errTemporarilyUnavailable, "the sign-in service is temporarily unavailable"), false)
		return
	}
	p.log.InfoContext(ctx, "consent given", "client_id", client.ID, "user_id", user.ID, "scopes", joinScopes(req.Scopes))
	p.issueCode(w, r, req, client, rec, user, false)
}

// accountUser returns the browser's user for account pages; ok is false
// when signed out, err a store or directory failure.
func (p *Provider) accountUser(r *http.Request) (identity.User, bool, error) {
	ctx := r.Context()
	rec, err := p.o.Sessions.Load(ctx, r)
	if errors.Is(err, session.ErrNoSession) {
		return identity.User{}, false, nil
	}
	if err != nil {
		return identity.User{}, false, err
	}
	return p.liveUser(ctx, rec.UserID)
}

// consentsUser returns the signed-in user of the consents page; without
// one it has sent the browser to sign in (or answered 503) and reports
// false.
func (p *Provider) consentsUser(w http.ResponseWriter, r *http.Request) (identity.User, bool) {
	u, ok, err := p.accountUser(r)
	if err != nil {
		p.unavailable(w, r, "consents: load session", err)
		return identity.User{}, false
	}
	if !ok {
		p.browserRedirect(w, r, p.o.LoginPath+"?rd="+url.QueryEscape(p.local(pathConsents)))
		return identity.User{}, false
	}
	return u, true
}

// showConsents lists the clients the signed-in user consented to, each
// with a Revoke button (GET {issuer}/consents).
func (p *Provider) showConsents(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u, ok := p.consentsUser(w, r)
	if !ok {
		return
	}
	var list []web.ConsentView
	for _, c := range p.o.Clients.All() {
		if c.SkipConsent {
			continue
		}
		// With no scopes, ConsentCovers reports whether any consent is
		// remembered.
		covered, err := p.o.Grants.ConsentCovers(ctx, u.ID, c.ID, nil)
		if err != nil {
			p.unavailable(w, r, "list consents", err)
			return
		}
		if covered {
			list = append(list, web.ConsentView{ClientID: c.ID, Client: clientName(c)})
		}
	}
	p.o.Pages.Render(w, http.StatusOK, &web.ConsentsPage{
		Frame:    web.Frame{Title: "Connected applications", CSRF: p.o.CSRF.Token(w, r)},
		Action:   p.local(pathConsents),
		Consents: list,
		User:     &web.UserView{Username: u.Username, Name: u.Name, Email: u.Email},
	})
}

// revokeConsent forgets the user's consent to one client and revokes the
// grants (and so every token) the user gave it (POST {issuer}/consents).
func (p *Provider) revokeConsent(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !p.parsePageForm(w, r) {
		return
	}
	u, ok := p.consentsUser(w, r)
	if !ok {
		return
	}
	c, ok := p.o.Clients.Get(r.PostFormValue("client_id"))
	if !ok {
		p.o.Pages.Error(w, http.StatusBadRequest, "That application is not registered.")
		return
	}
	if err := p.o.Grants.RevokeConsent(ctx, u.ID, c.ID); err != nil {
		p.unavailable(w, r, "revoke consent", err)
		return
	}
	p.log.InfoContext(ctx, "consent revoked", "client_id", c.ID, "user_id", u.ID)
	p.browserRedirect(w, r, p.local(pathConsents))
}
