package config

import (
	"fmt"
	"net/mail"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-sso/gatehouse/policy"
)

// maxSessionCacheTTL is the upper bound of gateway.session_cache_ttl:
// revocations evict at once through the store's revocation topic, but a
// change that is not one (a user's groups edited) shows only this late.
const maxSessionCacheTTL = 5 * time.Minute

// acme checks server.tls.acme; it is called only when server.tls.mode is
// "acme" (the block is ignored otherwise, like self_signed_hosts is in acme
// mode).
func (v *validator) acme(s Server) {
	const p = "server.tls.acme"
	a := s.TLS.ACME

	if a.Email != "" {
		if addr, err := mail.ParseAddress(a.Email); err != nil || addr.Address != a.Email || addr.Name != "" {
			v.add(p+".email", "must be a plain email address such as admin@example.com (or empty: the CA then has no contact for the account)")
		}
	}

	if a.DirectoryURL == "" {
		v.add(p+".directory_url", "required: the CA's ACME directory, such as %s", LetsEncryptDirectory)
	} else if _, msg := checkURL(a.DirectoryURL, urlRule{
		want:        "an absolute https URL",
		noQuery:     true,
		httpOK:      isLoopback,
		httpRefused: "http is allowed only for a loopback host (a local test CA); use https",
	}); msg != "" {
		v.add(p+".directory_url", "%s", msg)
	}

	if a.CARootFile != "" && strings.TrimSpace(a.CARootFile) == "" {
		v.add(p+".ca_root_file", "must be a file path, or empty to trust the system's roots")
	}

	seen := make(map[string]int, len(a.Hosts))
	for i, h := range a.Hosts {
		hp := indexPath(p+".hosts", i)
		lh := strings.ToLower(h)
		switch j, dup := seen[lh]; {
		case h == "":
			v.add(hp, "must not be empty")
		case strings.Contains(h, "*"):
			v.add(hp, "%q: wildcard certificates need the dns-01 challenge, which Gatehouse does not support; list each name instead", h)
		case isIPAddress(h):
			v.add(hp, "must be a DNS name, not an IP address")
		case checkDomain(lh) != "":
			v.add(hp, "%s", checkDomain(lh))
		case dup:
			v.add(hp, "duplicate of %s.hosts[%d]", p, j)
		default:
			seen[lh] = i
		}
	}

	if len(a.Challenges) == 0 {
		v.add(p+".challenges", "at least one is required: %s or %s", ChallengeHTTP01, ChallengeTLSALPN01)
	}
	challenges := v.list(p+".challenges", a.Challenges, func(c string) string {
		if c != ChallengeHTTP01 && c != ChallengeTLSALPN01 {
			return fmt.Sprintf("must be %s or %s (got %q; dns-01 is not supported)", ChallengeHTTP01, ChallengeTLSALPN01, c)
		}
		return ""
	})
	if i, ok := challenges[ChallengeHTTP01]; ok && s.HTTPListen == "" {
		v.add(indexPath(p+".challenges", i), "http-01 needs server.http_listen (the CA connects over plain HTTP, on port 80 unless alt_http_port is set): set server.http_listen, e.g. \":80\", or use only %s", ChallengeTLSALPN01)
	}

	v.port(p+".alt_http_port", a.AltHTTPPort, "80")
	v.port(p+".alt_tls_alpn_port", a.AltTLSALPNPort, "443")
}

// port checks an optional port number: 0 (the standard port std) or 1 to
// 65535.
func (v *validator) port(path string, n int, std string) {
	if n < 0 || n > 65535 {
		v.add(path, "must be 0 (the standard port, %s) or from 1 to 65535, got %d", std, n)
	}
}

// isIPAddress reports whether s is an IP address, IPv6 in brackets
// included.
func isIPAddress(s string) bool {
	_, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	return err == nil
}

