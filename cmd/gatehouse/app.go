package main

import (
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-sso/gatehouse/config"
	"github.com/gatehouse-sso/gatehouse/csrf"
	"github.com/gatehouse-sso/gatehouse/identity"
	"github.com/gatehouse-sso/gatehouse/idp"
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

// app is the wired object graph of one serving process.
type app struct {
	cfg      config.Config
	log      *slog.Logger
	store    store.Store
	users    *identity.Directory
	sessions *session.Manager
	oidc     *idp.Provider
	keys     *keys.Manager
	gateway  *proxy.Gateway
	handler  http.Handler
}

// newLogger builds the process logger from the log section.
func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// openStore opens the configured backend.
func openStore(c config.Store, log *slog.Logger) (store.Store, error) {
	switch c.Backend {
	case config.StoreMemory:
		return memory.New(), nil
	case config.StoreBolt:
		return bolt.Open(c.Bolt.Path, bolt.Options{LockTimeout: c.Bolt.LockTimeout.D(), Logger: log})
	default:
		return nil, fmt.Errorf("unknown store backend %q", c.Backend)
	}
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

// newApp wires everything that serves requests on top of an open store.
// demoUpstream, when set, is the demo app that /demo/ guards.
func newApp(ctx context.Context, cfg config.Config, st store.Store, log *slog.Logger, demoUpstream *url.URL) (*app, error) {
	public, err := url.Parse(cfg.Server.PublicURL)
	if err != nil {
		return nil, fmt.Errorf("server.public_url: %w", err)
	}
	secure := public.Scheme == "https"

	hasher := identity.NewHasher(hasherParams(cfg.Password), cfg.Password.MaxConcurrent)
	users, err := identity.NewDirectory(st, hasher, identityUsers(cfg.Users), log)
	if err != nil {
		return nil, fmt.Errorf("load users: %w", err)
	}

	var secrets [][]byte
	for _, s := range cfg.Session.Secrets {
		secrets = append(secrets, []byte(s.Value()))
	}
	if len(secrets) == 0 {
		s, err := session.GeneratedSecret(ctx, st)
		if err != nil {
			return nil, err
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
		return nil, err
	}
	csrfKey, err := hkdf.Key(sha256.New, secrets[0], nil, "gatehouse csrf v1", 32)
	if err != nil {
		return nil, fmt.Errorf("derive csrf key: %w", err)
	}
	protector, err := csrf.New(csrfKey, secure)
	if err != nil {
		return nil, err
	}
	redirects, err := redirect.New(cfg.Server.PublicURL, cfg.Login.AllowedReturnURLs)
	if err != nil {
		return nil, err
	}
	pages, err := web.NewRenderer(log, web.Brand{})
	if err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	login := &idp.Login{
		Users: users, Sessions: sessions, CSRF: protector, Redirects: redirects,
		Pages: pages, Log: log, MaxBodyBytes: cfg.Server.MaxBodyBytes,
	}
	if demoUpstream != nil {
		login.Home, login.DemoURL = "/demo/", "/demo/"
		mux.Handle("/demo/", proxy.NewGuard(demoUpstream, login, "/login", log))
	}
	login.Mount(mux)
	gwClient, err := gatewayClient(cfg)
	if err != nil {
		return nil, err
	}
	var extra []clients.Spec
	if gwClient != nil {
		extra = append(extra, *gwClient)
	}
	provider, km, err := newProvider(ctx, cfg, st, log, users, sessions, protector, pages, extra...)
	if err != nil {
		return nil, err
	}
	provider.Mount(mux)
	server.Health(mux, st, log)
	mux.Handle("GET /static/", web.Static())

	gw, err := newGateway(cfg, st, log, km, users, mux, gwClient, secrets, pages,
		[]string{sessions.CookieName(), protector.CookieName()})
	if err != nil {
		return nil, err
	}
	sessions.OnEnd(func(ctx context.Context, rec session.Record) { gw.EndSSO(ctx, rec.SID) })
	own := server.WithNotFound(mux, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pages.Error(w, http.StatusNotFound, "There is nothing at this address.")
	}))
	h := gw.Dispatch(own)
	if secure && (cfg.Server.TLS.Mode == config.TLSFiles || cfg.Server.TLS.Mode == config.TLSACME) {
		h = hsts(h)
	}
	return &app{cfg: cfg, log: log, store: st, users: users, sessions: sessions, oidc: provider, keys: km,
		gateway: gw, handler: server.Middleware(h, log)}, nil
}

// newProvider wires the OpenID provider: signing keys (refreshed and
// rotated in the background until ctx ends), the client registry, the
// grant store, and the endpoints under the issuer's path.
func newProvider(ctx context.Context, cfg config.Config, st store.Store, log *slog.Logger,
	users *identity.Directory, sessions *session.Manager, protector *csrf.Protector, pages *web.Renderer,
	extra ...clients.Spec) (*idp.Provider, *keys.Manager, error) {
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
	for _, e := range extra {
		for i, c := range o.Clients {
			if c.ClientID == e.ID {
				return nil, nil, fmt.Errorf("%s: client id %q is reserved for the gateway's internal client", o.ClientPath(i), e.ID)
			}
		}
	}
	specs = append(specs, extra...)
	registry, err := clients.New(specs)
	if err != nil {
		return nil, nil, fmt.Errorf("oidc clients: %w", err)
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
		return nil, nil, fmt.Errorf("oidc signing keys: %w", err)
	}
	go km.Run(ctx)
	scopes := make([]idp.Scope, 0, len(o.Scopes))
	for _, s := range o.Scopes {
		scopes = append(scopes, idp.Scope{Name: s.Name, Description: s.Description, Claims: s.Claims})
	}
	claims := make([]idp.Claim, 0, len(o.Claims))
	for _, c := range o.Claims {
		claims = append(claims, idp.Claim{Name: c.Name, AnyGroup: c.AnyGroup, Attribute: c.Attribute, Equals: c.Equals})
	}
	provider, err := idp.New(idp.Options{
		Issuer:          cfg.IssuerURL(),
		Keys:            km,
		Clients:         registry,
		Grants:          grants.New(st, grants.Options{RefreshGrace: o.RefreshGrace.D()}),
		Users:           users,
		Sessions:        sessions,
		CSRF:            protector,
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
		return nil, nil, err
	}
	return provider, km, nil
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
			return nil, err
		}
		return server.TLSConfig(cert), nil
	case config.TLSSelfSigned:
		cert, err := server.SelfSigned(c.SelfSignedHosts, now)
		if err != nil {
			return nil, err
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

// gatewayClient is the gateway's internal OIDC client: redirect URLs on
// every exact app host and on Gatehouse's own host, first-party (no
// consent), PKCE, and a secret generated for this process (the gateway
// exchanges codes in process, so no other process needs it). It is nil
// when no app host is configured.
func gatewayClient(cfg config.Config) (*clients.Spec, error) {
	redirects, postLogout, err := proxy.ClientRedirectURLs(cfg.Server.PublicURL, cfg.Gateway)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	if redirects == nil {
		return nil, nil
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	return &clients.Spec{
		ID: proxy.ClientID, Secret: base64.RawURLEncoding.EncodeToString(b[:]), Name: "Gatehouse gateway",
		RedirectURLs: redirects, PostLogoutRedirectURLs: postLogout, SkipConsent: true, RequirePKCE: true,
		GrantTypes: []string{clients.GrantAuthorizationCode, clients.GrantRefreshToken},
	}, nil
}

// newGateway wires the gateway: the compiled rules, routes, the internal
// OIDC client (served in process by idpHandler) and the app cookie.
func newGateway(cfg config.Config, st store.Store, log *slog.Logger, km *keys.Manager, users *identity.Directory,
	idpHandler http.Handler, client *clients.Spec, secrets [][]byte, pages *web.Renderer, strip []string) (*proxy.Gateway, error) {
	pol, err := config.CompilePolicy(cfg.Gateway.Rules)
	if err != nil {
		return nil, err
	}
	// Ask at sign-in for the custom scopes the rules require, so a
	// browser session can hold them.
	var scopes []string
	for _, r := range cfg.Gateway.Rules {
		for _, s := range r.Scopes {
			for _, known := range cfg.OIDC.Scopes {
				if known.Name == s && !slices.Contains(scopes, s) {
					scopes = append(scopes, s)
				}
			}
		}
	}
	o := proxy.Options{
		Gateway: cfg.Gateway, PublicURL: cfg.Server.PublicURL, Issuer: cfg.IssuerURL(),
		Policy: pol, Keys: km, Scopes: scopes, Store: st, Users: users,
		Revocations: revocations{grants.New(st, grants.Options{})},
		Secrets:     secrets, SessionTTL: cfg.Session.AbsoluteTimeout.D(), StripCookies: strip,
		Pages: pages, Log: log,
	}
	if client != nil {
		o.IdP, o.ClientID, o.ClientSecret = idpHandler, client.ID, client.Secret
	}
	gw, err := proxy.New(o)
	if err != nil {
		return nil, err
	}
	return gw, nil
}

// revocations tells the gateway whether an access token was revoked, from
// the IdP's grant records.
type revocations struct{ g *grants.Store }

func (r revocations) AccessTokenLive(ctx context.Context, jti, gid string) (bool, error) {
	revoked, err := r.g.AccessTokenRevoked(ctx, jti)
	if err != nil || revoked {
		return false, err
	}
	if gid == "" {
		return true, nil
	}
	_, err = r.g.Grant(ctx, gid)
	switch {
	case errors.Is(err, grants.ErrNotFound), errors.Is(err, grants.ErrRevoked):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}
