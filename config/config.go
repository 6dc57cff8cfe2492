// Package config holds Gatehouse's configuration: the structs, their
// defaults (in one place: Default), loading from one YAML file with
// GATEHOUSE_* environment overrides and *_file secrets, and validation that
// lists every problem with its field path.
//
// It imports no other Gatehouse package but two whose parsers it
// shares instead of copying them: policy (rule syntax, through
// CompilePolicy) and identity (password hashes).
package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Config is the whole configuration of one Gatehouse process.
type Config struct {
	Server   Server   `yaml:"server"`
	Log      Log      `yaml:"log"`
	Store    Store    `yaml:"store"`
	Session  Session  `yaml:"session"`
	Password Password `yaml:"password"`
	Login    Login    `yaml:"login"`
	UI       UI       `yaml:"ui"`
	Users    []User   `yaml:"users"`
	OIDC     OIDC     `yaml:"oidc"`
	Gateway  Gateway  `yaml:"gateway"`
	Demo     Demo     `yaml:"demo"`
}

// Server configures the HTTPS listener.
type Server struct {
	// PublicURL is the absolute https URL users reach Gatehouse at; its
	// origin is the site that relative return-to targets stay on.
	PublicURL string `yaml:"public_url"`
	// Listen is the address of the main (TLS) listener, e.g. ":8443".
	Listen string `yaml:"listen"`
	// HTTPListen, when set, serves plain HTTP that only redirects to
	// PublicURL (and answers /healthz). Empty disables it.
	HTTPListen string `yaml:"http_listen"`
	TLS        TLS    `yaml:"tls"`
	// ReadHeaderTimeout bounds how long a client may take to send headers.
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	// ReadTimeout bounds reading a whole request, body included.
	ReadTimeout Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing a response.
	WriteTimeout Duration `yaml:"write_timeout"`
	// IdleTimeout bounds how long a keep-alive connection may sit idle.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// ShutdownTimeout bounds how long in-flight requests may drain on
	// SIGINT/SIGTERM.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// MaxBodyBytes caps request bodies Gatehouse reads itself (forms).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxHeaderBytes caps the size of request headers.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// MinHeapMiB is the heap size (MiB) below which the garbage
	// collector does not run: Go's own minimum is 4 MiB, which makes a
	// process with a small live heap collect dozens of times a second
	// under load. Above it, GOGC's rule applies. 0 keeps Go's default.
	MinHeapMiB int `yaml:"min_heap_mib"`
}

// TLS modes.
const (
	TLSSelfSigned = "self-signed" // generated certificate for SelfSignedHosts
	TLSFiles      = "files"       // CertFile + KeyFile (PEM)
	TLSOff        = "off"         // plain HTTP, for running behind a TLS-terminating proxy
	TLSACME       = "acme"        // automatic certificates (certmagic)
)

// ACME challenge types (ACME.Challenges).
const (
	ChallengeHTTP01    = "http-01"
	ChallengeTLSALPN01 = "tls-alpn-01"
)

// LetsEncryptDirectory is Let's Encrypt's production ACME directory, the
// default ACME.DirectoryURL.
const LetsEncryptDirectory = "https://acme-v02.api.letsencrypt.org/directory"

// TLS configures how the main listener gets its certificate.
type TLS struct {
	// Mode is one of "self-signed", "files", "acme" or "off".
	Mode string `yaml:"mode"`
	// CertFile and KeyFile are PEM files, used when Mode is "files".
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// SelfSignedHosts are the DNS names and IPs the self-signed certificate
	// covers. Ignored unless Mode is "self-signed".
	SelfSignedHosts []string `yaml:"self_signed_hosts"`
	// ACME configures automatic certificates, used when Mode is "acme".
	ACME ACME `yaml:"acme"`
}

