// Package clients is the registry of OAuth/OIDC clients: their validation,
// secrets (kept only as hashes, compared in constant time), exact
// redirect-URI matching, and client authentication at the token,
// revocation and introspection endpoints (client_secret_basic,
// client_secret_post, and public clients identified by client_id alone).
package clients

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
)

// Grant types.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
)

// Limits on a Spec.
const (
	maxIDLength     = 128
	minSecretLength = 16
	maxURLLength    = 2048
	maxNameLength   = 256
)

// Signing algorithms a client may ask for its ID tokens.
const (
	algRS256 = "RS256"
	algES256 = "ES256"
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

	// digest is SHA-256 of the secret; zero for public clients.
	digest [sha256.Size]byte
}

// Registry holds the clients.
type Registry struct {
	byID   map[string]*Client
	sorted []*Client
	// dummy is compared against when the client id is unknown, so that an
	// unknown id costs the same hash and compare as a known one.
	dummy [sha256.Size]byte
}

// New validates specs and builds the registry. The error lists every bad
// entry, naming it by index and client id.
func New(specs []Spec) (*Registry, error) {
	r := &Registry{byID: make(map[string]*Client, len(specs))}
	if _, err := rand.Read(r.dummy[:]); err != nil {
		return nil, fmt.Errorf("clients: generating the dummy digest: %w", err)
	}
	var errs []error
	first := make(map[string]int, len(specs))
	for i, s := range specs {
		p := problems{index: i, id: s.ID}
		if j, dup := first[s.ID]; dup && s.ID != "" {
			p.add("id", "duplicate of client[%d]", j)
		} else {
			first[s.ID] = i
		}
		c := build(s, &p)
		if len(p.errs) > 0 {
			errs = append(errs, p.errs...)
			continue
		}
		if _, dup := r.byID[c.ID]; !dup {
			r.byID[c.ID] = c
			r.sorted = append(r.sorted, c)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	sort.Slice(r.sorted, func(i, j int) bool { return r.sorted[i].ID < r.sorted[j].ID })
	return r, nil
}

// problems collects what is wrong with one spec, each message naming the
// entry and the field.
type problems struct {
	index int
	id    string
	errs  []error
}

func (p *problems) add(field, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("client[%d] %q: %s: %s", p.index, clip(p.id), field, fmt.Sprintf(format, args...)))
}

// clip shortens s for an error message.
func clip(s string) string {
	const limit = 128
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "..."
}

// build checks s and returns the client it describes; problems are added to
// p (the returned client is then meaningless).
func build(s Spec, p *problems) *Client {
	c := &Client{
		ID:                   s.ID,
		Name:                 s.Name,
		Public:               s.Public,
		SkipConsent:          s.SkipConsent,
		RequirePKCE:          s.RequirePKCE || s.Public,
		BackchannelLogoutURI: s.BackchannelLogoutURI,
		SigningAlg:           s.SigningAlg,
		AccessTokenTTL:       s.AccessTokenTTL,
		IDTokenTTL:           s.IDTokenTTL,
		RefreshTokenTTL:      s.RefreshTokenTTL,
	}

	switch {
	case s.ID == "":
		p.add("id", "required")
	case len(s.ID) > maxIDLength:
		p.add("id", "longer than %d bytes", maxIDLength)
	case !printable(s.ID):
		p.add("id", "must be printable ASCII without spaces")
	}

	if len(s.Name) > maxNameLength {
		p.add("name", "longer than %d bytes", maxNameLength)
	} else if strings.ContainsFunc(s.Name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		p.add("name", "contains control characters")
	}

	// The secret is never quoted in a message.
	if s.Public {
		if s.Secret != "" {
			p.add("secret", "a public client must not have a secret")
		}
	} else if s.Secret == "" {
		p.add("secret", "required for a confidential client (or mark the client public)")
	} else if len(s.Secret) < minSecretLength {
		p.add("secret", "shorter than %d bytes", minSecretLength)
	} else {
		c.digest = sha256.Sum256([]byte(s.Secret))
	}

	if len(s.GrantTypes) == 0 {
		c.GrantTypes = []string{GrantAuthorizationCode, GrantRefreshToken}
	} else {
		for j, g := range s.GrantTypes {
			switch g {
			case GrantAuthorizationCode, GrantRefreshToken:
			case GrantClientCredentials:
				if s.Public {
					p.add(fmt.Sprintf("grant_types[%d]", j), "client_credentials is not allowed for a public client")
				}
			default:
				p.add(fmt.Sprintf("grant_types[%d]", j), "unknown grant type %q (want authorization_code, refresh_token or client_credentials)", g)
				continue
			}
			if !slices.Contains(c.GrantTypes, g) {
				c.GrantTypes = append(c.GrantTypes, g)
			}
		}
	}

	// A service client that only uses client_credentials never sees a
	// browser, so it needs no redirect URL.
	if len(s.RedirectURLs) == 0 && slices.Contains(c.GrantTypes, GrantAuthorizationCode) {
		p.add("redirect_urls", "at least one is required")
	}
	for j, u := range s.RedirectURLs {
		if err := checkRedirectURL(u); err != nil {
			p.add(fmt.Sprintf("redirect_urls[%d] %q", j, clip(u)), "%v", err)
		}
	}
	c.RedirectURLs = slices.Clone(s.RedirectURLs)

	for j, u := range s.PostLogoutRedirectURLs {
		if err := checkRedirectURL(u); err != nil {
			p.add(fmt.Sprintf("post_logout_redirect_urls[%d] %q", j, clip(u)), "%v", err)
		}
	}
	if len(s.PostLogoutRedirectURLs) > 0 {
		c.PostLogoutRedirectURLs = slices.Clone(s.PostLogoutRedirectURLs)
	} else {
		// kuploy's shape: redirectUrls serve both the callback and the
		// post-logout redirect.
		c.PostLogoutRedirectURLs = slices.Clone(s.RedirectURLs)
	}

	for j, sc := range s.Scopes {
		if !scopeToken(sc) {
			p.add(fmt.Sprintf("scopes[%d]", j), "%q is not a valid scope", sc)
		}
	}
	c.Scopes = slices.Clone(s.Scopes)

	switch s.SigningAlg {
	case "":
		c.SigningAlg = algRS256
	case algRS256, algES256:
	default:
		p.add("signing_alg", "%q is not supported (want RS256 or ES256)", s.SigningAlg)
	}

	for _, ttl := range []struct {
		field string
		d     time.Duration
	}{
		{"access_token_ttl", s.AccessTokenTTL},
		{"id_token_ttl", s.IDTokenTTL},
		{"refresh_token_ttl", s.RefreshTokenTTL},
	} {
		if ttl.d < 0 {
			p.add(ttl.field, "negative")
		}
	}

	if s.BackchannelLogoutURI != "" {
		if err := checkBackchannelURI(s.BackchannelLogoutURI); err != nil {
			p.add(fmt.Sprintf("backchannel_logout_uri %q", clip(s.BackchannelLogoutURI)), "%v", err)
		}
	}
	return c
}

// printable reports whether s is only printable ASCII without spaces
// (%x21-7E).
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// scopeToken reports whether s is a scope-token of RFC 6749 §3.3:
// 1*( %x21 / %x23-5B / %x5D-7E ).
func scopeToken(s string) bool {
	return s != "" && printable(s) && !strings.ContainsAny(s, `"\`)
}

// checkRedirectURL checks a redirect URL (OAuth callback or post-logout
// target) as registered: absolute, no fragment (RFC 6749 §3.1.2), no
// userinfo; https, http only to a loopback host, or a private-use scheme
// containing a dot for native apps (RFC 8252 §7.1). javascript:, data:,
// file: and other dot-less schemes are refused.
func checkRedirectURL(raw string) error {
	u, err := parseURL(raw)
	if err != nil {
		return err
	}
	if web, err := checkWebURL(u); web {
		return err
	}
	if !strings.Contains(u.Scheme, ".") {
		return fmt.Errorf("scheme %q is not allowed (want https, http on loopback, or a private-use scheme such as com.example.app)", u.Scheme)
	}
	if u.User != nil {
		return errors.New("must not contain userinfo")
	}
	if u.Opaque == "" && u.Host == "" && u.Path == "" {
		return errors.New("has nothing after the scheme")
	}
	return nil
}

// checkWebURL checks an http(s) URL: https to any host, http only to a
// loopback host. web is false for any other scheme, left to the caller.
func checkWebURL(u *url.URL) (web bool, err error) {
	switch u.Scheme {
	case "https":
		return true, checkHTTP(u)
	case "http":
		if err := checkHTTP(u); err != nil {
			return true, err
		}
		if !loopback(u.Hostname()) {
			return true, errors.New("http is allowed only for loopback hosts (localhost, 127.0.0.0/8, [::1]); use https")
		}
		return true, nil
	}
	return false, nil
}

// checkBackchannelURI checks a back-channel logout URI: absolute https
// (http only for loopback), no fragment.
func checkBackchannelURI(raw string) error {
	u, err := parseURL(raw)
	if err != nil {
		return err
	}
	if web, err := checkWebURL(u); web {
		return err
	}
	return fmt.Errorf("scheme %q is not allowed (want https)", u.Scheme)
}

// parseURL parses an absolute URL without a fragment, made only of
// printable ASCII.
func parseURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("empty")
	}
	if len(raw) > maxURLLength {
		return nil, fmt.Errorf("longer than %d bytes", maxURLLength)
	}
	if !printable(raw) || strings.Contains(raw, `\`) {
		return nil, errors.New("contains a space, control, backslash or non-ASCII byte (percent-encode it)")
	}
	if strings.Contains(raw, "#") {
		return nil, errors.New("must not contain a fragment")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the URL; the caller already names it.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("not a valid URL: %v", err)
	}
	if u.Scheme == "" {
		return nil, errors.New("not absolute")
	}
	return u, nil
}

// checkHTTP checks the parts of an http(s) URL beyond the scheme.
func checkHTTP(u *url.URL) error {
	if u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return errors.New("has no host")
	}
	if u.User != nil {
		return errors.New("must not contain userinfo")
	}
	return nil
}

// loopback reports whether host (from url.URL.Hostname) is localhost (or a
// name under .localhost), 127.0.0.0/8 or ::1.
func loopback(host string) bool {
	// localhost and its subdomains always resolve to loopback (RFC 6761).
	if strings.EqualFold(host, "localhost") || (len(host) > len(".localhost") && strings.HasSuffix(strings.ToLower(host), ".localhost")) {
		return true
	}
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" {
		return false
	}
	return (a.Is4() && a.IsLoopback()) || a == netip.IPv6Loopback()
}

// Get returns the client with id.
func (r *Registry) Get(id string) (*Client, bool) {
	c, ok := r.byID[id]
	return c, ok
}

// All returns every client, ordered by id.
func (r *Registry) All() []*Client { return slices.Clone(r.sorted) }

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

// Error codes of AuthError.
const (
	codeInvalidClient  = "invalid_client"
	codeInvalidRequest = "invalid_request"
)

// Descriptions of AuthError. They are fixed strings: nothing the client sent
// is echoed, and an unknown client, a wrong secret and a missing secret read
// the same so that the answer does not reveal which client ids exist.
const (
	descFailed         = "client authentication failed"
	descMissingID      = "client authentication required: no client_id"
	descMultiple       = "multiple client authentication methods"
	descMismatch       = "client_id does not match the HTTP Basic credentials"
	descMalformedBasic = "malformed HTTP Basic credentials"
	descRepeated       = "client_id or client_secret repeated"
	descMultipleHeader = "multiple Authorization headers"
)

// Authenticate identifies the client of a token/revoke/introspect request
// whose form is already parsed: HTTP Basic (client_id and secret
// form-urlencoded per RFC 6749 §2.3.1), or client_id + client_secret in the
// body, or a public client's client_id alone. Using two methods at once, an
// unknown client, a wrong secret or a confidential client without its
// secret are *AuthError.
//
// Only req.PostForm is read: credentials in the query string are ignored
// (RFC 6749 §2.3.1 forbids them there). An Authorization header with
// another scheme than Basic (e.g. Bearer) is not client authentication and
// is ignored. A public client may use HTTP Basic with an empty password, as
// golang.org/x/oauth2 does for clients without a secret; an empty
// client_secret in the body counts as absent.
func (r *Registry) Authenticate(req *http.Request) (*Client, error) {
	basic, user, pass, err := basicAuth(req.Header)
	if err != nil {
		return nil, err
	}
	fail := func(code, desc string) (*Client, error) {
		return nil, &AuthError{Code: code, Description: desc, Basic: basic}
	}
	if len(req.PostForm["client_id"]) > 1 || len(req.PostForm["client_secret"]) > 1 {
		return fail(codeInvalidRequest, descRepeated)
	}
	id, secret := req.PostForm.Get("client_id"), req.PostForm.Get("client_secret")
	if basic {
		if secret != "" {
			return fail(codeInvalidRequest, descMultiple)
		}
		if id != "" && id != user {
			return fail(codeInvalidRequest, descMismatch)
		}
		id, secret = user, pass
	}
	if id == "" {
		return fail(codeInvalidClient, descMissingID)
	}

	// Secrets are generated, high-entropy machine secrets, so a single
	// SHA-256 is enough to keep them out of memory in the clear; a slow
	// password hash (argon2, bcrypt) would only make every token request
	// slow without adding strength against guessing.
	//
	// Every path below hashes and compares once, against the dummy digest
	// when the client is unknown or public, so the time taken does not
	// tell which client ids exist.
	c, known := r.byID[id]
	want := &r.dummy
	if known && !c.Public {
		want = &c.digest
	}
	got := sha256.Sum256([]byte(secret))
	match := subtle.ConstantTimeCompare(got[:], want[:]) == 1

	switch {
	case !known:
		return fail(codeInvalidClient, descFailed)
	case c.Public:
		if secret != "" {
			return fail(codeInvalidClient, descFailed)
		}
		return c, nil
	case secret == "" || !match:
		return fail(codeInvalidClient, descFailed)
	}
	return c, nil
}

// basicAuth reads HTTP Basic client credentials from h. ok is false when
// there is no Authorization header with the Basic scheme. User and password
// are base64-decoded, split at the first colon and form-urldecoded (RFC 6749
// §2.3.1); a malformed header is an invalid_request AuthError.
func basicAuth(h http.Header) (ok bool, user, pass string, err error) {
	values := h.Values("Authorization")
	if len(values) == 0 {
		return false, "", "", nil
	}
	if len(values) > 1 {
		// Which one would count? Refuse rather than pick.
		return false, "", "", &AuthError{Code: codeInvalidRequest, Description: descMultipleHeader}
	}
	scheme, creds, _ := strings.Cut(strings.TrimSpace(values[0]), " ")
	if !strings.EqualFold(scheme, "Basic") {
		return false, "", "", nil
	}
	malformed := &AuthError{Code: codeInvalidRequest, Description: descMalformedBasic, Basic: true}
	raw, derr := base64.StdEncoding.DecodeString(strings.TrimLeft(creds, " "))
	if derr != nil {
		return true, "", "", malformed
	}
	u, p, found := strings.Cut(string(raw), ":")
	if !found {
		return true, "", "", malformed
	}
	if user, err = url.QueryUnescape(u); err != nil {
		return true, "", "", malformed
	}
	if pass, err = url.QueryUnescape(p); err != nil {
		return true, "", "", malformed
	}
	return true, user, pass, nil
}

// RedirectAllowed reports whether uri is exactly one of the client's
// registered redirect URLs (byte for byte; no prefix, no normalisation).
func (c *Client) RedirectAllowed(uri string) bool {
	return uri != "" && slices.Contains(c.RedirectURLs, uri)
}

// PostLogoutAllowed reports whether uri is exactly a registered post-logout
// redirect URL.
func (c *Client) PostLogoutAllowed(uri string) bool {
	return uri != "" && slices.Contains(c.PostLogoutRedirectURLs, uri)
}

// AllowsGrant reports whether the client may use grant type g.
func (c *Client) AllowsGrant(g string) bool { return slices.Contains(c.GrantTypes, g) }

// AllowsScope reports whether the client may request scope s (every scope
// when its list is empty).
func (c *Client) AllowsScope(s string) bool {
	return len(c.Scopes) == 0 || slices.Contains(c.Scopes, s)
}
