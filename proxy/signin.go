package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-sso/gatehouse/config"
	"github.com/gatehouse-sso/gatehouse/internal/oidcrp"
	"github.com/gatehouse-sso/gatehouse/policy"
	"github.com/gatehouse-sso/gatehouse/store"
)

// Lifetimes of sign-in state.
const (
	flowTTL   = 10 * time.Minute
	ticketTTL = 2 * time.Minute
	// maxReturnLen bounds a return-to target.
	maxReturnLen = 2048
)

// flow is the gateway's data in a sign-in in progress. It travels
// sealed in the OAuth state (see oidcrp), so starting a sign-in writes
// nothing to the store: anonymous requests cannot fill it. The browser
// that started it holds a binding cookie with the state's digest; the
// IdP's single-use codes and PKCE keep a state from completing twice.
type flow struct {
	Host string `json:"host"`
	RD   string `json:"rd"`
}

// ticket hands a sign-in completed on Gatehouse's host to the app host.
type ticket struct {
	SessionID string `json:"sid"`
	Host      string `json:"host"`
	State     string `json:"state"`
	RD        string `json:"rd"`
}

// ClientRedirectURLs returns the redirect URLs and post-logout redirect
// URLs of the gateway's internal OIDC client for a configuration: the
// callback on every exact app host (of routes and rules) and on
// Gatehouse's own host, which serves the sign-ins of wildcard hosts. It
// returns nil when no app host is configured (no client is needed then).
func ClientRedirectURLs(publicURL string, g config.Gateway) (redirects, postLogout []string, err error) {
	pub, err := url.Parse(publicURL)
	if err != nil || pub.Host == "" {
		return nil, nil, errors.New("proxy: public URL is not absolute")
	}
	own, ok := hostKey(pub.Host)
	if !ok {
		return nil, nil, errors.New("proxy: public URL host is malformed")
	}
	var hosts []string
	found := false
	add := func(h string) {
		h = strings.ToLower(strings.TrimSuffix(h, "."))
		found = true
		if !strings.HasPrefix(h, "*.") && !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	for _, r := range g.Routes {
		add(r.Host)
	}
	for _, r := range g.Rules {
		for _, h := range r.Hosts {
			add(h)
		}
	}
	if !found {
		return nil, nil, nil
	}
	if !slices.Contains(hosts, own) {
		hosts = append(hosts, own)
	}
	port := ""
	if p := pub.Port(); p != "" {
		port = ":" + p
	}
	for _, h := range hosts {
		if strings.IndexByte(h, ':') >= 0 {
			h = "[" + h + "]"
		}
		origin := pub.Scheme + "://" + h + port
		redirects = append(redirects, origin+pathCallback)
		postLogout = append(postLogout, origin+pathSignedOut)
	}
	return redirects, postLogout, nil
}

// callbackFor is the redirect URI of a sign-in for host: the host's own
// callback when registered (exact hosts), else Gatehouse's, which hands
// the session over with a ticket.
func (g *Gateway) callbackFor(host string) string {
	if g.hosts.exact[host] || host == g.own {
		return g.origin(host) + pathCallback
	}
	return g.ownOrigin + pathCallback
}

// internal serves /.gatehouse/ on an app host (or Gatehouse's own).
func (g *Gateway) internal(w http.ResponseWriter, r *http.Request, host, path string) {
	if f, ok := forwardAuthFlavour(path); ok && g.faEnabled {
		// Its answers set their own headers, as on Gatehouse's host: the
		// 200 goes to the proxy alone and needs no Cache-Control.
		g.forwardAuth(w, r, f, scrub(r.Header, false)) // already scrubbed: only what it found
		return
	}
	if strings.HasPrefix(path, pathStatic) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			g.fail(w, r, http.StatusMethodNotAllowed, "This address only answers GET.")
			return
		}
		g.static.ServeHTTP(w, r)
		return
	}
	h := w.Header()
	h["Cache-Control"] = noStore
	switch path {
	case pathStart, pathCallback, pathHandoff, pathSignedOut:
		if r.Method != http.MethodGet {
			h.Set("Allow", "GET")
			g.fail(w, r, http.StatusMethodNotAllowed, "This address only answers GET.")
			return
		}
	case pathLogout:
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			h.Set("Allow", "GET, POST")
			g.fail(w, r, http.StatusMethodNotAllowed, "This address only answers GET and POST.")
			return
		}
	}
	switch path {
	case pathStart:
		g.start(w, r, host)
	case pathCallback:
		g.callback(w, r, host)
	case pathHandoff:
		g.handoff(w, r, host)
	case pathLogout:
		g.logout(w, r, host)
	case pathDenied:
		g.deniedHandler(w, r, host)
	case pathSignedOut:
		g.signedOut(w, r)
	default:
		g.fail(w, r, http.StatusNotFound, "There is nothing at this address.")
	}
}

