package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// validGatewayConfig returns a configuration that passes Validate and
// uses every field of the gateway section.
func validGatewayConfig() Config {
	c := validConfig()
	c.Server.PublicURL = "https://sso.example.com"
	c.Gateway.CookieDomain = "example.com"
	c.Gateway.TrustedProxies = []string{"10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"}

	app := DefaultRoute()
	app.Name = "app"
	app.Host = "app.example.com"
	app.Upstreams = []string{"http://127.0.0.1:8081", "http://127.0.0.1:8082"}
	app.Headers.Presets = []string{PresetOAuth2Proxy}
	app.MaxBodyBytes = 10 << 20

	api := DefaultRoute()
	api.Name = "api"
	api.Host = "api.example.com"
	api.PathPrefix = "/v1/"
	api.Upstreams = []string{"https://api.internal:9443/base", "http://api-2.internal"}
	api.UpstreamCAFile = "/etc/gatehouse/internal-ca.pem"
	api.Bearer = Bearer{Clients: []string{"cli", "svc"}}
	api.PreserveHost = true
	api.Timeout = Duration(30 * time.Second)
	api.Headers = Headers{Presets: nil, Assertion: true, AccessToken: true}

	apps := DefaultRoute()
	apps.Host = "*.apps.example.com"
	apps.Upstreams = []string{"http://apps.internal"}

	wiki := DefaultRoute()
	wiki.Host = "sso.example.com" // Gatehouse's own host, under a free prefix
	wiki.PathPrefix = "/wiki/"
	wiki.Upstreams = []string{"http://wiki.internal:8080"}

	c.Gateway.Routes = []Route{app, api, apps, wiki}
	c.OIDC.Clients = []Client{
		{ClientID: "cli", Public: true, RedirectURLs: []string{"http://127.0.0.1/cb"}},
		{ClientID: "svc", ClientSecret: testSecret2, GrantTypes: []string{"client_credentials"}},
	}
	c.Gateway.Rules = []Rule{
		{Name: "health", Hosts: []string{"app.example.com"}, PathPrefix: "/health", Decision: DecisionPublic},
		{Name: "admin", Hosts: []string{"app.example.com"}, PathPrefix: "/admin", Decision: DecisionAuthenticated,
			GroupsAny: []string{"admins"}, MaxSessionAge: Duration(time.Hour)},
		{Name: "reports", Hosts: []string{"*.apps.example.com"}, PathRegex: `/r/[0-9]+`, Methods: []string{"GET", "head", "PROPFIND"},
			Networks: []string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32"}, Decision: DecisionAuthenticated,
			Users: []string{"alice"}, GroupsAll: []string{"eng"}, EmailDomains: []string{"example.com"}, Scopes: []string{"reports"}},
		{Name: "jobs", Hosts: []string{"api.example.com"}, PathPrefix: "/v1/jobs", Decision: DecisionAuthenticated,
			Clients: []string{"svc"}, Scopes: []string{"jobs"}},
		{Name: "app", Hosts: []string{"app.example.com", "API.Example.com"}, Decision: DecisionAuthenticated},
		{Decision: DecisionDeny},
	}
	return c
}

// acmeConfig returns validGatewayConfig in acme mode, with every ACME field
// set.
func acmeConfig() Config {
	c := validGatewayConfig()
	c.Server.HTTPListen = ":80"
	c.Server.TLS.Mode = TLSACME
	c.Server.TLS.ACME = ACME{
		Email:          "admin@example.com",
		DirectoryURL:   "https://acme-staging-v02.api.letsencrypt.org/directory",
		CARootFile:     "/etc/gatehouse/pebble.minica.pem",
		Hosts:          []string{"app.example.com", "API.example.com"},
		Challenges:     []string{ChallengeHTTP01, ChallengeTLSALPN01},
		OnDemand:       true,
		AltHTTPPort:    5002,
		AltTLSALPNPort: 65535,
	}
	return c
}

func TestValidateGatewayValid(t *testing.T) {
	for name, c := range map[string]Config{
		"gateway": validGatewayConfig(),
		"acme":    acmeConfig(),
	} {
		if err := c.Validate(); err != nil {
			t.Errorf("%s: Validate() = %v, want nil", name, err)
		}
	}
}

func TestValidateGatewayAccepts(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"RS256 only when no assertion is asked for", func(c *Config) {
			c.OIDC.Keys.Algorithms = []string{"RS256"}
			for i := range c.Gateway.Routes {
				c.Gateway.Routes[i].Headers.Assertion = false
			}
			c.Gateway.ForwardAuth.Headers.Assertion = false
		}},
		// server.tls.acme
		{"acme with defaults and tls-alpn-01 only", func(c *Config) {
			c.Server.HTTPListen = ""
			c.Server.TLS = Default().Server.TLS
			c.Server.TLS.Mode = TLSACME
			c.Server.TLS.ACME.Challenges = []string{ChallengeTLSALPN01}
		}},
		{"acme http-01 only", func(c *Config) { c.Server.TLS.ACME.Challenges = []string{ChallengeHTTP01} }},
		{"acme no email", func(c *Config) { c.Server.TLS.ACME.Email = "" }},
		{"acme no hosts", func(c *Config) { c.Server.TLS.ACME.Hosts = nil }},
		{"acme no ca root", func(c *Config) { c.Server.TLS.ACME.CARootFile = "" }},
		{"acme standard ports", func(c *Config) { c.Server.TLS.ACME.AltHTTPPort, c.Server.TLS.ACME.AltTLSALPNPort = 0, 0 }},
		{"acme http directory on localhost (pebble)", func(c *Config) { c.Server.TLS.ACME.DirectoryURL = "http://localhost:14000/dir" }},
		{"acme http directory on loopback IP", func(c *Config) { c.Server.TLS.ACME.DirectoryURL = "http://127.0.0.1:14000/dir" }},
		{"acme https directory with port", func(c *Config) { c.Server.TLS.ACME.DirectoryURL = "https://127.0.0.1:14000/dir" }},
		{"acme ignores self_signed_hosts", func(c *Config) { c.Server.TLS.SelfSignedHosts = []string{"not a host!", ""} }},
		{"acme block ignored when self-signed", func(c *Config) {
			c.Server.TLS.Mode = TLSSelfSigned
			c.Server.HTTPListen = ""
			c.Server.TLS.ACME = ACME{Challenges: []string{"dns-01"}, Hosts: []string{"*.example.com"}, AltHTTPPort: -1}
		}},
		{"acme block ignored with files", func(c *Config) {
			c.Server.TLS.Mode = TLSFiles
			c.Server.TLS.CertFile, c.Server.TLS.KeyFile = "c.pem", "k.pem"
			c.Server.TLS.ACME = ACME{}
		}},

		// gateway scalars
		{"session cache disabled", func(c *Config) { c.Gateway.SessionCacheTTL = 0 }},
		{"session cache at bound", func(c *Config) { c.Gateway.SessionCacheTTL = Duration(5 * time.Minute) }},
		{"host-only gateway cookie", func(c *Config) { c.Gateway.CookieDomain = "" }},
		{"gateway cookie domain dot and case", func(c *Config) { c.Gateway.CookieDomain = ".Example.COM" }},
		{"no trusted proxies", func(c *Config) { c.Gateway.TrustedProxies = nil }},
		{"trusted proxy ipv6 host", func(c *Config) { c.Gateway.TrustedProxies = []string{"::1/128", "0.0.0.0/0"} }},
		{"forward auth without presets", func(c *Config) { c.Gateway.ForwardAuth.Headers.Presets = []string{} }},
		{"forward auth disabled", func(c *Config) { c.Gateway.ForwardAuth = ForwardAuth{} }},
		{"one idle conn", func(c *Config) { c.Gateway.Upstream.MaxIdleConnsPerHost = 1 }},
		{"no routes and no rules", func(c *Config) { c.Gateway.Routes, c.Gateway.Rules = nil, nil }},

		// routes
		{"route host upper case", func(c *Config) { c.Gateway.Routes[0].Host = "App.Example.COM" }},
		{"route prefix slash", func(c *Config) { c.Gateway.Routes[0].PathPrefix = "/" }},
		{"same host, other prefix", func(c *Config) {
			r := c.Gateway.Routes[1]
			r.Name, r.PathPrefix = "api-v2", "/v2/"
			c.Gateway.Routes = append(c.Gateway.Routes, r)
		}},
		{"prefix with and without trailing slash", func(c *Config) {
			r := c.Gateway.Routes[1]
			r.Name, r.PathPrefix = "api-v1-exact", "/v1"
			c.Gateway.Routes = append(c.Gateway.Routes, r)
		}},
		{"several unnamed routes", func(c *Config) { c.Gateway.Routes[0].Name, c.Gateway.Routes[1].Name = "", "" }},
		{"prefix with encoded reserved and UTF-8", func(c *Config) { c.Gateway.Routes[0].PathPrefix = "/caf%C3%A9/a%3Ab/x:y@z!$&'()*+,=/" }},
		{"prefix with tilde and dots in names", func(c *Config) { c.Gateway.Routes[0].PathPrefix = "/~user/.well/a..b/" }},
		{"ca file with mixed upstreams", func(c *Config) { c.Gateway.Routes[1].Upstreams = []string{"http://a", "https://b"} }},
		{"zero timeout and body cap", func(c *Config) { c.Gateway.Routes[1].Timeout, c.Gateway.Routes[1].MaxBodyBytes = 0, 0 }},
		{"route without presets", func(c *Config) { c.Gateway.Routes[0].Headers = Headers{} }},
		{"upstream with path", func(c *Config) { c.Gateway.Routes[0].Upstreams = []string{"http://10.1.2.3:8080/app/"} }},
		{"upstream ipv6", func(c *Config) { c.Gateway.Routes[0].Upstreams = []string{"http://[::1]:8080"} }},
		{"own host, prefix next to own paths", func(c *Config) {
			c.Gateway.Routes[3].PathPrefix = "/logins/"
			r := c.Gateway.Routes[3]
			r.PathPrefix = "/statics"
			c.Gateway.Routes = append(c.Gateway.Routes, r)
		}},
		{"own host, OIDC endpoint names free when issuer has a path", func(c *Config) {
			c.OIDC.Issuer = "https://sso.example.com/oidc"
			c.Gateway.Routes[3].PathPrefix = "/token"
		}},
		{"own host, demo path free when demo off", func(c *Config) { c.Gateway.Routes[3].PathPrefix = "/demo/" }},
		{"wildcard covering own host", func(c *Config) { c.Gateway.Routes[2].Host = "*.example.com" }},

		// rules
		{"rule without match fields", func(c *Config) { c.Gateway.Rules = []Rule{{Decision: DecisionAuthenticated}} }},
		{"rule prefix root", func(c *Config) { c.Gateway.Rules[3].PathPrefix = "/" }},
		{"rule network ipv6 address", func(c *Config) { c.Gateway.Rules[2].Networks = []string{"2001:db8::1", "::ffff:10.0.0.0/104"} }},
		{"rule host wildcard upper", func(c *Config) { c.Gateway.Rules[0].Hosts = []string{"*.Example.com"} }},
		{"rule regex only", func(c *Config) { c.Gateway.Rules[0].PathPrefix, c.Gateway.Rules[0].PathRegex = "", "/health(z)?" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := acmeConfig()
			tt.mutate(&c)
			if err := c.Validate(); err != nil {
				t.Errorf("Validate() = %v, want nil", err)
			}
		})
	}
}

