package proxy

import (
	"net/http"
	"strings"
)

// modifyResponse returns the hook that edits an upstream's response head
// before it reaches the client: Set-Cookies for Gatehouse's own cookie
// names are dropped, and Location, Content-Location and Refresh URLs
// that point at one of the route's upstreams are rewritten to the
// public origin the request came in on. A response with none of those
// headers costs four map lookups and no allocation.
func (g *Gateway) modifyResponse(rt *route) func(*http.Response) error {
	return func(res *http.Response) error {
		h := res.Header
		if v := h["Set-Cookie"]; len(v) > 0 {
			g.dropOwnSetCookies(res, rt, v)
		}
		for _, name := range redirectHeaders {
			if v := h[name]; len(v) > 0 {
				g.rewriteRedirects(res, rt, name, v)
			}
		}
		return nil
	}
}

// redirectHeaders are the response headers whose URL may name the
// upstream.
var redirectHeaders = [...]string{"Location", "Content-Location", "Refresh"}

// dropOwnSetCookies removes the Set-Cookie lines whose cookie name is one
// of Gatehouse's, so that an upstream can neither overwrite nor shadow
// the gateway's, the SSO session's or the CSRF cookie.
func (g *Gateway) dropOwnSetCookies(res *http.Response, rt *route, lines []string) {
	keep := -1 // index of the first line dropped; lines before it are kept as they are
	for i, line := range lines {
		if g.ownCookieName(setCookieName(line)) {
			keep = i
			break
		}
	}
	if keep < 0 {
		return
	}
	out := make([]string, 0, len(lines)-1)
	out = append(out, lines[:keep]...)
	for _, line := range lines[keep:] {
		name := setCookieName(line)
		if g.ownCookieName(name) {
			g.log.DebugContext(res.Request.Context(), "dropped an upstream Set-Cookie for one of Gatehouse's cookies",
				"route", rt.aud, "cookie", name)
			continue
		}
		out = append(out, line)
	}
	if len(out) == 0 {
		delete(res.Header, "Set-Cookie")
		return
	}
	res.Header["Set-Cookie"] = out
}

// setCookieName is the cookie name of a Set-Cookie value as browsers read
// it (RFC 6265bis §5.6): the text before the first "=" of the first
// ";"-separated part, trimmed; without "=", the whole part (browsers
// store it as a nameless cookie that is sent back as that text).
func setCookieName(line string) string {
	if i := strings.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	if i := strings.IndexByte(line, '='); i >= 0 {
		line = line[:i]
	}
	return strings.Trim(line, " \t")
}

// ownCookieName reports whether name is one of Gatehouse's cookie names
// in any variant a browser could confuse with it: with or without a
// "__Host-" or "__Secure-" prefix, in any case.
func (g *Gateway) ownCookieName(name string) bool {
	base := stripCookiePrefix(name)
	for _, own := range g.ownBases {
		if strings.EqualFold(base, own) {
			return true
		}
	}
	return len(base) >= len(g.flowBase) && strings.EqualFold(base[:len(g.flowBase)], g.flowBase)
}

// stripCookiePrefix removes a "__Host-" or "__Secure-" prefix, compared
// without regard to case as browsers compare it.
func stripCookiePrefix(name string) string {
	for _, p := range [...]string{"__Host-", "__Secure-"} {
		if len(name) >= len(p) && strings.EqualFold(name[:len(p)], p) {
			return name[len(p):]
		}
	}
	return name
}

// upstreamOrigin is one way a URL can name a route's upstream: its
// scheme and authority ("http://10.0.0.5:8080", lower case) and its base
// path without a trailing slash.
type upstreamOrigin struct {
	origin string
	base   string
}

// upstreamOrigins lists, for each upstream, its origin as configured and
// with the scheme's default port added or removed.
func upstreamOrigins(p *pool) []upstreamOrigin {
	var out []upstreamOrigin
	for _, u := range p.ups {
		scheme := strings.ToLower(u.url.Scheme)
		host := strings.ToLower(u.url.Host)
		base := strings.TrimSuffix(u.url.EscapedPath(), "/")
		def := ":80"
		if scheme == "https" {
			def = ":443"
		}
		forms := []string{host}
		if h, ok := strings.CutSuffix(host, def); ok {
			forms = append(forms, h)
		} else if u.url.Port() == "" {
			forms = append(forms, host+def)
		}
		for _, f := range forms {
			out = append(out, upstreamOrigin{origin: scheme + "://" + f, base: base})
		}
	}
	return out
}