// start begins a sign-in on host: it stores state, nonce and PKCE
// verifier, binds the state to the browser with a host-only cookie and
// sends the browser to the IdP. When the browser already has a session
// that the target's rule wants refreshed (second factor, session age),
// the IdP is asked to authenticate again.
func (g *Gateway) start(w http.ResponseWriter, r *http.Request, host string) {
	ctx := r.Context()
	if g.idp == nil || !g.hosts.has(host) && host != g.own {
		g.fail(w, r, http.StatusNotFound, "Sign-in is not available on this host.")
		return
	}
	rd, ok := g.returnTo(r.URL.Query().Get("rd"), host)
	if !ok {
		g.log.InfoContext(ctx, "gateway: unsafe return URL refused", "host", host)
		g.fail(w, r, http.StatusBadRequest, "The return address is not on this site.")
		return
	}
	var params url.Values
	if r.URL.Query().Get("switch_user") == "1" {
		// "Sign in as someone else" (the not-allowed page): the IdP asks
		// for credentials even though a session exists.
		params = url.Values{"prompt": {"login"}}
	} else if p, res := g.authenticate(ctx, r, host, nil); res == authOK {
		rdPath, _, _ := strings.Cut(rd, "?")
		if np, err := policy.NormalizePath(rdPath); err == nil {
			out := g.pol.Decide(policy.Request{Host: host, Path: np, Method: http.MethodGet,
				ClientIP: g.trusted.clientIP(r, peerAddr(r))}, &p.subject, g.now())
			switch out.Effect {
			case policy.Allow:
				redirect(w, rd) // nothing to do
				return
			case policy.Reauthenticate:
				params = reauthParams(g.pol.Rule(out.RuleIndex), p.subject, g.now())
			}
		}
	}
	authURL, err := g.rp.Start(w, g.callbackFor(host), flow{Host: host, RD: rd}, params)
	if err != nil {
		g.log.ErrorContext(ctx, "gateway: start sign-in", "err", err)
		g.fail(w, r, http.StatusInternalServerError, "Sign-in failed. Try again.")
		return
	}
	redirect(w, authURL)
}

// maxStateLen bounds the state parameter a callback accepts, and any
// value the gateway's codecs encode. A sealed flow with the longest
// return URL (maxReturnLen) is about 4.1 KB, so the authorize URL stays
// under the 8 KB request line nginx accepts by default.
const maxStateLen = 6144

// returnTo validates a return-to target for host and returns it as a
// same-host relative URL (path and query). Relative targets must be
// absolute paths ("/x", not "//x" or "/\x"); absolute ones must name
// host itself with the gateway's scheme and port. Control characters,
// backslashes, user info and over-long targets are refused.
func (g *Gateway) returnTo(raw, host string) (string, bool) {
	if raw == "" {
		return "/", true
	}
	if len(raw) > maxReturnLen {
		return "", false
	}
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return "", false
		}
	}
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.Opaque != "" {
		return "", false
	}
	if u.Scheme == "" && u.Host == "" {
		if !strings.HasPrefix(raw, "/") || strings.HasPrefix(raw, "//") {
			return "", false
		}
	} else {
		if u.Scheme != g.scheme || u.Host == "" {
			return "", false
		}
		h, ok := hostKey(u.Host)
		if !ok || h != host || portOf(u, g.scheme) != g.port {
			return "", false
		}
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	if !strings.HasPrefix(path, "/") || strings.HasPrefix(path, "//") {
		return "", false
	}
	if u.RawQuery != "" {
		path += "?" + u.RawQuery
	}
	return path, true
}

