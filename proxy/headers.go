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

// rewriteHeaders make some frameworks and servers serve another path or
// run another method than the request line says (Symfony, Laminas and IIS
// read X-Original-URL and X-Rewrite-URL; many frameworks honour the method
// overrides). The policy judges the request line, so they are removed
// unless a route opts in (gateway.routes[].pass_rewrite_headers).
var rewriteHeaders = []string{
	"X-Original-URL", "X-Rewrite-URL",
	"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override",
}

// forwardingHeaders claim something about the client or the original
// request (its address, scheme, host, port, path). Besides every
// X-Forwarded-* name, these are removed when the peer is not a trusted
// proxy; from a trusted proxy they are passed on.
var forwardingHeaders = []string{
	"Forwarded", "X-Real-IP", "X-Client-IP", "True-Client-IP", "X-Cluster-Client-IP",
	"Front-End-Https", "X-Url-Scheme",
}

// forwardedPrefix starts the names of the X-Forwarded-* family (For,
// Host, Proto, Port, Server, Uri, Prefix, Method, Ssl, Scheme, Client-Cert,
// ...).
const forwardedPrefix = "x-forwarded-"

// headerClass says what Gatehouse does with a client's header.
type headerClass uint8

const (
	classIdentity    headerClass = 1 + iota // always removed
	classRewrite                            // removed unless the route passes them
	classForwarding                         // removed unless the peer is a trusted proxy
	classConnection                         // Connection: its tokens are checked
	classOriginalURL                        // X-Original-URL: a rewrite header, and nginx's forward-auth protocol
)

// headerClasses holds the names above lower-cased with '_' spelled as
// '-'. It is built once and never written afterwards.
var headerClasses = func() map[string]headerClass {
	m := make(map[string]headerClass, len(identityHeaders)+len(rewriteHeaders)+len(forwardingHeaders)+1)
	add := func(names []string, c headerClass) {
		for _, h := range names {
			m[strings.ReplaceAll(strings.ToLower(h), "_", "-")] = c
		}
	}
	add(forwardingHeaders, classForwarding)
	add(rewriteHeaders, classRewrite)
	add(identityHeaders, classIdentity)
	m["connection"] = classConnection
	m["x-original-url"] = classOriginalURL
	return m
}()

// maxHeaderName bounds the names worth looking up: longer ones are in no
// list (the X-Forwarded- family is recognised by its prefix at any
// length).
const maxHeaderName = 48

// headerShapes has, for each name length, a bit per first letter ('a' is
// bit 0) of the names in headerClasses: most headers a request carries
// (Cookie, Accept, User-Agent, Host) fail it and skip the lookup.
var headerShapes = func() (s [maxHeaderName + 1]uint32) {
	for name := range headerClasses {
		s[len(name)] |= 1 << (name[0] - 'a')
	}
	return s
}()

// classify returns the class of a header name in any spelling (case,
// '_' for '-'), or 0, without allocating.
func classify(name string) headerClass {
	n := len(name)
	if n == 0 {
		return 0
	}
	c0 := name[0] | 0x20 // lower case, for a letter
	if c0 < 'a' || c0 > 'z' {
		return 0
	}
	if n > maxHeaderName || headerShapes[n]&(1<<(c0-'a')) == 0 {
		if c0 == 'x' && n > len(forwardedPrefix) && foldPrefix(name, forwardedPrefix) {
			return classForwarding
		}
		return 0
	}
	var buf [maxHeaderName]byte
	for i := 0; i < len(name); i++ {
		buf[i] = fold(name[i])
	}
	key := buf[:len(name)]
	if c := headerClasses[string(key)]; c != 0 {
		return c
	}
	if len(key) > len(forwardedPrefix) && string(key[:len(forwardedPrefix)]) == forwardedPrefix {
		return classForwarding
	}
	return 0
}

