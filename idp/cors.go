package idp

import (
	"net/http"
)

// CORS for browser clients (single-page apps). Discovery and the JWKS are
// public to every origin; the token, userinfo and revocation endpoints
// answer the origins of registered redirect URLs only. No credentials
// (cookies) are ever allowed cross-origin: these endpoints take tokens and
// client credentials in headers or bodies.
const (
	corsMethods = "GET, POST, OPTIONS"
	corsHeaders = "Authorization, Content-Type"
	corsMaxAge  = "600"
)

// cors wraps a handler of a registered-origins endpoint.
func (p *Provider) cors(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p.allowOrigin(w, r)
		h(w, r)
	}
}

// allowOrigin sets the CORS response headers when the request's Origin is
// a registered client origin.
func (p *Provider) allowOrigin(w http.ResponseWriter, r *http.Request) bool {
	h := w.Header()
	h.Add("Vary", "Origin")
	o := r.Header.Get("Origin")
	if o == "" || !p.origins[o] {
		return false
	}
	h.Set("Access-Control-Allow-Origin", o)
	h.Set("Access-Control-Expose-Headers", "WWW-Authenticate")
	return true
}

// preflight answers OPTIONS for the registered-origins endpoints.
func (p *Provider) preflight(w http.ResponseWriter, r *http.Request) {
	if p.allowOrigin(w, r) {
		h := w.Header()
		h.Set("Access-Control-Allow-Methods", corsMethods)
		h.Set("Access-Control-Allow-Headers", corsHeaders)
		h.Set("Access-Control-Max-Age", corsMaxAge)
	}
	w.WriteHeader(http.StatusNoContent)
}

// preflightAny answers OPTIONS for the public endpoints.
func (p *Provider) preflightAny(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, OPTIONS")
	h.Set("Access-Control-Max-Age", corsMaxAge)
	w.WriteHeader(http.StatusNoContent)
}
