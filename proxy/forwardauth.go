package proxy

import (
	"net/http"
	"strings"

	"github.com/gatehouse-sso/gatehouse/policy"
)

// flavour is the reverse proxy asking a forward-auth question.
type flavour uint8

const (
	nginx flavour = iota
	traefik
	caddy
)

// Forward-auth endpoint paths. The /forward-auth/ ones are meant for
// Gatehouse's own host; the /.gatehouse/auth ones for a proxy that sends
// its subrequest on the app's host. Both answer on any host.
const (
	PathForwardAuthNginx   = "/forward-auth/nginx"
	PathForwardAuthTraefik = "/forward-auth/traefik"
	PathForwardAuthCaddy   = "/forward-auth/caddy"
)

// HeaderLocation carries, in forward-auth 401 answers, the absolute URL a
// browser should be sent to for signing in (nginx: auth_request_set it
// and redirect to it in the 401 error_page).
const HeaderLocation = "X-Gatehouse-Location"

func forwardAuthFlavour(path string) (flavour, bool) {
	switch path {
	case PathForwardAuthNginx, pathAuth, pathAuth + "/nginx":
		return nginx, true
	case PathForwardAuthTraefik, pathAuth + "/traefik":
		return traefik, true
	case PathForwardAuthCaddy, pathAuth + "/caddy":
		return caddy, true
	}
	return 0, false
}

// forwardAuth answers a reverse proxy's question about an original
// request: 200 with identity headers when the policy allows it, 401 when
// the user must sign in (Traefik and Caddy: a 302 to the sign-in start
// for browsers), 403 when the user may not, 503 when the store fails.
// Every answer has an empty body and Content-Length: 0, so the proxy
// keeps its connection alive. Only trusted proxies may ask. Identity
// headers must have been stripped from r; seen is what scrub found.
//
// The proxy forwards the original request itself, so Gatehouse cannot
// remove what it must not pass on: a request that carries a rewrite
// header (see [refused]) or whose Connection header names a header
// Gatehouse answers with is refused instead.
func (g *Gateway) forwardAuth(w http.ResponseWriter, r *http.Request, f flavour, seen found) {
	ctx := r.Context()
	peer := peerAddr(r)
	if !g.trusted.contains(peer) {
		g.log.WarnContext(ctx, "gateway: forward-auth request from a peer outside gateway.trusted_proxies refused", "peer", peer.String())
		empty(w, http.StatusForbidden)
		return
	}
	// The caller (Dispatch or ServeHTTP) has stripped identity headers.
	bad := http.StatusBadRequest
	if f == nginx {
		bad = http.StatusForbidden // auth_request turns anything but 2xx, 401, 403 into a 500
	}
	method, hostport, uri := original(r, f)
	host, ok := g.hostKey(hostport)
	if !ok || !strings.HasPrefix(uri, "/") {
		empty(w, bad)
		return
	}
	rawPath, rawQuery, _ := strings.Cut(uri, "?")
	path, err := policy.NormalizePath(rawPath)
	if err != nil {
		empty(w, bad)
		return
	}
	rt := g.table.match(host, path)
	// nginx sends X-Original-URL itself: only anything else needs a look.
	if seen&^foundOriginalURL != 0 || seen != 0 && f != nginx {
		if refused(r.Header, seen, f, rt != nil && rt.passRewrite) {
			empty(w, bad)
			return
		}
	}
	// Bearer tokens: the route's clients, else those forward_auth.bearer
	// lists for the host (looked up only when there is a token).
	var bearer []string
	if rt != nil {
		bearer = rt.bearer
	}
	if _, ok := r.Header["Authorization"]; ok && len(bearer) == 0 {
		bearer = g.faBearer.lookup(host)
	}
	p, res, out := g.judge(ctx, r, policy.Request{Host: host, Path: path, Method: method, ClientIP: g.trusted.clientIP(r, peer)}, bearer)
	switch {
	case res == authUnavailable && out.Effect != policy.Allow:
		empty(w, http.StatusServiceUnavailable)
		return
	case res == authBadToken && out.Effect != policy.Allow:
		challenge(w, `Bearer realm="gatehouse", error="invalid_token"`)
		return
	}
	switch out.Effect {
	case policy.Allow:
		if p != nil {
			if g.fa.accessToken {
				switch p, res = g.fresh(ctx, r, p); res {
				case authUnavailable:
					empty(w, http.StatusServiceUnavailable)
					return
				case authNone:
					g.faSignIn(w, r, f, hostport, path, rawQuery, policy.NeedLogin)
					return
				}
			}
			var assertion, token []string
			if g.fa.assertion {
				aud := host
				if rt != nil {
					aud = rt.aud
				}
				assertion = g.assertion(ctx, p, aud)
			}
			if g.fa.accessToken {
				token = p.token
			}
			g.fa.write(w.Header(), p, assertion, token)
		}
		// Only the proxy sees a 200 (no Cache-Control needed). net/http
		// adds "Content-Length: 0" itself to an empty answer, outside the
		// header map: one map entry fewer to fill, clone and sort.
		w.WriteHeader(http.StatusOK)
	case policy.NeedLogin, policy.Reauthenticate:
		g.faSignIn(w, r, f, hostport, path, rawQuery, out.Effect)
	default:
		if f != nginx && wantsHTML(r) {
			// Traefik and Caddy relay a refusal's body to the browser:
			// Gatehouse's not-allowed page. (nginx drops it; its recipe
			// sends error_page 403 to /.gatehouse/denied.)
			rd := rawPath
			if rawQuery != "" {
				rd += "?" + rawQuery
			}
			g.o.Pages.Render(w, http.StatusForbidden, g.deniedPage(p, rd))
			return
		}
		empty(w, http.StatusForbidden)
	}
}

