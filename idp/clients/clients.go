// Package clients is the registry of OAuth/OIDC clients: their validation,
// secrets (kept only as hashes, compared in constant time), exact
// redirect-URI matching, and client authentication at the token,
// revocation and introspection endpoints (client_secret_basic,
// client_secret_post, and public clients identified by client_id alone).
package clients

import (
	"net/http"
	"time"
)

// Grant types.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
)

// Spec describes one client as configured (config file or the
// GATEHOUSE_OIDC_TRUSTED_CLIENTS JSON). Secret is the plain secret; the
// registry keeps only its hash.
type Spec struct {
	ID                     string
	Secret                 string
	Name                   string
	RedirectURLs           []string
	PostLogoutRedirectURLs []string
	SkipConsent            bool
	RequirePKCE            bool
	Public                 bool
	Scopes                 []string
	GrantTypes             []string
	BackchannelLogoutURI   string
	SigningAlg             string
	AccessTokenTTL         time.Duration
	IDTokenTTL             time.Duration
	RefreshTokenTTL        time.Duration
}

// Client is a registered client. Fields are read-only after New.
type Client struct {
	ID                     string
	Name                   string
	Public                 bool
	RedirectURLs           []string
	PostLogoutRedirectURLs []string // RedirectURLs when none were given
	SkipConsent            bool
	RequirePKCE            bool // always true for public clients
	Scopes                 []string
	GrantTypes             []string
	BackchannelLogoutURI   string
	SigningAlg             string // "RS256" when none was given
	AccessTokenTTL         time.Duration
	IDTokenTTL             time.Duration
	RefreshTokenTTL        time.Duration
}

// Registry holds the clients.
type Registry struct{}

// New validates specs and builds the registry. The error lists every bad
// entry, naming it by index and client id.
func New(specs []Spec) (*Registry, error) { panic("unimplemented") }

// Get returns the client with id.
func (r *Registry) Get(id string) (*Client, bool) { panic("unimplemented") }

// All returns every client, ordered by id.
func (r *Registry) All() []*Client { panic("unimplemented") }

// AuthError is a failed client authentication, in RFC 6749 terms.
type AuthError struct {
	// Code is "invalid_client" or "invalid_request".
	Code        string
	Description string
	// Basic is true when the client tried HTTP Basic: the 401 must then
	// carry WWW-Authenticate: Basic.
	Basic bool
}

func (e *AuthError) Error() string { return e.Code + ": " + e.Description }

// Authenticate identifies the client of a token/revoke/introspect request
// whose form is already parsed: HTTP Basic (client_id and secret
// form-urlencoded per RFC 6749 §2.3.1), or client_id + client_secret in the
// body, or a public client's client_id alone. Using two methods at once, an
// unknown client, a wrong secret or a confidential client without its
// secret are *AuthError.
func (r *Registry) Authenticate(req *http.Request) (*Client, error) { panic("unimplemented") }

// RedirectAllowed reports whether uri is exactly one of the client's
// registered redirect URLs (byte for byte; no prefix, no normalisation).
func (c *Client) RedirectAllowed(uri string) bool { panic("unimplemented") }

// PostLogoutAllowed reports whether uri is exactly a registered post-logout
// redirect URL.
func (c *Client) PostLogoutAllowed(uri string) bool { panic("unimplemented") }

// AllowsGrant reports whether the client may use grant type g.
func (c *Client) AllowsGrant(g string) bool { panic("unimplemented") }

// AllowsScope reports whether the client may request scope s (every scope
// when its list is empty).
func (c *Client) AllowsScope(s string) bool { panic("unimplemented") }
