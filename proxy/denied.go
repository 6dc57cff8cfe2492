package proxy

import (
	"net/http"
	"net/url"

	"github.com/gatehouse-sso/gatehouse/web"
)

// denied answers a request the policy refused. Browsers get the
// not-allowed page: who they are signed in as, a link to sign in as
// someone else and back to this page, and a sign-out button; other
// clients an empty 403.
func (g *Gateway) denied(w http.ResponseWriter, r *http.Request, p *principal, path, rawQuery string) {
	if !wantsHTML(r) {
		w.Header()["Cache-Control"] = noStore
		empty(w, http.StatusForbidden)
		return
	}
	rd := path
	if rawQuery != "" {
		rd += "?" + rawQuery
	}
	g.o.Pages.Render(w, http.StatusForbidden, g.deniedPage(p, rd))
}

// deniedPage is the not-allowed page for principal p (nil: nobody
// signed in) refused rd, a same-host return target. Its links are
// relative: the page is shown on the app's host, by the gateway or
// relayed by a forward-auth proxy.
//
// "Sign in as someone else" is a link to the sign-in start with
// switch_user=1, which asks the IdP for credentials again (prompt=login):
// following it, even from another site, changes nothing until the user
// signs in, so it needs no CSRF token. Signing in replaces the browser's
// app session with the new user's.
func (g *Gateway) deniedPage(p *principal, rd string) *web.DeniedPage {
	page := &web.DeniedPage{
		// The sign-out form's answer redirects to the IdP's end_session.
		Frame:      web.Frame{Title: "Not allowed", FormTargets: []string{g.ownOrigin}, Assets: pathStatic},
		SwitchURL:  pathStart + "?rd=" + url.QueryEscape(rd) + "&switch_user=1",
		SignOutURL: pathLogout,
	}
	if p != nil && !p.service && p.subject.Authenticated {
		page.User = &web.UserView{Username: p.subject.Username, Email: p.subject.Email}
		if page.User.Username == "" {
			page.User.Username = p.subject.UserID
		}
	} else {
		page.SwitchURL = pathStart + "?rd=" + url.QueryEscape(rd)
	}
	return page
}

// deniedHandler serves /.gatehouse/denied on an app host: the
// not-allowed page for a proxy that cannot relay forward-auth's own
// answer (nginx: error_page 403 to a location that proxies here). The
// refused page comes from X-Original-URL when a trusted proxy sends it,
// else from rd; either must be on this host. Other clients than browsers
// get an empty 403.
func (g *Gateway) deniedHandler(w http.ResponseWriter, r *http.Request, host string) {
	ctx := r.Context()
	if !wantsHTML(r) {
		empty(w, http.StatusForbidden)
		return
	}
	var p *principal
	if q, res := g.authenticate(ctx, r, host, nil); res == authOK {
		p = q
	}
	raw := r.URL.Query().Get("rd")
	if u := first(r.Header["X-Original-Url"]); u != "" && g.trusted.contains(peerAddr(r)) {
		if h, uri := splitURL(u); h != "" {
			if hk, ok := g.hostKey(h); ok && hk == host {
				raw = uri
			}
		}
	}
	rd, ok := g.returnTo(raw, host)
	if !ok || rd == pathDenied || len(rd) > len(pathDenied) && rd[:len(pathDenied)+1] == pathDenied+"?" {
		rd = "/"
	}
	g.o.Pages.Render(w, http.StatusForbidden, g.deniedPage(p, rd))
}

// signedOut serves /.gatehouse/signed-out on an app host, where the IdP
// returns the browser after a sign-out: "You are signed out", with a
// link to sign in again (not straight back into a sign-in form).
func (g *Gateway) signedOut(w http.ResponseWriter, _ *http.Request) {
	g.o.Pages.Render(w, http.StatusOK, &web.AppSignedOutPage{
		Frame:     web.Frame{Title: "Signed out", Assets: pathStatic},
		SignInURL: pathStart + "?rd=%2F",
	})
}
