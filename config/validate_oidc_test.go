package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// validOIDCConfig returns a configuration that passes Validate and
// exercises every part of the oidc section.
func validOIDCConfig() Config {
	c := validConfig()
	c.Server.PublicURL = "https://sso.example.com"
	c.OIDC.Issuer = "https://sso.example.com/api/auth"
	c.OIDC.Keys.Files = []string{"/etc/gatehouse/rsa.pem", "/etc/gatehouse/ec.pem"}
	c.OIDC.Claims = []Claim{
		{Name: "hub_admin", AnyGroup: []string{"admins", "owners"}},
		{Name: "department", Attribute: "department"},
		{Name: "acme:is_eng", Attribute: "department", Equals: "engineering"},
	}
	c.OIDC.Scopes = []Scope{
		{Name: "hub_admin", Description: "Admin flag", Claims: []string{"hub_admin"}},
		{Name: "acme.org", Claims: []string{"department", "acme:is_eng", "email", "groups"}},
	}
	c.OIDC.Clients = []Client{
		{
			ClientID: "business", ClientSecret: testSecret1, Name: "Business",
			RedirectURLs:           []string{"https://business.example.com/api/auth/oauth2/callback/gatehouse", "https://business.example.com/cb?x=1"},
			PostLogoutRedirectURLs: []string{"https://business.example.com/"},
			SkipConsent:            true, RequirePKCE: true,
			Scopes:               []string{"openid", "profile", "email", "offline_access", "hub_admin"},
			BackchannelLogoutURI: "https://business.example.com/bcl?tenant=1",
			SigningAlg:           "ES256",
			AccessTokenTTL:       Duration(time.Hour), IDTokenTTL: Duration(time.Minute), RefreshTokenTTL: Duration(time.Hour),
		},
		{
			ClientID: "spa", Public: true,
			RedirectURLs: []string{"https://spa.example.com/cb", "http://127.0.0.1:5173/cb", "http://localhost/cb", "http://[::1]:80/cb", "com.example.app:/oauth2redirect"},
			GrantTypes:   []string{"authorization_code", "refresh_token"},
		},
		{
			ClientID: "svc~1!", ClientSecret: testSecret2,
			GrantTypes: []string{"client_credentials"}, Scopes: []string{"hub_admin"},
		},
	}
	return c
}

func TestValidateOIDCValid(t *testing.T) {
	if err := validOIDCConfig().Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
}

