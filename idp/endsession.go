package idp

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-sso/gatehouse/csrf"
	"github.com/gatehouse-sso/gatehouse/idp/clients"
	"github.com/gatehouse-sso/gatehouse/session"
	"github.com/gatehouse-sso/gatehouse/web"
)

// The end_session errors clients are documented to see (kuploy's SSO
// guide quotes them).
const (
	msgClientIDRequired     = "invalid_request: client_id is required when using post_logout_redirect_uri without a valid id_token_hint"
	msgLogoutURINotAllowed  = "invalid_request: post_logout_redirect_uri is not registered for this client"
	msgUnknownClientID      = "invalid_request: client_id is not registered"
	msgHintClientMismatch   = "invalid_request: client_id does not match the id_token_hint"
	msgHintNotOurs          = "invalid_request: id_token_hint was not issued by this provider"
	maxEndSessionHintLength = 16 << 10
)

// idHint is what end_session uses of an id_token_hint.
type idHint struct {
	Iss string   `json:"iss"`
	Sub string   `json:"sub"`
	Aud audience `json:"aud"`
	Azp string   `json:"azp"`
	Sid string   `json:"sid"`
}

// audience is the "aud" claim: one string or an array.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*a = many
	return nil
}

// client is the client the hint was issued to.
func (h *idHint) client() string {
	if h.Azp != "" {
		return h.Azp
	}
	if len(h.Aud) == 1 {
		return h.Aud[0]
	}
	return ""
}

// parseHint verifies an id_token_hint by signature and issuer only: an
// expired ID token still identifies its client and user. nil means the
// hint is not one of our ID tokens.
func (p *Provider) parseHint(raw string) *idHint {
	if len(raw) > maxEndSessionHintLength {
		return nil
	}
	payload, h, err := p.o.Keys.Verify(raw)
	if err != nil || (h.Typ != "" && !strings.EqualFold(h.Typ, typIDToken)) {
		return nil
	}
	var hint idHint
	if err := json.Unmarshal(payload, &hint); err != nil || hint.Iss != p.issuer || hint.Sub == "" {
		return nil
	}
	return &hint
}

// endSession serves RP-Initiated Logout 1.0 at {issuer}/end_session and
// its aliases, GET and POST.
//
// post_logout_redirect_uri is honoured only when registered for the
// client named by client_id or by a valid id_token_hint; errors are shown
// on a page, never redirected. The session ends at once when the request
// proves its client (a hint with our signature for the signed-in user,
// or client_id with a registered post_logout_redirect_uri); otherwise
// the user confirms on a CSRF-protected page.
func (p *Provider) endSession(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v := r.URL.Query()
	confirmed := false
	if r.Method == http.MethodPost {
		ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || ct != "application/x-www-form-urlencoded" {
			p.o.Pages.Error(w, http.StatusUnsupportedMediaType, "The sign-out request must be sent as application/x-www-form-urlencoded.")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, p.o.MaxBodyBytes)
		if err := r.ParseForm(); err != nil {
			p.o.Pages.Error(w, http.StatusBadRequest, "The sign-out request could not be read.")
			return
		}
		v = r.PostForm
		if v.Has(csrf.FieldName) {
			// The confirmation form of our own page.
			if err := p.o.CSRF.Verify(r); err != nil {
				p.log.InfoContext(ctx, "form refused", "reason", err.Error())
				p.o.Pages.Error(w, http.StatusForbidden, "This form expired or did not come from this site. Go back, reload the page and try again.")
				return
			}
			confirmed = true
		}
	}
	rawHint, clientID := v.Get("id_token_hint"), v.Get("client_id")
	uri, state := v.Get("post_logout_redirect_uri"), v.Get("state")

	var hint *idHint
	if rawHint != "" {
		hint = p.parseHint(rawHint)
	}
	var client *clients.Client
	switch {
	case clientID != "":
		c, ok := p.o.Clients.Get(clientID)
		if !ok {
			p.endSessionError(w, r, msgUnknownClientID)
			return
		}
		if hint != nil && hint.client() != clientID && !containsString(hint.Aud, clientID) {
			p.endSessionError(w, r, msgHintClientMismatch)
			return
		}
		client = c
	case hint != nil:
		if c, ok := p.o.Clients.Get(hint.client()); ok {
			client = c
		}
	}
	switch {
	case uri != "" && client == nil:
		p.endSessionError(w, r, msgClientIDRequired)
		return
	case uri != "" && !client.PostLogoutAllowed(uri):
		p.endSessionError(w, r, msgLogoutURINotAllowed)
		return
	case uri == "" && rawHint != "" && hint == nil && client == nil:
		p.endSessionError(w, r, msgHintNotOurs)
		return
	}

	rec, err := p.o.Sessions.Load(ctx, r)
	signedIn := err == nil
	if err != nil && !errors.Is(err, session.ErrNoSession) {
		p.unavailable(w, r, "end session: load session", err)
		return
	}
	proven := confirmed || (hint != nil && client != nil) || (clientID != "" && uri != "")
	if signedIn && hint != nil && hint.Sub != rec.UserID && !confirmed {
		proven = false // a hint about someone else: ask
	}
	if signedIn && !proven {
		p.confirmEndSession(w, r, client, rec, uri, state)
		return
	}
	if err := p.o.Sessions.End(ctx, w, r); err != nil {
		p.unavailable(w, r, "end session", err)
		return
	}
	if signedIn {
		cid := ""
		if client != nil {
			cid = client.ID
		}
		p.log.InfoContext(ctx, "logout", "user_id", rec.UserID, "client_id", cid, "initiated_by", "rp")
	}
	if uri != "" {
		target := uri
		if state != "" {
			target = appendQuery(uri, url.Values{"state": {state}})
		}
		p.browserRedirect(w, r, target)
		return
	}
	p.o.Pages.Render(w, http.StatusOK, &web.SignedOutPage{Frame: web.Frame{Title: "Signed out"}})
}

func (p *Provider) endSessionError(w http.ResponseWriter, r *http.Request, msg string) {
	p.log.InfoContext(r.Context(), "end session refused", "reason", msg)
	p.o.Pages.Error(w, http.StatusBadRequest, msg)
}

// confirmEndSession asks the user to confirm a sign-out that no client
// proved it asked for.
func (p *Provider) confirmEndSession(w http.ResponseWriter, r *http.Request, client *clients.Client, rec session.Record, uri, state string) {
	page := &web.EndSessionPage{
		Frame:  web.Frame{Title: "Sign out", CSRF: p.o.CSRF.Token(w, r)},
		Action: p.local(pathEndSession),
	}
	if client != nil {
		page.Client = clientName(client)
		page.Fields = append(page.Fields, web.Field{Name: "client_id", Value: client.ID})
	}
	if uri != "" {
		page.Fields = append(page.Fields, web.Field{Name: "post_logout_redirect_uri", Value: uri})
		page.FormTargets = []string{origin(uri)}
	}
	if state != "" {
		page.Fields = append(page.Fields, web.Field{Name: "state", Value: state})
	}
	if u, ok, err := p.liveUser(r.Context(), rec.UserID); err == nil && ok {
		page.User = &web.UserView{Username: u.Username, Name: u.Name, Email: u.Email}
	}
	p.o.Pages.Render(w, http.StatusOK, page)
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