// ACME configures automatic certificates (certmagic). Certificates and
// locks are kept in the store, so replicas share them.
type ACME struct {
	// Email is the ACME account contact (optional; a plain address).
	Email string `yaml:"email"`
	// DirectoryURL is the CA's ACME directory: an absolute https URL (http
	// only for a loopback host). Default: LetsEncryptDirectory.
	DirectoryURL string `yaml:"directory_url"`
	// CARootFile trusts this PEM root for the ACME server itself (for a
	// private CA or a test server such as Pebble).
	CARootFile string `yaml:"ca_root_file"`
	// Hosts are the names certificates are obtained for, ahead of time.
	// Gatehouse's own host and every route host without a wildcard are
	// added automatically. DNS names only: no IP addresses, and no
	// wildcards (they need the dns-01 challenge, which is not supported).
	// Parse and Load lower-case them.
	Hosts []string `yaml:"hosts"`
	// Challenges enabled: "http-01" (needs server.http_listen, reached by
	// the CA on port 80) and "tls-alpn-01" (on the main listener, port
	// 443). At least one. Default: both.
	Challenges []string `yaml:"challenges"`
	// OnDemand obtains a certificate at the first TLS handshake for a name
	// that matches a route; off by default, because a client could make
	// Gatehouse ask the CA for many names.
	OnDemand bool `yaml:"on_demand"`
	// AltHTTPPort and AltTLSALPNPort are the ports the CA connects to for
	// the challenges, when not 80 and 443 (tests, port forwarding); 0
	// means the standard port.
	AltHTTPPort    int `yaml:"alt_http_port"`
	AltTLSALPNPort int `yaml:"alt_tls_alpn_port"`
}

// Log configures structured logging.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text or json.
	Format string `yaml:"format"`
}

// Store backends.
const (
	StoreBolt   = "bolt"
	StoreMemory = "memory"
)

// Store selects and configures the storage backend.
type Store struct {
	// Backend is "bolt" (embedded file, the default) or "memory" (lost on
	// restart; tests and throw-away demos).
	Backend string `yaml:"backend"`
	Bolt    Bolt   `yaml:"bolt"`
}

// Bolt configures the embedded bbolt file store.
type Bolt struct {
	// Path is the database file; its directory is created if missing.
	Path string `yaml:"path"`
	// LockTimeout is how long to wait for another process holding the file
	// before failing with an error naming it.
	LockTimeout Duration `yaml:"lock_timeout"`
}

// Session configures the SSO session and its cookie.
type Session struct {
	// CookieName is the base name of the session cookie. When CookieDomain
	// is empty and the site is served over https, the cookie is host-only
	// and gets the "__Host-" prefix.
	CookieName string `yaml:"cookie_name"`
	// CookieDomain, when set, shares the cookie with subdomains (and the
	// "__Secure-" prefix is used instead of "__Host-"). The host of
	// Server.PublicURL must be within it. Parse and Load normalize it: a
	// leading dot is removed and it is lower-cased.
	CookieDomain string `yaml:"cookie_domain"`
	// IdleTimeout ends a session that was not used for this long.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// AbsoluteTimeout ends a session this long after sign-in, used or not.
	AbsoluteTimeout Duration `yaml:"absolute_timeout"`
	// Secrets sign and encrypt the cookie. The first encodes; all decode,
	// so a new secret can be put first while the old ones keep working.
	// Each must be at least 32 bytes. When empty, Gatehouse generates one
	// and keeps it in the store (shared by every replica on that store).
	// In YAML, "secrets_file" may list files holding one secret each
	// instead (see Parse).
	Secrets []Secret `yaml:"secrets"`
}

// Password configures password hashing (argon2id) and its resource caps.
type Password struct {
	// MemoryKiB is argon2id's memory cost per hash, in KiB.
	MemoryKiB uint32 `yaml:"memory_kib"`
	// Iterations is argon2id's time cost.
	Iterations uint32 `yaml:"iterations"`
	// Parallelism is argon2id's lane count.
	Parallelism uint8 `yaml:"parallelism"`
	// MaxConcurrent caps hashes computed at once; others wait (bounded by
	// the request's context), so a login storm cannot exhaust memory.
	MaxConcurrent int `yaml:"max_concurrent"`
}

// Login configures the sign-in pages.
type Login struct {
	// AllowedReturnURLs are absolute URLs that a return-to target may point
	// to besides same-site relative paths: a target matches an entry when
	// scheme, host and port are equal and its path starts with the entry's
	// path at a segment boundary.
	AllowedReturnURLs []string `yaml:"allowed_return_urls"`
}