func TestValidateOIDCAccepts(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"empty issuer", func(c *Config) { c.OIDC.Issuer = "" }},
		{"issuer without path", func(c *Config) { c.OIDC.Issuer = "https://sso.example.com" }},
		{"issuer default port", func(c *Config) { c.OIDC.Issuer = "https://SSO.example.com:443/x" }},
		{"issuer with root public_url", func(c *Config) {
			c.Server.PublicURL = "https://sso.example.com/"
			c.OIDC.Issuer = "https://sso.example.com/api/auth"
		}},
		{"http issuer with tls off", func(c *Config) {
			c.Server.TLS.Mode = TLSOff
			c.Server.PublicURL = "http://sso.internal:8080"
			c.OIDC.Issuer = "http://sso.internal:8080/oidc"
		}},
		{"code_ttl 10m", func(c *Config) { c.OIDC.CodeTTL = Duration(10 * time.Minute) }},
		{"token ttls 1m", func(c *Config) {
			c.OIDC.AccessTokenTTL = Duration(time.Minute)
			c.OIDC.IDTokenTTL = Duration(time.Minute)
			c.OIDC.RefreshTokenTTL = Duration(time.Minute)
			c.OIDC.Clients[0].RefreshTokenTTL = 0
		}},
		{"refresh_grace 0", func(c *Config) { c.OIDC.RefreshGrace = 0 }},
		{"refresh_grace 1m", func(c *Config) { c.OIDC.RefreshGrace = Duration(time.Minute) }},
		{"RS256 only", func(c *Config) {
			c.OIDC.Keys.Algorithms = []string{"RS256"}
			c.OIDC.Keys.Files = []string{"/etc/gatehouse/rsa.pem"}
			c.OIDC.Clients[0].SigningAlg = "RS256"
		}},
		{"RS256 only generated", func(c *Config) {
			c.OIDC.Keys.Algorithms = []string{"RS256"}
			c.OIDC.Keys.Files = nil
			c.OIDC.Clients[0].SigningAlg = ""
		}},
		{"rotation 1h", func(c *Config) { c.OIDC.Keys.RotationPeriod = Duration(time.Hour) }},
		{"no oidc lists", func(c *Config) {
			c.OIDC.Clients, c.OIDC.Scopes, c.OIDC.Claims, c.OIDC.Keys.Files = nil, nil, nil, nil
		}},
		{"scope of standard claims", func(c *Config) {
			c.OIDC.Scopes = append(c.OIDC.Scopes, Scope{Name: "basic", Claims: []string{"name", "given_name",
				"family_name", "preferred_username", "picture", "updated_at", "email", "email_verified", "groups"}})
		}},
		{"claim and scope share a name", func(c *Config) {}},
		{"client_credentials with code", func(c *Config) {
			c.OIDC.Clients[0].GrantTypes = []string{"authorization_code", "client_credentials", "refresh_token"}
		}},
		{"code only", func(c *Config) { c.OIDC.Clients[0].GrantTypes = []string{"authorization_code"} }},
		{"private-use scheme with host", func(c *Config) { c.OIDC.Clients[1].RedirectURLs = []string{"com.example.app://callback"} }},
		{"loopback range", func(c *Config) {
			c.OIDC.Clients[1].RedirectURLs = []string{"http://127.0.0.2:8000/cb", "http://LOCALHOST/cb"}
		}},
		{"max lengths", func(c *Config) {
			c.OIDC.Clients[1].ClientID = strings.Repeat("i", 128)
			c.OIDC.Clients[1].Name = strings.Repeat("n", 256)
			c.OIDC.Clients[1].RedirectURLs = []string{"https://a.example.com/" + strings.Repeat("x", 2048-22)}
		}},
		{"loopback backchannel", func(c *Config) { c.OIDC.Clients[0].BackchannelLogoutURI = "http://127.0.0.1:9000/bcl" }},
		{"client ttls zero", func(c *Config) {
			c.OIDC.Clients[0].AccessTokenTTL, c.OIDC.Clients[0].IDTokenTTL, c.OIDC.Clients[0].RefreshTokenTTL = 0, 0, 0
		}},
		{"client refresh vs default access", func(c *Config) {
			c.OIDC.Clients[0].AccessTokenTTL = 0
			c.OIDC.Clients[0].RefreshTokenTTL = c.OIDC.AccessTokenTTL
		}},
		{"secret of 16 bytes", func(c *Config) { c.OIDC.Clients[0].ClientSecret = "0123456789abcdef" }},
		{"secret starting with <", func(c *Config) { c.OIDC.Clients[0].ClientSecret = "<0123456789abcdef" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validOIDCConfig()
			tt.mutate(&c)
			if err := c.Validate(); err != nil {
				t.Errorf("Validate() = %v, want nil", err)
			}
		})
	}
}