// refused reports whether a forward-auth request carries what its proxy
// would pass to the upstream although the policy did not judge it: a
// method override or X-Rewrite-URL (unless the route passes rewrite
// headers), X-Original-URL from Traefik or Caddy (nginx sets it for the
// subrequest itself), or a Connection header naming a header Gatehouse
// answers with, which the proxy would then drop.
func refused(h http.Header, seen found, f flavour, passRewrite bool) bool {
	for name, vs := range h {
		switch classify(name) {
		case classRewrite:
			if !passRewrite {
				return true
			}
		case classOriginalURL:
			if !passRewrite && f != nginx {
				return true
			}
		case classConnection:
			if seen&foundConnection != 0 && connectionNamesOurs(vs) {
				return true
			}
		}
	}
	return false
}

// faSignIn answers a forward-auth request whose user must sign in. The
// sign-in start is an absolute URL on the original request's origin: a
// proxy that resolves a relative Location against the forward-auth
// address (Traefik, unless preserveLocationHeader) would otherwise send
// the browser to Gatehouse's internal address.
func (g *Gateway) faSignIn(w http.ResponseWriter, r *http.Request, f flavour, hostport, path, rawQuery string, e policy.Effect) {
	start := g.faOrigin(r, f, hostport) + g.startURL(path, rawQuery)
	if f != nginx && wantsHTML(r) {
		redirect(w, start)
		return
	}
	w.Header()[HeaderLocation] = []string{start}
	if e == policy.Reauthenticate {
		challenge(w, `Bearer realm="gatehouse", error="insufficient_user_authentication"`)
		return
	}
	challenge(w, `Bearer realm="gatehouse"`)
}

// faOrigin is the origin of the original request a forward-auth
// question is about: the scheme the proxy names (nginx: X-Original-URL's;
// Traefik, Caddy: X-Forwarded-Proto), else Gatehouse's own, and the host
// (with port) the browser asked for. Only trusted proxies ask, so their
// headers are believed; hostport has passed hostKey, and is used only
// when it is a plain host[:port].
func (g *Gateway) faOrigin(r *http.Request, f flavour, hostport string) string {
	scheme := ""
	if f == nginx {
		if u := first(r.Header["X-Original-Url"]); u != "" {
			scheme, _, _ = strings.Cut(u, "://")
		}
	}
	if scheme == "" {
		scheme = first(r.Header["X-Forwarded-Proto"])
	}
	switch strings.ToLower(scheme) {
	case "https":
		scheme = "https"
	case "http":
		scheme = "http"
	default:
		scheme = g.scheme
	}
	if !plainHostPort(hostport) {
		host, _ := g.hostKey(hostport)
		return g.origin(host)
	}
	return scheme + "://" + hostport
}

// plainHostPort reports whether s is made only of the characters of a
// host name or IP literal and a port: nothing that could end the
// authority of a URL built from it.
func plainHostPort(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == ':' || c == '[' || c == ']') {
			return false
		}
	}
	return true
}

// original returns the method, host and request URI of the request a
// forward-auth question is about: nginx's X-Original-URL and
// X-Original-Method (or X-Original-URI with Host), Traefik's and Caddy's
// X-Forwarded-Method, -Host and -Uri. Called only for trusted peers.
func original(r *http.Request, f flavour) (method, host, uri string) {
	h := r.Header
	method = first(h["X-Forwarded-Method"])
	host = first(h["X-Forwarded-Host"])
	uri = first(h["X-Forwarded-Uri"])
	if f == nginx {
		if m := first(h["X-Original-Method"]); m != "" {
			method = m
		}
		if u := first(h["X-Original-Url"]); u != "" {
			host, uri = splitURL(u)
		} else if u := first(h["X-Original-Uri"]); u != "" {
			uri = u
		}
	}
	if host == "" {
		host = r.Host
	}
	if method == "" {
		method = http.MethodGet
	}
	return method, host, uri
}

// splitURL splits an absolute URL into its host and request URI without
// allocating; both are empty when it is not absolute.
func splitURL(u string) (host, uri string) {
	i := strings.Index(u, "://")
	if i <= 0 {
		return "", ""
	}
	rest := u[i+3:]
	j := strings.IndexAny(rest, "/?#")
	switch {
	case j < 0:
		return rest, "/"
	case rest[j] == '/':
		return rest[:j], rest[j:]
	case rest[j] == '?':
		return rest[:j], "/" + rest[j:]
	}
	return rest[:j], "/"
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}