// UI is the look of Gatehouse's own pages (sign-in, consent, errors).
type UI struct {
	// ProductName replaces "Gatehouse" in page titles and headers.
	ProductName string `yaml:"product_name"`
	// LogoURL is an image shown in the page header: a path on public_url's
	// site or an https URL (the page's CSP then allows that origin).
	LogoURL string `yaml:"logo_url"`
	// AccentColor colours primary buttons: "#rgb" or "#rrggbb".
	// Button text is black or white, whichever contrasts more.
	AccentColor string `yaml:"accent_color"`
}

// User is a user defined in the config file. Config users are read-only at
// run time.
type User struct {
	// ID is stable and opaque; it becomes the OIDC "sub" and must never be
	// reused for another person.
	ID            string `yaml:"id"`
	Username      string `yaml:"username"`
	Email         string `yaml:"email"`
	EmailVerified bool   `yaml:"email_verified"`
	Name          string `yaml:"name"`
	GivenName     string `yaml:"given_name"`
	FamilyName    string `yaml:"family_name"`
	Picture       string `yaml:"picture"`
	// Groups the user belongs to.
	Groups   []string `yaml:"groups"`
	Disabled bool     `yaml:"disabled"`
	// Attributes is a free map for policy and custom claims.
	Attributes map[string]any `yaml:"attributes"`
	// PasswordHash is an argon2id PHC string as printed by
	// `gatehouse hash-password`. Empty means the user cannot sign in with
	// a password.
	PasswordHash Secret `yaml:"password_hash"`
}

// OIDC configures the OpenID Connect provider.
type OIDC struct {
	// Issuer is the issuer identifier. Empty means server.public_url. It
	// may carry a path (https://auth.example.com/api/auth): every OIDC
	// endpoint, discovery included, is then served under that path. Its
	// origin must be server.public_url's.
	Issuer string `yaml:"issuer"`
	// CodeTTL is how long an authorization code may be exchanged.
	CodeTTL Duration `yaml:"code_ttl"`
	// AccessTokenTTL, IDTokenTTL and RefreshTokenTTL are the default token
	// lifetimes; a client may override each.
	AccessTokenTTL  Duration `yaml:"access_token_ttl"`
	IDTokenTTL      Duration `yaml:"id_token_ttl"`
	RefreshTokenTTL Duration `yaml:"refresh_token_ttl"`
	// RefreshGrace is how long a rotated refresh token keeps working, so
	// parallel refreshes (tabs, replicas) do not sign the user out. After
	// it, reuse of a rotated token revokes the whole token family.
	RefreshGrace Duration `yaml:"refresh_grace"`
	Keys         Keys     `yaml:"keys"`
	// Scopes are custom scopes beyond openid, profile, email, groups and
	// offline_access, each releasing the claims it names.
	Scopes []Scope `yaml:"scopes"`
	// Claims are custom claims computed from a user's groups or attributes
	// on every token and userinfo call.
	Claims  []Claim  `yaml:"claims"`
	Clients []Client `yaml:"clients"`
}

// Keys configures the token signing keys.
type Keys struct {
	// Algorithms are the signing algorithms published in the JWKS, each
	// with its own key: RS256 (the default every client must accept) and
	// ES256.
	Algorithms []string `yaml:"algorithms"`
	// RotationPeriod is how often generated keys are replaced. The next key
	// is published one period ahead and old keys stay published until every
	// token they signed has expired.
	RotationPeriod Duration `yaml:"rotation_period"`
	// Files are PEM private keys (RSA for RS256, P-256 for ES256) to sign
	// with instead of generated keys; no rotation happens then.
	Files []string `yaml:"files"`
}

// Scope is a custom OAuth scope.
type Scope struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Claims lists the claims (standard or custom) this scope releases; an
	// API scope that only authorises (checked by resource servers) has none.
	Claims []string `yaml:"claims"`
}

// Claim is a custom claim computed live from the user.
type Claim struct {
	Name string `yaml:"name"`
	// AnyGroup makes the claim a boolean: true when the user is in any of
	// these groups.
	AnyGroup []string `yaml:"any_group"`
	// Attribute makes the claim the value of this user attribute, or, with
	// Equals, a boolean telling whether the attribute equals that value.
	Attribute string `yaml:"attribute"`
	Equals    string `yaml:"equals"`
}