// rewriteRedirects rewrites the values of header name that point at the
// route's upstream.
func (g *Gateway) rewriteRedirects(res *http.Response, rt *route, name string, values []string) {
	var out []string
	for i, v := range values {
		nv, ok := g.rewriteRedirect(res, rt, name, v)
		if !ok {
			continue
		}
		if out == nil {
			out = make([]string, len(values))
			copy(out, values)
		}
		out[i] = nv
	}
	if out != nil {
		res.Header[name] = out
	}
}

// rewriteRedirect rewrites one header value; ok is false when it stays
// as it is.
func (g *Gateway) rewriteRedirect(res *http.Response, rt *route, name, v string) (string, bool) {
	if name != "Refresh" {
		return g.publicURL(res, rt, v)
	}
	// Refresh: "5; url=http://upstream/next" (the URL part is optional,
	// "url=" is case-insensitive, the URL may be quoted).
	i := strings.IndexByte(v, ';')
	if i < 0 {
		return "", false
	}
	rest := strings.TrimLeft(v[i+1:], " \t")
	if len(rest) < 4 || !strings.EqualFold(rest[:3], "url") {
		return "", false
	}
	after := strings.TrimLeft(rest[3:], " \t")
	if !strings.HasPrefix(after, "=") {
		return "", false
	}
	u := strings.TrimLeft(after[1:], " \t")
	quote := ""
	if u != "" && (u[0] == '\'' || u[0] == '"') {
		quote = u[:1]
		u = strings.TrimSuffix(u[1:], quote)
	}
	nu, ok := g.publicURL(res, rt, u)
	if !ok {
		return "", false
	}
	return v[:i] + "; url=" + quote + nu + quote, true
}

// publicURL maps an absolute URL under one of the route's upstreams (at
// a path-segment boundary of its base path) to the same path on the
// public origin the request came in on, as nginx's "proxy_redirect
// default" does. Other URLs, relative ones included, stay as they are.
func (g *Gateway) publicURL(res *http.Response, rt *route, v string) (string, bool) {
	if len(v) < len("http://x") || (v[0] != 'h' && v[0] != 'H') {
		return "", false
	}
	for _, o := range rt.origins {
		if len(v) < len(o.origin) || !strings.EqualFold(v[:len(o.origin)], o.origin) {
			continue
		}
		rest := v[len(o.origin):]
		if rest != "" && rest[0] != '/' && rest[0] != '?' && rest[0] != '#' {
			continue // a longer host or port: "http://10.0.0.5:80801"
		}
		if o.base != "" {
			if !strings.HasPrefix(rest, o.base) {
				continue
			}
			after := rest[len(o.base):]
			if after != "" && after[0] != '/' && after[0] != '?' && after[0] != '#' {
				continue // "/base" must not match "/basement"
			}
			rest = after
		}
		if rest == "" || rest[0] != '/' {
			rest = "/" + rest
		}
		origin, ok := g.requestOrigin(res)
		if !ok {
			g.log.DebugContext(res.Request.Context(), "left an upstream URL unrewritten: the request's host is not one Gatehouse serves",
				"route", rt.aud)
			return "", false
		}
		return origin + rest, true
	}
	return "", false
}

// requestOrigin is the public origin a proxied request came in on, as
// the upstream was told it: the X-Forwarded-Proto and X-Forwarded-Host
// of the outgoing request (the client's Host and Gatehouse's scheme, or
// a trusted proxy's values). A host Gatehouse does not serve is refused,
// so a rewritten URL never leads elsewhere.
func (g *Gateway) requestOrigin(res *http.Response) (string, bool) {
	if res.Request == nil {
		return "", false
	}
	h := res.Request.Header
	host := firstListValue(h.Get("X-Forwarded-Host"))
	key, ok := g.hostKey(host)
	if !ok || (key != g.own && !g.hosts.has(key)) || strings.ContainsAny(host, "/\\@?#") {
		return "", false
	}
	scheme := g.scheme
	switch p := strings.ToLower(firstListValue(h.Get("X-Forwarded-Proto"))); p {
	case "http", "https":
		scheme = p
	}
	return scheme + "://" + host, true
}

// firstListValue is the first element of a comma-separated header value.
func firstListValue(v string) string {
	if i := strings.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v)
}
