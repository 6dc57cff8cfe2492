package idp

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-sso/gatehouse/csrf"
	"github.com/gatehouse-sso/gatehouse/identity"
	"github.com/gatehouse-sso/gatehouse/idp/clients"
	"github.com/gatehouse-sso/gatehouse/idp/grants"
	"github.com/gatehouse-sso/gatehouse/idp/keys"
	"github.com/gatehouse-sso/gatehouse/session"
	"github.com/gatehouse-sso/gatehouse/store"
	"github.com/gatehouse-sso/gatehouse/web"
)

// UserLookup is what the OpenID provider needs of the user directory: the
// user behind a session or a grant, loaded live on every use so a disabled
// or demoted user is seen at once.
type UserLookup interface {
	ByID(ctx context.Context, id string) (identity.User, error)
}

// Scope is a custom OAuth scope and the claims it releases. A Scope named
// like a built-in one (profile, email, groups) adds its claims to it.
type Scope struct {
	Name        string
	Description string
	// Claims are standard claim names (name, email, groups...) or the
	// names of custom Claims.
	Claims []string
}

// Claim is a custom claim computed live from the user's groups or
// attributes.
type Claim struct {
	Name string
	// AnyGroup makes the claim a boolean: the user is in one of them.
	AnyGroup []string
	// Attribute makes the claim the attribute's value or, with Equals, a
	// boolean telling whether it equals Equals. A dotted name reaches into
	// nested maps when no attribute has the whole name.
	Attribute string
	Equals    string
}

// Options are the dependencies and settings of a Provider.
type Options struct {
	// Issuer is the issuer identifier (an https URL, possibly with a path);
	// every endpoint is served under its path.
	Issuer   string
	Keys     *keys.Manager
	Clients  *clients.Registry
	Grants   *grants.Store
	Users    UserLookup
	Sessions *session.Manager
	CSRF     *csrf.Protector
	Pages    *web.Renderer
	// Store keeps authorization requests waiting for sign-in or consent.
	Store store.Store
	Log   *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// MaxBodyBytes caps form bodies; default 64 KiB.
	MaxBodyBytes int64
	// LoginPath is the sign-in page; default "/login".
	LoginPath string
	// Default lifetimes; a client's own value wins when set.
	CodeTTL, AccessTokenTTL, IDTokenTTL, RefreshTokenTTL time.Duration
	// AccessTokenAlg signs access tokens; default RS256 (RFC 9068).
	AccessTokenAlg string
	Scopes         []Scope
	Claims         []Claim
	// Backchannel sends back-channel logout tokens; a client with a 5 s
	// timeout that never follows redirects when nil.
	Backchannel *http.Client
	// BackchannelWorkers bounds concurrent logout-token deliveries;
	// default 4.
	BackchannelWorkers int
}

// Provider is the OpenID Connect provider: discovery, authorize, consent,
// token, userinfo, end_session, revocation, introspection and back-channel
// logout, all served under the issuer's path.
type Provider struct {
	o       Options
	issuer  string // exactly as configured; the "iss" of every token
	base    string // issuer without a trailing slash; endpoints hang off it
	prefix  string // base's path: the mux prefix
	now     func() time.Time
	log     *slog.Logger
	scopes  *scopeTable
	origins map[string]bool // CORS origins of registered clients
	bc      *backchannel
	watch   *session.Watcher // set once by Watch
}

// Limits of the provider.
const (
	pendingTTL      = 10 * time.Minute
	pendingPrefix   = "idp/pending/"
	defaultBodyCap  = 64 << 10
	maxParamLen     = 4096
	maxNonceLen     = 1024
	defaultWorkers  = 4
	backchannelWait = 5 * time.Second
)

// New checks o and returns a Provider. Call Watch before serving, so that
// sessions ending anywhere send their back-channel logouts.
func New(o Options) (*Provider, error) {
	switch {
	case o.Keys == nil, o.Clients == nil, o.Grants == nil, o.Users == nil, o.Sessions == nil,
		o.CSRF == nil, o.Pages == nil, o.Store == nil:
		return nil, errors.New("idp: provider is missing a dependency")
	case o.CodeTTL <= 0 || o.AccessTokenTTL <= 0 || o.IDTokenTTL <= 0 || o.RefreshTokenTTL <= 0:
		return nil, errors.New("idp: token lifetimes must be positive")
	}
	iss, err := url.Parse(o.Issuer)
	if err != nil || (iss.Scheme != "https" && iss.Scheme != "http") || iss.Host == "" ||
		iss.RawQuery != "" || iss.Fragment != "" || iss.User != nil {
		return nil, fmt.Errorf("idp: issuer %q is not an absolute URL without query or fragment", o.Issuer)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = defaultBodyCap
	}
	if o.LoginPath == "" {
		o.LoginPath = "/login"
	}
	if o.AccessTokenAlg == "" {
		o.AccessTokenAlg = keys.RS256
	}
	if o.BackchannelWorkers <= 0 {
		o.BackchannelWorkers = defaultWorkers
	}
	algs := o.Keys.Algorithms()
	if !slices.Contains(algs, o.AccessTokenAlg) {
		return nil, fmt.Errorf("idp: no signing key for access-token algorithm %s", o.AccessTokenAlg)
	}
	for _, c := range o.Clients.All() {
		if !slices.Contains(algs, c.SigningAlg) {
			return nil, fmt.Errorf("idp: client %q signs with %s, which has no key (keys: %s)", c.ID, c.SigningAlg, strings.Join(algs, ", "))
		}
	}
	st, err := newScopeTable(o.Scopes, o.Claims)
	if err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(o.Issuer, "/")
	bu, _ := url.Parse(base)
	p := &Provider{
		o:       o,
		issuer:  o.Issuer,
		base:    base,
		prefix:  bu.EscapedPath(),
		now:     o.Now,
		log:     o.Log,
		scopes:  st,
		origins: clientOrigins(o.Clients.All()),
	}
	p.bc = newBackchannel(p, o.Backchannel, o.BackchannelWorkers)
	return p, nil
}