// gateway checks the gateway section; publicURL is the parsed
// server.public_url (nil when invalid).
func (v *validator) gateway(c Config, publicURL *url.URL) {
	g := c.Gateway

	switch {
	case g.SessionCacheTTL < 0:
		v.add("gateway.session_cache_ttl", "must not be negative (0 disables the cache)")
	case g.SessionCacheTTL.D() > maxSessionCacheTTL:
		v.add("gateway.session_cache_ttl", "must be at most %s: a user's changed groups or name reach the gateway only this late", maxSessionCacheTTL)
	}

	if v.cookieName("gateway.cookie_name", g.CookieName) && strings.EqualFold(g.CookieName, c.Session.CookieName) {
		v.add("gateway.cookie_name", "must differ from session.cookie_name (%q): on a route served from Gatehouse's own host the two cookies would overwrite each other", c.Session.CookieName)
	}
	if g.CookieDomain != "" {
		if msg := checkDomain(normalizeDomain(g.CookieDomain)); msg != "" {
			v.add("gateway.cookie_domain", "%s", msg)
		}
	}

	v.trustedProxies(g.TrustedProxies)
	v.headers("gateway.forward_auth.headers", g.ForwardAuth.Headers)

	v.positive("gateway.upstream.dial_timeout", g.Upstream.DialTimeout)
	v.positive("gateway.upstream.response_header_timeout", g.Upstream.ResponseHeaderTimeout)
	v.positive("gateway.upstream.fail_timeout", g.Upstream.FailTimeout)
	v.positive("gateway.upstream.body_idle_timeout", g.Upstream.BodyIdleTimeout)
	if g.Upstream.MaxIdleConnsPerHost < 1 {
		v.add("gateway.upstream.max_idle_conns_per_host", "must be at least 1, got %d (keep it high, e.g. 256: too few idle connections make the proxy dial once per request under load)", g.Upstream.MaxIdleConnsPerHost)
	}

	v.routes(c, publicURL)
	v.rules(g.Rules)
	v.ruleClients(c)
	v.bearers(c)
	v.assertionKey(c)
}

// bearers checks the bearer clients of routes and of forward-auth hosts:
// each a client_id of oidc.clients, listed once; forward-auth entries
// name valid hosts, each host in one entry only.
func (v *validator) bearers(c Config) {
	grants := clientGrants(c)
	for i, r := range c.Gateway.Routes {
		v.bearerClients(indexPath("gateway.routes", i)+".bearer.clients", r.Bearer.Clients, grants, false)
	}
	seen := map[string]string{}
	for i, b := range c.Gateway.ForwardAuth.Bearer {
		p := indexPath("gateway.forward_auth.bearer", i)
		if len(b.Hosts) == 0 {
			v.add(p+".hosts", `at least one is required: the hosts whose forward-auth answers accept these clients' tokens, such as "api.example.com" or "*.example.com"`)
		}
		for k, h := range b.Hosts {
			hp := indexPath(p+".hosts", k)
			lh := strings.TrimSuffix(strings.ToLower(h), ".")
			switch {
			case h == "":
				v.add(hp, "must not be empty")
			case checkHostPattern(h) != "":
				v.add(hp, "%s", checkHostPattern(h))
			case seen[lh] != "":
				v.add(hp, "duplicate of %s: a host takes its bearer clients from one entry", seen[lh])
			default:
				seen[lh] = hp
			}
		}
		v.bearerClients(p+".clients", b.Clients, grants, true)
	}
}

// bearerClients checks a list of bearer clients at path.
func (v *validator) bearerClients(path string, list []string, grants map[string][]string, required bool) {
	if required && len(list) == 0 {
		v.add(path, "at least one client_id is required: the clients whose access tokens are accepted")
	}
	v.list(path, list, func(id string) string {
		if _, ok := grants[id]; !ok {
			return fmt.Sprintf("%q is not a client_id of oidc.clients", id)
		}
		return ""
	})
}

// ruleClients checks that every client a rule lists in clients is one of
// oidc.clients that may use the client_credentials grant: only such a
// client's tokens are service tokens.
func (v *validator) ruleClients(c Config) {
	grants := clientGrants(c)
	for i, r := range c.Gateway.Rules {
		for k, id := range r.Clients {
			if id == "" {
				continue // policy.Compile names it
			}
			p := indexPath(indexPath("gateway.rules", i)+".clients", k)
			g, ok := grants[id]
			switch {
			case !ok:
				v.add(p, "%q is not a client_id of oidc.clients", id)
			case !slices.Contains(g, grantClientCredentials):
				v.add(p, "client %q may not use the client_credentials grant, so it has no service tokens: add client_credentials to its grant_types, or remove it here", id)
			}
		}
	}
}

