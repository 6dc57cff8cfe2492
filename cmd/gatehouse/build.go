package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-sso/gatehouse/config"
	"github.com/gatehouse-sso/gatehouse/csrf"
	"github.com/gatehouse-sso/gatehouse/identity"
	"github.com/gatehouse-sso/gatehouse/idp"
	"github.com/gatehouse-sso/gatehouse/idp/authn"
	"github.com/gatehouse-sso/gatehouse/idp/clients"
	"github.com/gatehouse-sso/gatehouse/idp/grants"
	"github.com/gatehouse-sso/gatehouse/idp/keys"
	"github.com/gatehouse-sso/gatehouse/proxy"
	"github.com/gatehouse-sso/gatehouse/redirect"
	"github.com/gatehouse-sso/gatehouse/server"
	"github.com/gatehouse-sso/gatehouse/session"
	"github.com/gatehouse-sso/gatehouse/store"
	"github.com/gatehouse-sso/gatehouse/store/bolt"
	"github.com/gatehouse-sso/gatehouse/store/memory"
	"github.com/gatehouse-sso/gatehouse/web"
)

// The composition root: each builder below makes one component from the
// configuration and the components it depends on, and returns with it
// its lifecycle (the background actors to run while serving and what to
// close after they stopped). newApp calls them in dependency order and
// mounts every handler from one list; serveCmd runs the actors and the
// listeners in one group.

// actor is a background job of a component. run works until ctx ends and
// then returns nil; an error it returns stops the whole process.
type actor struct {
	name string
	run  func(ctx context.Context) error
}

// lifecycle is what a component needs from the process besides its
// construction.
type lifecycle struct {
	actors []actor
	// close releases the component once every actor and listener has
	// stopped; ctx carries the shutdown deadline. nil: nothing to close.
	close func(ctx context.Context) error
}

// app is the wired object graph of one serving process.
type app struct {
	cfg      config.Config
	log      *slog.Logger
	store    store.Store
	users    *identity.Directory
	sessions *session.Manager
	grants   *grants.Store
	oidc     *idp.Provider
	keys     *keys.Manager
	gateway  *proxy.Gateway
	// revoked is the gateway's revocation watch (tests Sync on it).
	revoked *session.Watcher
	handler http.Handler
	// parts are the lifecycles of the components, in build order.
	parts []lifecycle
}

// actors returns the background actors of every component.
func (a *app) actors() []actor {
	var out []actor
	for _, p := range a.parts {
		out = append(out, p.actors...)
	}
	return out
}