func TestValidateGatewayRejects(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // prefix of one line of the error: the exact path and the message
	}{
		{"route assertion without ES256", func(c *Config) { c.OIDC.Keys.Algorithms = []string{"RS256"} }, "oidc.keys.algorithms: has no ES256, but the signed assertion is signed with ES256 and gateway.routes[0].headers.assertion"},
		{"forward-auth assertion without ES256", func(c *Config) {
			c.OIDC.Keys.Algorithms = []string{"RS256"}
			for i := range c.Gateway.Routes {
				c.Gateway.Routes[i].Headers.Assertion = false
			}
		}, "oidc.keys.algorithms: has no ES256, but the signed assertion is signed with ES256 and gateway.forward_auth.headers.assertion"},
		{"route bearer client unknown", func(c *Config) { c.Gateway.Routes[1].Bearer.Clients = []string{"cli", "other"} },
			`gateway.routes[1].bearer.clients[1]: "other" is not a client_id of oidc.clients`},
		{"route bearer client duplicate", func(c *Config) { c.Gateway.Routes[1].Bearer.Clients = []string{"cli", "cli"} },
			`gateway.routes[1].bearer.clients[1]: duplicate of gateway.routes[1].bearer.clients[0]`},
		{"forward-auth bearer without hosts", func(c *Config) {
			c.Gateway.ForwardAuth.Bearer = []HostBearer{{Clients: []string{"cli"}}}
		}, `gateway.forward_auth.bearer[0].hosts: at least one is required`},
		{"forward-auth bearer without clients", func(c *Config) {
			c.Gateway.ForwardAuth.Bearer = []HostBearer{{Hosts: []string{"api.example.com"}}}
		}, `gateway.forward_auth.bearer[0].clients: at least one client_id is required`},
		{"forward-auth bearer unknown client", func(c *Config) {
			c.Gateway.ForwardAuth.Bearer = []HostBearer{{Hosts: []string{"api.example.com"}, Clients: []string{"nope"}}}
		}, `gateway.forward_auth.bearer[0].clients[0]: "nope" is not a client_id of oidc.clients`},
		{"forward-auth bearer bad host", func(c *Config) {
			c.Gateway.ForwardAuth.Bearer = []HostBearer{{Hosts: []string{"a.*.example.com"}, Clients: []string{"cli"}}}
		}, `gateway.forward_auth.bearer[0].hosts[0]: "a.*.example.com" is not a valid wildcard`},
		{"forward-auth bearer empty host", func(c *Config) {
			c.Gateway.ForwardAuth.Bearer = []HostBearer{{Hosts: []string{""}, Clients: []string{"cli"}}}
		}, `gateway.forward_auth.bearer[0].hosts[0]: must not be empty`},
		{"forward-auth bearer host twice", func(c *Config) {
			c.Gateway.ForwardAuth.Bearer = []HostBearer{{Hosts: []string{"api.example.com"}, Clients: []string{"cli"}},
				{Hosts: []string{"API.example.com"}, Clients: []string{"svc"}}}
		}, `gateway.forward_auth.bearer[1].hosts[0]: duplicate of gateway.forward_auth.bearer[0].hosts[0]`},
		{"rule client unknown", func(c *Config) { c.Gateway.Rules[3].Clients = []string{"svc", "nope"} },
			`gateway.rules[3].clients[1]: "nope" is not a client_id of oidc.clients`},
		{"rule client without client_credentials", func(c *Config) { c.Gateway.Rules[3].Clients = []string{"cli"} },
			`gateway.rules[3].clients[0]: client "cli" may not use the client_credentials grant`},
		{"rule client duplicate", func(c *Config) { c.Gateway.Rules[3].Clients = []string{"svc", "svc"} },
			`gateway.rules[3].clients[1]: duplicate of clients[0]`},
		{"rule clients on a public rule", func(c *Config) { c.Gateway.Rules[0].Clients = []string{"svc"} },
			`gateway.rules[0].clients: requirements apply only to authenticated rules; this rule is public`},
		// server.tls.acme
		{"acme email", func(c *Config) { c.Server.TLS.ACME.Email = "not an address" }, "server.tls.acme.email: must be a plain email address"},
		{"acme email with name", func(c *Config) { c.Server.TLS.ACME.Email = "Admin <admin@example.com>" }, "server.tls.acme.email: must be a plain email address"},
		{"acme directory empty", func(c *Config) { c.Server.TLS.ACME.DirectoryURL = "" }, "server.tls.acme.directory_url: required"},
		{"acme directory relative", func(c *Config) { c.Server.TLS.ACME.DirectoryURL = "/directory" }, "server.tls.acme.directory_url: must be an absolute https URL"},
		{"acme directory http", func(c *Config) { c.Server.TLS.ACME.DirectoryURL = "http://ca.example.com/dir" }, "server.tls.acme.directory_url: http is allowed only for a loopback host"},
		{"acme directory ftp", func(c *Config) { c.Server.TLS.ACME.DirectoryURL = "ftp://ca.example.com/dir" }, "server.tls.acme.directory_url: must be an absolute https URL"},
		{"acme directory fragment", func(c *Config) { c.Server.TLS.ACME.DirectoryURL = "https://ca.example.com/dir#x" }, "server.tls.acme.directory_url: must not have a fragment"},
		{"acme directory userinfo", func(c *Config) { c.Server.TLS.ACME.DirectoryURL = "https://u:p@ca.example.com/dir" }, "server.tls.acme.directory_url: must not contain a user name"},
		{"acme ca root blank", func(c *Config) { c.Server.TLS.ACME.CARootFile = "  " }, "server.tls.acme.ca_root_file: must be a file path"},
		{"acme host empty", func(c *Config) { c.Server.TLS.ACME.Hosts = []string{"a.example.com", ""} }, "server.tls.acme.hosts[1]: must not be empty"},
		{"acme host wildcard", func(c *Config) { c.Server.TLS.ACME.Hosts = []string{"*.example.com"} }, `server.tls.acme.hosts[0]: "*.example.com": wildcard certificates need the dns-01 challenge`},
		{"acme host ipv4", func(c *Config) { c.Server.TLS.ACME.Hosts = []string{"192.0.2.1"} }, "server.tls.acme.hosts[0]: must be a DNS name, not an IP address"},
		{"acme host ipv6", func(c *Config) { c.Server.TLS.ACME.Hosts = []string{"2001:db8::1"} }, "server.tls.acme.hosts[0]: must be a DNS name, not an IP address"},
		{"acme host port", func(c *Config) { c.Server.TLS.ACME.Hosts = []string{"a.example.com:443"} }, "server.tls.acme.hosts[0]: must be a domain name, without a port"},
		{"acme host url", func(c *Config) { c.Server.TLS.ACME.Hosts = []string{"https://a.example.com"} }, "server.tls.acme.hosts[0]: must be a domain name, not a URL"},
		{"acme host label", func(c *Config) { c.Server.TLS.ACME.Hosts = []string{"a_b.example.com"} }, `server.tls.acme.hosts[0]: "a_b.example.com" is not a valid domain name`},
		{"acme host duplicate", func(c *Config) { c.Server.TLS.ACME.Hosts = []string{"a.example.com", "A.example.com"} }, "server.tls.acme.hosts[1]: duplicate of server.tls.acme.hosts[0]"},
		{"acme no challenges", func(c *Config) { c.Server.TLS.ACME.Challenges = nil }, "server.tls.acme.challenges: at least one is required: http-01 or tls-alpn-01"},
		{"acme dns-01", func(c *Config) { c.Server.TLS.ACME.Challenges = []string{"dns-01"} }, `server.tls.acme.challenges[0]: must be http-01 or tls-alpn-01 (got "dns-01"; dns-01 is not supported)`},
		{"acme challenge case", func(c *Config) { c.Server.TLS.ACME.Challenges = []string{"HTTP-01"} }, `server.tls.acme.challenges[0]: must be http-01 or tls-alpn-01 (got "HTTP-01"`},
		{"acme challenge duplicate", func(c *Config) { c.Server.TLS.ACME.Challenges = []string{"tls-alpn-01", "tls-alpn-01"} }, "server.tls.acme.challenges[1]: duplicate of server.tls.acme.challenges[0]"},
		{"acme http-01 without http_listen", func(c *Config) { c.Server.HTTPListen = "" }, "server.tls.acme.challenges[0]: http-01 needs server.http_listen"},
		{"acme alt http port negative", func(c *Config) { c.Server.TLS.ACME.AltHTTPPort = -1 }, "server.tls.acme.alt_http_port: must be 0 (the standard port, 80) or from 1 to 65535, got -1"},
		{"acme alt tls port too big", func(c *Config) { c.Server.TLS.ACME.AltTLSALPNPort = 65536 }, "server.tls.acme.alt_tls_alpn_port: must be 0 (the standard port, 443) or from 1 to 65535, got 65536"},

		// gateway scalars
		{"session cache negative", func(c *Config) { c.Gateway.SessionCacheTTL = -1 }, "gateway.session_cache_ttl: must not be negative"},
		{"session cache too long", func(c *Config) { c.Gateway.SessionCacheTTL = Duration(5*time.Minute + 1) }, "gateway.session_cache_ttl: must be at most 5m0s"},
		{"cookie name empty", func(c *Config) { c.Gateway.CookieName = "" }, "gateway.cookie_name: required"},
		{"cookie name token", func(c *Config) { c.Gateway.CookieName = "gh app" }, "gateway.cookie_name: must be a cookie name token"},
		{"cookie name host prefix", func(c *Config) { c.Gateway.CookieName = "__Host-app" }, "gateway.cookie_name: must not start with __Host- or __Secure-"},
		{"cookie name secure prefix", func(c *Config) { c.Gateway.CookieName = "__secure-app" }, "gateway.cookie_name: must not start with __Host- or __Secure-"},
		{"cookie name equals session", func(c *Config) { c.Gateway.CookieName = "Gatehouse_Session" }, `gateway.cookie_name: must differ from session.cookie_name ("gatehouse_session")`},
		{"cookie domain url", func(c *Config) { c.Gateway.CookieDomain = "https://example.com" }, "gateway.cookie_domain: must be a domain name, not a URL"},
		{"cookie domain ip", func(c *Config) { c.Gateway.CookieDomain = "10.0.0.1" }, "gateway.cookie_domain: must be a domain name, not an IP address"},
		{"cookie domain port", func(c *Config) { c.Gateway.CookieDomain = "example.com:443" }, "gateway.cookie_domain: must be a domain name, without a port"},
		{"cookie domain dot only", func(c *Config) { c.Gateway.CookieDomain = "." }, "gateway.cookie_domain: must not be empty"},
		{"cookie domain bad label", func(c *Config) { c.Gateway.CookieDomain = "-example.com" }, `gateway.cookie_domain: "-example.com" is not a valid domain name`},
		{"trusted proxy empty", func(c *Config) { c.Gateway.TrustedProxies = []string{""} }, "gateway.trusted_proxies[0]: must not be empty"},
		{"trusted proxy address", func(c *Config) { c.Gateway.TrustedProxies = []string{"10.0.0.1"} }, `gateway.trusted_proxies[0]: "10.0.0.1" is an address, not a CIDR prefix; write "10.0.0.1/32"`},
		{"trusted proxy ipv6 address", func(c *Config) { c.Gateway.TrustedProxies = []string{"::1"} }, `gateway.trusted_proxies[0]: "::1" is an address, not a CIDR prefix; write "::1/128"`},
		{"trusted proxy garbage", func(c *Config) { c.Gateway.TrustedProxies = []string{"10.0.0.0/33"} }, `gateway.trusted_proxies[0]: "10.0.0.0/33" is not a CIDR prefix`},
		{"trusted proxy name", func(c *Config) { c.Gateway.TrustedProxies = []string{"proxy.internal"} }, `gateway.trusted_proxies[0]: "proxy.internal" is not a CIDR prefix`},
		{"trusted proxy zone", func(c *Config) { c.Gateway.TrustedProxies = []string{"fe80::1%eth0/64"} }, `gateway.trusted_proxies[0]: "fe80::1%eth0/64" is not a CIDR prefix`},
		{"trusted proxy host bits", func(c *Config) { c.Gateway.TrustedProxies = []string{"10.1.2.3/8"} }, `gateway.trusted_proxies[0]: "10.1.2.3/8" has host bits set; did you mean "10.0.0.0/8"?`},
		{"trusted proxy duplicate", func(c *Config) { c.Gateway.TrustedProxies = []string{"10.0.0.0/8", "10.0.0.0/8"} }, "gateway.trusted_proxies[1]: duplicate of gateway.trusted_proxies[0]"},
		{"forward auth preset", func(c *Config) { c.Gateway.ForwardAuth.Headers.Presets = []string{"traefik"} }, `gateway.forward_auth.headers.presets[0]: must be oauth2-proxy or authelia (got "traefik")`},
		{"forward auth preset duplicate", func(c *Config) { c.Gateway.ForwardAuth.Headers.Presets = []string{"authelia", "authelia"} }, "gateway.forward_auth.headers.presets[1]: duplicate of gateway.forward_auth.headers.presets[0]"},
		{"dial timeout", func(c *Config) { c.Gateway.Upstream.DialTimeout = 0 }, "gateway.upstream.dial_timeout: must be greater than 0"},
		{"response header timeout", func(c *Config) { c.Gateway.Upstream.ResponseHeaderTimeout = -1 }, "gateway.upstream.response_header_timeout: must be greater than 0"},
		{"fail timeout", func(c *Config) { c.Gateway.Upstream.FailTimeout = 0 }, "gateway.upstream.fail_timeout: must be greater than 0"},
		{"body idle timeout", func(c *Config) { c.Gateway.Upstream.BodyIdleTimeout = 0 }, "gateway.upstream.body_idle_timeout: must be greater than 0"},
		{"route body idle timeout", func(c *Config) { c.Gateway.Routes[0].BodyIdleTimeout = -1 }, "gateway.routes[0].body_idle_timeout: must not be negative (0 means gateway.upstream.body_idle_timeout)"},
		{"idle conns", func(c *Config) { c.Gateway.Upstream.MaxIdleConnsPerHost = 0 }, "gateway.upstream.max_idle_conns_per_host: must be at least 1, got 0"},

		// routes: names, hosts
		{"route name duplicate", func(c *Config) { c.Gateway.Routes[1].Name = "app" }, "gateway.routes[1].name: duplicate of gateway.routes[0]"},
		{"route host missing", func(c *Config) { c.Gateway.Routes[0].Host = "" }, "gateway.routes[0].host: required"},
		{"route host star", func(c *Config) { c.Gateway.Routes[0].Host = "*" }, `gateway.routes[0].host: "*" alone is not a host`},
		{"route host two wildcards", func(c *Config) { c.Gateway.Routes[0].Host = "*.*.example.com" }, `gateway.routes[0].host: "*.*.example.com" is not a valid wildcard: "*" may only be the whole first label`},
		{"route host inner wildcard", func(c *Config) { c.Gateway.Routes[0].Host = "app.*.com" }, `gateway.routes[0].host: "app.*.com" is not a valid wildcard`},
		{"route host partial wildcard", func(c *Config) { c.Gateway.Routes[0].Host = "*app.example.com" }, `gateway.routes[0].host: "*app.example.com" is not a valid wildcard`},
		{"route host wildcard without dot", func(c *Config) { c.Gateway.Routes[0].Host = "*." }, `gateway.routes[0].host: wildcard "*.": a domain name must follow "*."`},
		{"route host wildcard ip", func(c *Config) { c.Gateway.Routes[0].Host = "*.10.0.0.1" }, `gateway.routes[0].host: wildcard "*.10.0.0.1": must be a domain name, not an IP address`},
		{"route host wildcard port", func(c *Config) { c.Gateway.Routes[0].Host = "*.example.com:443" }, `gateway.routes[0].host: wildcard "*.example.com:443": must be a domain name, without a port`},
		{"route host wildcard bad base", func(c *Config) { c.Gateway.Routes[0].Host = "*.exa mple.com" }, `gateway.routes[0].host: wildcard "*.exa mple.com": "exa mple.com" is not a valid domain name`},
		{"route host ip", func(c *Config) { c.Gateway.Routes[0].Host = "192.0.2.1" }, "gateway.routes[0].host: must be a DNS name, not an IP address"},
		{"route host ipv6", func(c *Config) { c.Gateway.Routes[0].Host = "[::1]" }, "gateway.routes[0].host: must be a DNS name, not an IP address"},
		{"route host port", func(c *Config) { c.Gateway.Routes[0].Host = "app.example.com:8443" }, "gateway.routes[0].host: must be a domain name, without a port"},
		{"route host url", func(c *Config) { c.Gateway.Routes[0].Host = "https://app.example.com" }, "gateway.routes[0].host: must be a domain name, not a URL"},
		{"route host path", func(c *Config) { c.Gateway.Routes[0].Host = "app.example.com/x" }, "gateway.routes[0].host: must be a domain name only, without a path"},
		{"route host trailing dot", func(c *Config) { c.Gateway.Routes[0].Host = "app.example.com." }, `gateway.routes[0].host: "app.example.com." is not a valid domain name`},

		// routes: path prefixes
		{"route prefix relative", func(c *Config) { c.Gateway.Routes[0].PathPrefix = "app" }, `gateway.routes[0].path_prefix: "app" must start with "/"`},
		{"route prefix double slash", func(c *Config) { c.Gateway.Routes[0].PathPrefix = "/a//b" }, `gateway.routes[0].path_prefix: "/a//b" is not normalised, so no request path can equal it; write "/a/b"`},
		{"route prefix leading double slash", func(c *Config) { c.Gateway.Routes[0].PathPrefix = "//a" }, `gateway.routes[0].path_prefix: "//a" is not normalised, so no request path can equal it; write "/a"`},
		{"route prefix dot", func(c *Config) { c.Gateway.Routes[0].PathPrefix = "/a/./b" }, `gateway.routes[0].path_prefix: "/a/./b" is not normalised, so no request path can equal it; write "/a/b"`},
		{"route prefix dotdot", func(c *Config) { c.Gateway.Routes[0].PathPrefix = "/a/../b" }, `gateway.routes[0].path_prefix: "/a/../b" is not normalised, so no request path can equal it; write "/b"`},
		{"route prefix trailing dotdot", func(c *Config) { c.Gateway.Routes[0].PathPrefix = "/a/.." }, `gateway.routes[0].path_prefix: "/a/.." is not normalised, so no request path can equal it; write "/"`},
		{"route prefix encoded slash", func(c *Config) { c.Gateway.Routes[0].PathPrefix = "/a%2Fb" }, `gateway.routes[0].path_prefix: "/a%2Fb" is not a valid path: bad request path: encoded slash (%2F)`},
		{"route prefix encoded slash lower", func(c *Config) { c.Gateway.Routes[0].PathPrefix = "/a%2fb" }, `gateway.routes[0].path_prefix: "/a%2fb" is not a valid path: bad request path: encoded slash (%2F)`},
		{"route prefix encoded backslash", func(c *Config) { c.Gateway.Routes[0].PathPrefix = "/a%5Cb" }, `gateway.routes[0].path_prefix: "/a%5Cb" is not a valid path: bad request path: backslash ("\" or %5C)`},
		{"route prefix backslash", func(c *Config) { c.Gateway.Routes[0].PathPrefix = `/a\b` }, `gateway.routes[0].path_prefix: "/a\\b" is not a valid path: bad request path: backslash ("\" or %5C)`},
		{"route prefix encoded dot", func(c *Config) { c.Gateway.Routes[0].PathPrefix = "/%2e%2e/admin" }, `gateway.routes[0].path_prefix: "/%2e%2e/admin" is not normalised, so no request path can equal it; write "/admin"`},
		{"route prefix encoded letter", func(c *Config) { c.Gateway.Routes[0].PathPrefix = "/%61dmin" }, `gateway.routes[0].path_prefix: "/%61dmin" is not normalised, so no request path can equal it; write "/admin"`},
		{"route prefix lower hex", func(c *Config) { c.Gateway.Routes[0].PathPrefix = "/a%3ab" }, `gateway.routes[0].path_prefix: "/a%3ab" is not normalised, so no request path can equal it; write "/a%3Ab"`},
		{"route prefix bad escape", func(c *Config) { c.Gateway.Routes[0].PathPrefix = "/a%zz" }, `gateway.routes[0].path_prefix: "/a%zz" is not a valid path: bad request path: invalid percent-encoding`},
		{"route prefix truncated escape", func(c *Config) { c.Gateway.Routes[0].PathPrefix = "/a%4" }, `gateway.routes[0].path_prefix: "/a%4" is not a valid path: bad request path: truncated percent-encoding`},
		{"route prefix double encoded", func(c *Config) { c.Gateway.Routes[0].PathPrefix = "/a%252e" }, `gateway.routes[0].path_prefix: "/a%252e" is not a valid path: bad request path: double-encoded escape ("%25" followed by two hex digits)`},
		{"route prefix encoded nul", func(c *Config) { c.Gateway.Routes[0].PathPrefix = "/a%00" }, `gateway.routes[0].path_prefix: "/a%00" is not a valid path: bad request path: NUL byte`},
		{"route prefix overlong", func(c *Config) { c.Gateway.Routes[0].PathPrefix = "/%C0%AE%C0%AE/" }, `gateway.routes[0].path_prefix: "/%C0%AE%C0%AE/" is not a valid path: bad request path: overlong UTF-8 encoding`},
		{"route prefix semicolon", func(c *Config) { c.Gateway.Routes[0].PathPrefix = "/a;x" }, `gateway.routes[0].path_prefix: "/a;x" must not contain ";" (matrix parameters are ignored when matching)`},
		{"route prefix encoded semicolon", func(c *Config) { c.Gateway.Routes[0].PathPrefix = "/a%3Bx" }, `gateway.routes[0].path_prefix: "/a%3Bx" is not a valid path: bad request path: encoded semicolon (%3B)`},
		{"route prefix query", func(c *Config) { c.Gateway.Routes[0].PathPrefix = "/a?x=1" }, `gateway.routes[0].path_prefix: "/a?x=1" is not a valid path: bad request path: "?" or "#" in the path (pass the path without query and fragment)`},
		{"route prefix fragment", func(c *Config) { c.Gateway.Routes[0].PathPrefix = "/a#x" }, `gateway.routes[0].path_prefix: "/a#x" is not a valid path: bad request path: "?" or "#" in the path (pass the path without query and fragment)`},
		{"route prefix space", func(c *Config) { c.Gateway.Routes[0].PathPrefix = "/a b" }, `gateway.routes[0].path_prefix: "/a b" is not normalised, so no request path can equal it; write "/a%20b"`},
		{"route prefix non-ascii", func(c *Config) { c.Gateway.Routes[0].PathPrefix = "/café" }, `gateway.routes[0].path_prefix: "/café" is not normalised, so no request path can equal it; write "/caf%C3%A9"`},

		// routes: uniqueness and Gatehouse's own host
		{"route duplicate host and prefix", func(c *Config) { c.Gateway.Routes[0].Host = "API.example.com"; c.Gateway.Routes[0].PathPrefix = "/v1/" }, "gateway.routes[1]: same host and path_prefix as gateway.routes[0]"},
		{"route duplicate empty and slash prefix", func(c *Config) {
			r := c.Gateway.Routes[0]
			r.Name, r.PathPrefix = "app-root", "/"
			c.Gateway.Routes = append(c.Gateway.Routes, r)
		}, "gateway.routes[4]: same host and path_prefix as gateway.routes[0]"},
		{"route duplicate wildcard", func(c *Config) { c.Gateway.Routes[0].Host = "*.APPS.example.com" }, "gateway.routes[2]: same host and path_prefix as gateway.routes[0]"},
		{"route own host whole", func(c *Config) { c.Gateway.Routes[3].PathPrefix = "" }, `gateway.routes[3].host: "sso.example.com" is the host of server.public_url, where Gatehouse serves its own pages`},
		{"route own host root prefix", func(c *Config) { c.Gateway.Routes[3].PathPrefix = "/" }, `gateway.routes[3].host: "sso.example.com" is the host of server.public_url`},
		{"route own host case", func(c *Config) { c.Gateway.Routes[0].Host = "SSO.example.com" }, `gateway.routes[0].host: "sso.example.com" is the host of server.public_url`},
		{"route own host /login", func(c *Config) { c.Gateway.Routes[3].PathPrefix = "/login" }, `gateway.routes[3].path_prefix: "/login" overlaps "/login", which Gatehouse serves itself`},
		{"route own host under /login", func(c *Config) { c.Gateway.Routes[3].PathPrefix = "/login/sso/" }, `gateway.routes[3].path_prefix: "/login/sso/" overlaps "/login"`},
		{"route own host /logout/", func(c *Config) { c.Gateway.Routes[3].PathPrefix = "/logout/" }, `gateway.routes[3].path_prefix: "/logout/" overlaps "/logout"`},
		{"route own host /static", func(c *Config) { c.Gateway.Routes[3].PathPrefix = "/static" }, `gateway.routes[3].path_prefix: "/static" overlaps "/static/"`},
		{"route own host /static/css/", func(c *Config) { c.Gateway.Routes[3].PathPrefix = "/static/css/" }, `gateway.routes[3].path_prefix: "/static/css/" overlaps "/static/"`},
		{"route own host /healthz", func(c *Config) { c.Gateway.Routes[3].PathPrefix = "/healthz" }, `gateway.routes[3].path_prefix: "/healthz" overlaps "/healthz"`},
		{"route own host /readyz", func(c *Config) { c.Gateway.Routes[3].PathPrefix = "/readyz" }, `gateway.routes[3].path_prefix: "/readyz" overlaps "/readyz"`},
		{"route own host /forward-auth", func(c *Config) { c.Gateway.Routes[3].PathPrefix = "/forward-auth/nginx" }, `gateway.routes[3].path_prefix: "/forward-auth/nginx" overlaps "/forward-auth/"`},
		{"route own host /.gatehouse", func(c *Config) { c.Gateway.Routes[3].PathPrefix = "/.gatehouse" }, `gateway.routes[3].path_prefix: "/.gatehouse" overlaps "/.gatehouse/"`},
		{"route own host oidc at root", func(c *Config) { c.Gateway.Routes[3].PathPrefix = "/token" }, `gateway.routes[3].path_prefix: "/token" overlaps "/token"`},
		{"route own host oidc discovery", func(c *Config) { c.Gateway.Routes[3].PathPrefix = "/.well-known/" }, `gateway.routes[3].path_prefix: "/.well-known/" overlaps "/.well-known/openid-configuration"`},
		{"route own host above issuer path", func(c *Config) {
			c.OIDC.Issuer = "https://sso.example.com/api/auth"
			c.Gateway.Routes[3].PathPrefix = "/api/"
		}, `gateway.routes[3].path_prefix: "/api/" overlaps "/api/auth"`},
		{"route own host under issuer path", func(c *Config) {
			c.OIDC.Issuer = "https://sso.example.com/api/auth"
			c.Gateway.Routes[3].PathPrefix = "/api/auth/token"
		}, `gateway.routes[3].path_prefix: "/api/auth/token" overlaps "/api/auth"`},
		{"route own host demo", func(c *Config) {
			c.Demo.Enabled = true
			c.Gateway.Routes[3].PathPrefix = "/demo"
		}, `gateway.routes[3].path_prefix: "/demo" overlaps "/demo/"`},

		// routes: upstreams
		{"route no upstreams", func(c *Config) { c.Gateway.Routes[0].Upstreams = nil }, "gateway.routes[0].upstreams: at least one is required"},
		{"upstream relative", func(c *Config) { c.Gateway.Routes[0].Upstreams = []string{"127.0.0.1:8080"} }, "gateway.routes[0].upstreams[0]: must be an absolute http or https URL"},
		{"upstream scheme", func(c *Config) { c.Gateway.Routes[0].Upstreams = []string{"ws://127.0.0.1:8080"} }, "gateway.routes[0].upstreams[0]: must be an absolute http or https URL"},
		{"upstream unix", func(c *Config) { c.Gateway.Routes[0].Upstreams = []string{"unix:///run/app.sock"} }, "gateway.routes[0].upstreams[0]: must be an absolute http or https URL"},
		{"upstream query", func(c *Config) { c.Gateway.Routes[0].Upstreams = []string{"http://a/?x=1"} }, "gateway.routes[0].upstreams[0]: must not have a query"},
		{"upstream fragment", func(c *Config) { c.Gateway.Routes[0].Upstreams = []string{"http://a/#x"} }, "gateway.routes[0].upstreams[0]: must not have a fragment"},
		{"upstream userinfo", func(c *Config) { c.Gateway.Routes[0].Upstreams = []string{"http://u:p@a/"} }, "gateway.routes[0].upstreams[0]: must not contain a user name or password"},
		{"upstream port zero", func(c *Config) { c.Gateway.Routes[0].Upstreams = []string{"http://a:0/"} }, "gateway.routes[0].upstreams[0]: the port must be a number from 1 to 65535"},
		{"upstream port too big", func(c *Config) { c.Gateway.Routes[0].Upstreams = []string{"http://a:65536/"} }, "gateway.routes[0].upstreams[0]: the port must be a number from 1 to 65535"},
		{"upstream duplicate", func(c *Config) { c.Gateway.Routes[0].Upstreams = []string{"http://a", "http://a"} }, "gateway.routes[0].upstreams[1]: duplicate of gateway.routes[0].upstreams[0]"},
		{"route timeout", func(c *Config) { c.Gateway.Routes[1].Timeout = -1 }, "gateway.routes[1].timeout: must not be negative"},
		{"route max body", func(c *Config) { c.Gateway.Routes[1].MaxBodyBytes = -1 }, "gateway.routes[1].max_body_bytes: must not be negative"},
		{"ca file with http upstreams", func(c *Config) { c.Gateway.Routes[0].UpstreamCAFile = "/ca.pem" }, "gateway.routes[0].upstream_ca_file: only applies to https upstreams, and this route has none"},
		{"ca file blank", func(c *Config) { c.Gateway.Routes[1].UpstreamCAFile = " " }, "gateway.routes[1].upstream_ca_file: must be a file path"},
		{"route preset", func(c *Config) { c.Gateway.Routes[0].Headers.Presets = []string{"Authelia"} }, `gateway.routes[0].headers.presets[0]: must be oauth2-proxy or authelia (got "Authelia")`},
		{"route preset duplicate", func(c *Config) { c.Gateway.Routes[0].Headers.Presets = []string{"oauth2-proxy", "oauth2-proxy"} }, "gateway.routes[0].headers.presets[1]: duplicate of gateway.routes[0].headers.presets[0]"},

		// rules
		{"rule decision missing", func(c *Config) { c.Gateway.Rules[0].Decision = "" }, `gateway.rules[0].decision: is required (public, deny or authenticated)`},
		{"rule decision unknown", func(c *Config) { c.Gateway.Rules[0].Decision = "allow" }, `gateway.rules[0].decision: unknown decision "allow" (want public, deny or authenticated)`},
		{"rule host empty", func(c *Config) { c.Gateway.Rules[0].Hosts = []string{""} }, `gateway.rules[0].hosts[0]: is empty`},
		{"rule host star", func(c *Config) { c.Gateway.Rules[0].Hosts = []string{"*"} }, `gateway.rules[0].hosts[0]: "*" is not a host; leave hosts empty to match any host`},
		{"rule host inner wildcard", func(c *Config) { c.Gateway.Rules[0].Hosts = []string{"a.*.com"} }, `gateway.rules[0].hosts[0]: "a.*.com" is not a valid wildcard`},
		{"rule host ip", func(c *Config) { c.Gateway.Rules[0].Hosts = []string{"10.0.0.1"} }, `gateway.rules[0].hosts[0]: "10.0.0.1" must be a DNS name, not an IP address`},
		{"rule host port", func(c *Config) { c.Gateway.Rules[0].Hosts = []string{"app.example.com:443"} }, `gateway.rules[0].hosts[0]: "app.example.com:443" must not include a port (or be an IPv6 address)`},
		{"rule prefix and regex", func(c *Config) { c.Gateway.Rules[0].PathRegex = "/x" }, `gateway.rules[0].path_regex: path_prefix and path_regex are mutually exclusive`},
		{"rule prefix relative", func(c *Config) { c.Gateway.Rules[0].PathPrefix = "health" }, `gateway.rules[0].path_prefix: "health" must start with "/"`},
		{"rule prefix not normalised", func(c *Config) { c.Gateway.Rules[0].PathPrefix = "/public/../admin" }, `gateway.rules[0].path_prefix: "/public/../admin" is not normalised, so no request path can equal it; write "/admin"`},
		{"rule prefix encoded slash", func(c *Config) { c.Gateway.Rules[0].PathPrefix = "/admin%2F" }, `gateway.rules[0].path_prefix: "/admin%2F" is not a valid path: bad request path: encoded slash (%2F)`},
		{"rule method empty", func(c *Config) { c.Gateway.Rules[2].Methods = []string{""} }, `gateway.rules[2].methods[0]: is empty`},
		{"rule method star", func(c *Config) { c.Gateway.Rules[2].Methods = []string{"*"} }, `gateway.rules[2].methods[0]: "*" is not a method`},
		{"rule method space", func(c *Config) { c.Gateway.Rules[2].Methods = []string{"GET POST"} }, `gateway.rules[2].methods[0]: "GET POST" is not an HTTP method`},
		{"rule method comma", func(c *Config) { c.Gateway.Rules[2].Methods = []string{"GET,POST"} }, `gateway.rules[2].methods[0]: "GET,POST" is not an HTTP method`},
		{"rule network empty", func(c *Config) { c.Gateway.Rules[2].Networks = []string{""} }, `gateway.rules[2].networks[0]: is empty`},
		{"rule network garbage", func(c *Config) { c.Gateway.Rules[2].Networks = []string{"10.0.0.0/40"} }, `gateway.rules[2].networks[0]: "10.0.0.0/40" is not a CIDR prefix`},
		{"rule network host bits", func(c *Config) { c.Gateway.Rules[2].Networks = []string{"192.168.1.1/16"} }, `gateway.rules[2].networks[0]: "192.168.1.1/16" has host bits set; did you mean "192.168.0.0/16"?`},
		{"rule network name", func(c *Config) { c.Gateway.Rules[2].Networks = []string{"office"} }, `gateway.rules[2].networks[0]: "office" is not a CIDR prefix (such as 10.0.0.0/8) or an IP address`},
		{"rule network zone", func(c *Config) { c.Gateway.Rules[2].Networks = []string{"fe80::1%eth0"} }, `gateway.rules[2].networks[0]: "fe80::1%eth0" must not have a zone`},
		{"rule max session age", func(c *Config) { c.Gateway.Rules[1].MaxSessionAge = -1 }, "gateway.rules[1].max_session_age: must not be negative"},
		{"rule second factor", func(c *Config) { c.Gateway.Rules[1].SecondFactor = true }, "gateway.rules[1].second_factor: no second-factor sign-in method is available yet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := acmeConfig()
			tt.mutate(&c)
			err := c.Validate()
			if err == nil {
				t.Fatalf("Validate() = nil, want an error with a line starting %q", tt.want)
			}
			if !hasLine(err, tt.want) {
				t.Errorf("Validate() = %q\nwant a line starting %q", err, tt.want)
			}
			if n := len(lines(err)); n != 1 {
				t.Errorf("Validate() gave %d lines, want 1:\n%v", n, err)
			}
		})
	}
}

