// Package web holds the embedded HTML templates and static assets shared by
// every Gatehouse page, and a renderer that writes them with safe headers.
// No external CDN is used: everything a page needs is served by Gatehouse.
// The package contains no logic beyond rendering.
package web

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Page names.
const (
	PageLogin     = "login"
	PageLogout    = "logout"
	PageSignedOut = "signed_out"
	PageHome      = "home"
	PageError     = "error"
	// PageConsent asks the user to let an OAuth client have some scopes.
	PageConsent = "consent"
	// PageConsents lists the clients the user consented to, each revocable.
	PageConsents = "consents"
	// PageEndSession asks the user to confirm a sign-out requested by a
	// client that could not be identified.
	PageEndSession = "end_session"
	// PageContinue sends the browser on to Target (a meta refresh and a
	// link), for redirects that must not follow a form submission.
	PageContinue = "continue"
	// PageFormPost posts Fields to Target from the browser (OAuth
	// response_mode=form_post); its one inline script carries a nonce.
	PageFormPost = "form_post"
)

// pages lists every page NewRenderer parses.
var pages = []string{PageLogin, PageLogout, PageSignedOut, PageHome, PageError,
	PageConsent, PageConsents, PageEndSession, PageContinue, PageFormPost}

// Page is the data every template receives.
type Page struct {
	// Title is the document title.
	Title string
	// CSRF is the token for the page's form, if it has one.
	CSRF string
	// Error is a message shown above the form.
	Error string
	// Return is the validated return-to target carried through a form.
	Return string
	// Login is the username echoed back into the login form.
	Login string
	// User is the signed-in user, on pages that show one.
	User *UserView
	// DemoURL links to the demo upstream when the demo is on.
	DemoURL string
	// Status and Message describe an error page.
	Status  int
	Message string

	// Client is the display name of the OAuth client a page is about.
	Client string
	// Scopes are the permissions a consent page asks for.
	Scopes []ScopeView
	// Pending identifies the sign-in request a consent form answers.
	Pending string
	// Action is the path a page's form posts to on this site.
	Action string
	// Target is where a continue page goes or a form_post page posts to.
	// It must be a validated URL (a registered redirect URI): it is
	// trusted as a URL whatever its scheme.
	Target template.URL
	// Fields are hidden fields of a page's form.
	Fields []Field
	// Consents lists the clients the user consented to.
	Consents []ConsentView
	// FormTargets are origins ("https://app.example.com") besides this
	// site that the page's form may submit to, directly or through the
	// redirect that answers it (browsers check CSP form-action against
	// redirects too). Values that are not plain origins are dropped.
	FormTargets []string
	// Nonce is set by Render for pages with an inline script.
	Nonce string
}

// ScopeView is one permission shown on the consent page.
type ScopeView struct {
	Name        string
	Description string
}

// Field is a hidden form field.
type Field struct {
	Name  string
	Value string
}

// ConsentView is one remembered consent.
type ConsentView struct {
	ClientID string
	Client   string
}

// UserView is what a page may show of a user.
type UserView struct {
	Username string
	Name     string
	Email    string
	Groups   []string
}

// Renderer writes pages.
type Renderer struct {
	pages map[string]*template.Template
	log   *slog.Logger
}

// NewRenderer parses every embedded page.
func NewRenderer(log *slog.Logger) (*Renderer, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Renderer{pages: map[string]*template.Template{}, log: log}
	for _, name := range pages {
		t, err := template.New("layout.html").ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("parse page %s: %w", name, err)
		}
		r.pages[name] = t
	}
	return r, nil
}

// Render writes page name with status. Pages are never cached and never
// framed; scripts are not allowed at all.
func (r *Renderer) Render(w http.ResponseWriter, status int, name string, p Page) {
	t, ok := r.pages[name]
	if !ok {
		r.log.Error("render unknown page", "page", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if name == PageFormPost {
		var b [16]byte
		_, _ = rand.Read(b[:])
		p.Nonce = base64.RawURLEncoding.EncodeToString(b[:])
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, p); err != nil {
		r.log.Error("render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	SecurityHeaders(w.Header())
	if len(p.FormTargets) > 0 || p.Nonce != "" {
		w.Header().Set("Content-Security-Policy", policy(p.FormTargets, p.Nonce))
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// Error renders the error page with a readable message.
func (r *Renderer) Error(w http.ResponseWriter, status int, message string) {
	r.Render(w, status, PageError, Page{Title: http.StatusText(status), Status: status, Message: message})
}

// SecurityHeaders sets the headers every Gatehouse page carries.
func SecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", policy(nil, ""))
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

// originRE matches a CSP source expression for one origin
// ("https://host:port") or one scheme ("com.example.app:").
var originRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:(//[a-zA-Z0-9.\-]+(:[0-9]{1,5})?|//\[[0-9a-fA-F:.]+\](:[0-9]{1,5})?)?$`)

// policy is SecurityHeaders' policy with extra form targets and an inline
// script nonce.
func policy(targets []string, nonce string) string {
	form := "form-action 'self'"
	for _, t := range targets {
		if originRE.MatchString(t) {
			form += " " + t
		}
	}
	parts := []string{"default-src 'none'", "style-src 'self'", "img-src 'self'", form, "frame-ancestors 'none'", "base-uri 'none'"}
	if nonce != "" {
		parts = append(parts, "script-src 'nonce-"+nonce+"'")
	}
	return strings.Join(parts, "; ")
}

// Static serves the embedded assets under /static/.
func Static() http.Handler {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // the embed directive guarantees the folder
	}
	fsrv := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		fsrv.ServeHTTP(w, r)
	})
}