// close closes the components in reverse build order and returns every
// failure.
func (a *app) close(ctx context.Context) error {
	var errs []error
	for i := len(a.parts) - 1; i >= 0; i-- {
		if c := a.parts[i].close; c != nil {
			if err := c(ctx); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// newLogger builds the process logger from the log section.
func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if c.Format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(server.LogHandler(h))
}

// buildStore opens the configured backend.
func buildStore(c config.Store, log *slog.Logger) (store.Store, lifecycle, error) {
	var (
		st  store.Store
		err error
	)
	switch c.Backend {
	case config.StoreMemory:
		st = memory.New()
	case config.StoreBolt:
		st, err = bolt.Open(c.Bolt.Path, bolt.Options{LockTimeout: c.Bolt.LockTimeout.D(), Logger: log})
	default:
		err = fmt.Errorf("store.backend: unknown backend %q", c.Backend)
	}
	if err != nil {
		return nil, lifecycle{}, err
	}
	return st, lifecycle{close: func(context.Context) error {
		if err := st.Close(); err != nil {
			return fmt.Errorf("close store: %w", err)
		}
		return nil
	}}, nil
}

// identityParts are the people and browsers: the user directory, the SSO
// session manager, the CSRF protector bound to the browser, and the
// session secrets other components derive their keys from.
type identityParts struct {
	users    *identity.Directory
	sessions *session.Manager
	csrf     *csrf.Protector
	secrets  [][]byte
}

// buildIdentity builds the user directory (config users over the store's),
// the session manager and the CSRF protector. Without configured session
// secrets it uses the one generated and kept in the store.
func buildIdentity(ctx context.Context, cfg config.Config, st store.Store, log *slog.Logger) (identityParts, lifecycle, error) {
	secure := isHTTPS(cfg.Server.PublicURL)
	hasher := identity.NewHasher(hasherParams(cfg.Password), cfg.Password.MaxConcurrent)
	users, err := identity.NewDirectory(st, hasher, identityUsers(cfg.Users), log)
	if err != nil {
		return identityParts{}, lifecycle{}, fmt.Errorf("load users: %w", err)
	}
	var secrets [][]byte
	for _, s := range cfg.Session.Secrets {
		secrets = append(secrets, []byte(s.Value()))
	}
	if len(secrets) == 0 {
		s, err := session.GeneratedSecret(ctx, st)
		if err != nil {
			return identityParts{}, lifecycle{}, err
		}
		secrets = [][]byte{s}
	}
	sessions, err := session.New(st, session.Options{
		CookieName:      cfg.Session.CookieName,
		CookieDomain:    cfg.Session.CookieDomain,
		Secure:          secure,
		IdleTimeout:     cfg.Session.IdleTimeout.D(),
		AbsoluteTimeout: cfg.Session.AbsoluteTimeout.D(),
		Secrets:         secrets,
		Logger:          log,
	})
	if err != nil {
		return identityParts{}, lifecycle{}, err
	}
	protector, err := csrf.Derive(secrets[0], secure)
	if err != nil {
		return identityParts{}, lifecycle{}, err
	}
	return identityParts{users: users, sessions: sessions, csrf: protector, secrets: secrets}, lifecycle{}, nil
}

// identityUsers converts the config file's users.
func identityUsers(cs []config.User) []identity.User {
	out := make([]identity.User, 0, len(cs))
	for _, c := range cs {
		out = append(out, identity.User{
			ID: c.ID, Username: c.Username, Email: c.Email, EmailVerified: c.EmailVerified,
			Name: c.Name, GivenName: c.GivenName, FamilyName: c.FamilyName, Picture: c.Picture,
			Groups: c.Groups, Disabled: c.Disabled, Attributes: c.Attributes,
			PasswordHash: c.PasswordHash.Value(),
		})
	}
	return out
}

// idpParts are the OpenID provider and what the gateway shares with it.
type idpParts struct {
	provider *idp.Provider
	keys     *keys.Manager
	grants   *grants.Store
}

// buildIdP builds the OpenID provider: signing keys (refreshed and
// rotated by its actor), the client registry (the configured clients and
// extra, the gateway's internal client), the grant store and the
// endpoints under the issuer's path. It listens to the revocation topic
// until ctx ends, for the back-channel logouts of ended sessions; its close
// waits for those in flight.
func buildIdP(ctx context.Context, cfg config.Config, st store.Store, log *slog.Logger,
	idn identityParts, pages *web.Renderer, extra ...clients.Spec) (idpParts, lifecycle, error) {
	o := cfg.OIDC
	specs := make([]clients.Spec, 0, len(o.Clients)+len(extra))
	longest := max(o.AccessTokenTTL.D(), o.IDTokenTTL.D())
	for _, c := range o.Clients {
		specs = append(specs, clients.Spec{
			ID: c.ClientID, Secret: c.ClientSecret.Value(), Name: c.Name,
			RedirectURLs: c.RedirectURLs, PostLogoutRedirectURLs: c.PostLogoutRedirectURLs,
			SkipConsent: c.SkipConsent, RequirePKCE: c.RequirePKCE, Public: c.Public,
			Scopes: c.Scopes, GrantTypes: c.GrantTypes, BackchannelLogoutURI: c.BackchannelLogoutURI,
			SigningAlg:     c.SigningAlg,
			AccessTokenTTL: c.AccessTokenTTL.D(), IDTokenTTL: c.IDTokenTTL.D(), RefreshTokenTTL: c.RefreshTokenTTL.D(),
		})
		longest = max(longest, c.AccessTokenTTL.D(), c.IDTokenTTL.D())
	}
	specs = append(specs, extra...)
	registry, err := clients.New(specs)
	if err != nil {
		return idpParts{}, lifecycle{}, fmt.Errorf("oidc clients: %w", err)
	}
	km, err := keys.New(ctx, st, keys.Options{
		Algorithms:     o.Keys.Algorithms,
		RotationPeriod: o.Keys.RotationPeriod.D(),
		// Keys stay published at least a day after they stop signing, so
		// an expired id_token_hint still identifies its client at logout.
		Retain: max(longest, keys.DefaultRetain),
		Files:  o.Keys.Files,
		Logger: log,
	})
	if err != nil {
		what := "oidc signing keys"
		if len(o.Keys.Files) > 0 {
			what = "oidc.keys.files"
		}
		return idpParts{}, lifecycle{}, fmt.Errorf("%s: %w", what, err)
	}
	scopes := make([]idp.Scope, 0, len(o.Scopes))
	for _, s := range o.Scopes {
		scopes = append(scopes, idp.Scope{Name: s.Name, Description: s.Description, Claims: s.Claims})
	}
	claims := make([]idp.Claim, 0, len(o.Claims))
	for _, c := range o.Claims {
		claims = append(claims, idp.Claim{Name: c.Name, AnyGroup: c.AnyGroup, Attribute: c.Attribute, Equals: c.Equals})
	}
	gs := grants.New(st, grants.Options{RefreshGrace: o.RefreshGrace.D(), Bus: idn.sessions.Bus()})
	provider, err := idp.New(idp.Options{
		Issuer:          cfg.IssuerURL(),
		Keys:            km,
		Clients:         registry,
		Grants:          gs,
		Users:           idn.users,
		Sessions:        idn.sessions,
		CSRF:            idn.csrf,
		Pages:           pages,
		Store:           st,
		Log:             log,
		MaxBodyBytes:    cfg.Server.MaxBodyBytes,
		CodeTTL:         o.CodeTTL.D(),
		AccessTokenTTL:  o.AccessTokenTTL.D(),
		IDTokenTTL:      o.IDTokenTTL.D(),
		RefreshTokenTTL: o.RefreshTokenTTL.D(),
		Scopes:          scopes,
		Claims:          claims,
	})
	if err != nil {
		return idpParts{}, lifecycle{}, err
	}
	if err := provider.Watch(ctx); err != nil {
		return idpParts{}, lifecycle{}, err
	}
	lc := lifecycle{
		actors: []actor{{name: "oidc signing keys", run: func(ctx context.Context) error {
			km.Run(ctx)
			return nil
		}}},
		close: func(ctx context.Context) error {
			if err := provider.Close(ctx); err != nil {
				return fmt.Errorf("back-channel logouts still pending at shutdown: %w", err)
			}
			return nil
		},
	}
	return idpParts{provider: provider, keys: km, grants: gs}, lc, nil
}

// buildGateway builds the gateway: the compiled rules, the routes, the
// internal OIDC client (client, served in process by idpHandler; nil when
// no app host is configured) and the app cookie. Its caches listen to the
// revocation topic until ctx ends (an ended SSO session ends its app
// sessions); the watch is returned with it.
func buildGateway(ctx context.Context, cfg config.Config, st store.Store, log *slog.Logger, idn identityParts, op idpParts,
	idpHandler http.Handler, client *clients.Spec, pages *web.Renderer) (*proxy.Gateway, *session.Watcher, lifecycle, error) {
	pol, err := config.CompilePolicy(cfg.Gateway.Rules)
	if err != nil {
		return nil, nil, lifecycle{}, err
	}
	o := proxy.Options{
		Gateway: cfg.Gateway, PublicURL: cfg.Server.PublicURL, Issuer: cfg.IssuerURL(),
		Policy: pol, Keys: op.keys, Scopes: cfg.RuleScopes(), Store: st, Users: idn.users,
		Revocations: op.grants,
		Secrets:     idn.secrets, SessionTTL: cfg.Session.AbsoluteTimeout.D(),
		StripCookies: []string{idn.sessions.CookieName(), idn.csrf.CookieName(), authn.CookieName(isHTTPS(cfg.Server.PublicURL))},
		Pages:        pages, Log: log,
	}
	if client != nil {
		o.IdP, o.ClientID, o.ClientSecret = idpHandler, client.ID, client.Secret
	}
	gw, err := proxy.New(o)
	if err != nil {
		return nil, nil, lifecycle{}, err
	}
	w, err := gw.Watch(ctx, idn.sessions.Bus())
	if err != nil {
		return nil, nil, lifecycle{}, err
	}
	return gw, w, lifecycle{}, nil
}

// mounter registers handlers on the main mux.
type mounter interface{ Mount(mux *http.ServeMux) }

// mountFunc adapts a function to mounter.
type mountFunc func(mux *http.ServeMux)

func (f mountFunc) Mount(mux *http.ServeMux) { f(mux) }

// newApp builds every component that serves requests on top of an open
// store and mounts their handlers. demoUpstream, when set, is the demo
// app that /demo/ guards. The actors of the result are not running yet.
func newApp(ctx context.Context, cfg config.Config, st store.Store, log *slog.Logger, demoUpstream *url.URL) (*app, error) {
	a := &app{cfg: cfg, log: log, store: st}
	pages, err := web.NewRenderer(log, web.Brand{Name: cfg.UI.ProductName, LogoURL: cfg.UI.LogoURL, AccentColor: cfg.UI.AccentColor})
	if err != nil {
		return nil, err
	}
	redirects, err := redirect.New(cfg.Server.PublicURL, cfg.Login.AllowedReturnURLs)
	if err != nil {
		return nil, err
	}
	idn, lc, err := buildIdentity(ctx, cfg, st, log)
	if err != nil {
		return nil, err
	}
	a.parts = append(a.parts, lc)
	gwClient, err := proxy.NewClient(cfg.Server.PublicURL, cfg.Gateway)
	if err != nil {
		return nil, err
	}
	var extra []clients.Spec
	if gwClient != nil {
		extra = append(extra, *gwClient)
	}
	op, lc, err := buildIdP(ctx, cfg, st, log, idn, pages, extra...)
	if err != nil {
		return nil, err
	}
	a.parts = append(a.parts, lc)
	mux := http.NewServeMux()
	gw, revoked, lc, err := buildGateway(ctx, cfg, st, log, idn, op, mux, gwClient, pages)
	if err != nil {
		return nil, err
	}
	a.parts = append(a.parts, lc)

	login := &idp.Login{
		Users: idn.users, Sessions: idn.sessions, CSRF: idn.csrf, Redirects: redirects,
		Pages: pages, Log: log, MaxBodyBytes: cfg.Server.MaxBodyBytes,
	}
	handlers := []mounter{
		login,
		op.provider,
		mountFunc(func(mux *http.ServeMux) { server.Health(mux, st, log) }),
		mountFunc(func(mux *http.ServeMux) { mux.Handle("GET /static/", web.Static()) }),
	}
	if demoUpstream != nil {
		login.Home, login.DemoURL = "/demo/", "/demo/"
		guard := proxy.NewGuard(demoUpstream, login, "/login", log)
		handlers = append(handlers, mountFunc(func(mux *http.ServeMux) { mux.Handle("/demo/", guard) }))
	}
	clientIP, err := proxy.ClientIP(cfg.Gateway.TrustedProxies)
	if err != nil {
		return nil, err
	}
	signIn, err := authn.New(authn.Options{
		Methods: signInMethods(idn.users), Users: idn.users, Sessions: idn.sessions, Store: st, CSRF: idn.csrf,
		Redirects: redirects, Pages: pages, Log: log, MaxBodyBytes: cfg.Server.MaxBodyBytes,
		PublicURL: cfg.Server.PublicURL, Home: login.Home, Secure: isHTTPS(cfg.Server.PublicURL), ClientIP: clientIP,
	})
	if err != nil {
		return nil, err
	}
	handlers = append(handlers, signIn)
	for _, h := range handlers {
		h.Mount(mux)
	}

	own := server.WithNotFound(mux, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pages.Error(w, http.StatusNotFound, "There is nothing at this address.")
	}))
	h := gw.Dispatch(own)
	if isHTTPS(cfg.Server.PublicURL) && (cfg.Server.TLS.Mode == config.TLSFiles || cfg.Server.TLS.Mode == config.TLSACME) {
		h = hsts(h)
	}
	a.users, a.sessions, a.grants, a.oidc, a.keys, a.gateway, a.revoked = idn.users, idn.sessions, op.grants, op.provider, op.keys, gw, revoked
	a.handler = server.Middleware(h, log, cfg.Gateway.TrustedProxyPrefixes())
	return a, nil
}