// Client is a registered OAuth/OIDC client (relying party).
type Client struct {
	ClientID string `yaml:"client_id"`
	// ClientSecret authenticates confidential clients; Gatehouse keeps only
	// its hash in memory. Empty for public clients.
	ClientSecret Secret `yaml:"client_secret"`
	Name         string `yaml:"name"`
	// RedirectURLs must match a request's redirect_uri exactly.
	RedirectURLs []string `yaml:"redirect_urls"`
	// PostLogoutRedirectURLs are accepted as post_logout_redirect_uri.
	// When empty, RedirectURLs are accepted instead (kuploy's shape).
	PostLogoutRedirectURLs []string `yaml:"post_logout_redirect_urls"`
	// SkipConsent is for first-party clients: no consent page.
	SkipConsent bool `yaml:"skip_consent"`
	// RequirePKCE demands PKCE (S256) even from confidential clients.
	RequirePKCE bool `yaml:"require_pkce"`
	// Public clients have no secret and must use PKCE.
	Public bool `yaml:"public"`
	// Scopes this client may request; empty means every known scope.
	Scopes []string `yaml:"scopes"`
	// GrantTypes this client may use: authorization_code, refresh_token,
	// client_credentials. Default: authorization_code and refresh_token.
	GrantTypes []string `yaml:"grant_types"`
	// BackchannelLogoutURI receives logout tokens when a user's session
	// ends.
	BackchannelLogoutURI string `yaml:"backchannel_logout_uri"`
	// SigningAlg signs this client's ID tokens: RS256 (default) or ES256.
	SigningAlg string `yaml:"signing_alg"`
	// Token lifetimes for this client; zero means the oidc defaults.
	AccessTokenTTL  Duration `yaml:"access_token_ttl"`
	IDTokenTTL      Duration `yaml:"id_token_ttl"`
	RefreshTokenTTL Duration `yaml:"refresh_token_ttl"`

	// origin is "GATEHOUSE_OIDC_TRUSTED_CLIENTS[i]" (or ..._FILE[i]) for
	// a client that came from that variable's JSON, "" otherwise. It is
	// not a YAML key.
	origin string
}

// Origin names where the client was defined when that was not the
// configuration file: "GATEHOUSE_OIDC_TRUSTED_CLIENTS[1]" for the second
// entry of that variable's JSON ("GATEHOUSE_OIDC_TRUSTED_CLIENTS_FILE[1]"
// when it came from the file), or "" for a client from the file or from
// GATEHOUSE_OIDC_CLIENTS_<N>_* variables.
func (c Client) Origin() string { return c.origin }

// ClientPath names o.Clients[i] the way Validate does in its errors:
// "oidc.clients[2]" for a client from the configuration file, or
// `GATEHOUSE_OIDC_TRUSTED_CLIENTS[0] "leeram-business"` (the variable, the
// index in its JSON array and the client id, when set) for a client from
// GATEHOUSE_OIDC_TRUSTED_CLIENTS. Callers that report problems with
// clients later (when registering them) should name them the same way.
func (o OIDC) ClientPath(i int) string {
	if i < 0 || i >= len(o.Clients) {
		return indexPath("oidc.clients", i)
	}
	c := o.Clients[i]
	if c.origin == "" {
		return indexPath("oidc.clients", i)
	}
	if c.ClientID == "" {
		return c.origin
	}
	return fmt.Sprintf("%s %q", c.origin, c.ClientID)
}

// IssuerURL returns the OIDC issuer identifier: OIDC.Issuer, or, when that
// is empty, Server.PublicURL without a trailing "/".
func (c Config) IssuerURL() string {
	if c.OIDC.Issuer != "" {
		return c.OIDC.Issuer
	}
	return strings.TrimSuffix(c.Server.PublicURL, "/")
}

// RuleScopes returns the scopes that gateway.rules require and
// oidc.scopes defines, each once, in the order the rules name them. The
// gateway asks for them at sign-in, so that a browser session can hold
// them; scopes no custom scope defines are left out (only bearer tokens
// can carry them).
func (c Config) RuleScopes() []string {
	var out []string
	for _, r := range c.Gateway.Rules {
		for _, s := range r.Scopes {
			if slices.Contains(out, s) {
				continue
			}
			for _, known := range c.OIDC.Scopes {
				if known.Name == s {
					out = append(out, s)
					break
				}
			}
		}
	}
	return out
}