// clientGrants maps the client_id of every client in oidc.clients (those
// from GATEHOUSE_OIDC_TRUSTED_CLIENTS included) to its grant types, the
// default ones when it lists none.
func clientGrants(c Config) map[string][]string {
	m := make(map[string][]string, len(c.OIDC.Clients))
	for _, cl := range c.OIDC.Clients {
		g := cl.GrantTypes
		if len(g) == 0 {
			g = []string{grantAuthorizationCode, grantRefreshToken}
		}
		m[cl.ClientID] = g
	}
	return m
}

// assertionKey checks that oidc.keys.algorithms has the ES256 key the
// signed assertion needs, when a route's or forward-auth's identity
// headers ask for it (headers.assertion, on by default). Forward-auth
// sends headers only when it has rules to decide by.
func (v *validator) assertionKey(c Config) {
	if slices.Contains(c.OIDC.Keys.Algorithms, "ES256") {
		return
	}
	var wants []string
	for i, r := range c.Gateway.Routes {
		if r.Headers.Assertion {
			wants = append(wants, indexPath("gateway.routes", i)+".headers.assertion")
		}
	}
	if fa := c.Gateway.ForwardAuth; fa.Enabled && fa.Headers.Assertion && len(c.Gateway.Rules) > 0 {
		wants = append(wants, "gateway.forward_auth.headers.assertion")
	}
	if len(wants) > 0 {
		v.add("oidc.keys.algorithms", "has no ES256, but the signed assertion is signed with ES256 and %s asks for it (on by default): add ES256 here, or set headers.assertion: false there", strings.Join(wants, ", "))
	}
}

// trustedProxies checks gateway.trusted_proxies: CIDR prefixes without
// host bits.
func (v *validator) trustedProxies(list []string) {
	const path = "gateway.trusted_proxies"
	seen := make(map[netip.Prefix]int, len(list))
	for i, s := range list {
		p := indexPath(path, i)
		if s == "" {
			v.add(p, "must not be empty")
			continue
		}
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			if a, aerr := netip.ParseAddr(s); aerr == nil && a.Zone() == "" {
				v.add(p, "%q is an address, not a CIDR prefix; write %q", s, netip.PrefixFrom(a, a.BitLen()).String())
			} else {
				v.add(p, "%q is not a CIDR prefix such as 10.0.0.0/8 or 2001:db8::/32", s)
			}
			continue
		}
		if m := pfx.Masked(); m != pfx {
			v.add(p, "%q has host bits set; did you mean %q?", s, m.String())
			continue
		}
		if j, dup := seen[pfx]; dup {
			v.add(p, "duplicate of %s[%d]", path, j)
			continue
		}
		seen[pfx] = i
	}
}

// headers checks an identity header set.
func (v *validator) headers(path string, h Headers) {
	v.list(path+".presets", h.Presets, func(s string) string {
		if s != PresetOAuth2Proxy && s != PresetAuthelia {
			return fmt.Sprintf("must be %s or %s (got %q)", PresetOAuth2Proxy, PresetAuthelia, s)
		}
		return ""
	})
}

