package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/gorilla/securecookie"
	"golang.org/x/oauth2"

	"github.com/gatehouse-sso/gatehouse/config"
	"github.com/gatehouse-sso/gatehouse/identity"
	"github.com/gatehouse-sso/gatehouse/idp/keys"
	"github.com/gatehouse-sso/gatehouse/internal/cookiekeys"
	"github.com/gatehouse-sso/gatehouse/internal/oidcrp"
	"github.com/gatehouse-sso/gatehouse/policy"
	"github.com/gatehouse-sso/gatehouse/store"
	"github.com/gatehouse-sso/gatehouse/web"
)

// ClientID is the client id of the gateway's internal OIDC client, which
// cmd registers with the IdP (see [ClientRedirectURLs]).
const ClientID = config.GatewayClientID

// Keys signs assertions and verifies access tokens; *keys.Manager
// implements it.
type Keys interface {
	Sign(alg, typ string, claims any) (string, error)
	Verify(token string) ([]byte, keys.Header, error)
	Algorithms() []string
}

// UserLookup loads the user behind a session or token; it returns an
// error wrapping identity.ErrNotFound for a user that does not exist.
// *identity.Directory implements it.
type UserLookup interface {
	ByID(ctx context.Context, id string) (identity.User, error)
}

// Revocations tells whether an access token may still be used: its id
// (jti) not revoked and its grant (gid, empty for client credentials)
// live. Only store failures are errors.
type Revocations interface {
	AccessTokenLive(ctx context.Context, jti, gid string) (bool, error)
}

// Pages renders the pages the gateway shows browsers; *web.Renderer
// implements it.
type Pages interface {
	Render(w http.ResponseWriter, status int, v web.View)
}