// portOf is u's explicit port as ":n", "" for none or the scheme's
// default.
func portOf(u *url.URL, scheme string) string {
	p := u.Port()
	if p == "" || (scheme == "https" && p == "443") || (scheme == "http" && p == "80") {
		return ""
	}
	return ":" + p
}

// callback finishes a sign-in: the state must be live and, on the app
// host, bound to this browser; the code is exchanged in process with the
// PKCE verifier and the ID token verified (signature, issuer, audience,
// nonce). On the app host it sets the app cookie; on Gatehouse's host
// (wildcard app hosts) it hands the session over with a ticket.
func (g *Gateway) callback(w http.ResponseWriter, r *http.Request, host string) {
	ctx := r.Context()
	q := r.URL.Query()
	if g.idp == nil {
		g.fail(w, r, http.StatusBadRequest, "This sign-in link is not valid. Go back to the app and try again.")
		return
	}
	fl, err := g.rp.Decode(q.Get("state"))
	if err != nil {
		g.log.InfoContext(ctx, "gateway: sign-in state refused", "host", host, "err", err)
		if q.Get("state") == "" || len(q.Get("state")) > maxStateLen {
			g.fail(w, r, http.StatusBadRequest, "This sign-in link is not valid. Go back to the app and try again.")
			return
		}
		g.fail(w, r, http.StatusBadRequest, "This sign-in expired or is not valid. Go back to the app and try again.")
		return
	}
	var f flow
	if err := fl.App(&f); err != nil {
		g.log.InfoContext(ctx, "gateway: sign-in state refused", "host", host, "err", err)
		g.fail(w, r, http.StatusBadRequest, "This sign-in expired or is not valid. Go back to the app and try again.")
		return
	}
	sameHost := f.Host == host
	switch {
	case sameHost && !g.rp.Bound(w, r, fl.State):
		g.log.InfoContext(ctx, "gateway: sign-in callback without its binding cookie", "host", host)
		g.fail(w, r, http.StatusBadRequest, "This sign-in was started in another browser. Go back to the app and try again.")
		return
	case !sameHost && (host != g.own || fl.RedirectURI != g.ownOrigin+pathCallback):
		g.fail(w, r, http.StatusBadRequest, "This sign-in link is not valid. Go back to the app and try again.")
		return
	}
	res, err := g.rp.Finish(ctx, fl, q)
	switch {
	case err == nil:
	case errors.Is(err, oidcrp.ErrIssuer):
		g.fail(w, r, http.StatusBadRequest, "This sign-in came from an unexpected issuer.")
		return
	case errors.Is(err, oidcrp.ErrProvider):
		g.log.InfoContext(ctx, "gateway: sign-in not completed", "error", providerCode(err))
		g.fail(w, r, http.StatusForbidden, "Sign-in was not completed. Go back to the app and try again.")
		return
	case errors.Is(err, oidcrp.ErrUnavailable):
		g.log.ErrorContext(ctx, "gateway: code exchange", "err", err)
		g.fail(w, r, http.StatusServiceUnavailable, "Sign-in is temporarily unavailable. Try again in a moment.")
		return
	case errors.Is(err, oidcrp.ErrIDToken):
		g.log.WarnContext(ctx, "gateway: ID token refused", "err", err)
		g.fail(w, r, http.StatusBadRequest, "Sign-in failed. Go back to the app and try again.")
		return
	default: // a missing code, or the IdP refused it
		var re *oauth2.RetrieveError
		errors.As(err, &re)
		g.log.InfoContext(ctx, "gateway: code exchange refused", "error", retrieveCode(re))
		g.fail(w, r, http.StatusBadRequest, "Sign-in failed. Go back to the app and try again.")
		return
	}
	tok, idt := res.Token, res.IDToken
	var claims struct {
		Sid      string   `json:"sid"`
		AuthTime int64    `json:"auth_time"`
		Amr      []string `json:"amr"`
	}
	_ = idt.Claims(&claims)
	now := g.now()
	rec := appSession{
		UserID: idt.Subject, SID: claims.Sid, Scopes: res.Scopes(),
		AMR: claims.Amr, Created: now,
	}
	if claims.AuthTime > 0 {
		rec.AuthTime = time.Unix(claims.AuthTime, 0)
	}
	rec.Expires = appExpiry(now, rec.AuthTime, g.o.SessionTTL)
	if g.cookieDomain == "" {
		rec.Host = f.Host
	}
	if g.wantTokens {
		rec.AccessToken, rec.AccessExpiry, rec.RefreshToken = tok.AccessToken, tok.Expiry, tok.RefreshToken
	}
	id, err := g.createSession(ctx, rec)
	if err != nil {
		g.log.ErrorContext(ctx, "gateway: create app session", "err", err)
		g.fail(w, r, http.StatusServiceUnavailable, "Sign-in is temporarily unavailable. Try again in a moment.")
		return
	}
	g.log.InfoContext(ctx, "gateway: signed in", "host", f.Host, "user_id", rec.UserID)
	if sameHost {
		if err := g.setAppCookie(w, id); err != nil {
			g.log.ErrorContext(ctx, "gateway: set app cookie", "err", err)
			g.fail(w, r, http.StatusInternalServerError, "Sign-in failed. Try again.")
			return
		}
		redirect(w, f.RD)
		return
	}
	t := randomToken()
	b, _ := json.Marshal(ticket{SessionID: id, Host: f.Host, State: fl.State, RD: f.RD})
	if err := g.o.Store.Create(ctx, hashKey(keyTicket, t), b, ticketTTL); err != nil {
		g.log.ErrorContext(ctx, "gateway: store sign-in ticket", "err", err)
		g.fail(w, r, http.StatusServiceUnavailable, "Sign-in is temporarily unavailable. Try again in a moment.")
		return
	}
	redirect(w, g.origin(f.Host)+pathHandoff+"?ticket="+url.QueryEscape(t))
}

