package proxy

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-sso/gatehouse/web"
)

// stripCookies removes Gatehouse's own cookies from the Cookie header(s).
// It allocates only when one is present.
func (g *Gateway) stripCookies(h http.Header) {
	lines := h["Cookie"]
	found := false
	for _, line := range lines {
		forEachCookie(line, func(name, _ string) bool {
			found = g.ownCookie(name)
			return !found
		})
		if found {
			break
		}
	}
	if !found {
		return
	}
	var b strings.Builder
	for _, line := range lines {
		forEachCookie(line, func(name, value string) bool {
			if !g.ownCookie(name) {
				if b.Len() > 0 {
					b.WriteString("; ")
				}
				b.WriteString(name)
				b.WriteByte('=')
				b.WriteString(value)
			}
			return true
		})
	}
	if b.Len() == 0 {
		delete(h, "Cookie")
		return
	}
	h["Cookie"] = []string{b.String()}
}

func (g *Gateway) ownCookie(name string) bool {
	return g.strip[name] || strings.HasPrefix(name, g.flowPrefix)
}

// forEachCookie calls f with each name=value pair of a Cookie header line
// until f returns false.
func forEachCookie(line string, f func(name, value string) bool) {
	for line != "" {
		var part string
		part, line, _ = strings.Cut(line, ";")
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, value, _ := strings.Cut(part, "=")
		if !f(name, value) {
			return
		}
	}
}

// cookieValue returns the value of the first cookie called name, without
// allocating.
func cookieValue(h http.Header, name string) string {
	var out string
	for _, line := range h["Cookie"] {
		forEachCookie(line, func(n, v string) bool {
			if n == name {
				out = strings.Trim(v, `"`)
				return false
			}
			return true
		})
		if out != "" {
			return out
		}
	}
	return ""
}

// wantsHTML reports whether the client is a browser navigating: it accepts
// text/html and sends no credentials of its own.
func wantsHTML(r *http.Request) bool {
	return r.Header.Get("Authorization") == "" && strings.Contains(r.Header.Get("Accept"), "text/html")
}

// startURL is the relative URL of the sign-in start for a path and query
// on the same host.
func (g *Gateway) startURL(path, rawQuery string) string {
	rd := path
	if rawQuery != "" {
		rd += "?" + rawQuery
	}
	return pathStart + "?rd=" + url.QueryEscape(rd)
}

// Shared header values.
var (
	zeroLength = []string{"0"}
	noStore    = []string{"no-store"}
)

// redirect answers 302 with an empty body.
func redirect(w http.ResponseWriter, location string) {
	w.Header()["Location"] = []string{location}
	empty(w, http.StatusFound)
}

// challenge answers 401 with WWW-Authenticate and an empty body.
func challenge(w http.ResponseWriter, value string) {
	w.Header()["Www-Authenticate"] = []string{value}
	empty(w, http.StatusUnauthorized)
}

// empty answers status with an empty body (keep-alive friendly).
func empty(w http.ResponseWriter, status int) {
	h := w.Header()
	h["Cache-Control"] = noStore
	h["Content-Length"] = zeroLength
	w.WriteHeader(status)
}

// fail answers an error: a page for browsers, an empty body for others.
func (g *Gateway) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		w.Header().Set("Cache-Control", "no-store")
		g.o.Pages.Render(w, status, &web.ErrorPage{Frame: web.Frame{Title: http.StatusText(status), Assets: pathStatic},
			Status: status, Message: msg})
		return
	}
	empty(w, status)
}
