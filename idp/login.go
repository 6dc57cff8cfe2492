// Package idp is Gatehouse's identity provider: the sign-out and account
// pages (Login; signing in is idp/authn), and the OpenID Connect provider built on the same session
// (Provider: discovery, authorize, consent, token, userinfo, end_session,
// revocation, introspection, back-channel logout). Keys, clients and grant
// records live in the sub-packages keys, clients and grants.
// It knows nothing about upstream apps.
package idp

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-sso/gatehouse/csrf"
	"github.com/gatehouse-sso/gatehouse/identity"
	"github.com/gatehouse-sso/gatehouse/idp/internal/form"
	"github.com/gatehouse-sso/gatehouse/redirect"
	"github.com/gatehouse-sso/gatehouse/session"
	"github.com/gatehouse-sso/gatehouse/web"
)

// Login serves the sign-out and landing pages (the sign-in pages are
// idp/authn's dispatcher).
type Login struct {
	Users     UserLookup
	Sessions  *session.Manager
	CSRF      *csrf.Protector
	Redirects *redirect.Validator
	Pages     *web.Renderer
	Log       *slog.Logger
	// MaxBodyBytes caps form bodies.
	MaxBodyBytes int64
	// Home is where a signed-in user lands when no return-to target was
	// given ("/" shows the account page).
	Home string
	// DemoURL, when set, is linked from the account page.
	DemoURL string
}

// Mount registers the pages on mux.
func (l *Login) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /logout", l.showLogout)
	mux.HandleFunc("POST /logout", l.submitLogout)
	mux.HandleFunc("GET /{$}", l.home)
}

// returnTo validates a client-supplied target, falling back to Home.
func (l *Login) returnTo(ctx context.Context, raw string) string {
	if raw == "" {
		return l.fallback()
	}
	target, err := l.Redirects.Check(raw)
	if err != nil {
		l.Log.InfoContext(ctx, "return-to target refused", "reason", err.Error())
		return l.fallback()
	}
	return target
}

func (l *Login) fallback() string {
	if l.Home != "" {
		return l.Home
	}
	return "/"
}

// current returns the signed-in user, or ok=false when signed out. A
// store failure is reported as an error: the caller fails closed.
func (l *Login) current(ctx context.Context, r *http.Request) (session.Record, identity.User, bool, error) {
	rec, err := l.Sessions.Load(ctx, r)
	if errors.Is(err, session.ErrNoSession) {
		return session.Record{}, identity.User{}, false, nil
	}
	if err != nil {
		return session.Record{}, identity.User{}, false, err
	}
	u, err := l.Users.ByID(ctx, rec.UserID)
	if errors.Is(err, identity.ErrNotFound) {
		return rec, identity.User{}, false, nil
	}
	if err != nil {
		return session.Record{}, identity.User{}, false, err
	}
	if u.Disabled {
		return rec, identity.User{}, false, nil
	}
	return rec, u, true, nil
}

func (l *Login) unavailable(w http.ResponseWriter, r *http.Request, what string, err error) {
	l.Log.ErrorContext(r.Context(), what, "err", err)
	l.Pages.Error(w, http.StatusServiceUnavailable, "Sign-in is temporarily unavailable. Please try again in a moment.")
}

// parseForm reads a form posted by one of these pages; it writes the
// error page and returns false when it is not acceptable.
func (l *Login) parseForm(w http.ResponseWriter, r *http.Request) bool {
	return form.Reader{Pages: l.Pages, CSRF: l.CSRF, Log: l.Log, MaxBytes: l.MaxBodyBytes}.Read(w, r)
}

func (l *Login) showLogout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	rd := r.URL.Query().Get("rd")
	if rd != "" {
		rd = l.returnTo(ctx, rd)
	}
	_, u, ok, err := l.current(ctx, r)
	if err != nil {
		l.unavailable(w, r, "load session", err)
		return
	}
	if !ok {
		l.Pages.Render(w, http.StatusOK, &web.SignedOutPage{Frame: web.Frame{Title: "Signed out"}})
		return
	}
	l.Pages.Render(w, http.StatusOK, &web.LogoutPage{
		Frame:  web.Frame{Title: "Sign out", CSRF: l.CSRF.Token(w, r), FormTargets: formTargets(rd)},
		Return: rd, User: view(u),
	})
}

func (l *Login) submitLogout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !l.parseForm(w, r) {
		return
	}
	rec, _ := l.Sessions.Load(ctx, r)
	if err := l.Sessions.End(ctx, w, r); err != nil {
		l.unavailable(w, r, "end session", err)
		return
	}
	if rec.UserID != "" {
		l.Log.InfoContext(ctx, "logout", "user_id", rec.UserID)
	}
	if raw := r.PostFormValue("rd"); raw != "" {
		http.Redirect(w, r, l.returnTo(ctx, raw), http.StatusSeeOther)
		return
	}
	l.Pages.Render(w, http.StatusOK, &web.SignedOutPage{Frame: web.Frame{Title: "Signed out"}})
}

func (l *Login) home(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	_, u, ok, err := l.current(ctx, r)
	if err != nil {
		l.unavailable(w, r, "load session", err)
		return
	}
	if !ok {
		http.Redirect(w, r, "/login?rd="+url.QueryEscape(l.fallback()), http.StatusSeeOther)
		return
	}
	l.Pages.Render(w, http.StatusOK, &web.HomePage{Frame: web.Frame{Title: "Signed in"}, User: view(u), DemoURL: l.DemoURL})
}

func view(u identity.User) *web.UserView {
	return &web.UserView{Username: u.Username, Name: u.Name, Email: u.Email, Groups: u.Groups}
}

// Identify returns the signed-in user of r. ok is false when r is signed
// out (or its user was removed or disabled); err reports a store failure.
func (l *Login) Identify(ctx context.Context, r *http.Request) (identity.User, bool, error) {
	_, u, ok, err := l.current(ctx, r)
	return u, ok, err
}

// formTargets allows the form of a page to end on the validated return-to
// target rd when it is on another origin: browsers apply the CSP
// form-action directive to the redirect that follows a form POST.
func formTargets(rd string) []string {
	if rd == "" || strings.HasPrefix(rd, "/") {
		return nil
	}
	if o := origin(rd); o != "" {
		return []string{o}
	}
	return nil
}