// isHTTPS reports whether raw (server.public_url) is an https URL.
func isHTTPS(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Scheme == "https"
}

// hsts tells browsers to use https only. It is not sent for self-signed
// certificates, whose hosts (localhost) often serve other things over http.
func hsts(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		h.ServeHTTP(w, r)
	})
}

// tlsConfig returns the main listener's TLS setup, nil for mode "off".
func tlsConfig(c config.TLS, now time.Time) (*tls.Config, error) {
	switch c.Mode {
	case config.TLSOff:
		return nil, nil
	case config.TLSFiles:
		cert, err := server.LoadFiles(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("server.tls.cert_file, server.tls.key_file: %w", err)
		}
		return server.TLSConfig(cert), nil
	case config.TLSSelfSigned:
		cert, err := server.SelfSigned(c.SelfSignedHosts, now)
		if err != nil {
			return nil, fmt.Errorf("server.tls.self_signed_hosts: %w", err)
		}
		return server.TLSConfig(cert), nil
	default:
		return nil, fmt.Errorf("server.tls.mode: unknown mode %q", c.Mode)
	}
}

// demoUsername is the user the demo creates on first start.
const demoUsername = "demo"

// ensureDemoUser creates the demo user on first start and returns its
// generated password, or "" when the user already existed (its password
// was printed once, when it was created).
func ensureDemoUser(ctx context.Context, users *identity.Directory) (string, error) {
	_, err := users.ByLogin(ctx, demoUsername)
	if err == nil {
		return "", nil
	}
	if !errors.Is(err, identity.ErrNotFound) {
		return "", fmt.Errorf("look up demo user: %w", err)
	}
	var b [10]byte
	_, _ = rand.Read(b[:])
	password := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
	_, err = users.Create(ctx, identity.User{
		Username:      demoUsername,
		Email:         "demo@example.com",
		EmailVerified: true,
		Name:          "Demo User",
		GivenName:     "Demo",
		FamilyName:    "User",
		Groups:        []string{"demo", "users"},
	}, password)
	if errors.Is(err, identity.ErrExists) {
		return "", nil // another process created it at the same moment
	}
	if err != nil {
		return "", fmt.Errorf("create demo user: %w", err)
	}
	return password, nil
}
