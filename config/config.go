// Package config holds Gatehouse's configuration: the structs, their
// defaults (in one place: Default), loading from one YAML file with
// GATEHOUSE_* environment overrides and *_file secrets, and validation that
// lists every problem with its field path.
//
// It must not import other Gatehouse packages.
package config

import (
	"fmt"
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
	Users    []User   `yaml:"users"`
	OIDC     OIDC     `yaml:"oidc"`
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
}

// TLS modes.
const (
	TLSSelfSigned = "self-signed" // generated certificate for SelfSignedHosts
	TLSFiles      = "files"       // CertFile + KeyFile (PEM)
	TLSOff        = "off"         // plain HTTP, for running behind a TLS-terminating proxy
)

// TLS configures how the main listener gets its certificate.
type TLS struct {
	// Mode is one of "self-signed", "files" or "off".
	Mode string `yaml:"mode"`
	// CertFile and KeyFile are PEM files, used when Mode is "files".
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// SelfSignedHosts are the DNS names and IPs the self-signed certificate
	// covers.
	SelfSignedHosts []string `yaml:"self_signed_hosts"`
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
	// Claims lists the claims (standard or custom) this scope releases.
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
			},
			ReadHeaderTimeout: Duration(10 * time.Second),
			ReadTimeout:       Duration(60 * time.Second),
			WriteTimeout:      Duration(60 * time.Second),
			IdleTimeout:       Duration(120 * time.Second),
			ShutdownTimeout:   Duration(15 * time.Second),
			MaxBodyBytes:      64 << 10,
			MaxHeaderBytes:    32 << 10,
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
		Password: Password{
			MemoryKiB:     46 * 1024,
			Iterations:    1,
			Parallelism:   1,
			MaxConcurrent: 4,
		},
	}
}