// TestValidateGatewayReportsAll checks that problems in every part of the
// gateway section are reported together.
func TestValidateGatewayReportsAll(t *testing.T) {
	c := acmeConfig()
	c.Server.TLS.ACME.Challenges = []string{"dns-01"}
	c.Gateway.SessionCacheTTL = Duration(time.Hour)
	c.Gateway.TrustedProxies = []string{"x"}
	c.Gateway.Routes[0].Host = ""
	c.Gateway.Routes[0].Upstreams = nil
	c.Gateway.Routes[2].PathPrefix = "x"
	c.Gateway.Rules[0].Decision = ""
	c.Gateway.Rules[4].Methods = []string{"*"}
	want := []string{
		"server.tls.acme.challenges[0]: ",
		"gateway.session_cache_ttl: ",
		"gateway.trusted_proxies[0]: ",
		"gateway.routes[0].host: ",
		"gateway.routes[0].upstreams: ",
		"gateway.routes[2].path_prefix: ",
		"gateway.rules[0].decision: ",
		"gateway.rules[4].methods[0]: ",
	}
	err := c.Validate()
	if got := lines(err); len(got) != len(want) {
		t.Errorf("Validate() gave %d lines, want %d:\n%v", len(got), len(want), err)
	}
	for _, w := range want {
		if !hasLine(err, w) {
			t.Errorf("Validate() = %q\nwant a line starting %q", err, w)
		}
	}
}

