package proxy

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/gatehouse-sso/gatehouse/identity"
)

// Identifier tells who the signed-in user of a request is. ok is false when
// the request is signed out; err is a failure to find out (the guard then
// fails closed).
type Identifier interface {
	Identify(ctx context.Context, r *http.Request) (u identity.User, ok bool, err error)
}

// Guard forwards requests of signed-in users to one upstream with their
// identity in headers. Signed-out browsers are sent to sign in and come back
// to the URL they asked for; other clients get 401.
type Guard struct {
	who      Identifier
	loginURL string
	log      *slog.Logger
	rp       *httputil.ReverseProxy
}

// NewGuard returns a Guard in front of upstream. loginURL is the sign-in
// page; the original path is appended as its "rd" parameter.
func NewGuard(upstream *url.URL, who Identifier, loginURL string, log *slog.Logger) *Guard {
	g := &Guard{who: who, loginURL: loginURL, log: log}
	g.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			pr.SetXForwarded()
			pr.Out.Host = pr.In.Host
		},
		Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			log.ErrorContext(r.Context(), "upstream failed", "err", err)
			http.Error(w, "upstream unavailable", http.StatusBadGateway)
		},
	}
	return g
}

// ServeHTTP implements http.Handler.
func (g *Guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Strip before anything reads the request. The guard trusts no
	// proxy: forwarding headers are removed too.
	seen := scrub(r.Header, true)
	u, ok, err := g.who.Identify(r.Context(), r)
	if err != nil {
		g.log.ErrorContext(r.Context(), "identify request", "err", err)
		http.Error(w, "authentication is temporarily unavailable", http.StatusServiceUnavailable)
		return
	}
	if !ok {
		if wantsHTML(r) {
			http.Redirect(w, r, g.loginURL+"?rd="+url.QueryEscape(r.URL.RequestURI()), http.StatusFound)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	r2 := r.Clone(r.Context())
	scrubRoute(r2.Header, seen, false)
	SetIdentity(r2.Header, u)
	g.rp.ServeHTTP(w, r2)
}