func TestValidateOIDCRejects(t *testing.T) {
	const (
		c0 = "oidc.clients[0]" // business, confidential
		c1 = "oidc.clients[1]" // spa, public
		c2 = "oidc.clients[2]" // svc, client_credentials
	)
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // prefix of one line of the error
	}{
		{"client id reserved for the gateway", func(c *Config) { c.OIDC.Clients[0].ClientID = GatewayClientID }, c0 + ".client_id: \"gatehouse-gateway\" is reserved"},
		// issuer
		{"issuer relative", func(c *Config) { c.OIDC.Issuer = "/api/auth" }, "oidc.issuer: must be an absolute https URL"},
		{"issuer http", func(c *Config) { c.OIDC.Issuer = "http://sso.example.com/api/auth" }, "oidc.issuer: must use https"},
		{"issuer query", func(c *Config) { c.OIDC.Issuer = "https://sso.example.com/api?x=1" }, "oidc.issuer: must not have a query"},
		{"issuer fragment", func(c *Config) { c.OIDC.Issuer = "https://sso.example.com/api#x" }, "oidc.issuer: must not have a fragment"},
		{"issuer trailing slash", func(c *Config) { c.OIDC.Issuer = "https://sso.example.com/api/" }, `oidc.issuer: must not end with "/" (issuers are compared as strings; write "https://sso.example.com/api")`},
		{"issuer root slash", func(c *Config) { c.OIDC.Issuer = "https://sso.example.com/" }, `oidc.issuer: must not end with "/"`},
		{"issuer other host", func(c *Config) { c.OIDC.Issuer = "https://auth.example.com/api" }, "oidc.issuer: must have the origin (scheme, host and port) of server.public_url, https://sso.example.com"},
		{"issuer other port", func(c *Config) { c.OIDC.Issuer = "https://sso.example.com:8443/api" }, "oidc.issuer: must have the origin"},
		{"issuer http other origin with tls off", func(c *Config) {
			c.Server.TLS.Mode = TLSOff
			c.Server.PublicURL = "http://sso.internal:8080"
			c.OIDC.Issuer = "https://sso.internal:8080"
		}, "oidc.issuer: must have the origin"},
		{"issuer empty segment", func(c *Config) { c.OIDC.Issuer = "https://sso.example.com/api//auth" }, `oidc.issuer: must not have empty, "." or ".." path segments`},
		{"issuer dot segment", func(c *Config) { c.OIDC.Issuer = "https://sso.example.com/api/../x" }, `oidc.issuer: must not have empty, "." or ".."`},
		{"issuer encoded path", func(c *Config) { c.OIDC.Issuer = "https://sso.example.com/api%2Fauth" }, "oidc.issuer: must not have percent-encoded"},
		{"issuer userinfo", func(c *Config) { c.OIDC.Issuer = "https://u@sso.example.com" }, "oidc.issuer: must not contain a user name"},
		// lifetimes
		{"code_ttl zero", func(c *Config) { c.OIDC.CodeTTL = 0 }, "oidc.code_ttl: must be greater than 0"},
		{"code_ttl too long", func(c *Config) { c.OIDC.CodeTTL = Duration(11 * time.Minute) }, "oidc.code_ttl: must be at most 10m0s"},
		{"access_token_ttl short", func(c *Config) { c.OIDC.AccessTokenTTL = Duration(59 * time.Second) }, "oidc.access_token_ttl: must be at least 1m0s"},
		{"access_token_ttl zero", func(c *Config) { c.OIDC.AccessTokenTTL = 0 }, "oidc.access_token_ttl: must be at least 1m0s"},
		{"id_token_ttl short", func(c *Config) { c.OIDC.IDTokenTTL = Duration(time.Second) }, "oidc.id_token_ttl: must be at least 1m0s"},
		{"refresh_token_ttl zero", func(c *Config) { c.OIDC.RefreshTokenTTL = 0 }, "oidc.refresh_token_ttl: must be greater than 0"},
		{"refresh below access", func(c *Config) { c.OIDC.RefreshTokenTTL = Duration(29 * time.Minute) }, "oidc.refresh_token_ttl: must be at least oidc.access_token_ttl (30m0s)"},
		{"refresh_grace negative", func(c *Config) { c.OIDC.RefreshGrace = -1 }, "oidc.refresh_grace: must not be negative"},
		{"refresh_grace long", func(c *Config) { c.OIDC.RefreshGrace = Duration(61 * time.Second) }, "oidc.refresh_grace: must be at most 1m0s"},
		// keys
		{"no algorithms", func(c *Config) {
			c.OIDC.Keys.Algorithms = nil
			c.OIDC.Clients[0].SigningAlg = ""
		}, "oidc.keys.algorithms: at least one is required"},
		{"algorithm none", func(c *Config) { c.OIDC.Keys.Algorithms = []string{"RS256", "none"} }, `oidc.keys.algorithms[1]: must be RS256 or ES256 (got "none")`},
		{"algorithm HS256", func(c *Config) { c.OIDC.Keys.Algorithms = []string{"HS256", "RS256"} }, `oidc.keys.algorithms[0]: must be RS256 or ES256 (got "HS256")`},
		{"algorithm lower case", func(c *Config) { c.OIDC.Keys.Algorithms = []string{"RS256", "es256"} }, `oidc.keys.algorithms[1]: must be RS256 or ES256`},
		{"algorithm duplicate", func(c *Config) { c.OIDC.Keys.Algorithms = []string{"RS256", "ES256", "RS256"} }, "oidc.keys.algorithms[2]: duplicate of oidc.keys.algorithms[0]"},
		{"algorithms without RS256", func(c *Config) { c.OIDC.Keys.Algorithms = []string{"ES256"} }, "oidc.keys.algorithms: must include RS256"},
		{"rotation short", func(c *Config) { c.OIDC.Keys.RotationPeriod = Duration(59 * time.Minute) }, "oidc.keys.rotation_period: must be at least 1h0m0s"},
		{"key file empty", func(c *Config) { c.OIDC.Keys.Files = []string{"/a.pem", ""} }, "oidc.keys.files[1]: must not be empty"},
		{"key file blank", func(c *Config) { c.OIDC.Keys.Files = []string{" "} }, "oidc.keys.files[0]: must not be empty"},
		{"key file duplicate", func(c *Config) { c.OIDC.Keys.Files = []string{"/a.pem", "/a.pem"} }, "oidc.keys.files[1]: duplicate of oidc.keys.files[0]"},
		{"key files too few", func(c *Config) { c.OIDC.Keys.Files = []string{"/a.pem"} }, "oidc.keys.files: give exactly one key file per algorithm in oidc.keys.algorithms (2), got 1"},
		{"key files too many", func(c *Config) {
			c.OIDC.Keys.Algorithms = []string{"RS256"}
			c.OIDC.Clients[0].SigningAlg = ""
		}, "oidc.keys.files: give exactly one key file per algorithm in oidc.keys.algorithms (1), got 2"},
		// scopes
		{"scope name missing", func(c *Config) { c.OIDC.Scopes[1].Name = "" }, "oidc.scopes[1].name: required"},
		{"scope name space", func(c *Config) { c.OIDC.Scopes[1].Name = "read all" }, "oidc.scopes[1].name: must be 1 to 128 characters from A-Z a-z 0-9 _ . : -"},
		{"scope name slash", func(c *Config) { c.OIDC.Scopes[1].Name = "api/read" }, "oidc.scopes[1].name: must be 1 to 128 characters"},
		{"scope name long", func(c *Config) { c.OIDC.Scopes[1].Name = strings.Repeat("s", 129) }, "oidc.scopes[1].name: must be 1 to 128 characters"},
		{"scope openid", func(c *Config) { c.OIDC.Scopes[1].Name = "openid" }, `oidc.scopes[1].name: "openid" is a standard scope`},
		{"scope offline_access", func(c *Config) { c.OIDC.Scopes[0].Name = "offline_access" }, `oidc.scopes[0].name: "offline_access" is a standard scope`},
		{"scope groups", func(c *Config) { c.OIDC.Scopes[0].Name = "groups" }, `oidc.scopes[0].name: "groups" is a standard scope`},
		{"scope duplicate", func(c *Config) { c.OIDC.Scopes[1].Name = "hub_admin" }, "oidc.scopes[1].name: duplicate of oidc.scopes[0]"},
		{"scope unknown claim", func(c *Config) { c.OIDC.Scopes[1].Claims = []string{"department", "salary"} }, `oidc.scopes[1].claims[1]: unknown claim "salary": name a standard claim (name, given_name,`},
		{"scope registered non-releasable claim", func(c *Config) { c.OIDC.Scopes[0].Claims = []string{"iss"} }, `oidc.scopes[0].claims[0]: unknown claim "iss"`},
		{"scope sub", func(c *Config) { c.OIDC.Scopes[0].Claims = []string{"hub_admin", "sub"} }, `oidc.scopes[0].claims[1]: "sub" is in every ID token and userinfo response already`},
		{"scope duplicate claim", func(c *Config) { c.OIDC.Scopes[0].Claims = []string{"hub_admin", "hub_admin"} }, "oidc.scopes[0].claims[1]: duplicate of oidc.scopes[0].claims[0]"},
		// claims
		{"claim name missing", func(c *Config) { c.OIDC.Claims[2].Name = "" }, "oidc.claims[2].name: required"},
		{"claim name chars", func(c *Config) { c.OIDC.Claims[2].Name = "https://acme.com/eng" }, "oidc.claims[2].name: must be 1 to 128 characters from A-Z a-z 0-9 _ . : -"},
		{"claim sub", func(c *Config) { c.OIDC.Claims[0].Name = "sub" }, `oidc.claims[0].name: "sub" is a registered JWT or OpenID Connect claim`},
		{"claim email", func(c *Config) { c.OIDC.Claims[0].Name = "email" }, `oidc.claims[0].name: "email" is a registered`},
		{"claim groups", func(c *Config) { c.OIDC.Claims[0].Name = "groups" }, `oidc.claims[0].name: "groups" is a registered`},
		{"claim client_id", func(c *Config) { c.OIDC.Claims[0].Name = "client_id" }, `oidc.claims[0].name: "client_id" is a registered`},
		{"claim at_hash", func(c *Config) { c.OIDC.Claims[0].Name = "at_hash" }, `oidc.claims[0].name: "at_hash" is a registered`},
		{"claim duplicate", func(c *Config) { c.OIDC.Claims[1].Name = "hub_admin" }, "oidc.claims[1].name: duplicate of oidc.claims[0]"},
		{"claim both sources", func(c *Config) { c.OIDC.Claims[0].Attribute = "role" }, "oidc.claims[0]: set any_group or attribute, not both"},
		{"claim no source", func(c *Config) { c.OIDC.Claims[1].Attribute = "" }, "oidc.claims[1]: set any_group (true when the user is in any of these groups) or attribute"},
		{"claim equals without attribute", func(c *Config) { c.OIDC.Claims[0].Equals = "x" }, "oidc.claims[0].equals: only applies with attribute"},
		{"claim empty group", func(c *Config) { c.OIDC.Claims[0].AnyGroup = []string{"admins", ""} }, "oidc.claims[0].any_group[1]: must not be empty"},
		{"claim group comma", func(c *Config) { c.OIDC.Claims[0].AnyGroup = []string{"a,b"} }, "oidc.claims[0].any_group[0]: must not contain a comma"},
		{"claim group duplicate", func(c *Config) { c.OIDC.Claims[0].AnyGroup = []string{"a", "a"} }, "oidc.claims[0].any_group[1]: duplicate of oidc.claims[0].any_group[0]"},
		// clients: id
		{"client_id missing", func(c *Config) { c.OIDC.Clients[1].ClientID = "" }, c1 + ".client_id: required"},
		{"client_id space", func(c *Config) { c.OIDC.Clients[1].ClientID = "my app" }, c1 + ".client_id: must be printable ASCII without spaces"},
		{"client_id non-ascii", func(c *Config) { c.OIDC.Clients[1].ClientID = "appé" }, c1 + ".client_id: must be printable ASCII without spaces"},
		{"client_id control", func(c *Config) { c.OIDC.Clients[1].ClientID = "app\x00" }, c1 + ".client_id: must be printable ASCII"},
		{"client_id long", func(c *Config) { c.OIDC.Clients[1].ClientID = strings.Repeat("a", 129) }, c1 + ".client_id: must be at most 128 bytes"},
		{"name long", func(c *Config) { c.OIDC.Clients[1].Name = strings.Repeat("n", 257) }, c1 + ".name: must be at most 256 bytes"},
		{"name control", func(c *Config) { c.OIDC.Clients[1].Name = "App\nName" }, c1 + ".name: must not contain control characters"},
		{"client_id duplicate", func(c *Config) { c.OIDC.Clients[2].ClientID = "business" }, c2 + ".client_id: duplicate of oidc.clients[0]"},
		// clients: secret
		{"confidential without secret", func(c *Config) { c.OIDC.Clients[0].ClientSecret = "" }, c0 + ".client_secret: required for a confidential client"},
		{"secret short", func(c *Config) { c.OIDC.Clients[0].ClientSecret = "0123456789abcde" }, c0 + ".client_secret: must be at least 16 bytes, got 15"},
		{"secret placeholder", func(c *Config) { c.OIDC.Clients[0].ClientSecret = "<generated; matches the consumer side>" }, c0 + ".client_secret: is a placeholder (<...>)"},
		{"public with secret", func(c *Config) { c.OIDC.Clients[1].ClientSecret = testSecret1 }, c1 + ".client_secret: a public client must not have one"},
		// clients: redirect URLs
		{"no redirect_urls", func(c *Config) { c.OIDC.Clients[0].RedirectURLs = nil }, c0 + ".redirect_urls: at least one is required for the authorization_code grant"},
		{"no redirect_urls default grants", func(c *Config) {
			c.OIDC.Clients[0].RedirectURLs = nil
			c.OIDC.Clients[0].GrantTypes = []string{"client_credentials", "authorization_code"}
		}, c0 + ".redirect_urls: at least one is required"},
		{"redirect empty", func(c *Config) { c.OIDC.Clients[0].RedirectURLs = []string{""} }, c0 + ".redirect_urls[0]: must not be empty"},
		{"redirect relative", func(c *Config) { c.OIDC.Clients[0].RedirectURLs = []string{"/cb"} }, c0 + ".redirect_urls[0]: must be an absolute URL: https, http on a loopback host, or a private-use scheme"},
		{"redirect fragment", func(c *Config) { c.OIDC.Clients[0].RedirectURLs = []string{"https://a.example.com/cb#x"} }, c0 + ".redirect_urls[0]: must not have a fragment"},
		{"redirect empty fragment", func(c *Config) { c.OIDC.Clients[0].RedirectURLs = []string{"https://a.example.com/cb#"} }, c0 + ".redirect_urls[0]: must not have a fragment"},
		{"redirect http", func(c *Config) {
			c.OIDC.Clients[1].RedirectURLs = []string{"https://a.example.com/", "http://a.example.com/cb"}
		}, c1 + ".redirect_urls[1]: http is allowed only for loopback hosts"},
		{"redirect http lookalike", func(c *Config) { c.OIDC.Clients[1].RedirectURLs = []string{"http://127.0.0.1.evil.com/cb"} }, c1 + ".redirect_urls[0]: http is allowed only for loopback hosts"},
		{"redirect javascript", func(c *Config) { c.OIDC.Clients[1].RedirectURLs = []string{"javascript:alert(1)"} }, c1 + `.redirect_urls[0]: the scheme "javascript" is not allowed`},
		{"redirect data", func(c *Config) { c.OIDC.Clients[1].RedirectURLs = []string{"data:text/html,x"} }, c1 + `.redirect_urls[0]: the scheme "data" is not allowed`},
		{"redirect custom scheme without dot", func(c *Config) { c.OIDC.Clients[1].RedirectURLs = []string{"myapp:/cb"} }, c1 + `.redirect_urls[0]: the scheme "myapp" is not allowed`},
		{"redirect no host", func(c *Config) { c.OIDC.Clients[1].RedirectURLs = []string{"https:///cb"} }, c1 + ".redirect_urls[0]: must be an absolute URL"},
		{"redirect opaque https", func(c *Config) { c.OIDC.Clients[1].RedirectURLs = []string{"https:a.example.com"} }, c1 + ".redirect_urls[0]: must be an absolute URL"},
		{"redirect userinfo", func(c *Config) { c.OIDC.Clients[1].RedirectURLs = []string{"https://evil@a.example.com/"} }, c1 + ".redirect_urls[0]: must not contain a user name"},
		{"redirect wildcard", func(c *Config) { c.OIDC.Clients[1].RedirectURLs = []string{"https://*.example.com/cb"} }, c1 + ".redirect_urls[0]: must not contain wildcards"},
		{"redirect space", func(c *Config) { c.OIDC.Clients[1].RedirectURLs = []string{"https://a.example.com/c b"} }, c1 + ".redirect_urls[0]: must not contain spaces, control characters, backslashes or non-ASCII characters"},
		{"redirect non-ascii", func(c *Config) { c.OIDC.Clients[1].RedirectURLs = []string{"https://a.example.com/café"} }, c1 + ".redirect_urls[0]: must not contain spaces, control characters, backslashes or non-ASCII"},
		{"redirect backslash", func(c *Config) { c.OIDC.Clients[1].RedirectURLs = []string{`https://a.example.com\@evil.com/`} }, c1 + ".redirect_urls[0]: must not contain spaces, control characters, backslashes"},
		{"redirect too long", func(c *Config) {
			c.OIDC.Clients[1].RedirectURLs = []string{"https://a.example.com/" + strings.Repeat("x", 2048)}
		}, c1 + ".redirect_urls[0]: must be at most 2048 bytes"},
		{"redirect http localhost subdomain", func(c *Config) { c.OIDC.Clients[1].RedirectURLs = []string{"http://app.localhost/cb"} }, c1 + ".redirect_urls[0]: http is allowed only for loopback hosts"},
		{"redirect private scheme only", func(c *Config) { c.OIDC.Clients[1].RedirectURLs = []string{"com.example.app:"} }, c1 + ".redirect_urls[0]: must have a path after the scheme"},
		{"redirect duplicate", func(c *Config) {
			c.OIDC.Clients[1].RedirectURLs = []string{"https://a.example.com/", "https://a.example.com/"}
		}, c1 + ".redirect_urls[1]: duplicate of " + c1 + ".redirect_urls[0]"},
		{"post-logout http", func(c *Config) {
			c.OIDC.Clients[0].PostLogoutRedirectURLs = []string{"https://b.example.com/", "http://b.example.com/"}
		}, c0 + ".post_logout_redirect_urls[1]: http is allowed only for loopback hosts"},
		{"post-logout fragment", func(c *Config) { c.OIDC.Clients[0].PostLogoutRedirectURLs = []string{"https://b.example.com/#bye"} }, c0 + ".post_logout_redirect_urls[0]: must not have a fragment"},
		{"post-logout relative", func(c *Config) { c.OIDC.Clients[0].PostLogoutRedirectURLs = []string{"/"} }, c0 + ".post_logout_redirect_urls[0]: must be an absolute URL"},
		// clients: scopes
		{"client unknown scope", func(c *Config) { c.OIDC.Clients[0].Scopes = []string{"openid", "admin"} }, c0 + `.scopes[1]: unknown scope "admin"`},
		{"client duplicate scope", func(c *Config) { c.OIDC.Clients[0].Scopes = []string{"openid", "openid"} }, c0 + ".scopes[1]: duplicate of " + c0 + ".scopes[0]"},
		// clients: grant types
		{"grant unknown", func(c *Config) { c.OIDC.Clients[0].GrantTypes = []string{"authorization_code", "implicit"} }, c0 + `.grant_types[1]: must be one of authorization_code, refresh_token, client_credentials (got "implicit")`},
		{"grant password", func(c *Config) { c.OIDC.Clients[0].GrantTypes = []string{"password"} }, c0 + `.grant_types[0]: must be one of`},
		{"grant duplicate", func(c *Config) {
			c.OIDC.Clients[0].GrantTypes = []string{"authorization_code", "authorization_code"}
		}, c0 + ".grant_types[1]: duplicate of " + c0 + ".grant_types[0]"},
		{"grant client_credentials public", func(c *Config) {
			c.OIDC.Clients[1].GrantTypes = []string{"authorization_code", "client_credentials"}
		}, c1 + ".grant_types[1]: client_credentials needs a confidential client"},
		{"grant refresh without code", func(c *Config) {
			c.OIDC.Clients[2].GrantTypes = []string{"client_credentials", "refresh_token"}
		}, c2 + ".grant_types: refresh_token needs authorization_code"},
		// clients: back-channel logout
		{"backchannel http", func(c *Config) { c.OIDC.Clients[0].BackchannelLogoutURI = "http://b.example.com/bcl" }, c0 + ".backchannel_logout_uri: http is allowed only for loopback hosts"},
		{"backchannel relative", func(c *Config) { c.OIDC.Clients[0].BackchannelLogoutURI = "/bcl" }, c0 + ".backchannel_logout_uri: must be an absolute https URL"},
		{"backchannel fragment", func(c *Config) { c.OIDC.Clients[0].BackchannelLogoutURI = "https://b.example.com/bcl#x" }, c0 + ".backchannel_logout_uri: must not have a fragment"},
		{"backchannel private scheme", func(c *Config) { c.OIDC.Clients[0].BackchannelLogoutURI = "com.example.app:/bcl" }, c0 + ".backchannel_logout_uri: must be an absolute https URL"},
		{"backchannel userinfo", func(c *Config) { c.OIDC.Clients[0].BackchannelLogoutURI = "https://u:p@b.example.com/bcl" }, c0 + ".backchannel_logout_uri: must not contain a user name"},
		// clients: signing_alg
		{"signing_alg unknown", func(c *Config) { c.OIDC.Clients[0].SigningAlg = "HS256" }, c0 + `.signing_alg: must be one of oidc.keys.algorithms (RS256, ES256), got "HS256"`},
		{"signing_alg not published", func(c *Config) { c.OIDC.Keys.Algorithms = []string{"RS256"} }, c0 + `.signing_alg: must be one of oidc.keys.algorithms (RS256), got "ES256"`},
		{"signing_alg none", func(c *Config) { c.OIDC.Clients[1].SigningAlg = "none" }, c1 + `.signing_alg: must be one of oidc.keys.algorithms`},
		// clients: lifetimes
		{"client access negative", func(c *Config) { c.OIDC.Clients[1].AccessTokenTTL = -1 }, c1 + ".access_token_ttl: must not be negative (0 means oidc.access_token_ttl)"},
		{"client id negative", func(c *Config) { c.OIDC.Clients[1].IDTokenTTL = -1 }, c1 + ".id_token_ttl: must not be negative"},
		{"client refresh negative", func(c *Config) { c.OIDC.Clients[1].RefreshTokenTTL = -1 }, c1 + ".refresh_token_ttl: must not be negative"},
		{"client access short", func(c *Config) { c.OIDC.Clients[1].AccessTokenTTL = Duration(time.Second) }, c1 + ".access_token_ttl: must be 0 (oidc.access_token_ttl) or at least 1m0s"},
		{"client id short", func(c *Config) { c.OIDC.Clients[1].IDTokenTTL = Duration(time.Second) }, c1 + ".id_token_ttl: must be 0 (oidc.id_token_ttl) or at least 1m0s"},
		{"client refresh below own access", func(c *Config) { c.OIDC.Clients[0].RefreshTokenTTL = Duration(59 * time.Minute) }, c0 + ".refresh_token_ttl: must be at least the client's access token lifetime (1h0m0s)"},
		{"client refresh below default access", func(c *Config) { c.OIDC.Clients[1].RefreshTokenTTL = Duration(time.Minute) }, c1 + ".refresh_token_ttl: must be at least the client's access token lifetime (30m0s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validOIDCConfig()
			tt.mutate(&c)
			err := c.Validate()
			if err == nil {
				t.Fatalf("Validate() = nil, want an error with a line starting %q", tt.want)
			}
			if !hasLine(err, tt.want) {
				t.Errorf("Validate() = %q\nwant a line starting %q", err, tt.want)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Path == "" {
				t.Errorf("Validate() error %#v has no *FieldError with a path", err)
			}
		})
	}
}