// routes checks gateway.routes.
func (v *validator) routes(c Config, publicURL *url.URL) {
	ownHost := ""
	var ownPaths []string
	if publicURL != nil {
		ownHost = strings.ToLower(publicURL.Hostname())
		ownPaths = c.OwnPaths()
	}
	names := make(map[string]int)
	keys := make(map[[2]string]int)
	for i, r := range c.Gateway.Routes {
		p := indexPath("gateway.routes", i)

		if r.Name != "" {
			if j, dup := names[r.Name]; dup {
				v.add(p+".name", "duplicate of gateway.routes[%d]", j)
			} else {
				names[r.Name] = i
			}
		}

		host := strings.ToLower(r.Host)
		hostOK := false
		if r.Host == "" {
			v.add(p+".host", `required: a host name such as "app.example.com", or a wildcard such as "*.example.com"`)
		} else if msg := checkHostPattern(r.Host); msg != "" {
			v.add(p+".host", "%s", msg)
		} else {
			hostOK = true
		}
		prefixOK := true
		if r.PathPrefix != "" {
			if msg := checkPathPrefix(r.PathPrefix); msg != "" {
				v.add(p+".path_prefix", "%s", msg)
				prefixOK = false
			}
		}
		if hostOK && prefixOK {
			prefix := r.PathPrefix
			if prefix == "/" {
				prefix = ""
			}
			key := [2]string{host, prefix}
			if j, dup := keys[key]; dup {
				v.add(p, "same host and path_prefix as gateway.routes[%d]", j)
			} else {
				keys[key] = i
			}
			if host == ownHost {
				v.ownHostRoute(p, host, prefix, ownPaths)
			}
		}

		v.upstreams(p, r)

		if r.Timeout < 0 {
			v.add(p+".timeout", "must not be negative (0 means gateway.upstream.response_header_timeout)")
		}
		if r.BodyIdleTimeout < 0 {
			v.add(p+".body_idle_timeout", "must not be negative (0 means gateway.upstream.body_idle_timeout)")
		}
		if r.MaxBodyBytes < 0 {
			v.add(p+".max_body_bytes", "must not be negative (0 means no limit)")
		}
		v.headers(p+".headers", r.Headers)
	}
}

// ownHostRoute checks a route (at path p, with a valid prefix, "" for the
// whole host) whose host is server.public_url's: it must not take any of
// Gatehouse's own paths.
func (v *validator) ownHostRoute(p, host, prefix string, ownPaths []string) {
	if prefix == "" {
		v.add(p+".host", "%q is the host of server.public_url, where Gatehouse serves its own pages: use another host, "+
			"or set a path_prefix that does not overlap Gatehouse's paths (%s)", host, strings.Join(ownPaths, ", "))
		return
	}
	for _, own := range ownPaths {
		if prefixesOverlap(prefix, own) {
			v.add(p+".path_prefix", "%q overlaps %q, which Gatehouse serves itself on the host of server.public_url (%s): "+
				"choose a prefix that overlaps none of %s, or use another host", prefix, own, host, strings.Join(ownPaths, ", "))
			return
		}
	}
}

// upstreams checks the upstreams and upstream_ca_file of route r (at
// path p).
func (v *validator) upstreams(p string, r Route) {
	if len(r.Upstreams) == 0 {
		v.add(p+".upstreams", `at least one is required: the URL of the app, such as "http://127.0.0.1:8080"`)
	}
	rule := urlRule{
		want:    "an absolute http or https URL",
		noQuery: true,
		httpOK:  func(string) bool { return true },
	}
	seen := make(map[string]int, len(r.Upstreams))
	https, bad := false, false
	for k, raw := range r.Upstreams {
		up := indexPath(p+".upstreams", k)
		u, msg := checkURL(raw, rule)
		if msg == "" {
			if port := u.Port(); port != "" {
				if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
					msg = "the port must be a number from 1 to 65535"
				}
			}
		}
		if msg != "" {
			v.add(up, "%s", msg)
			bad = true
			continue
		}
		if j, dup := seen[raw]; dup {
			v.add(up, "duplicate of %s.upstreams[%d]", p, j)
			continue
		}
		seen[raw] = k
		if u.Scheme == "https" {
			https = true
		}
	}
	switch f := r.UpstreamCAFile; {
	case f == "":
	case strings.TrimSpace(f) == "":
		v.add(p+".upstream_ca_file", "must be a file path, or empty to trust the system's roots")
	case !https && !bad && len(r.Upstreams) > 0:
		v.add(p+".upstream_ca_file", "only applies to https upstreams, and this route has none: remove it, or use https upstreams")
	}
}

