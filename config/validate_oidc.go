package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Limits of the oidc section enforced by Validate.
const (
	maxCodeTTL          = 10 * time.Minute // oidc.code_ttl upper bound (RFC 6749 §4.1.2)
	minTokenTTL         = time.Minute      // lower bound of access and ID token lifetimes
	maxRefreshGrace     = time.Minute      // oidc.refresh_grace upper bound
	minRotationPeriod   = time.Hour        // oidc.keys.rotation_period lower bound
	minClientSecretLen  = 16               // bytes of a confidential client's secret
	maxClientIDLength   = 128              // bytes of a client_id
	maxClientNameLength = 256              // bytes of a client's name
	maxClientURLLength  = 2048             // bytes of a client's redirect or logout URL
)

// Grant types a client may list.
const (
	grantAuthorizationCode = "authorization_code"
	grantRefreshToken      = "refresh_token"
	grantClientCredentials = "client_credentials"
)

// oidcNameRE is the syntax of custom scope and claim names.
var oidcNameRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)

// isStandardScope reports whether s is a scope Gatehouse defines itself.
func isStandardScope(s string) bool {
	switch s {
	case "openid", "profile", "email", "groups", "offline_access":
		return true
	}
	return false
}

// standardClaims lists, for messages, the claims Gatehouse computes itself
// and that a custom scope may release. "sub" is not among them: it is in
// every token already.
const standardClaims = "name, given_name, family_name, preferred_username, picture, updated_at, email, email_verified, groups"

// isStandardClaim reports whether s is one of standardClaims.
func isStandardClaim(s string) bool {
	switch s {
	case "name", "given_name", "family_name", "preferred_username", "picture",
		"updated_at", "email", "email_verified", "groups":
		return true
	}
	return false
}

// isRegisteredClaim reports whether s is a claim name with a meaning fixed
// by a specification, which a custom claim must not take over: the JWT
// claims (RFC 7519), those of ID, access and logout tokens (OIDC Core,
// RFC 9068, Back-Channel Logout, RFC 8693, RFC 7800) and the standard
// profile claims (OIDC Core §5.1).
func isRegisteredClaim(s string) bool {
	switch s {
	case "iss", "sub", "aud", "exp", "nbf", "iat", "jti",
		"auth_time", "nonce", "acr", "amr", "azp", "at_hash", "c_hash", "s_hash", "sid",
		"scope", "client_id", "cnf", "act", "may_act", "events", "typ",
		"_claim_names", "_claim_sources",
		"name", "given_name", "family_name", "middle_name", "nickname", "preferred_username",
		"profile", "picture", "website", "email", "email_verified", "gender", "birthdate",
		"zoneinfo", "locale", "phone_number", "phone_number_verified", "address", "updated_at",
		"groups", "roles", "entitlements":
		return true
	}
	return false
}

// oidc checks the oidc section; publicURL is the parsed server.public_url
// (nil when invalid).
func (v *validator) oidc(o OIDC, s Server, publicURL *url.URL) {
	v.issuer(o.Issuer, s.TLS.Mode == TLSOff, publicURL)

	switch {
	case o.CodeTTL <= 0:
		v.add("oidc.code_ttl", "must be greater than 0")
	case o.CodeTTL.D() > maxCodeTTL:
		v.add("oidc.code_ttl", "must be at most %s: codes are meant to be exchanged at once (RFC 6749 §4.1.2)", maxCodeTTL)
	}
	v.minDuration("oidc.access_token_ttl", o.AccessTokenTTL, minTokenTTL)
	v.minDuration("oidc.id_token_ttl", o.IDTokenTTL, minTokenTTL)
	switch {
	case o.RefreshTokenTTL <= 0:
		v.add("oidc.refresh_token_ttl", "must be greater than 0")
	case o.RefreshTokenTTL < o.AccessTokenTTL:
		v.add("oidc.refresh_token_ttl", "must be at least oidc.access_token_ttl (%s)", o.AccessTokenTTL)
	}
	switch {
	case o.RefreshGrace < 0:
		v.add("oidc.refresh_grace", "must not be negative")
	case o.RefreshGrace.D() > maxRefreshGrace:
		v.add("oidc.refresh_grace", "must be at most %s: a stolen, already rotated refresh token keeps working this long", maxRefreshGrace)
	}

	v.keys(o.Keys)
	claims := v.claims(o.Claims)
	scopes := v.scopes(o.Scopes, claims)
	from := len(v.errs)
	v.clients(o, scopes)
	v.jsonClientPaths(o, from)
}