// Options are the dependencies and settings of a Gateway.
type Options struct {
	// Gateway is the gateway section of the configuration.
	Gateway config.Gateway
	// PublicURL is server.public_url: Gatehouse's own origin. App hosts
	// are reached with its scheme and port.
	PublicURL string
	// Issuer is the IdP's issuer identifier.
	Issuer string
	// Policy is the compiled gateway.rules.
	Policy *policy.Policy
	Keys   Keys
	// IdP serves the OpenID provider's endpoints in process: the code
	// exchange and token refreshes of the sign-in go through it without
	// a network round trip.
	IdP http.Handler
	// ClientID and ClientSecret are the internal client registered with
	// the IdP (ClientID defaults to the ClientID constant).
	ClientID, ClientSecret string
	// Scopes are asked for at sign-in besides openid, profile, email and
	// groups (offline_access is added when a header set wants the access
	// token).
	Scopes      []string
	Store       store.Store
	Users       UserLookup
	Revocations Revocations
	// Secrets are the session secrets; the app cookie's keys are derived
	// from them. The first encodes, all decode.
	Secrets [][]byte
	// SessionTTL is the lifetime of an app session (the SSO session's
	// absolute timeout).
	SessionTTL time.Duration
	// StripCookies are more of Gatehouse's cookie names (the SSO session,
	// the CSRF binding) removed from requests before they reach an
	// upstream; the gateway's own cookies are always removed.
	StripCookies []string
	Pages        Pages
	Log          *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Gateway routes, authenticates, authorises and proxies requests for app
// hosts, and answers forward-auth requests. Build it with New and serve
// it through Dispatch.
type Gateway struct {
	o       Options
	log     *slog.Logger
	now     func() time.Time
	pol     *policy.Policy
	routes  []*route
	table   *table
	hosts   hostSet
	known   map[string]bool // exact host names in normal form, for hostKey's fast path
	trusted trustedNets

	own       string // Gatehouse's host
	ownOrigin string
	scheme    string
	port      string // ":8443", or "" for the scheme's default
	secure    bool
	issuer    string

	fa        headerSet
	faEnabled bool
	faBearer  hostClients

	cookieName   string
	cookieDomain string
	codecs       []securecookie.Codec // the app cookie
	flowPrefix   string               // the binding cookies of sign-ins in progress
	strip        map[string]bool
	// ownBases are Gatehouse's cookie names without a __Host-/__Secure-
	// prefix, and flowBase the sign-in state cookies' name prefix: upstream
	// Set-Cookies for them are dropped.
	ownBases []string
	flowBase string

	// upgrades are the live websockets and other upgraded connections,
	// closed by Shutdown.
	upgrades upgrades

	sessions   cache
	bearers    cache
	cacheTTL   time.Duration
	flights    flights
	wantTokens bool

	static http.Handler // serves pathStatic

	rp  *oidcrp.RP   // the gateway's client of its own IdP
	idp *http.Client // reaches the IdP in process; nil without one
}

// New checks o and builds the gateway: routes and their transports, the
// host table, the cookie codecs and the OIDC client.
func New(o Options) (*Gateway, error) {
	switch {
	case o.Policy == nil, o.Keys == nil, o.Store == nil, o.Users == nil, o.Pages == nil:
		return nil, errors.New("proxy: gateway is missing a dependency")
	case len(o.Secrets) == 0:
		return nil, errors.New("proxy: gateway needs the session secrets")
	case o.SessionTTL <= 0:
		return nil, errors.New("proxy: app session lifetime must be positive")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.ClientID == "" {
		o.ClientID = ClientID
	}
	pub, err := url.Parse(o.PublicURL)
	if err != nil || pub.Host == "" || (pub.Scheme != "https" && pub.Scheme != "http") {
		return nil, fmt.Errorf("proxy: public URL %q is not an absolute http(s) URL", o.PublicURL)
	}
	own, ok := hostKey(pub.Host)
	if !ok {
		return nil, fmt.Errorf("proxy: public URL host %q is not a host name or address", pub.Host)
	}
	gc := o.Gateway
	g := &Gateway{
		o: o, log: o.Log, now: o.Now, pol: o.Policy,
		own: own, scheme: pub.Scheme, secure: pub.Scheme == "https",
		issuer:    o.Issuer,
		fa:        newHeaderSet(gc.ForwardAuth.Headers),
		faEnabled: gc.ForwardAuth.Enabled,
		faBearer:  newHostClients(gc.ForwardAuth.Bearer),
		cacheTTL:  gc.SessionCacheTTL.D(),
		hosts:     hostSet{exact: map[string]bool{}, wild: map[string]bool{}},
		static:    web.StaticUnder(pathStatic),
	}
	if p := pub.Port(); p != "" {
		g.port = ":" + p
	}
	g.ownOrigin = g.origin(own)
	if g.trusted, err = parseTrusted(gc.TrustedProxies); err != nil {
		return nil, err
	}

	wantAssert := false
	for i, rc := range gc.Routes {
		rt, err := g.newRoute(i, rc)
		if err != nil {
			return nil, fmt.Errorf("gateway.routes[%d]: %w", i, err)
		}
		g.routes = append(g.routes, rt)
		g.hosts.add(rt.host)
		wantAssert = wantAssert || rt.headers.assertion
		g.wantTokens = g.wantTokens || rt.headers.accessToken
	}
	g.table = newTable(g.routes)
	for _, r := range gc.Rules {
		for _, h := range r.Hosts {
			g.hosts.add(h)
		}
	}
	g.known = map[string]bool{}
	for h := range g.hosts.exact {
		if n, ok := hostKey(h); ok && n == h {
			g.known[h] = true
		}
	}
	if strings.IndexByte(own, ':') < 0 {
		g.known[own] = true
	}
	if g.faEnabled && o.Policy.Len() > 0 {
		wantAssert = wantAssert || g.fa.assertion
		g.wantTokens = g.wantTokens || g.fa.accessToken
	}
	if wantAssert && !slices.Contains(o.Keys.Algorithms(), keys.ES256) {
		return nil, errors.New("gateway: identity headers ask for the signed assertion (headers.assertion, on by default), " +
			"which is signed with ES256, but oidc.keys.algorithms has no ES256 key: add ES256 there, or set headers.assertion: false")
	}

	g.cookieName, g.cookieDomain = gc.CookieName, strings.TrimPrefix(strings.ToLower(gc.CookieDomain), ".")
	if g.cookieName == "" {
		g.cookieName = "gatehouse_app"
	}
	base := g.cookieName
	switch {
	case g.secure && g.cookieDomain == "":
		g.cookieName = "__Host-" + base
	case g.secure:
		g.cookieName = "__Secure-" + base
	}
	g.flowPrefix = base + "_flow_"
	if g.secure {
		g.flowPrefix = "__Host-" + g.flowPrefix
	}
	// The app cookie has keys of its own, never the SSO cookie's.
	if g.codecs, err = cookiekeys.Codecs(o.Secrets, "gatehouse gateway cookie", o.SessionTTL, maxStateLen, securecookie.NopEncoder{}); err != nil {
		return nil, fmt.Errorf("proxy: app cookie: %w", err)
	}
	g.strip = map[string]bool{g.cookieName: true}
	for _, c := range o.StripCookies {
		g.strip[c] = true
	}
	for c := range g.strip {
		g.ownBases = append(g.ownBases, stripCookiePrefix(c))
	}
	g.flowBase = stripCookiePrefix(g.flowPrefix)

	base2 := strings.TrimSuffix(o.Issuer, "/")
	scopes := []string{oidc.ScopeOpenID, "profile", "email", "groups"}
	if g.wantTokens {
		scopes = append(scopes, oidc.ScopeOfflineAccess)
	}
	for _, s := range o.Scopes {
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	// The IdP is reached in process: no network round trip, and its
	// keys verify ID tokens directly.
	if o.IdP != nil {
		g.idp = &http.Client{Transport: inProcess{h: o.IdP}, Timeout: 15 * time.Second}
	}
	g.rp, err = oidcrp.New(oidcrp.Config{
		Issuer: o.Issuer, ClientID: o.ClientID, ClientSecret: o.ClientSecret, AuthStyle: oauth2.AuthStyleInHeader,
		Endpoints: oidcrp.Endpoints{AuthURL: base2 + "/authorize", TokenURL: base2 + "/token"},
		Scopes:    scopes,
		KeySet:    keySet{o.Keys}, SigningAlgs: o.Keys.Algorithms(),
		HTTPClient: g.idp,
		Secrets:    o.Secrets, Label: "gatehouse gateway flow state",
		CookiePrefix: g.flowPrefix, Secure: g.secure, TTL: flowTTL, MaxStateLen: maxStateLen,
		Now: o.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("proxy: gateway sign-in client: %w", err)
	}
	return g, nil
}

// origin is the URL origin of an app host: Gatehouse's scheme and port.
func (g *Gateway) origin(host string) string {
	if strings.IndexByte(host, ':') >= 0 { // IPv6 literal
		host = "[" + host + "]"
	}
	return g.scheme + "://" + host + g.port
}

// hostKey is the package-level hostKey with a fast path for the
// configured exact host names (and Gatehouse's own) sent in lower case:
// it cuts the port off without allocating.
func (g *Gateway) hostKey(h string) (string, bool) {
	name := h
	if i := strings.LastIndexByte(h, ':'); i >= 0 && isPort(h[i+1:]) {
		name = h[:i]
	}
	if g.known[name] {
		return name, true
	}
	return hostKey(h)
}

func isPort(s string) bool {
	if s == "" || len(s) > 5 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// hostKey returns a request's host as routing compares it: the policy's
// normal form (lower case, no port or trailing dot), or an IPv6 literal
// in its canonical form. ok is false for what is neither.
func hostKey(h string) (string, bool) {
	if n, ok := policy.NormalizeHost(h); ok {
		return n, true
	}
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if a, err := netip.ParseAddr(h); err == nil && a.Zone() == "" {
		return a.String(), true
	}
	return "", false
}

// Reserved paths on app hosts.
const (
	reserved      = "/.gatehouse/"
	pathStart     = reserved + "start"
	pathCallback  = reserved + "callback"
	pathHandoff   = reserved + "session"
	pathLogout    = reserved + "logout"
	pathDenied    = reserved + "denied"
	pathStatic    = reserved + "static/" // Gatehouse's page assets (web.Frame.Assets)
	pathSignedOut = reserved + "signed-out"
	pathAuth      = reserved + "auth"
)

// Dispatch returns the main handler: requests for Gatehouse's own host go
// to own (the IdP, sign-in pages, health) except /.gatehouse/ and routes
// configured on that host; requests for an app host (a route's or a
// rule's) go to the gateway, /.gatehouse/ included; any other host gets
// 421 Misdirected Request. The forward-auth endpoints answer on every
// host but app hosts (a reverse proxy's subrequest may carry any Host,
// such as Gatehouse's address), and /.gatehouse/auth on app hosts too.
// When no app host is configured at all, every host is Gatehouse's own,
// as before the gateway existed.
func (g *Gateway) Dispatch(own http.Handler) http.Handler {
	noHosts := len(g.hosts.exact) == 0 && len(g.hosts.wild) == 0
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, ok := g.hostKey(r.Host)
		app := ok && host != g.own && g.hosts.has(host)
		if g.faEnabled && !app {
			if f, ok := forwardAuthFlavour(r.URL.Path); ok {
				seen := scrub(r.Header, false) // as ServeHTTP does for the other paths
				g.forwardAuth(w, r, f, seen)
				return
			}
		}
		switch {
		case !ok:
			g.fail(w, r, http.StatusBadRequest, "The request's Host header is malformed.")
		case host == g.own:
			if strings.HasPrefix(r.URL.Path, reserved) || g.ownRoute(r) {
				g.ServeHTTP(w, r)
				return
			}
			own.ServeHTTP(w, r)
		case app:
			g.ServeHTTP(w, r)
		case noHosts:
			own.ServeHTTP(w, r)
		default:
			g.fail(w, r, http.StatusMisdirectedRequest, "This server does not serve this host name.")
		}
	})
}

// ownRoute reports whether a request for Gatehouse's own host belongs to
// a route configured on that host.
func (g *Gateway) ownRoute(r *http.Request) bool {
	if len(g.table.exact[g.own]) == 0 {
		return false
	}
	path, err := policy.NormalizePath(r.URL.EscapedPath())
	return err == nil && g.table.match(g.own, path) != nil
}

// ServeHTTP serves a request for an app host: Gatehouse's reserved paths,
// then routing, authentication, the policy decision and proxying.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Strip before anything reads the request.
	peer := peerAddr(r)
	seen := scrub(r.Header, !g.trusted.contains(peer))
	host, ok := g.hostKey(r.Host)
	if !ok {
		g.fail(w, r, http.StatusBadRequest, "The request's Host header is malformed.")
		return
	}
	path, err := policy.NormalizePath(r.URL.EscapedPath())
	if err != nil {
		g.fail(w, r, http.StatusBadRequest, "The request path is malformed.")
		return
	}
	if strings.HasPrefix(path, reserved) {
		g.internal(w, r, host, path)
		return
	}
	rt := g.table.match(host, path)
	if rt == nil {
		g.fail(w, r, http.StatusNotFound, "There is nothing at this address.")
		return
	}
	ctx := r.Context()
	p, res, out := g.judge(ctx, r, policy.Request{Host: host, Path: path, Method: r.Method, ClientIP: g.trusted.clientIP(r, peer)}, rt.bearer)
	switch {
	case res == authUnavailable && out.Effect != policy.Allow:
		g.fail(w, r, http.StatusServiceUnavailable, "Sign-in is temporarily unavailable. Try again in a moment.")
		return
	case res == authBadToken && out.Effect != policy.Allow:
		challenge(w, `Bearer realm="gatehouse", error="invalid_token"`)
		return
	}
	switch out.Effect {
	case policy.Allow:
		if p != nil && rt.headers.accessToken {
			switch p, res = g.fresh(ctx, r, p); res {
			case authUnavailable:
				g.fail(w, r, http.StatusServiceUnavailable, "Sign-in is temporarily unavailable. Try again in a moment.")
				return
			case authNone: // the IdP refused the refresh: the session is over
				g.signIn(w, r, path, policy.NeedLogin)
				return
			}
		}
		if seen != 0 {
			scrubRoute(r.Header, seen, rt.passRewrite)
		}
		g.forward(w, r, rt, p, path)
	case policy.NeedLogin, policy.Reauthenticate:
		g.signIn(w, r, path, out.Effect)
	default:
		g.log.InfoContext(ctx, "gateway: request denied", "host", host, "reason", out.Reason)
		g.denied(w, r, p, path, r.URL.RawQuery)
	}
}

// signIn sends a browser to sign in and back, and answers other clients
// 401.
func (g *Gateway) signIn(w http.ResponseWriter, r *http.Request, path string, e policy.Effect) {
	if wantsHTML(r) {
		redirect(w, g.startURL(path, r.URL.RawQuery))
		return
	}
	if e == policy.Reauthenticate {
		challenge(w, `Bearer realm="gatehouse", error="insufficient_user_authentication"`)
		return
	}
	challenge(w, `Bearer realm="gatehouse"`)
}