// rules compiles gateway.rules (policy.Compile checks every field, and
// reports unreachable rules and requirements on rules that cannot use
// them) and refuses what no user could meet yet.
func (v *validator) rules(rules []Rule) {
	for i, r := range rules {
		if r.SecondFactor {
			// Nobody could ever meet it: sign-in is password only so far.
			v.add(indexPath("gateway.rules", i)+".second_factor", "no second-factor sign-in method is available yet, so no user could pass this rule")
		}
	}
	if _, err := CompilePolicy(rules); err != nil {
		v.errs = append(v.errs, err.(Errors)...)
	}
}

// checkHostPattern checks a route host: a DNS name, or "*."
// followed by one (a wildcard for one or more leading labels). Case does
// not matter. It returns a message, or "".
func checkHostPattern(h string) string {
	lh := strings.ToLower(h)
	switch {
	case lh == "*":
		return `"*" alone is not a host: use a wildcard such as "*.example.com"`
	case strings.HasPrefix(lh, "*."):
		base := lh[2:]
		if strings.Contains(base, "*") {
			break
		}
		if base == "" {
			return fmt.Sprintf(`wildcard %q: a domain name must follow "*.", as in "*.example.com"`, h)
		}
		if msg := checkDomain(base); msg != "" {
			return fmt.Sprintf("wildcard %q: %s", h, msg)
		}
		return ""
	case strings.Contains(lh, "*"):
	case isIPAddress(lh):
		return "must be a DNS name, not an IP address"
	default:
		return checkDomain(lh)
	}
	return fmt.Sprintf(`%q is not a valid wildcard: "*" may only be the whole first label, as in "*.example.com"`, h)
}

// checkPathPrefix checks a non-empty path prefix of a route or rule: it
// must be one that request paths can match (see policy.CheckPrefix). It
// returns a message, or "".
func checkPathPrefix(p string) string {
	if err := policy.CheckPrefix(p); err != nil {
		return err.Error()
	}
	return ""
}

// prefixMatches reports whether path prefix prefix matches path at a
// segment boundary: "/a" matches "/a" and "/a/b", not "/ab"; "/a/"
// matches "/a/" and "/a/b", not "/a".
func prefixMatches(prefix, path string) bool {
	if prefix == "" || prefix == "/" || path == prefix {
		return true
	}
	return strings.HasPrefix(path, prefix) && (strings.HasSuffix(prefix, "/") || path[len(prefix)] == '/')
}

// prefixesOverlap reports whether some path matches both prefixes.
func prefixesOverlap(a, b string) bool {
	return prefixMatches(a, b) || prefixMatches(b, a)
}

// OwnPaths returns the paths Gatehouse serves itself on the host of
// server.public_url, as path prefixes matched at a segment boundary (like a
// route's path_prefix: "/login" covers "/login" and "/login/x", "/static/"
// everything under /static/). A gateway route on that host must overlap
// none of them, and Validate refuses one that does. They are the sign-in
// pages (/login, /logout), static files (/static/), health checks
// (/healthz, /readyz), the forward-auth endpoints (/forward-auth/), the
// gateway's own endpoints (/.gatehouse/), the OpenID provider (the path of
// the issuer when it has one, otherwise each of its endpoints at the root)
// and, when the demo is enabled, /demo/. The root page "/" itself is
// Gatehouse's too, which is why such a route needs a path_prefix.
func (c Config) OwnPaths() []string {
	paths := []string{"/login", "/logout", "/static/", "/healthz", "/readyz", "/forward-auth/", "/.gatehouse/"}
	issuerPath := ""
	if u, err := url.Parse(c.IssuerURL()); err == nil {
		issuerPath = strings.TrimSuffix(u.EscapedPath(), "/")
	}
	if issuerPath != "" {
		paths = append(paths, issuerPath)
	} else {
		// The endpoints of idp/provider.go, served at the root.
		paths = append(paths,
			"/.well-known/openid-configuration", "/.well-known/jwks.json",
			"/authorize", "/consent", "/consents", "/token", "/userinfo",
			"/end_session", "/auth/logout", "/oauth2/endsession", "/revoke", "/introspect")
	}
	if c.Demo.Enabled {
		paths = append(paths, "/demo/")
	}
	return paths
}