// minDuration checks that d is at least lo.
func (v *validator) minDuration(path string, d Duration, lo time.Duration) {
	if d.D() < lo {
		v.add(path, "must be at least %s", lo)
	}
}

// issuer checks oidc.issuer.
func (v *validator) issuer(raw string, tlsOff bool, publicURL *url.URL) {
	if raw == "" {
		return
	}
	const path = "oidc.issuer"
	rule := urlRule{want: "an absolute https URL", noQuery: true,
		httpRefused: `must use https (http only when server.tls.mode is "off")`}
	if tlsOff {
		rule.want = "an absolute http or https URL"
		rule.httpOK = func(string) bool { return true }
	}
	u, msg := checkURL(raw, rule)
	if msg != "" {
		v.add(path, "%s", msg)
		return
	}
	if strings.HasSuffix(u.Path, "/") {
		v.add(path, "must not end with \"/\" (issuers are compared as strings; write %q)", strings.TrimRight(raw, "/"))
		return
	}
	if u.RawPath != "" {
		v.add(path, "must not have percent-encoded characters in its path")
		return
	}
	if u.Path != "" {
		for seg := range strings.SplitSeq(u.Path[1:], "/") {
			if seg == "" || seg == "." || seg == ".." {
				v.add(path, `must not have empty, "." or ".." path segments`)
				return
			}
		}
	}
	if publicURL != nil && !sameOrigin(u, publicURL) {
		v.add(path, "must have the origin (scheme, host and port) of server.public_url, %s://%s; only the path may differ",
			publicURL.Scheme, publicURL.Host)
	}
}

// sameOrigin reports whether a and b have the same scheme, host and
// (effective) port.
func sameOrigin(a, b *url.URL) bool {
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return p
		}
		if u.Scheme == "http" {
			return "80"
		}
		return "443"
	}
	return strings.EqualFold(a.Scheme, b.Scheme) &&
		strings.EqualFold(a.Hostname(), b.Hostname()) &&
		port(a) == port(b)
}

// keys checks oidc.keys.
func (v *validator) keys(k Keys) {
	const algs = "oidc.keys.algorithms"
	if len(k.Algorithms) == 0 {
		v.add(algs, "at least one is required: RS256 (which every OpenID Connect client accepts), optionally ES256")
	}
	first := v.list(algs, k.Algorithms, func(a string) string {
		if a != "RS256" && a != "ES256" {
			return fmt.Sprintf("must be RS256 or ES256 (got %q)", a)
		}
		return ""
	})
	if _, ok := first["RS256"]; len(k.Algorithms) > 0 && !ok {
		v.add(algs, "must include RS256: OpenID Connect requires it, and clients that were not told otherwise expect it")
	}
	v.minDuration("oidc.keys.rotation_period", k.RotationPeriod, minRotationPeriod)
	if len(k.Files) > 0 && len(first) > 0 && len(k.Files) != len(first) {
		v.add("oidc.keys.files", "give exactly one key file per algorithm in oidc.keys.algorithms (%d), got %d", len(first), len(k.Files))
	}
	v.list("oidc.keys.files", k.Files, func(f string) string {
		if strings.TrimSpace(f) == "" {
			return "must not be empty"
		}
		return ""
	})
}