// providerCode is the error code of an IdP's error response, for logs.
func providerCode(err error) string {
	var pe *oidcrp.ProviderError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// retrieveCode is the error code of a token endpoint's refusal, for logs.
func retrieveCode(re *oauth2.RetrieveError) string {
	if re == nil {
		return "no code"
	}
	return re.ErrorCode
}

// handoff redeems a ticket on the app host it was made for, in the
// browser that started the sign-in, and sets the app cookie.
func (g *Gateway) handoff(w http.ResponseWriter, r *http.Request, host string) {
	ctx := r.Context()
	t := r.URL.Query().Get("ticket")
	if t == "" || len(t) > 256 {
		g.fail(w, r, http.StatusBadRequest, "This sign-in link is not valid. Go back to the app and try again.")
		return
	}
	raw, err := g.o.Store.Take(ctx, hashKey(keyTicket, t))
	switch {
	case errors.Is(err, store.ErrNotFound):
		g.fail(w, r, http.StatusBadRequest, "This sign-in expired or was already used. Go back to the app and try again.")
		return
	case err != nil:
		g.log.ErrorContext(ctx, "gateway: take sign-in ticket", "err", err)
		g.fail(w, r, http.StatusServiceUnavailable, "Sign-in is temporarily unavailable. Try again in a moment.")
		return
	}
	var tk ticket
	if err := json.Unmarshal(raw, &tk); err != nil || tk.Host != host || !g.rp.Bound(w, r, tk.State) {
		if tk.SessionID != "" {
			if err := g.endSession(ctx, tk.SessionID); err != nil {
				g.log.WarnContext(ctx, "gateway: end app session of a refused ticket", "err", err)
			}
		}
		g.log.InfoContext(ctx, "gateway: sign-in ticket refused", "host", host)
		g.fail(w, r, http.StatusBadRequest, "This sign-in was started in another browser. Go back to the app and try again.")
		return
	}
	if err := g.setAppCookie(w, tk.SessionID); err != nil {
		g.fail(w, r, http.StatusInternalServerError, "Sign-in failed. Try again.")
		return
	}
	redirect(w, tk.RD)
}

// logout ends the app session of the request, clears the app cookie and
// sends the browser to the IdP's end_session, which ends the SSO session
// (and with it the app sessions on other hosts) and returns to this
// host's signed-out page when that is registered.
func (g *Gateway) logout(w http.ResponseWriter, r *http.Request, host string) {
	ctx := r.Context()
	if raw := cookieValue(r.Header, g.cookieName); raw != "" {
		if id, ok := g.decodeCookie(raw); ok {
			if err := g.endSession(ctx, id); err != nil {
				g.log.ErrorContext(ctx, "gateway: end app session", "err", err)
				g.fail(w, r, http.StatusServiceUnavailable, "Sign-out is temporarily unavailable. Try again in a moment.")
				return
			}
		}
	}
	g.clearAppCookie(w)
	v := url.Values{"client_id": {g.rp.ClientID()}}
	if g.hosts.exact[host] || host == g.own {
		v.Set("post_logout_redirect_uri", g.origin(host)+pathSignedOut)
	}
	redirect(w, strings.TrimSuffix(g.issuer, "/")+"/end_session?"+v.Encode())
}

// keySet verifies ID token signatures with the IdP's keys in process.
type keySet struct{ k Keys }

func (s keySet) VerifySignature(_ context.Context, jwt string) ([]byte, error) {
	payload, _, err := s.k.Verify(jwt)
	return payload, err
}

// inProcess is an http.RoundTripper that serves requests with a handler
// in this process: the gateway's calls to its own IdP never leave it.
type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	in := req.Clone(req.Context())
	in.RequestURI = req.URL.RequestURI()
	in.Host = req.URL.Host
	in.RemoteAddr = "127.0.0.1:0"
	if in.Body == nil {
		in.Body = http.NoBody
	}
	rec := &recorder{h: http.Header{}}
	t.h.ServeHTTP(rec, in)
	if rec.code == 0 {
		rec.code = http.StatusOK
	}
	return &http.Response{
		Status: strconv.Itoa(rec.code) + " " + http.StatusText(rec.code), StatusCode: rec.code,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: rec.h, Body: io.NopCloser(bytes.NewReader(rec.buf.Bytes())),
		ContentLength: int64(rec.buf.Len()), Request: req,
	}, nil
}