// Issuer returns the issuer identifier.
func (p *Provider) Issuer() string { return p.issuer }

// Endpoint paths, relative to the issuer.
const (
	pathDiscovery   = "/.well-known/openid-configuration"
	pathJWKS        = "/.well-known/jwks.json"
	pathAuthorize   = "/authorize"
	pathConsent     = "/consent"
	pathConsents    = "/consents"
	pathToken       = "/token"
	pathUserinfo    = "/userinfo"
	pathEndSession  = "/end_session"
	pathLogoutAlias = "/auth/logout"
	pathEndSession2 = "/oauth2/endsession"
	pathRevoke      = "/revoke"
	pathIntrospect  = "/introspect"
)

// Mount registers every endpoint on mux under the issuer's path.
func (p *Provider) Mount(mux *http.ServeMux) {
	h := func(pattern string, f http.HandlerFunc) {
		method, path, _ := strings.Cut(pattern, " ")
		mux.Handle(method+" "+p.prefix+path, f)
	}
	h("GET "+pathDiscovery, p.discovery)
	h("OPTIONS "+pathDiscovery, p.preflightAny)
	jwks := p.o.Keys.Handler()
	h("GET "+pathJWKS, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		jwks.ServeHTTP(w, r)
	})
	h("OPTIONS "+pathJWKS, p.preflightAny)
	// HEAD (link checkers, prefetchers) must not sign anyone in or out.
	h("HEAD "+pathAuthorize, noHead)
	h("GET "+pathAuthorize, p.authorize)
	h("POST "+pathAuthorize, p.authorize)
	h("POST "+pathConsent, p.submitConsent)
	h("GET "+pathConsents, p.showConsents)
	h("POST "+pathConsents, p.revokeConsent)
	h("POST "+pathToken, p.cors(p.token))
	h("OPTIONS "+pathToken, p.preflight)
	h("GET "+pathUserinfo, p.cors(p.userinfo))
	h("POST "+pathUserinfo, p.cors(p.userinfo))
	h("OPTIONS "+pathUserinfo, p.preflight)
	for _, path := range []string{pathEndSession, pathLogoutAlias, pathEndSession2} {
		h("HEAD "+path, noHead)
		h("GET "+path, p.endSession)
		h("POST "+path, p.endSession)
	}
	h("POST "+pathRevoke, p.cors(p.revoke))
	h("OPTIONS "+pathRevoke, p.preflight)
	h("POST "+pathIntrospect, p.introspect)
}

// noHead refuses HEAD on endpoints whose GET changes state.
func noHead(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Allow", "GET, POST")
	w.WriteHeader(http.StatusMethodNotAllowed)
}

// url returns the absolute URL of an endpoint path.
func (p *Provider) url(path string) string { return p.base + path }

// local returns the same-site path of an endpoint (for redirects and form
// actions on this site).
func (p *Provider) local(path string) string { return p.prefix + path }

// Wait blocks until every session end published so far (through any
// handle on the store) has been handled, and every back-channel logout
// delivery started so far has finished, or ctx ends. It is for tests.
func (p *Provider) Wait(ctx context.Context) error {
	if p.watch != nil {
		if err := p.watch.Sync(ctx); err != nil {
			return fmt.Errorf("wait for session ends: %w", err)
		}
	}
	return p.bc.wait(ctx)
}

// Close stops accepting back-channel logout work and waits, until ctx
// ends, for deliveries in flight. Call it on shutdown.
func (p *Provider) Close(ctx context.Context) error { return p.bc.close(ctx) }

// accessTTL, idTTL and refreshTTL are c's token lifetimes: its own, or
// the provider's defaults.
func (p *Provider) accessTTL(c *clients.Client) time.Duration {
	if c.AccessTokenTTL > 0 {
		return c.AccessTokenTTL
	}
	return p.o.AccessTokenTTL
}

func (p *Provider) idTTL(c *clients.Client) time.Duration {
	if c.IDTokenTTL > 0 {
		return c.IDTokenTTL
	}
	return p.o.IDTokenTTL
}

func (p *Provider) refreshTTL(c *clients.Client) time.Duration {
	if c.RefreshTokenTTL > 0 {
		return c.RefreshTokenTTL
	}
	return p.o.RefreshTokenTTL
}

// randomID returns n random bytes, base64url encoded.
func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// clientName is what pages call a client.
func clientName(c *clients.Client) string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}

// liveUser loads a user for a token or session: a missing or disabled user
// is ok=false; err is a directory failure.
func (p *Provider) liveUser(ctx context.Context, id string) (identity.User, bool, error) {
	u, err := p.o.Users.ByID(ctx, id)
	if errors.Is(err, identity.ErrNotFound) {
		return identity.User{}, false, nil
	}
	if err != nil {
		return identity.User{}, false, fmt.Errorf("load user: %w", err)
	}
	if u.Disabled {
		return identity.User{}, false, nil
	}
	return u, true, nil
}