// claims checks oidc.claims and returns the names of the custom claims.
func (v *validator) claims(claims []Claim) map[string]bool {
	names := make(map[string]int)
	for i, c := range claims {
		p := indexPath("oidc.claims", i)
		switch j, dup := names[c.Name]; {
		case c.Name == "":
			v.add(p+".name", "required")
		case !oidcNameRE.MatchString(c.Name):
			v.add(p+".name", "must be 1 to 128 characters from A-Z a-z 0-9 _ . : -")
		case isRegisteredClaim(c.Name):
			v.add(p+".name", "%q is a registered JWT or OpenID Connect claim; give the custom claim another name", c.Name)
		case dup:
			v.add(p+".name", "duplicate of oidc.claims[%d]", j)
		default:
			names[c.Name] = i
		}

		hasGroups, hasAttr := len(c.AnyGroup) > 0, c.Attribute != ""
		switch {
		case hasGroups && hasAttr:
			v.add(p, "set any_group or attribute, not both")
		case !hasGroups && !hasAttr:
			v.add(p, "set any_group (true when the user is in any of these groups) or attribute (the value of a user attribute)")
		}
		if c.Equals != "" && !hasAttr {
			v.add(p+".equals", "only applies with attribute")
		}
		v.list(p+".any_group", c.AnyGroup, groupNames)
	}
	custom := make(map[string]bool, len(names))
	for n := range names {
		custom[n] = true
	}
	return custom
}

// scopes checks oidc.scopes against the custom claims and returns the
// names of the custom scopes.
func (v *validator) scopes(scopes []Scope, customClaims map[string]bool) map[string]bool {
	names := make(map[string]int)
	for i, s := range scopes {
		p := indexPath("oidc.scopes", i)
		switch j, dup := names[s.Name]; {
		case s.Name == "":
			v.add(p+".name", "required")
		case !oidcNameRE.MatchString(s.Name):
			v.add(p+".name", "must be 1 to 128 characters from A-Z a-z 0-9 _ . : -")
		case isStandardScope(s.Name):
			v.add(p+".name", "%q is a standard scope; a custom scope needs another name", s.Name)
		case dup:
			v.add(p+".name", "duplicate of oidc.scopes[%d]", j)
		default:
			names[s.Name] = i
		}
		v.list(p+".claims", s.Claims, func(c string) string {
			switch {
			case c == "sub":
				return `"sub" is in every ID token and userinfo response already; do not list it`
			case !isStandardClaim(c) && !customClaims[c]:
				return fmt.Sprintf("unknown claim %q: name a standard claim (%s) or one defined in oidc.claims", c, standardClaims)
			}
			return ""
		})
	}
	custom := make(map[string]bool, len(names))
	for n := range names {
		custom[n] = true
	}
	return custom
}