func TestOwnPaths(t *testing.T) {
	c := Default()
	got := c.OwnPaths()
	for _, want := range []string{"/login", "/logout", "/static/", "/healthz", "/readyz", "/forward-auth/", "/.gatehouse/", "/authorize", "/token", "/.well-known/openid-configuration"} {
		if !slices.Contains(got, want) {
			t.Errorf("OwnPaths() = %v, missing %q", got, want)
		}
	}
	if slices.Contains(got, "/demo/") {
		t.Errorf("OwnPaths() = %v has /demo/ with the demo off", got)
	}

	c.OIDC.Issuer = "https://localhost:8443/api/auth/"
	c.Demo.Enabled = true
	got = c.OwnPaths()
	if !slices.Contains(got, "/api/auth") || !slices.Contains(got, "/demo/") || slices.Contains(got, "/token") {
		t.Errorf("OwnPaths() with issuer path and demo = %v", got)
	}
	for _, p := range got {
		if msg := checkPathPrefix(p); msg != "" {
			t.Errorf("own path %q is not a valid prefix: %s", p, msg)
		}
	}
}

func TestPrefixesOverlap(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"/login", "/login", true},
		{"/login", "/login/x", true},
		{"/login/", "/login", true}, // "/login/" matches "/login/", which "/login" matches too
		{"/login", "/logins", false},
		{"/log", "/login", false},
		{"/static", "/static/", true},
		{"/static/css/", "/static/", true},
		{"/staticx", "/static/", false},
		{"/", "/anything", true},
		{"", "/anything", true},
		{"/a/b", "/a/c", false},
	}
	for _, tt := range tests {
		if got := prefixesOverlap(tt.a, tt.b); got != tt.want {
			t.Errorf("prefixesOverlap(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
		if got := prefixesOverlap(tt.b, tt.a); got != tt.want {
			t.Errorf("prefixesOverlap(%q, %q) = %v, want %v", tt.b, tt.a, got, tt.want)
		}
	}
}

// defaultHeaders are the identity headers every route starts from.
var defaultHeaders = Headers{Presets: []string{PresetOAuth2Proxy, PresetAuthelia}, Assertion: true}

func TestRouteElementDefaultsYAML(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []Headers
	}{
		{"no headers key", "gateway:\n  routes:\n    - host: a.example.com\n", []Headers{defaultHeaders}},
		{"headers null", "gateway:\n  routes:\n    - host: a.example.com\n      headers: ~\n", []Headers{defaultHeaders}},
		{"assertion off keeps presets", "gateway:\n  routes:\n    - host: a.example.com\n      headers: {assertion: false}\n",
			[]Headers{{Presets: defaultHeaders.Presets}}},
		{"assertion null keeps default", "gateway:\n  routes:\n    - host: a.example.com\n      headers: {assertion: ~}\n", []Headers{defaultHeaders}},
		{"empty presets means none", "gateway:\n  routes:\n    - host: a.example.com\n      headers: {presets: []}\n",
			[]Headers{{Presets: []string{}, Assertion: true}}},
		{"one preset, access token", "gateway:\n  routes:\n    - host: a.example.com\n      headers: {presets: [authelia], access_token: true}\n",
			[]Headers{{Presets: []string{PresetAuthelia}, Assertion: true, AccessToken: true}}},
		{"each element its own defaults", "gateway:\n  routes:\n    - {host: a.example.com, headers: {assertion: false, presets: [authelia]}}\n    - {host: b.example.com}\n",
			[]Headers{{Presets: []string{PresetAuthelia}}, defaultHeaders}},
		{"anchor and merge", "gateway:\n  routes:\n    - &r {host: a.example.com, headers: {assertion: false}}\n    - <<: *r\n      host: b.example.com\n    - *r\n",
			[]Headers{{Presets: defaultHeaders.Presets}, {Presets: defaultHeaders.Presets}, {Presets: defaultHeaders.Presets}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, tt.doc, nil)
			var got []Headers
			for _, r := range c.Gateway.Routes {
				got = append(got, r.Headers)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d routes, want %d: %+v", len(got), len(tt.want), c.Gateway.Routes)
			}
			for i := range got {
				if !slices.Equal(got[i].Presets, tt.want[i].Presets) || got[i].Assertion != tt.want[i].Assertion || got[i].AccessToken != tt.want[i].AccessToken {
					t.Errorf("routes[%d].headers = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}

	// The defaults of one route are not shared with another: changing one
	// route's presets leaves the others (and DefaultRoute) alone.
	c := mustParse(t, "gateway:\n  routes:\n    - host: a.example.com\n    - host: b.example.com\n", nil)
	c.Gateway.Routes[0].Headers.Presets[0] = "changed"
	if c.Gateway.Routes[1].Headers.Presets[0] != PresetOAuth2Proxy || DefaultRoute().Headers.Presets[0] != PresetOAuth2Proxy {
		t.Error("routes share their default presets slice")
	}
}

func TestRouteElementDefaultsEnv(t *testing.T) {
	// Appending through the environment starts from DefaultRoute too, and
	// overriding an element from the document keeps what the document said.
	doc := "gateway:\n  routes:\n    - host: a.example.com\n      upstreams: [http://a]\n      headers: {assertion: false}\n"
	c := mustParse(t, doc, map[string]string{
		"GATEHOUSE_GATEWAY_ROUTES_0_PATH_PREFIX":       "/x/",
		"GATEHOUSE_GATEWAY_ROUTES_1_HOST":              "B.example.com",
		"GATEHOUSE_GATEWAY_ROUTES_1_UPSTREAMS":         "http://b1, http://b2",
		"GATEHOUSE_GATEWAY_ROUTES_1_BEARER_CLIENTS":    "cli, mobile",
		"GATEHOUSE_GATEWAY_ROUTES_2_HOST":              "c.example.com",
		"GATEHOUSE_GATEWAY_ROUTES_2_HEADERS_ASSERTION": "false",
		"GATEHOUSE_GATEWAY_ROUTES_3_HOST":              "d.example.com",
		"GATEHOUSE_GATEWAY_ROUTES_3_HEADERS_PRESETS":   ",",
		"GATEHOUSE_GATEWAY_ROUTES_4_HEADERS_PRESETS":   "authelia",
		"GATEHOUSE_GATEWAY_ROUTES_6_HOST":              "skipped: index 5 is missing",
	})
	a := DefaultRoute()
	a.Host, a.PathPrefix, a.Upstreams, a.Headers.Assertion = "a.example.com", "/x/", []string{"http://a"}, false
	b := DefaultRoute()
	b.Host, b.Upstreams, b.Bearer = "b.example.com", []string{"http://b1", "http://b2"}, Bearer{Clients: []string{"cli", "mobile"}}
	cr := DefaultRoute()
	cr.Host, cr.Headers.Assertion = "c.example.com", false
	d := DefaultRoute()
	d.Host, d.Headers.Presets = "d.example.com", []string{}
	e := DefaultRoute()
	e.Headers.Presets = []string{PresetAuthelia}
	want := []Route{a, b, cr, d, e}
	if !reflect.DeepEqual(c.Gateway.Routes, want) {
		t.Errorf("routes =\n%+v\nwant\n%+v", c.Gateway.Routes, want)
	}

	c = mustParse(t, "", map[string]string{"GATEHOUSE_GATEWAY_ROUTES_0_HOST": "x.example.com"})
	want0 := DefaultRoute()
	want0.Host = "x.example.com"
	if !reflect.DeepEqual(c.Gateway.Routes, []Route{want0}) {
		t.Errorf("routes from env only = %+v", c.Gateway.Routes)
	}
}

func TestGatewayEnv(t *testing.T) {
	c := mustParse(t, "", map[string]string{
		"GATEHOUSE_SERVER_TLS_MODE":                           "acme",
		"GATEHOUSE_SERVER_TLS_ACME_EMAIL":                     "admin@example.com",
		"GATEHOUSE_SERVER_TLS_ACME_HOSTS":                     "A.example.com,b.example.com",
		"GATEHOUSE_SERVER_TLS_ACME_CHALLENGES":                "tls-alpn-01",
		"GATEHOUSE_SERVER_TLS_ACME_ALT_TLS_ALPN_PORT":         "5001",
		"GATEHOUSE_GATEWAY_SESSION_CACHE_TTL":                 "30s",
		"GATEHOUSE_GATEWAY_COOKIE_DOMAIN":                     ".Example.com",
		"GATEHOUSE_GATEWAY_TRUSTED_PROXIES":                   "10.0.0.0/8,172.16.0.0/12",
		"GATEHOUSE_GATEWAY_FORWARD_AUTH_ENABLED":              "false",
		"GATEHOUSE_GATEWAY_FORWARD_AUTH_HEADERS_PRESETS":      "authelia",
		"GATEHOUSE_GATEWAY_UPSTREAM_MAX_IDLE_CONNS_PER_HOST":  "64",
		"GATEHOUSE_GATEWAY_RULES_0_DECISION":                  "authenticated",
		"GATEHOUSE_GATEWAY_RULES_0_GROUPS_ANY":                "admins,ops",
		"GATEHOUSE_GATEWAY_RULES_0_MAX_SESSION_AGE":           "1h",
		"GATEHOUSE_GATEWAY_UPSTREAM_RESPONSE_HEADER_TIMEOUT":  "2m",
		"GATEHOUSE_GATEWAY_ROUTES_0_HEADERS_ACCESS_TOKEN":     "1",
		"GATEHOUSE_GATEWAY_ROUTES_0_HOST":                     "App.Example.com",
		"GATEHOUSE_GATEWAY_ROUTES_0_UPSTREAMS":                "http://127.0.0.1:8081",
		"GATEHOUSE_GATEWAY_ROUTES_0_MAX_BODY_BYTES":           "1048576",
		"GATEHOUSE_GATEWAY_ROUTES_0_TIMEOUT":                  "15s",
		"GATEHOUSE_GATEWAY_ROUTES_0_PRESERVE_HOST":            "true",
		"GATEHOUSE_GATEWAY_ROUTES_0_UPSTREAM_CA_FILE":         "",
		"GATEHOUSE_GATEWAY_FORWARD_AUTH_HEADERS_ACCESS_TOKEN": "true",
	})
	g := c.Gateway
	acme := c.Server.TLS.ACME
	if c.Server.TLS.Mode != TLSACME || acme.Email != "admin@example.com" ||
		!slices.Equal(acme.Hosts, []string{"a.example.com", "b.example.com"}) ||
		!slices.Equal(acme.Challenges, []string{ChallengeTLSALPN01}) || acme.AltTLSALPNPort != 5001 ||
		acme.DirectoryURL != LetsEncryptDirectory {
		t.Errorf("acme = %+v", acme)
	}
	if g.SessionCacheTTL != Duration(30*time.Second) || g.CookieDomain != "example.com" ||
		!slices.Equal(g.TrustedProxies, []string{"10.0.0.0/8", "172.16.0.0/12"}) ||
		g.ForwardAuth.Enabled || !slices.Equal(g.ForwardAuth.Headers.Presets, []string{PresetAuthelia}) ||
		!g.ForwardAuth.Headers.Assertion || !g.ForwardAuth.Headers.AccessToken ||
		g.Upstream.MaxIdleConnsPerHost != 64 || g.Upstream.ResponseHeaderTimeout != Duration(2*time.Minute) {
		t.Errorf("gateway = %+v", g)
	}
	if len(g.Rules) != 1 || g.Rules[0].Decision != DecisionAuthenticated || !slices.Equal(g.Rules[0].GroupsAny, []string{"admins", "ops"}) ||
		g.Rules[0].MaxSessionAge != Duration(time.Hour) {
		t.Errorf("rules = %+v", g.Rules)
	}
	if len(g.Routes) != 1 {
		t.Fatalf("routes = %+v", g.Routes)
	}
	r := g.Routes[0]
	if r.Host != "app.example.com" || !r.PreserveHost || r.Timeout != Duration(15*time.Second) || r.MaxBodyBytes != 1<<20 ||
		!r.Headers.AccessToken || !r.Headers.Assertion || !slices.Equal(r.Headers.Presets, defaultHeaders.Presets) {
		t.Errorf("route = %+v", r)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
}

func TestGatewayYAMLNormalized(t *testing.T) {
	c := mustParse(t, `
server:
  tls:
    acme:
      hosts: [App.Example.COM]
gateway:
  cookie_domain: .Example.COM
  routes:
    - host: "*.Apps.Example.com"
      upstreams: [http://x]
`, nil)
	if c.Gateway.CookieDomain != "example.com" || c.Gateway.Routes[0].Host != "*.apps.example.com" ||
		c.Server.TLS.ACME.Hosts[0] != "app.example.com" {
		t.Errorf("not normalized: cookie_domain %q, host %q, acme hosts %v", c.Gateway.CookieDomain, c.Gateway.Routes[0].Host, c.Server.TLS.ACME.Hosts)
	}
}

func TestGatewayYAMLRejects(t *testing.T) {
	tests := []struct{ doc, want string }{
		{"gateway:\n  routes:\n    - host: a\n      hedaers: {}\n", `line 4: gateway.routes[0].hedaers: unknown key (did you mean "headers"?)`},
		{"gateway:\n  routes:\n    - headers: {assertion: maybe}\n", `line 3: gateway.routes[0].headers.assertion: want true or false, got "maybe"`},
		{"gateway:\n  routes:\n    - timeout: 1.5\n", `line 3: gateway.routes[0].timeout: invalid duration "1.5"`},
		{"gateway:\n  routes:\n    - max_body_bytes: 1e6\n", `line 3: gateway.routes[0].max_body_bytes: want an integer`},
		{"gateway:\n  routes: {host: a}\n", `line 2: gateway.routes: want a list, got a mapping`},
		{"gateway:\n  rules:\n    - decision: deny\n      method: [GET]\n", `line 4: gateway.rules[0].method: unknown key (did you mean "methods"?)`},
		{"server:\n  tls:\n    acme:\n      alt_http_port: 80.5\n", `line 4: server.tls.acme.alt_http_port: want an integer`},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.doc), nil)
		if !hasLine(err, tt.want) {
			t.Errorf("Parse(%q) = %v\nwant a line starting %q", tt.doc, err, tt.want)
		}
	}
}

// TestValidateUpstreamHidesPassword makes sure an upstream URL with a
// password is refused without showing the password.
func TestValidateUpstreamHidesPassword(t *testing.T) {
	c := validGatewayConfig()
	c.Gateway.Routes[1].Upstreams[0] = "https://u:secret-XYZ@api.internal/"
	err := c.Validate()
	if err == nil || strings.Contains(err.Error(), "XYZ") {
		t.Errorf("Validate() = %v; want an error that does not show the password", err)
	}
}