// recorder is the ResponseWriter of an in-process request.
type recorder struct {
	h    http.Header
	code int
	buf  bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.h }

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.buf.Write(b)
}

// appExpiry is when an app session created at now ends: SessionTTL after
// the sign-in it came from (auth_time), so that it never outlives the SSO
// session's absolute timeout however late the app was opened; without
// auth_time, SessionTTL after now.
func appExpiry(now, authTime time.Time, ttl time.Duration) time.Time {
	exp := now.Add(ttl)
	if !authTime.IsZero() {
		if capped := authTime.Add(ttl); capped.Before(exp) {
			exp = capped
		}
	}
	return exp
}

// acrMultiFactor is the IdP's acr for a sign-in with a second factor
// (idp/authn.ACRMultiFactor).
const acrMultiFactor = "2"

// reauthParams are the authorization parameters that ask the IdP for
// what rule wants of sub: a second factor (acr_values, which the IdP
// answers by stepping the session up, without a new sign-in), and, when
// the rule's max_session_age is what failed, a new sign-in (prompt=login
// with max_age).
func reauthParams(rule policy.Rule, sub policy.Subject, now time.Time) url.Values {
	params := url.Values{}
	needFactor := rule.SecondFactor && !policy.HasSecondFactor(sub.AMR)
	if needFactor {
		params.Set("acr_values", acrMultiFactor)
	}
	age := rule.MaxSessionAge
	stale := age > 0 && (sub.AuthTime.IsZero() || now.Sub(sub.AuthTime) > age)
	if !needFactor || stale {
		params.Set("prompt", "login")
		if age > 0 {
			params.Set("max_age", strconv.Itoa(int(age/time.Second)))
		}
	}
	return params
}