// foldPrefix reports whether name starts with prefix (lower case, '-'),
// ignoring case and spelling '_' as '-'.
func foldPrefix(name, prefix string) bool {
	if len(name) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		if fold(name[i]) != prefix[i] {
			return false
		}
	}
	return true
}

// fold spells a header name's byte as classify compares it: lower case,
// '_' as '-'.
func fold(c byte) byte {
	switch {
	case 'A' <= c && c <= 'Z':
		return c + 'a' - 'A'
	case c == '_':
		return '-'
	}
	return c
}

// isIdentityHeader reports whether name is an identity header in any
// spelling (case, '_' for '-'), without allocating.
func isIdentityHeader(name string) bool { return classify(name) == classIdentity }

// StripIdentity removes every identity header from h, including spellings
// with underscores ("X_Forwarded_User"), which CGI-style upstreams fold into
// the same variable as the dashed name. It does not allocate.
func StripIdentity(h http.Header) { scrub(h, false) }

// found says what scrub saw and left for the caller, who knows the route.
type found uint8

const (
	foundRewrite     found = 1 << iota // a header of rewriteHeaders but X-Original-URL
	foundOriginalURL                   // X-Original-URL
	foundConnection                    // a Connection header
)

// scrub removes identity headers and, when untrusted (the peer is not a
// trusted proxy), forwarding headers from a client's request, in every
// spelling. It reports rewrite headers and a Connection header, which
// [scrubRoute] handles. One pass over h, no allocation.
func scrub(h http.Header, untrusted bool) found {
	var f found
	for name := range h {
		switch classify(name) {
		case classIdentity:
			delete(h, name)
		case classForwarding:
			if untrusted {
				delete(h, name)
			}
		case classRewrite:
			f |= foundRewrite
		case classOriginalURL:
			f |= foundOriginalURL
		case classConnection:
			f |= foundConnection
		}
	}
	return f
}

// scrubRoute finishes what scrub found for a request about to be
// forwarded: rewrite headers are removed unless passRewrite, and the
// Connection header loses every token naming a header Gatehouse sets, so
// that a hop-by-hop removal downstream (Go's reverse proxy deletes the
// headers a request's Connection header lists) cannot take Gatehouse's
// headers away. It allocates only when it changes something.
func scrubRoute(h http.Header, f found, passRewrite bool) {
	if f&(foundRewrite|foundOriginalURL) != 0 && !passRewrite {
		for name := range h {
			if c := classify(name); c == classRewrite || c == classOriginalURL {
				delete(h, name)
			}
		}
	}
	if f&foundConnection != 0 {
		for name, vs := range h {
			if classify(name) != classConnection || !connectionNamesOurs(vs) {
				continue
			}
			if keep := connectionWithout(vs); keep != nil {
				h[name] = keep
			} else {
				delete(h, name)
			}
		}
	}
}

// protected reports whether a header named in a Connection header must
// survive: Gatehouse sets it (identity headers, the assertion, the access
// token) or derives it from the connection (forwarding headers).
func protected(name string) bool {
	switch classify(name) {
	case classIdentity, classForwarding:
		return true
	}
	return false
}

// connectionNamesOurs reports whether Connection header values name a
// protected header.
func connectionNamesOurs(vs []string) bool {
	for _, v := range vs {
		for tok := range strings.SplitSeq(v, ",") {
			if protected(textTrim(tok)) {
				return true
			}
		}
	}
	return false
}

// connectionWithout returns Connection header values without the tokens
// that name protected headers; nil when none is left.
func connectionWithout(vs []string) []string {
	var keep []string
	for _, v := range vs {
		for tok := range strings.SplitSeq(v, ",") {
			if t := textTrim(tok); t != "" && !protected(t) {
				keep = append(keep, t)
			}
		}
	}
	if len(keep) == 0 {
		return nil
	}
	return []string{strings.Join(keep, ", ")}
}

// textTrim trims optional whitespace (spaces and tabs) around a token.
func textTrim(s string) string { return strings.Trim(s, " \t") }

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
