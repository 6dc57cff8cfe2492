// Package proxy guards upstream apps: it puts a signed-in user's identity
// into request headers and forwards the request, after removing every
// identity header the client sent itself.
//
// Today it serves the built-in demo upstream; routing, policy and
// forward-auth build on the same pieces. It does not decide policy itself.
package proxy

import (
	"net/http"
	"strings"

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
)

// identityHeaders are removed from every client request before anything
// reads it. The list is wider than what Gatehouse sets, so that headers
// another gateway would trust cannot be smuggled through either.
var identityHeaders = []string{
	HeaderForwardedUser, HeaderForwardedEmail, HeaderForwardedGroups, HeaderForwardedPreferredUsername,
	HeaderRemoteUser, HeaderRemoteEmail, HeaderRemoteGroups, HeaderRemoteName,
	"X-Forwarded-Access-Token", "X-Auth-Request-User", "X-Auth-Request-Email",
	"X-Auth-Request-Groups", "X-Auth-Request-Preferred-Username", "X-Auth-Request-Access-Token",
	"X-Gatehouse-Assertion", "X-Remote-User",
}

// identitySet holds the names above lower-cased with '_' spelled as '-'.
var identitySet = func() map[string]bool {
	m := make(map[string]bool, len(identityHeaders))
	for _, h := range identityHeaders {
		m[normalise(h)] = true
	}
	return m
}()

func normalise(name string) string {
	return strings.ReplaceAll(strings.ToLower(name), "_", "-")
}

// StripIdentity removes every identity header from h, including spellings
// with underscores ("X_Forwarded_User"), which CGI-style upstreams fold into
// the same variable as the dashed name.
func StripIdentity(h http.Header) {
	for name := range h {
		if identitySet[normalise(name)] {
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