// clients checks oidc.clients; customScopes are the names of oidc.scopes.
func (v *validator) clients(o OIDC, customScopes map[string]bool) {
	ids := make(map[string]int)
	for i, c := range o.Clients {
		p := o.ClientPath(i)

		switch j, dup := ids[c.ClientID]; {
		case c.ClientID == "":
			v.add(p+".client_id", "required")
		case !isClientID(c.ClientID):
			v.add(p+".client_id", "must be printable ASCII without spaces")
		case len(c.ClientID) > maxClientIDLength:
			v.add(p+".client_id", "must be at most %d bytes", maxClientIDLength)
		case dup:
			v.add(p+".client_id", "duplicate of %s", o.ClientPath(j))
		case c.ClientID == GatewayClientID:
			v.add(p+".client_id", "%q is reserved for the gateway's own sign-in client; choose another id", GatewayClientID)
		default:
			ids[c.ClientID] = i
		}

		switch {
		case len(c.Name) > maxClientNameLength:
			v.add(p+".name", "must be at most %d bytes", maxClientNameLength)
		case strings.ContainsFunc(c.Name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
			v.add(p+".name", "must not contain control characters")
		}

		secret := c.ClientSecret.Value()
		switch {
		case c.Public && secret != "":
			v.add(p+".client_secret", "a public client must not have one (it could not keep it secret); remove it, or set public: false")
		case c.Public:
		case secret == "":
			v.add(p+".client_secret", "required for a confidential client (generate one with: openssl rand -base64 32); "+
				"for an app that cannot keep a secret (single-page, mobile, desktop) set public: true instead")
		case len(secret) < minClientSecretLen:
			v.add(p+".client_secret", "must be at least %d bytes, got %d (generate one with: openssl rand -base64 32)", minClientSecretLen, len(secret))
		case strings.HasPrefix(secret, "<") && strings.HasSuffix(secret, ">"):
			v.add(p+".client_secret", "is a placeholder (<...>); generate a secret with: openssl rand -base64 32")
		}

		hasCode := v.grantTypes(p, c)

		if hasCode && len(c.RedirectURLs) == 0 {
			v.add(p+".redirect_urls", "at least one is required for the authorization_code grant")
		}
		v.redirectURLs(p+".redirect_urls", c.RedirectURLs)
		v.redirectURLs(p+".post_logout_redirect_urls", c.PostLogoutRedirectURLs)

		v.list(p+".scopes", c.Scopes, func(s string) string {
			if !isStandardScope(s) && !customScopes[s] {
				return fmt.Sprintf("unknown scope %q: use openid, profile, email, groups, offline_access or a scope defined in oidc.scopes", s)
			}
			return ""
		})

		if raw := c.BackchannelLogoutURI; raw != "" {
			if msg := checkClientURL(raw, false); msg != "" {
				v.add(p+".backchannel_logout_uri", "%s", msg)
			}
		}

		if c.SigningAlg != "" && !slices.Contains(o.Keys.Algorithms, c.SigningAlg) {
			v.add(p+".signing_alg", "must be one of oidc.keys.algorithms (%s), got %q", strings.Join(o.Keys.Algorithms, ", "), c.SigningAlg)
		}

		access := o.AccessTokenTTL
		for _, ttl := range []struct {
			key string
			d   Duration
			min time.Duration
		}{
			{"access_token_ttl", c.AccessTokenTTL, minTokenTTL},
			{"id_token_ttl", c.IDTokenTTL, minTokenTTL},
			{"refresh_token_ttl", c.RefreshTokenTTL, 0},
		} {
			tp := p + "." + ttl.key
			switch {
			case ttl.d < 0:
				v.add(tp, "must not be negative (0 means oidc.%s)", ttl.key)
			case ttl.d > 0 && ttl.d.D() < ttl.min:
				v.add(tp, "must be 0 (oidc.%s) or at least %s", ttl.key, ttl.min)
			}
		}
		if c.AccessTokenTTL > 0 {
			access = c.AccessTokenTTL
		}
		if c.RefreshTokenTTL > 0 && c.RefreshTokenTTL < access {
			v.add(p+".refresh_token_ttl", "must be at least the client's access token lifetime (%s)", access)
		}
	}
}

// grantTypes checks the grant types of client c (at path p) and reports
// whether it may use the authorization code flow.
func (v *validator) grantTypes(p string, c Client) (hasCode bool) {
	if len(c.GrantTypes) == 0 {
		return true // authorization_code and refresh_token
	}
	seen := v.list(p+".grant_types", c.GrantTypes, func(g string) string {
		if g != grantAuthorizationCode && g != grantRefreshToken && g != grantClientCredentials {
			return fmt.Sprintf("must be one of %s, %s, %s (got %q)", grantAuthorizationCode, grantRefreshToken, grantClientCredentials, g)
		}
		return ""
	})
	if k, ok := seen[grantClientCredentials]; ok && c.Public {
		v.add(indexPath(p+".grant_types", k), "client_credentials needs a confidential client: a public client has no secret to authenticate with")
	}
	_, hasCode = seen[grantAuthorizationCode]
	if _, refresh := seen[grantRefreshToken]; refresh && !hasCode {
		v.add(p+".grant_types", "refresh_token needs authorization_code: refresh tokens are issued only in the code flow")
	}
	return hasCode
}

// redirectURLs checks a list of redirect or post-logout redirect URLs.
func (v *validator) redirectURLs(path string, urls []string) {
	v.list(path, urls, checkRedirectURL)
}

// checkRedirectURL checks a client's redirect URL and returns a message, or
// "". Allowed: https; http on a loopback host (native apps, RFC 8252 §7.3);
// a private-use scheme containing a dot (com.example.app:/cb, RFC 8252
// §7.1). Never a fragment, user info or a wildcard.
func checkRedirectURL(raw string) string {
	return checkClientURL(raw, true)
}

// checkClientURL checks a URL registered for a client (redirect,
// post-logout redirect or back-channel logout URI) and returns a message,
// or "". Private-use schemes are allowed only when native is true. The
// rules are those the client registry (idp/clients) applies, so that a
// configuration that validates also starts.
func checkClientURL(raw string, native bool) string {
	want := "must be an absolute https URL (http only on a loopback host)"
	if native {
		want = "must be an absolute URL: https, http on a loopback host, or a private-use scheme containing a dot such as com.example.app:/callback (RFC 8252)"
	}
	switch {
	case raw == "":
		return "must not be empty"
	case len(raw) > maxClientURLLength:
		return fmt.Sprintf("must be at most %d bytes", maxClientURLLength)
	case !isClientID(raw) || strings.Contains(raw, `\`):
		return "must not contain spaces, control characters, backslashes or non-ASCII characters (percent-encode them)"
	case strings.Contains(raw, "#"):
		return "must not have a fragment (#...)"
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return want
	}
	if u.User != nil {
		return "must not contain a user name or password"
	}
	switch u.Scheme {
	case "https", "http":
		if u.Opaque != "" || u.Hostname() == "" {
			return want + " (the host is missing)"
		}
		if strings.Contains(u.Host, "*") {
			return "must not contain wildcards: URLs are matched exactly"
		}
		if u.Scheme == "http" && !isStrictLoopback(u.Hostname()) {
			return "http is allowed only for loopback hosts (localhost, 127.0.0.0/8, ::1); use https"
		}
	default:
		if !native {
			return want
		}
		if !strings.Contains(u.Scheme, ".") {
			return fmt.Sprintf("the scheme %q is not allowed: use https, http on a loopback host, or a private-use scheme containing a dot such as com.example.app (RFC 8252)", u.Scheme)
		}
		if u.Opaque == "" && u.Host == "" && u.Path == "" {
			return "must have a path after the scheme, such as com.example.app:/callback"
		}
	}
	return ""
}

// isStrictLoopback reports whether host (from url.URL.Hostname) is
// localhost, an IPv4 loopback address or ::1: the hosts a client may use
// with http.
func isStrictLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" {
		return false
	}
	return (a.Is4() && a.IsLoopback()) || a == netip.IPv6Loopback()
}

// isClientID reports whether s is printable ASCII without spaces.
func isClientID(s string) bool {
	for i := range len(s) {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return s != ""
}

// jsonClientPaths renames the problems found since v.errs[from] with
// clients from GATEHOUSE_OIDC_TRUSTED_CLIENTS the way the variable spells
// them: the entry ("GATEHOUSE_OIDC_TRUSTED_CLIENTS[1] \"id\"") as the
// source and the field by its JSON name ("clientSecret", "redirectUrls[0]").
func (v *validator) jsonClientPaths(o OIDC, from int) {
	names := make(map[string]string)
	for _, f := range trustedClientFields() {
		names[snakeCase(f.name)] = f.name
	}
	for _, err := range v.errs[from:] {
		fe, ok := err.(*FieldError)
		if !ok {
			continue
		}
		for i, c := range o.Clients {
			if c.origin == "" {
				continue
			}
			entry := o.ClientPath(i)
			rest, ok := strings.CutPrefix(fe.Path, entry+".")
			if !ok {
				continue
			}
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			if name, ok := names[rest[:end]]; ok {
				fe.Env, fe.Path = entry, name+rest[end:]
			}
			break
		}
	}
}

// snakeCase turns a JSON field name into the configuration's key:
// "redirectUrls" → "redirect_urls", "requirePKCE" → "require_pkce".
func snakeCase(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			if i > 0 && 'a' <= s[i-1] && s[i-1] <= 'z' {
				b.WriteByte('_')
			}
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}
