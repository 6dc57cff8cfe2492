// Package web holds the embedded HTML templates and static assets shared by
// every Gatehouse page, and a renderer that writes them with safe headers.
// No external CDN is used: everything a page needs is served by Gatehouse.
// The package contains no logic beyond rendering.
package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
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
)

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
	for _, name := range []string{PageLogin, PageLogout, PageSignedOut, PageHome, PageError} {
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
	var buf bytes.Buffer
	if err := t.Execute(&buf, p); err != nil {
		r.log.Error("render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	SecurityHeaders(w.Header())
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
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
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