// TrustedProxyPrefixes returns gateway.trusted_proxies parsed (entries
// that do not parse, which Validate reports, are left out), or the local
// machine (127.0.0.0/8 and ::1) when the list is empty.
func (g Gateway) TrustedProxyPrefixes() []netip.Prefix {
	list := g.TrustedProxies
	if len(list) == 0 {
		list = []string{"127.0.0.0/8", "::1/128"}
	}
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

// GatewayClientID is the client id of the gateway's internal OIDC client,
// which no configured client may use.
const GatewayClientID = "gatehouse-gateway"

// Gateway configures the reverse proxy, its policy and forward-auth.
type Gateway struct {
	// SessionCacheTTL is how long a validated session is trusted from
	// memory before the store is asked again. Logout and revocation take
	// effect at once on every replica (they are published on the store's
	// revocation topic). Zero disables the cache.
	SessionCacheTTL Duration `yaml:"session_cache_ttl"`
	// CookieName is the base name of the cookie the gateway sets on each
	// app host after sign-in (host-only, "__Host-" prefixed).
	CookieName string `yaml:"cookie_name"`
	// CookieDomain, when set, makes that cookie a parent-domain cookie
	// shared by every app host under it (saves a sign-in round trip).
	// Parse and Load normalize it like Session.CookieDomain: a leading dot
	// is removed and it is lower-cased.
	CookieDomain string `yaml:"cookie_domain"`
	// TrustedProxies are the networks (CIDR prefixes such as
	// "10.0.0.0/8" or "192.0.2.7/32", without host bits) whose
	// X-Forwarded-* headers and forward-auth requests are believed.
	// Empty: loopback only.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// ForwardAuth configures the endpoints nginx, Traefik and Caddy ask.
	ForwardAuth ForwardAuth `yaml:"forward_auth"`
	// Upstream holds transport defaults for every route.
	Upstream Upstream `yaml:"upstream"`
	// Routes map hosts and path prefixes to upstream apps.
	Routes []Route `yaml:"routes"`
	// Rules decide who may reach what; first match wins, default deny.
	Rules []Rule `yaml:"rules"`
}

// ForwardAuth configures the forward-auth endpoints.
type ForwardAuth struct {
	// Enabled serves /forward-auth/nginx, /forward-auth/traefik and
	// /forward-auth/caddy. Default: true.
	Enabled bool `yaml:"enabled"`
	// Headers is the identity header set returned on success.
	Headers Headers `yaml:"headers"`
	// Bearer accepts access tokens (Authorization: Bearer) of the listed
	// clients for the listed hosts. A request that matches a route with
	// bearer clients uses the route's list instead. Default: none (no
	// bearer tokens in forward-auth).
	Bearer []HostBearer `yaml:"bearer"`
}

// Upstream holds transport settings for talking to upstream apps.
type Upstream struct {
	DialTimeout Duration `yaml:"dial_timeout"`
	// ResponseHeaderTimeout bounds the wait for an upstream's response
	// headers (streams may then run as long as they like).
	ResponseHeaderTimeout Duration `yaml:"response_header_timeout"`
	// MaxIdleConnsPerHost keeps this many idle connections per upstream
	// (Go's default of 2 makes a proxy dial once per request under load).
	MaxIdleConnsPerHost int `yaml:"max_idle_conns_per_host"`
	// FailTimeout is how long a failing upstream is skipped.
	FailTimeout Duration `yaml:"fail_timeout"`
	// BodyIdleTimeout is the longest a proxied request or response body
	// may go without a byte moving (client to upstream, or upstream to
	// client) before the exchange is cut, like nginx's proxy_read_timeout
	// and proxy_send_timeout. A body that keeps moving may take as long as
	// it needs: server.read_timeout and server.write_timeout bound only
	// Gatehouse's own pages. Websockets and event streams are not bounded.
	BodyIdleTimeout Duration `yaml:"body_idle_timeout"`
}

// Route sends requests for a host and path prefix to upstream apps.
type Route struct {
	Name string `yaml:"name"`
	// Host is exact ("app.example.com") or a wildcard ("*.example.com",
	// one leading label). Parse and Load lower-case it.
	Host string `yaml:"host"`
	// PathPrefix limits the route to a path prefix (segment boundary). It
	// must be empty or in normalised form ("/app", "/api/"): no empty,
	// "." or ".." segments and no encoded slashes. Empty and "/" both
	// mean the whole host.
	PathPrefix string `yaml:"path_prefix"`
	// Upstreams are URLs (http or https), used round-robin.
	Upstreams []string `yaml:"upstreams"`
	// PreserveHost sends the client's Host header upstream instead of the
	// upstream URL's host.
	PreserveHost bool `yaml:"preserve_host"`
	// Timeout overrides upstream.response_header_timeout for this route.
	Timeout Duration `yaml:"timeout"`
	// BodyIdleTimeout overrides upstream.body_idle_timeout for this route
	// (0: the upstream default).
	BodyIdleTimeout Duration `yaml:"body_idle_timeout"`
	// MaxBodyBytes caps request bodies sent upstream (0: no cap).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// UpstreamCAFile trusts this PEM CA for https upstreams.
	UpstreamCAFile string `yaml:"upstream_ca_file"`
	// Bearer accepts IdP-issued access tokens (Authorization: Bearer) of
	// the clients it lists on this route, validated offline, for API
	// clients. Default: none.
	Bearer Bearer `yaml:"bearer"`
	// PassRewriteHeaders passes X-Original-URL, X-Rewrite-URL and the
	// method overrides (X-HTTP-Method-Override, X-HTTP-Method,
	// X-Method-Override) from clients to this route's upstreams. They make
	// some frameworks serve another path or run another method than the
	// one the policy judged, so they are removed by default; turn this on
	// only for an upstream that ignores them or whose every path and
	// method the rules treat alike. Default: false.
	PassRewriteHeaders bool `yaml:"pass_rewrite_headers"`
	// Headers is the identity header set sent upstream. A route starts
	// from DefaultRoute's: both presets and the assertion.
	Headers Headers `yaml:"headers"`
}

// Bearer says whose IdP-issued access tokens are accepted: a token is
// accepted only where its audience says it may be, so a token an app
// received cannot be replayed at every other app.
type Bearer struct {
	// Clients are the client_ids (of oidc.clients) whose access tokens are
	// accepted: a token's client_id, which is also its aud. Empty: no
	// bearer tokens are accepted.
	Clients []string `yaml:"clients"`
}

// hint explains a scalar where a Bearer mapping is expected (the old
// "bearer: true").
func (Bearer) hint() string {
	return "list the clients whose access tokens are accepted, such as bearer: {clients: [cli, mobile]} (a bare true would accept every client's tokens, so a token given to one app could be replayed at every other)"
}

// HostBearer accepts access tokens of some clients in forward-auth answers
// for some hosts.
type HostBearer struct {
	// Hosts are exact names or "*.example.com" wildcards. Required.
	Hosts []string `yaml:"hosts"`
	// Clients are the client_ids whose access tokens are accepted for
	// these hosts. Required.
	Clients []string `yaml:"clients"`
}

// Identity header presets (Headers.Presets).
const (
	PresetOAuth2Proxy = "oauth2-proxy"
	PresetAuthelia    = "authelia"
)

// Rule decisions (Rule.Decision).
const (
	DecisionPublic        = "public"
	DecisionDeny          = "deny"
	DecisionAuthenticated = "authenticated"
)

// Headers selects the identity headers sent to an upstream.
type Headers struct {
	// Presets: "oauth2-proxy" (X-Forwarded-User, -Email, -Groups,
	// -Preferred-Username) and/or "authelia" (Remote-User, -Email, -Groups,
	// -Name). Default: both. An explicitly empty list sends neither.
	Presets []string `yaml:"presets"`
	// Assertion adds X-Gatehouse-Assertion: a short-lived ES256 JWT whose
	// audience is the route, verifiable with the JWKS. Default: true.
	Assertion bool `yaml:"assertion"`
	// AccessToken adds X-Forwarded-Access-Token with the user's access
	// token. Default: false.
	AccessToken bool `yaml:"access_token"`
}

// Rule is one policy rule; see the policy package for semantics.
type Rule struct {
	Name         string   `yaml:"name"`
	Hosts        []string `yaml:"hosts"`
	PathPrefix   string   `yaml:"path_prefix"`
	PathRegex    string   `yaml:"path_regex"`
	Methods      []string `yaml:"methods"`
	Networks     []string `yaml:"networks"`
	Decision     string   `yaml:"decision"` // public | deny | authenticated
	Users        []string `yaml:"users"`
	GroupsAny    []string `yaml:"groups_any"`
	GroupsAll    []string `yaml:"groups_all"`
	EmailDomains []string `yaml:"email_domains"`
	// Clients lists service clients (client_credentials) by client_id;
	// only a rule that lists a service client lets it through.
	Clients       []string `yaml:"clients"`
	Scopes        []string `yaml:"scopes"`
	SecondFactor  bool     `yaml:"second_factor"`
	MaxSessionAge Duration `yaml:"max_session_age"`
}

// DefaultRoute returns the route every element of gateway.routes starts
// from, whether it comes from the document or is appended through
// GATEHOUSE_GATEWAY_ROUTES_<N>_* variables: keys a route leaves out keep
// these values, so "assertion: false" turns the assertion off and
// "presets: []" sends no preset headers.
func DefaultRoute() Route {
	return Route{
		Headers: Headers{Presets: []string{PresetOAuth2Proxy, PresetAuthelia}, Assertion: true},
	}
}

// Demo configures the built-in demo.
type Demo struct {
	// Enabled turns on the demo user and the built-in whoami upstream at
	// /demo/.
	Enabled bool `yaml:"enabled"`
}

// Default returns the configuration every file is layered on. It is the one
// place defaults live.
func Default() Config {
	return Config{
		Server: Server{
			PublicURL: "https://localhost:8443",
			Listen:    ":8443",
			TLS: TLS{
				Mode:            TLSSelfSigned,
				SelfSignedHosts: []string{"localhost", "127.0.0.1", "::1"},
				ACME: ACME{
					DirectoryURL: LetsEncryptDirectory,
					Challenges:   []string{ChallengeTLSALPN01, ChallengeHTTP01},
				},
			},
			ReadHeaderTimeout: Duration(10 * time.Second),
			ReadTimeout:       Duration(60 * time.Second),
			WriteTimeout:      Duration(60 * time.Second),
			IdleTimeout:       Duration(120 * time.Second),
			ShutdownTimeout:   Duration(15 * time.Second),
			MaxBodyBytes:      64 << 10,
			MaxHeaderBytes:    32 << 10,
			MinHeapMiB:        32,
		},
		Log: Log{Level: "info", Format: "text"},
		Store: Store{
			Backend: StoreBolt,
			Bolt: Bolt{
				Path:        "./gatehouse-data/gatehouse.db",
				LockTimeout: Duration(5 * time.Second),
			},
		},
		Session: Session{
			CookieName:      "gatehouse_session",
			IdleTimeout:     Duration(12 * time.Hour),
			AbsoluteTimeout: Duration(7 * 24 * time.Hour),
		},
		OIDC: OIDC{
			CodeTTL:         Duration(5 * time.Minute),
			AccessTokenTTL:  Duration(30 * time.Minute),
			IDTokenTTL:      Duration(time.Hour),
			RefreshTokenTTL: Duration(14 * 24 * time.Hour),
			RefreshGrace:    Duration(3 * time.Second),
			Keys: Keys{
				Algorithms:     []string{"RS256", "ES256"},
				RotationPeriod: Duration(30 * 24 * time.Hour),
			},
		},
		Gateway: Gateway{
			SessionCacheTTL: Duration(10 * time.Second),
			CookieName:      "gatehouse_app",
			ForwardAuth: ForwardAuth{
				Enabled: true,
				Headers: Headers{Presets: []string{PresetOAuth2Proxy, PresetAuthelia}, Assertion: true},
			},
			Upstream: Upstream{
				DialTimeout:           Duration(5 * time.Second),
				ResponseHeaderTimeout: Duration(60 * time.Second),
				MaxIdleConnsPerHost:   256,
				FailTimeout:           Duration(10 * time.Second),
				BodyIdleTimeout:       Duration(60 * time.Second),
			},
		},
		Password: Password{
			MemoryKiB:     46 * 1024,
			Iterations:    1,
			Parallelism:   1,
			MaxConcurrent: 4,
		},
	}
}
