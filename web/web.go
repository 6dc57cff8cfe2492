// Package web holds the embedded HTML templates and static assets shared by
// every Gatehouse page, one typed data struct per page (each embedding the
// common Frame), and a renderer that writes them with safe headers and the
// operator's branding. No external CDN is used: everything a page needs is
// served by Gatehouse (or, for a logo, by the one origin the operator
// configured). The package contains no logic beyond rendering.
package web

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
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

// Renderer writes pages.
type Renderer struct {
	pages map[string]*template.Template
	log   *slog.Logger
	brand Brand
	// styleHash is the CSP source of the inline branding style, if any;
	// logoOrigin the origin images may come from besides this site.
	styleHash  string
	logoOrigin string
}

// NewRenderer parses every embedded page. brand is the product's name,
// logo and accent colour (see Brand; its zero value is Gatehouse's own
// look); it must have passed Brand.Check.
func NewRenderer(log *slog.Logger, brand Brand) (*Renderer, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := brand.Check(); err != nil {
		return nil, err
	}
	r := &Renderer{pages: map[string]*template.Template{}, log: log}
	r.brand = brand.resolve()
	if r.brand.Style != "" {
		sum := sha256.Sum256([]byte(r.brand.Style))
		r.styleHash = "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	}
	r.logoOrigin = logoOrigin(r.brand.LogoURL)
	for _, v := range views() {
		name := v.template()
		t, err := template.New("layout.html").ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("parse page %s: %w", name, err)
		}
		r.pages[name] = t
	}
	return r, nil
}

// Render writes page v with status. Pages are never cached and never
// framed; scripts are allowed only on pages that need one (with a
// per-response nonce).
func (r *Renderer) Render(w http.ResponseWriter, status int, v View) {
	name := v.template()
	t, ok := r.pages[name]
	if !ok {
		r.log.Error("render unknown page", "page", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	f := v.frame()
	f.Brand = r.brand
	if _, ok := v.(*FormPostPage); ok {
		var b [16]byte
		_, _ = rand.Read(b[:])
		f.Nonce = base64.RawURLEncoding.EncodeToString(b[:])
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, v); err != nil {
		r.log.Error("render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	SecurityHeaders(w.Header())
	w.Header().Set("Content-Security-Policy", policy(f.FormTargets, f.Nonce, r.styleHash, r.logoOrigin))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// Error renders the error page with a readable message.
func (r *Renderer) Error(w http.ResponseWriter, status int, message string) {
	r.Render(w, status, &ErrorPage{Frame: Frame{Title: http.StatusText(status)}, Status: status, Message: message})
}

// SecurityHeaders sets the headers every Gatehouse page carries.
func SecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", policy(nil, "", "", ""))
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

// originRE matches a CSP source expression for one origin
// ("https://host:port") or one scheme ("com.example.app:").
var originRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:(//[a-zA-Z0-9.\-]+(:[0-9]{1,5})?|//\[[0-9a-fA-F:.]+\](:[0-9]{1,5})?)?$`)

// policy is SecurityHeaders' policy with extra form targets, an inline
// script nonce, an inline style hash and an image origin.
func policy(targets []string, nonce, styleHash, imgOrigin string) string {
	form := "form-action 'self'"
	for _, t := range targets {
		if originRE.MatchString(t) {
			form += " " + t
		}
	}
	style, img := "style-src 'self'", "img-src 'self'"
	if styleHash != "" {
		style += " " + styleHash
	}
	if imgOrigin != "" && originRE.MatchString(imgOrigin) {
		img += " " + imgOrigin
	}
	parts := []string{"default-src 'none'", style, img, form, "frame-ancestors 'none'", "base-uri 'none'"}
	if nonce != "" {
		parts = append(parts, "script-src 'nonce-"+nonce+"'")
	}
	return strings.Join(parts, "; ")
}

// Static serves the embedded assets under /static/.
func Static() http.Handler { return StaticUnder("/static/") }

// StaticUnder serves the embedded assets under prefix (a path ending in
// "/"; see Frame.Assets).
func StaticUnder(prefix string) http.Handler {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // the embed directive guarantees the folder
	}
	fsrv := http.StripPrefix(prefix, http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		fsrv.ServeHTTP(w, r)
	})
}