// TestValidateOIDCReportsAll: one problem per rule broken, nothing more.
func TestValidateOIDCReportsAll(t *testing.T) {
	c := validOIDCConfig()
	c.OIDC.Issuer = "https://other.example.com"
	c.OIDC.CodeTTL = Duration(time.Hour)
	c.OIDC.Claims[0].Name = "sub"
	c.OIDC.Clients[1].ClientSecret = testSecret1
	c.OIDC.Clients[2].GrantTypes = []string{"client_credentials", "password"}
	want := []string{
		"oidc.issuer: ",
		"oidc.code_ttl: ",
		"oidc.claims[0].name: ",
		// hub_admin is no longer defined, so the scope releasing it fails.
		"oidc.scopes[0].claims[0]: unknown claim \"hub_admin\"",
		"oidc.clients[1].client_secret: ",
		"oidc.clients[2].grant_types[1]: ",
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

func TestIssuerURL(t *testing.T) {
	c := Default()
	if got := c.IssuerURL(); got != "https://localhost:8443" {
		t.Errorf("default IssuerURL() = %q", got)
	}
	c.Server.PublicURL = "https://sso.example.com/"
	if got := c.IssuerURL(); got != "https://sso.example.com" {
		t.Errorf("IssuerURL() = %q", got)
	}
	c.OIDC.Issuer = "https://sso.example.com/api/auth"
	if got := c.IssuerURL(); got != c.OIDC.Issuer {
		t.Errorf("IssuerURL() = %q", got)
	}
}
