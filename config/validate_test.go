package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const (
	testHashAlice = "$argon2id$v=19$m=47104,t=1,p=1$tA9+z7h1eDTmUR0qDxszYQ$pVfXkH265J3LUIrR5bXf5Iy8BFs6zudJj/vlHkKfB+4"
	testSecret1   = "0123456789abcdef0123456789abcdef"
	testSecret2   = "fedcba9876543210fedcba9876543210"
)

// validConfig returns a configuration that passes Validate and exercises
// every section.
func validConfig() Config {
	c := Default()
	c.Session.Secrets = []Secret{testSecret1, testSecret2}
	c.Login.AllowedReturnURLs = []string{"https://app.example.com/", "http://localhost:3000/cb"}
	c.Users = []User{
		{
			ID: "u-alice-7f3c", Username: "alice", Email: "alice@example.com",
			Picture: "https://example.com/a.png?s=80", Groups: []string{"admins", "eng"},
			PasswordHash: testHashAlice,
		},
		{ID: "u-bob-2a91", Username: "bob", Email: "bob@example.com"},
	}
	return c
}

// lines returns the lines of err's message.
func lines(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

// hasLine reports whether some line of err starts with prefix.
func hasLine(err error, prefix string) bool {
	for _, l := range lines(err) {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

func TestValidateValid(t *testing.T) {
	for name, c := range map[string]Config{
		"default": Default(),
		"full":    validConfig(),
	} {
		if err := c.Validate(); err != nil {
			t.Errorf("%s: Validate() = %v, want nil", name, err)
		}
	}
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"http public_url with tls off", func(c *Config) {
			c.Server.TLS.Mode = TLSOff
			c.Server.PublicURL = "http://sso.internal:8080"
		}},
		{"tls files", func(c *Config) {
			c.Server.TLS = TLS{Mode: TLSFiles, CertFile: "c.pem", KeyFile: "k.pem"}
		}},
		{"http_listen set", func(c *Config) { c.Server.HTTPListen = ":8080" }},
		{"listen with host", func(c *Config) { c.Server.Listen = "127.0.0.1:0" }},
		{"ipv6 listen", func(c *Config) { c.Server.Listen = "[::1]:8443" }},
		{"self-signed wildcard host", func(c *Config) { c.Server.TLS.SelfSignedHosts = []string{"*.example.com", "10.0.0.1"} }},
		{"memory store without bolt path", func(c *Config) {
			c.Store.Backend = StoreMemory
			c.Store.Bolt = Bolt{}
		}},
		{"cookie domain equal to host", func(c *Config) { c.Session.CookieDomain = "localhost" }},
		{"cookie domain parent", func(c *Config) {
			c.Server.PublicURL = "https://sso.example.com"
			c.Session.CookieDomain = "example.com"
		}},
		{"cookie domain leading dot and case", func(c *Config) {
			c.Server.PublicURL = "https://SSO.Example.com"
			c.Session.CookieDomain = ".EXAMPLE.com"
		}},
		{"absolute equal to idle", func(c *Config) { c.Session.AbsoluteTimeout = c.Session.IdleTimeout }},
		{"no secrets", func(c *Config) { c.Session.Secrets = nil }},
		{"password bounds", func(c *Config) {
			c.Password.MemoryKiB = 8192
			c.Password.Parallelism = 255
		}},
		{"password upper bound", func(c *Config) { c.Password.MemoryKiB = 1 << 20 }},
		{"loopback return urls", func(c *Config) {
			c.Login.AllowedReturnURLs = []string{"http://127.0.0.1:9000/", "http://[::1]/x", "http://app.localhost/"}
		}},
		{"no users", func(c *Config) { c.Users = nil }},
		{"minimal user", func(c *Config) { c.Users = []User{{ID: "x", Username: "x"}} }},
		{"id charset", func(c *Config) { c.Users[0].ID = "A-z_0.9:@" + strings.Repeat("x", 119) }},
		{"unicode username", func(c *Config) { c.Users[0].Username = "zoë" }},
		{"max body bound", func(c *Config) { c.Server.MaxBodyBytes = 64 << 20 }},
		{"max header bound", func(c *Config) { c.Server.MaxHeaderBytes = 4096 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(&c)
			if err := c.Validate(); err != nil {
				t.Errorf("Validate() = %v, want nil", err)
			}
		})
	}
}

func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // prefix of one line of the error: the path and usually the message
	}{
		// server.public_url
		{"public_url empty", func(c *Config) { c.Server.PublicURL = "" }, "server.public_url: required"},
		{"public_url relative", func(c *Config) { c.Server.PublicURL = "/sso" }, "server.public_url: must be an absolute https URL"},
		{"public_url no scheme", func(c *Config) { c.Server.PublicURL = "sso.example.com" }, "server.public_url: must be an absolute https URL"},
		{"public_url http with tls", func(c *Config) { c.Server.PublicURL = "http://sso.example.com" }, "server.public_url: must use https"},
		{"public_url ftp", func(c *Config) { c.Server.PublicURL = "ftp://sso.example.com" }, "server.public_url: must be an absolute https URL"},
		{"public_url query", func(c *Config) { c.Server.PublicURL = "https://sso.example.com/?a=b" }, "server.public_url: must not have a query"},
		{"public_url with path", func(c *Config) { c.Server.PublicURL = "https://example.com/sso" }, "server.public_url: must not have a path"},
		{"username with at sign", func(c *Config) { c.Users[0].Username = "a@b" }, "users[0].username: must not contain \"@\""},
		{"public_url empty query", func(c *Config) { c.Server.PublicURL = "https://sso.example.com/?" }, "server.public_url: must not have a query"},
		{"public_url fragment", func(c *Config) { c.Server.PublicURL = "https://sso.example.com/#x" }, "server.public_url: must not have a fragment"},
		{"public_url no host", func(c *Config) { c.Server.PublicURL = "https:///path" }, "server.public_url: must be an absolute https URL"},
		{"public_url port only", func(c *Config) { c.Server.PublicURL = "https://:8443" }, "server.public_url: must be an absolute https URL"},
		{"public_url userinfo", func(c *Config) { c.Server.PublicURL = "https://u:p@sso.example.com" }, "server.public_url: must not contain a user name"},
		{"public_url bad port", func(c *Config) { c.Server.PublicURL = "https://sso.example.com:x" }, "server.public_url:"},
		// listen
		{"listen empty", func(c *Config) { c.Server.Listen = "" }, "server.listen: required"},
		{"listen no port", func(c *Config) { c.Server.Listen = "8443" }, "server.listen: must be host:port"},
		{"listen bad port", func(c *Config) { c.Server.Listen = ":99999" }, "server.listen: the port must be a number"},
		{"listen named port", func(c *Config) { c.Server.Listen = ":https" }, "server.listen: the port must be a number"},
		{"listen empty port", func(c *Config) { c.Server.Listen = "localhost:" }, "server.listen: the port must be a number"},
		{"http_listen no port", func(c *Config) { c.Server.HTTPListen = "8080" }, "server.http_listen: must be host:port"},
		{"http_listen same as listen", func(c *Config) { c.Server.HTTPListen = c.Server.Listen }, "server.http_listen: must differ"},
		// tls
		{"tls mode", func(c *Config) { c.Server.TLS.Mode = "manual" }, `server.tls.mode: must be one of self-signed, files, acme, off (got "manual")`},
		{"tls mode empty", func(c *Config) { c.Server.TLS.Mode = "" }, "server.tls.mode: must be one of"},
		{"tls files no cert", func(c *Config) { c.Server.TLS = TLS{Mode: TLSFiles, KeyFile: "k.pem"} }, "server.tls.cert_file: required"},
		{"tls files no key", func(c *Config) { c.Server.TLS = TLS{Mode: TLSFiles, CertFile: "c.pem"} }, "server.tls.key_file: required"},
		{"self-signed no hosts", func(c *Config) { c.Server.TLS.SelfSignedHosts = nil }, "server.tls.self_signed_hosts: at least one host"},
		{"self-signed bad host", func(c *Config) { c.Server.TLS.SelfSignedHosts = []string{"ok", "not a host"} }, "server.tls.self_signed_hosts[1]: must be an IP address or a DNS name"},
		{"self-signed empty host", func(c *Config) { c.Server.TLS.SelfSignedHosts = []string{""} }, "server.tls.self_signed_hosts[0]:"},
		// timeouts and sizes
		{"read_header_timeout", func(c *Config) { c.Server.ReadHeaderTimeout = 0 }, "server.read_header_timeout: must be greater than 0"},
		{"read_timeout", func(c *Config) { c.Server.ReadTimeout = -1 }, "server.read_timeout: must be greater than 0"},
		{"write_timeout", func(c *Config) { c.Server.WriteTimeout = 0 }, "server.write_timeout: must be greater than 0"},
		{"idle_timeout", func(c *Config) { c.Server.IdleTimeout = 0 }, "server.idle_timeout: must be greater than 0"},
		{"shutdown_timeout", func(c *Config) { c.Server.ShutdownTimeout = 0 }, "server.shutdown_timeout: must be greater than 0"},
		{"max_body_bytes zero", func(c *Config) { c.Server.MaxBodyBytes = 0 }, "server.max_body_bytes: must be from 1 to 67108864"},
		{"max_body_bytes too big", func(c *Config) { c.Server.MaxBodyBytes = 64<<20 + 1 }, "server.max_body_bytes: must be from 1 to 67108864"},
		{"max_header_bytes small", func(c *Config) { c.Server.MaxHeaderBytes = 4095 }, "server.max_header_bytes: must be from 4096"},
		{"max_header_bytes big", func(c *Config) { c.Server.MaxHeaderBytes = 2 << 20 }, "server.max_header_bytes: must be from 4096"},
		{"min_heap_mib negative", func(c *Config) { c.Server.MinHeapMiB = -1 }, "server.min_heap_mib: must be from 0"},
		{"min_heap_mib big", func(c *Config) { c.Server.MinHeapMiB = 65537 }, "server.min_heap_mib: must be from 0"},
		// log
		{"log level", func(c *Config) { c.Log.Level = "verbose" }, `log.level: must be one of debug, info, warn, error (got "verbose")`},
		{"log level case", func(c *Config) { c.Log.Level = "INFO" }, "log.level: must be one of"},
		{"log format", func(c *Config) { c.Log.Format = "xml" }, `log.format: must be one of text, json (got "xml")`},
		// store
		{"store backend", func(c *Config) { c.Store.Backend = "redis" }, `store.backend: must be one of bolt, memory (got "redis")`},
		{"bolt path", func(c *Config) { c.Store.Bolt.Path = "" }, "store.bolt.path: required"},
		{"bolt lock_timeout", func(c *Config) { c.Store.Bolt.LockTimeout = 0 }, "store.bolt.lock_timeout: must be greater than 0"},
		// session cookie
		{"cookie_name empty", func(c *Config) { c.Session.CookieName = "" }, "session.cookie_name: required"},
		{"cookie_name space", func(c *Config) { c.Session.CookieName = "my session" }, "session.cookie_name: must be a cookie name token"},
		{"cookie_name semicolon", func(c *Config) { c.Session.CookieName = "a;b" }, "session.cookie_name: must be a cookie name token"},
		{"cookie_name non-ascii", func(c *Config) { c.Session.CookieName = "sessión" }, "session.cookie_name: must be a cookie name token"},
		{"cookie_name __Host-", func(c *Config) { c.Session.CookieName = "__Host-gh" }, "session.cookie_name: must not start with __Host- or __Secure-"},
		{"cookie_name __secure-", func(c *Config) { c.Session.CookieName = "__secure-gh" }, "session.cookie_name: must not start with __Host- or __Secure-"},
		{"cookie_domain url", func(c *Config) { c.Session.CookieDomain = "https://example.com" }, "session.cookie_domain: must be a domain name, not a URL"},
		{"cookie_domain port", func(c *Config) { c.Session.CookieDomain = "example.com:443" }, "session.cookie_domain: must be a domain name, without a port"},
		{"cookie_domain path", func(c *Config) { c.Session.CookieDomain = "example.com/x" }, "session.cookie_domain: must be a domain name only"},
		{"cookie_domain ip", func(c *Config) { c.Session.CookieDomain = "127.0.0.1" }, "session.cookie_domain: must be a domain name, not an IP address"},
		{"cookie_domain underscore", func(c *Config) { c.Session.CookieDomain = "my_host.example.com" }, "session.cookie_domain: \"my_host.example.com\" is not a valid domain name"},
		{"cookie_domain empty label", func(c *Config) { c.Session.CookieDomain = "example..com" }, "session.cookie_domain: \"example..com\" is not a valid domain name"},
		{"cookie_domain only dot", func(c *Config) { c.Session.CookieDomain = "." }, "session.cookie_domain: must not be empty"},
		{"cookie_domain not within", func(c *Config) {
			c.Server.PublicURL = "https://sso.example.com"
			c.Session.CookieDomain = "example.org"
		}, "session.cookie_domain: the host of server.public_url (sso.example.com) is not within example.org"},
		{"cookie_domain suffix but not subdomain", func(c *Config) {
			c.Server.PublicURL = "https://badexample.com"
			c.Session.CookieDomain = "example.com"
		}, "session.cookie_domain: the host of server.public_url"},
		// session timeouts
		{"session idle_timeout", func(c *Config) { c.Session.IdleTimeout = 0 }, "session.idle_timeout: must be greater than 0"},
		{"session absolute_timeout zero", func(c *Config) { c.Session.AbsoluteTimeout = 0 }, "session.absolute_timeout: must be greater than 0"},
		{"session absolute below idle", func(c *Config) {
			c.Session.IdleTimeout = Duration(time.Hour)
			c.Session.AbsoluteTimeout = Duration(time.Minute)
		}, "session.absolute_timeout: must be at least session.idle_timeout (1h0m0s)"},
		// secrets
		{"secret short", func(c *Config) { c.Session.Secrets = []Secret{testSecret1, "short"} }, "session.secrets[1]: must be at least 32 bytes, got 5"},
		{"secret empty", func(c *Config) { c.Session.Secrets = []Secret{""} }, "session.secrets[0]: must be at least 32 bytes"},
		{"secret duplicate", func(c *Config) { c.Session.Secrets = []Secret{testSecret1, testSecret2, testSecret1} }, "session.secrets[2]: duplicate of session.secrets[0]"},
		// password
		{"memory_kib small", func(c *Config) { c.Password.MemoryKiB = 8191 }, "password.memory_kib: must be from 8192"},
		{"memory_kib big", func(c *Config) { c.Password.MemoryKiB = 1<<20 + 1 }, "password.memory_kib: must be from 8192"},
		{"iterations", func(c *Config) { c.Password.Iterations = 0 }, "password.iterations: must be at least 1"},
		{"parallelism", func(c *Config) { c.Password.Parallelism = 0 }, "password.parallelism: must be at least 1"},
		{"max_concurrent", func(c *Config) { c.Password.MaxConcurrent = 0 }, "password.max_concurrent: must be at least 1"},
		{"max_concurrent negative", func(c *Config) { c.Password.MaxConcurrent = -3 }, "password.max_concurrent: must be at least 1"},
		// login
		{"return url relative", func(c *Config) { c.Login.AllowedReturnURLs = []string{"/app"} }, "login.allowed_return_urls[0]: must be an absolute http or https URL"},
		{"return url http", func(c *Config) {
			c.Login.AllowedReturnURLs = []string{"https://ok.example.com/", "http://app.example.com/"}
		}, "login.allowed_return_urls[1]: http is allowed only for loopback hosts"},
		{"return url javascript", func(c *Config) { c.Login.AllowedReturnURLs = []string{"javascript:alert(1)"} }, "login.allowed_return_urls[0]: must be an absolute http or https URL"},
		{"return url query", func(c *Config) { c.Login.AllowedReturnURLs = []string{"https://app.example.com/?next=x"} }, "login.allowed_return_urls[0]: must not have a query"},
		{"return url fragment", func(c *Config) { c.Login.AllowedReturnURLs = []string{"https://app.example.com/#x"} }, "login.allowed_return_urls[0]: must not have a fragment"},
		{"return url userinfo", func(c *Config) { c.Login.AllowedReturnURLs = []string{"https://evil@app.example.com/"} }, "login.allowed_return_urls[0]: must not contain a user name"},
		{"return url no host", func(c *Config) { c.Login.AllowedReturnURLs = []string{"https:///x"} }, "login.allowed_return_urls[0]: must be an absolute"},
		// users: id
		{"id missing", func(c *Config) { c.Users[1].ID = "" }, "users[1].id: required"},
		{"id space", func(c *Config) { c.Users[1].ID = "u bob" }, "users[1].id: must be 1 to 128 characters"},
		{"id slash", func(c *Config) { c.Users[1].ID = "u/bob" }, "users[1].id: must be 1 to 128 characters"},
		{"id too long", func(c *Config) { c.Users[1].ID = strings.Repeat("a", 129) }, "users[1].id: must be 1 to 128 characters"},
		{"id duplicate", func(c *Config) { c.Users[1].ID = c.Users[0].ID }, "users[1].id: duplicate of users[0]"},
		// users: username
		{"username missing", func(c *Config) { c.Users[1].Username = "" }, "users[1].username: required"},
		{"username space", func(c *Config) { c.Users[1].Username = "bob smith" }, "users[1].username: must not contain spaces"},
		{"username control", func(c *Config) { c.Users[1].Username = "bob\x00" }, "users[1].username: must not contain spaces"},
		{"username tab", func(c *Config) { c.Users[1].Username = "bob\t" }, "users[1].username: must not contain spaces"},
		{"username zero width", func(c *Config) { c.Users[1].Username = "b\u200bob" }, "users[1].username: must not contain spaces"},
		{"username invalid utf8", func(c *Config) { c.Users[1].Username = "bob\xff" }, "users[1].username: must be valid UTF-8"},
		{"username duplicate case", func(c *Config) { c.Users[1].Username = "ALICE" }, "users[1].username: duplicate of users[0]"},
		{"username is other's email", func(c *Config) { c.Users[1].Username = "Alice@Example.com" }, "users[1].username: equals the email of users[0]"},
		// users: email
		{"email invalid", func(c *Config) { c.Users[1].Email = "not-an-email" }, "users[1].email: must be a plain email address"},
		{"email with name", func(c *Config) { c.Users[1].Email = "Bob <bob@example.com>" }, "users[1].email: must be a plain email address"},
		{"email spaces", func(c *Config) { c.Users[1].Email = " bob@example.com" }, "users[1].email: must be a plain email address"},
		{"email duplicate case", func(c *Config) { c.Users[1].Email = "ALICE@example.com" }, "users[1].email: duplicate of users[0]"},
		// users: picture, hash, groups
		{"picture http", func(c *Config) { c.Users[1].Picture = "http://example.com/b.png" }, "users[1].picture: must use https"},
		{"picture relative", func(c *Config) { c.Users[1].Picture = "b.png" }, "users[1].picture: must be an absolute https URL"},
		{"password_hash bcrypt", func(c *Config) { c.Users[1].PasswordHash = "$2b$10$abcdefghijklmnopqrstuv" }, "users[1].password_hash: must be an argon2id hash"},
		{"password_hash plain", func(c *Config) { c.Users[1].PasswordHash = "hunter2" }, "users[1].password_hash: must be an argon2id hash"},
		{"password_hash malformed argon2id", func(c *Config) { c.Users[1].PasswordHash = "$argon2id$v=19$m=65536,t=1$c2FsdA$a2V5" }, "users[1].password_hash: identity: malformed"},
		{"password_hash argon2id over the memory cap", func(c *Config) {
			c.Users[1].PasswordHash = "$argon2id$v=19$m=99999999999,t=1,p=1$tA9+z7h1eDTmUR0qDxszYQ$pVfXkH265J3LUIrR5bXf5Iy8BFs6zudJj/vlHkKfB+4"
		}, "users[1].password_hash:"},
		{"group empty", func(c *Config) { c.Users[0].Groups = []string{"a", ""} }, "users[0].groups[1]: must not be empty"},
		{"group comma", func(c *Config) { c.Users[0].Groups = []string{"a,b"} }, "users[0].groups[0]: must not contain a comma"},
		{"group duplicate", func(c *Config) { c.Users[0].Groups = []string{"a", "b", "a"} }, "users[0].groups[2]: duplicate of users[0].groups[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
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

func TestValidateReportsAll(t *testing.T) {
	c := validConfig()
	c.Server.PublicURL = "ftp://x"
	c.Log.Level = "loud"
	c.Session.Secrets = []Secret{"short"}
	c.Users[1].Username = "alice"
	c.Users[1].Email = "nope"
	c.Password.Iterations = 0
	err := c.Validate()
	want := []string{
		"server.public_url: ",
		"log.level: ",
		"session.secrets[0]: ",
		"users[1].username: duplicate of users[0]",
		"users[1].email: ",
		"password.iterations: ",
	}
	got := lines(err)
	if len(got) != len(want) {
		t.Errorf("Validate() gave %d lines, want %d:\n%v", len(got), len(want), err)
	}
	for _, w := range want {
		if !hasLine(err, w) {
			t.Errorf("Validate() = %q\nwant a line starting %q", err, w)
		}
	}
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != len(want) {
		t.Errorf("Validate() error is not an Errors of %d: %#v", len(want), err)
	}
}

func TestValidateNoSideEffects(t *testing.T) {
	c := validConfig()
	c.Session.CookieDomain = ".Localhost"
	before := c.Session.CookieDomain
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Session.CookieDomain != before {
		t.Errorf("Validate changed cookie_domain")
	}
}

func TestValidateDoesNotLeakSecrets(t *testing.T) {
	c := validConfig()
	const s = "too-short-secret-XYZ"
	c.Session.Secrets = []Secret{s, s}
	c.Users[0].PasswordHash = "plaintext-password-XYZ"
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate() = nil")
	}
	if strings.Contains(err.Error(), "XYZ") {
		t.Errorf("Validate() error shows a secret: %v", err)
	}
}

func TestErrorsFormat(t *testing.T) {
	errs := Errors{
		&FieldError{Path: "a.b", Err: errors.New("bad")},
		&FieldError{Path: "c", Line: 3, Err: errors.New("worse")},
		&FieldError{Path: "d", File: "g.yaml", Line: 4, Err: errors.New("x")},
		&FieldError{Path: "e", Env: "GATEHOUSE_E", Err: errors.New("y")},
		errors.New("plain"),
	}
	want := "a.b: bad\nline 3: c: worse\ng.yaml:4: d: x\nGATEHOUSE_E: e: y\nplain"
	if got := errs.Error(); got != want {
		t.Errorf("Error() =\n%s\nwant\n%s", got, want)
	}
	if !errors.Is(errs, errs[4]) {
		t.Error("errors.Is does not see through Errors")
	}
}
