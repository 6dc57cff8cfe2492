package proxy

import (
	"net/http"
	"strings"

	"github.com/gatehouse-sso/gatehouse/config"
	"github.com/gatehouse-sso/gatehouse/identity"
)

// Identity header names, compatible with oauth2-proxy and Authelia.
const (
	HeaderForwardedUser              = "X-Forwarded-User"
	HeaderForwardedEmail             = "X-Forwarded-Email"
	HeaderForwardedGroups            = "X-Forwarded-Groups"
	HeaderForwardedPreferredUsername = "X-Forwarded-Preferred-Username"
	HeaderRemoteUser                 = "Remote-User"
	HeaderRemoteEmail                = "Remote-Email"
	HeaderRemoteGroups               = "Remote-Groups"
	HeaderRemoteName                 = "Remote-Name"
	// HeaderAssertion carries the signed assertion: an ES256 JWT about the
	// user whose audience is the route.
	HeaderAssertion = "X-Gatehouse-Assertion"
	// HeaderAccessToken carries the user's access token when a route asks
	// for it.
	HeaderAccessToken = "X-Forwarded-Access-Token"
)

// identityHeaders are removed from every client request before anything
// reads it. The list is wider than what Gatehouse sets, so that headers
// another gateway would trust cannot be smuggled through either.
var identityHeaders = []string{
	HeaderForwardedUser, HeaderForwardedEmail, HeaderForwardedGroups, HeaderForwardedPreferredUsername,
	HeaderRemoteUser, HeaderRemoteEmail, HeaderRemoteGroups, HeaderRemoteName,
	HeaderAccessToken, "X-Auth-Request-User", "X-Auth-Request-Email",
	"X-Auth-Request-Groups", "X-Auth-Request-Preferred-Username", "X-Auth-Request-Access-Token",
	HeaderAssertion, "X-Remote-User",
}

// identitySet holds the names above lower-cased with '_' spelled as '-'.
// It is built once and never written afterwards.
var identitySet = func() map[string]bool {
	m := make(map[string]bool, len(identityHeaders))
	for _, h := range identityHeaders {
		m[strings.ReplaceAll(strings.ToLower(h), "_", "-")] = true
	}
	return m
}()

// maxIdentityName bounds the names worth comparing: longer ones cannot be
// identity headers.
const maxIdentityName = 48

// isIdentityHeader reports whether name is an identity header in any
// spelling (case, '_' for '-'), without allocating.
func isIdentityHeader(name string) bool {
	if len(name) > maxIdentityName {
		return false
	}
	var buf [maxIdentityName]byte
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case c == '_':
			c = '-'
		}
		buf[i] = c
	}
	return identitySet[string(buf[:len(name)])]
}

// StripIdentity removes every identity header from h, including spellings
// with underscores ("X_Forwarded_User"), which CGI-style upstreams fold into
// the same variable as the dashed name. It does not allocate.
func StripIdentity(h http.Header) {
	for name := range h {
		if isIdentityHeader(name) {
			delete(h, name)
		}
	}
}

// SetIdentity writes u's identity headers into h. Call StripIdentity first.
func SetIdentity(h http.Header, u identity.User) {
	groups := strings.Join(u.Groups, ",")
	set := func(name, value string) {
		if value != "" {
			h.Set(name, value)
		}
	}
	set(HeaderForwardedUser, u.Username)
	set(HeaderForwardedEmail, u.Email)
	set(HeaderForwardedGroups, groups)
	set(HeaderForwardedPreferredUsername, u.Username)
	set(HeaderRemoteUser, u.Username)
	set(HeaderRemoteEmail, u.Email)
	set(HeaderRemoteGroups, groups)
	set(HeaderRemoteName, u.Name)
}

// headerSet is a compiled identity header selection (config.Headers).
type headerSet struct {
	oauth2Proxy bool
	authelia    bool
	assertion   bool
	accessToken bool
}

func newHeaderSet(h config.Headers) headerSet {
	s := headerSet{assertion: h.Assertion, accessToken: h.AccessToken}
	for _, p := range h.Presets {
		switch p {
		case config.PresetOAuth2Proxy:
			s.oauth2Proxy = true
		case config.PresetAuthelia:
			s.authelia = true
		}
	}
	return s
}

// write sets p's identity headers into h (already stripped). Values are
// prebuilt slices shared by every request of the principal: net/http
// only reads them, and Header.Add copies before appending.
func (s headerSet) write(h http.Header, p *principal, assertion, accessToken []string) {
	if !p.service {
		if s.oauth2Proxy {
			setShared(h, HeaderForwardedUser, p.vUser)
			setShared(h, HeaderForwardedEmail, p.vEmail)
			setShared(h, HeaderForwardedGroups, p.vGroups)
			setShared(h, HeaderForwardedPreferredUsername, p.vUser)
		}
		if s.authelia {
			setShared(h, HeaderRemoteUser, p.vUser)
			setShared(h, HeaderRemoteEmail, p.vEmail)
			setShared(h, HeaderRemoteGroups, p.vGroups)
			setShared(h, HeaderRemoteName, p.vName)
		}
	}
	setShared(h, HeaderAssertion, assertion)
	setShared(h, HeaderAccessToken, accessToken)
}

// setShared sets a canonical header name to a prebuilt value slice; nil
// (an empty value) sends nothing.
func setShared(h http.Header, name string, v []string) {
	if v != nil {
		h[name] = v
	}
}

// one returns a one-element value slice, or nil for "".
func one(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}
