package proxy

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-sso/gatehouse/config"
	"github.com/gatehouse-sso/gatehouse/policy"
)

// newRoute compiles one configured route with its own reverse proxy.
func (g *Gateway) newRoute(i int, rc config.Route) (*route, error) {
	up := g.o.Gateway.Upstream
	pool, err := parseUpstreams(rc.Upstreams, up.FailTimeout.D())
	if err != nil {
		return nil, err
	}
	tr, err := newTransport(up, rc)
	if err != nil {
		return nil, err
	}
	host := strings.ToLower(strings.TrimSuffix(rc.Host, "."))
	if host == "" {
		return nil, errors.New("host is required")
	}
	prefix := rc.PathPrefix
	if prefix == "/" {
		prefix = ""
	}
	if prefix != "" {
		if err := policy.CheckPrefix(prefix); err != nil {
			return nil, fmt.Errorf("path_prefix: %w", err)
		}
	}
	rt := &route{
		index: i, host: host, prefix: prefix, aud: rc.Name, bearer: slices.Clone(rc.Bearer.Clients),
		headers: newHeaderSet(rc.Headers), maxBody: rc.MaxBodyBytes, preserveHost: rc.PreserveHost, passRewrite: rc.PassRewriteHeaders, pool: pool,
		origins: upstreamOrigins(pool),
	}
	rt.idle = up.BodyIdleTimeout.D()
	if rc.BodyIdleTimeout > 0 {
		rt.idle = rc.BodyIdleTimeout.D()
	}
	if rt.idle <= 0 {
		rt.idle = 60 * time.Second
	}
	rt.wait = up.ResponseHeaderTimeout.D()
	if rc.Timeout > 0 {
		rt.wait = rc.Timeout.D()
	}
	rt.wait += rt.idle
	if rt.aud == "" {
		rt.aud = host
	}
	var transport http.RoundTripper = tr
	if len(pool.ups) > 1 && pool.sameBase() {
		transport = &retrier{base: tr, pool: pool, now: g.now, log: g.log}
	}
	rt.rp = &httputil.ReverseProxy{
		Rewrite:        g.rewrite(rt),
		ModifyResponse: g.modifyResponse(rt),
		Transport:      transport,
		// FlushInterval 0: ReverseProxy flushes event streams and
		// responses without Content-Length after every write by itself,
		// and a fixed-length response is written in one go, without a
		// timer goroutine and a flush per write.
		FlushInterval: 0,
		ErrorHandler:  g.upstreamError(rt),
		ErrorLog:      slog.NewLogLogger(g.log.Handler(), slog.LevelDebug),
	}
	return rt, nil
}

// rewrite builds the outgoing request: the next healthy upstream, the
// same normalised path the policy judged (already in In.URL), fresh
// X-Forwarded-* unless the peer is a trusted proxy, whose values are
// kept and extended.
func (g *Gateway) rewrite(rt *route) func(*httputil.ProxyRequest) {
	return func(pr *httputil.ProxyRequest) {
		u := rt.pool.pick(g.now().UnixNano())
		pr.SetURL(u.url)
		if g.trusted.contains(peerAddr(pr.In)) {
			in := pr.In.Header
			if v := in["X-Forwarded-For"]; len(v) > 0 {
				pr.Out.Header["X-Forwarded-For"] = v
			}
			pr.SetXForwarded()
			if v := in["X-Forwarded-Host"]; len(v) > 0 {
				pr.Out.Header["X-Forwarded-Host"] = v
			}
			if v := in["X-Forwarded-Proto"]; len(v) > 0 {
				pr.Out.Header["X-Forwarded-Proto"] = v
			}
		} else {
			pr.SetXForwarded()
			delete(pr.Out.Header, "X-Real-Ip")
		}
		if rt.preserveHost {
			pr.Out.Host = pr.In.Host
		}
	}
}

// upstreamError answers a failed upstream exchange without revealing
// internals, and takes an upstream that could not be reached out of
// rotation.
func (g *Gateway) upstreamError(rt *route) func(http.ResponseWriter, *http.Request, error) {
	return func(w http.ResponseWriter, r *http.Request, err error) {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			g.fail(w, r, http.StatusRequestEntityTooLarge, "The request body is too large.")
			return
		case r.Context().Err() != nil:
			// The client went away; nobody reads the answer.
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		status, msg := http.StatusBadGateway, "The app behind this address is not responding. Try again in a moment."
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			status, msg = http.StatusGatewayTimeout, "The app behind this address took too long to answer. Try again in a moment."
		}
		down := rt.pool.markDown(r.URL.Host, g.now())
		g.log.WarnContext(r.Context(), "upstream failed", "route", rt.aud, "upstream", r.URL.Host, "marked_down", down, "err", err)
		g.fail(w, r, status, msg)
	}
}

// forward proxies an allowed request: body cap, the normalised path,
// Gatehouse's cookies removed, identity headers set.
func (g *Gateway) forward(w http.ResponseWriter, r *http.Request, rt *route, p *principal, path string) {
	if rt.maxBody > 0 {
		if r.ContentLength > rt.maxBody {
			g.fail(w, r, http.StatusRequestEntityTooLarge, "The request body is too large.")
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, rt.maxBody)
		}
	}
	setPath(r.URL, path)
	g.stripCookies(r.Header)
	if p != nil {
		var assertion, token []string
		if rt.headers.assertion {
			assertion = g.assertion(r.Context(), p, rt.aud)
		}
		if rt.headers.accessToken {
			token = p.token
		}
		rt.headers.write(r.Header, p, assertion, token)
	}
	if isStream(r) {
		// Websockets and event streams outlive the server's timeouts
		// and may be quiet for long.
		rc := http.NewResponseController(w)
		_ = rc.SetWriteDeadline(time.Time{})
		_ = rc.SetReadDeadline(time.Time{})
		if _, ok := r.Header["Upgrade"]; ok {
			if g.upgrades.closing.Load() {
				w.Header().Set("Connection", "close")
				g.fail(w, r, http.StatusServiceUnavailable, "The server is restarting. Try again in a moment.")
				return
			}
			// Tracked, so that shutdown can close it properly.
			w = &upgradeWriter{ResponseWriter: w, g: g, websocket: isWebsocket(r)}
		}
		rt.rp.ServeHTTP(w, r)
		return
	}
	// Bodies are bounded by their pauses, not their length.
	b := &bodyGuard{}
	b.start(w, r, rt.idle, rt.wait)
	rt.rp.ServeHTTP(b, r)
}

// isStream reports a websocket upgrade or a server-sent events request.
func isStream(r *http.Request) bool {
	if _, ok := r.Header["Upgrade"]; ok {
		return true
	}
	return strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

// setPath puts the normalised (escaped) path into u, so the upstream sees
// exactly the path the policy judged.
func setPath(u *url.URL, escaped string) {
	if u.RawPath == "" && u.Path == escaped {
		return
	}
	if strings.IndexByte(escaped, '%') < 0 {
		u.Path, u.RawPath = escaped, ""
		return
	}
	if p, err := url.PathUnescape(escaped); err == nil {
		u.Path, u.RawPath = p, escaped
	}
}
