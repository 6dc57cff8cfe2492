package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestEnvScalars(t *testing.T) {
	c := mustParse(t, "", map[string]string{
		"GATEHOUSE_SERVER_PUBLIC_URL":          "https://sso.example.com",
		"GATEHOUSE_SERVER_LISTEN":              ":9443",
		"GATEHOUSE_SERVER_HTTP_LISTEN":         ":8080",
		"GATEHOUSE_SERVER_TLS_MODE":            "files",
		"GATEHOUSE_SERVER_TLS_CERT_FILE":       "/c.pem",
		"GATEHOUSE_SERVER_READ_HEADER_TIMEOUT": "3s",
		"GATEHOUSE_SERVER_MAX_BODY_BYTES":      "1048576",
		"GATEHOUSE_SERVER_MAX_HEADER_BYTES":    "8192",
		"GATEHOUSE_LOG_FORMAT":                 "json",
		"GATEHOUSE_STORE_BACKEND":              "memory",
		"GATEHOUSE_STORE_BOLT_PATH":            "/var/lib/gh.db",
		"GATEHOUSE_STORE_BOLT_LOCK_TIMEOUT":    "1m",
		"GATEHOUSE_SESSION_IDLE_TIMEOUT":       "30m",
		"GATEHOUSE_SESSION_COOKIE_DOMAIN":      ".Example.COM",
		"GATEHOUSE_PASSWORD_MEMORY_KIB":        "65536",
		"GATEHOUSE_PASSWORD_PARALLELISM":       "4",
		"GATEHOUSE_PASSWORD_MAX_CONCURRENT":    "2",
		"GATEHOUSE_DEMO_ENABLED":               "true",
	})
	want := Default()
	want.Server.PublicURL = "https://sso.example.com"
	want.Server.Listen = ":9443"
	want.Server.HTTPListen = ":8080"
	want.Server.TLS.Mode = TLSFiles
	want.Server.TLS.CertFile = "/c.pem"
	want.Server.ReadHeaderTimeout = Duration(3 * time.Second)
	want.Server.MaxBodyBytes = 1 << 20
	want.Server.MaxHeaderBytes = 8192
	want.Log.Format = "json"
	want.Store.Backend = StoreMemory
	want.Store.Bolt.Path = "/var/lib/gh.db"
	want.Store.Bolt.LockTimeout = Duration(time.Minute)
	want.Session.IdleTimeout = Duration(30 * time.Minute)
	want.Session.CookieDomain = "example.com" // normalized
	want.Password.MemoryKiB = 65536
	want.Password.Parallelism = 4
	want.Password.MaxConcurrent = 2
	want.Demo.Enabled = true
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got\n%+v\nwant\n%+v", c, want)
	}
}

func TestEnvWinsOverFile(t *testing.T) {
	c := mustParse(t, "server:\n  listen: \":1\"\ndemo:\n  enabled: true\nusers:\n  - id: a\n    username: a\n", map[string]string{
		"GATEHOUSE_SERVER_LISTEN":      ":2",
		"GATEHOUSE_DEMO_ENABLED":       "false",
		"GATEHOUSE_USERS_0_USERNAME":   "b",
		"GATEHOUSE_SERVER_TLS_MODE":    "", // empty means unset
		"GATEHOUSE_SERVER_LISTEN_X":    "ignored",
		"GATEHOUSE_SERVER_PUBLICURL":   "ignored",
		"GATEHOUSE_USERS_0_ATTRIBUTES": "ignored",
	})
	if c.Server.Listen != ":2" || c.Demo.Enabled || c.Users[0].Username != "b" || c.Server.TLS.Mode != TLSSelfSigned {
		t.Errorf("got %+v", c)
	}
	if c.Users[0].Attributes != nil {
		t.Errorf("attributes set from env: %v", c.Users[0].Attributes)
	}
}

func TestEnvLists(t *testing.T) {
	c := mustParse(t, "users:\n  - id: a\n    username: a\n    groups: [x]\n", map[string]string{
		"GATEHOUSE_SESSION_SECRETS":                testSecret1 + ", " + testSecret2,
		"GATEHOUSE_LOGIN_ALLOWED_RETURN_URLS":      "https://a.example.com/,https://b.example.com/x",
		"GATEHOUSE_SERVER_TLS_SELF_SIGNED_HOSTS":   ",",
		"GATEHOUSE_USERS_0_GROUPS":                 "admins, ,eng,",
		"GATEHOUSE_SERVER_TLS_SELF_SIGNED_HOSTS_0": "ignored",
		"GATEHOUSE_LOGIN_ALLOWED_RETURN_URLS_FILE": "ignored: not a secret",
	})
	if !reflect.DeepEqual(c.Session.Secrets, []Secret{testSecret1, testSecret2}) {
		t.Errorf("secrets = %q", c.Session.Secrets)
	}
	if !reflect.DeepEqual(c.Login.AllowedReturnURLs, []string{"https://a.example.com/", "https://b.example.com/x"}) {
		t.Errorf("allowed_return_urls = %q", c.Login.AllowedReturnURLs)
	}
	if c.Server.TLS.SelfSignedHosts == nil || len(c.Server.TLS.SelfSignedHosts) != 0 {
		t.Errorf(`"," did not empty self_signed_hosts: %q`, c.Server.TLS.SelfSignedHosts)
	}
	if !reflect.DeepEqual(c.Users[0].Groups, []string{"admins", "eng"}) {
		t.Errorf("groups = %q", c.Users[0].Groups)
	}
}

func TestEnvUsers(t *testing.T) {
	doc := "users:\n  - id: a\n    username: a\n    attributes: {k: v}\n"
	c := mustParse(t, doc, map[string]string{
		"GATEHOUSE_USERS_0_EMAIL":          "a@example.com",
		"GATEHOUSE_USERS_0_EMAIL_VERIFIED": "1",
		"GATEHOUSE_USERS_1_ID":             "b",
		"GATEHOUSE_USERS_1_USERNAME":       "b",
		"GATEHOUSE_USERS_1_GROUPS":         "g1,g2",
		"GATEHOUSE_USERS_1_DISABLED":       "t",
		"GATEHOUSE_USERS_2_PASSWORD_HASH":  testHashAlice,
		"GATEHOUSE_USERS_4_ID":             "skipped: index 3 is missing",
	})
	want := []User{
		{ID: "a", Username: "a", Email: "a@example.com", EmailVerified: true, Attributes: map[string]any{"k": "v"}},
		{ID: "b", Username: "b", Groups: []string{"g1", "g2"}, Disabled: true},
		{PasswordHash: testHashAlice},
	}
	if !reflect.DeepEqual(c.Users, want) {
		t.Errorf("users =\n%+v\nwant\n%+v", c.Users, want)
	}

	c = mustParse(t, "", map[string]string{"GATEHOUSE_USERS_0_ID": "x", "GATEHOUSE_USERS_0_USERNAME": "x"})
	if !reflect.DeepEqual(c.Users, []User{{ID: "x", Username: "x"}}) {
		t.Errorf("users from env only = %+v", c.Users)
	}
}

func TestEnvSecretFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	s1 := write("s1", testSecret1+"\n")
	s2 := write("s2", testSecret2+"\r\n")
	hash := write("hash", testHashAlice+"\n")
	missing := filepath.Join(dir, "missing")

	c := mustParse(t, "users:\n  - id: a\n    username: a\n    password_hash: old\n", map[string]string{
		"GATEHOUSE_SESSION_SECRETS_FILE":       s1 + "," + s2,
		"GATEHOUSE_USERS_0_PASSWORD_HASH_FILE": hash,
	})
	if !reflect.DeepEqual(c.Session.Secrets, []Secret{testSecret1, testSecret2}) {
		t.Errorf("secrets = %q", c.Session.Secrets)
	}
	if c.Users[0].PasswordHash.Value() != testHashAlice {
		t.Errorf("password_hash = %q", c.Users[0].PasswordHash.Value())
	}

	// _FILE in the environment beats the YAML's _file.
	c = mustParse(t, "session:\n  secrets_file: ["+s1+"]\n", map[string]string{"GATEHOUSE_SESSION_SECRETS_FILE": s2})
	if !reflect.DeepEqual(c.Session.Secrets, []Secret{testSecret2}) {
		t.Errorf("secrets = %q", c.Session.Secrets)
	}

	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"both set", map[string]string{"GATEHOUSE_SESSION_SECRETS": testSecret1, "GATEHOUSE_SESSION_SECRETS_FILE": s1},
			"GATEHOUSE_SESSION_SECRETS: session.secrets: both GATEHOUSE_SESSION_SECRETS and GATEHOUSE_SESSION_SECRETS_FILE are set"},
		{"both set scalar", map[string]string{"GATEHOUSE_USERS_0_PASSWORD_HASH": "x", "GATEHOUSE_USERS_0_PASSWORD_HASH_FILE": hash},
			"GATEHOUSE_USERS_0_PASSWORD_HASH: users[0].password_hash: both"},
		{"missing", map[string]string{"GATEHOUSE_USERS_0_PASSWORD_HASH_FILE": missing},
			"GATEHOUSE_USERS_0_PASSWORD_HASH_FILE: users[0].password_hash: read secret file: open " + missing},
		{"missing in list", map[string]string{"GATEHOUSE_SESSION_SECRETS_FILE": s1 + "," + missing},
			"GATEHOUSE_SESSION_SECRETS_FILE: session.secrets[1]: read secret file: open " + missing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte("users: [{id: a}]"), mapEnv(tt.env))
			if !hasLine(err, tt.want) {
				t.Errorf("error =\n%v\nwant a line starting %q", err, tt.want)
			}
		})
	}
}

func TestEnvInvalid(t *testing.T) {
	tests := []struct {
		name, key, val, want string
	}{
		{"bool", "GATEHOUSE_DEMO_ENABLED", "maybe", `GATEHOUSE_DEMO_ENABLED: demo.enabled: want true or false, got "maybe"`},
		{"yes is not a bool", "GATEHOUSE_DEMO_ENABLED", "yes", `GATEHOUSE_DEMO_ENABLED: demo.enabled: want true or false`},
		{"duration", "GATEHOUSE_SESSION_IDLE_TIMEOUT", "30", `GATEHOUSE_SESSION_IDLE_TIMEOUT: session.idle_timeout: invalid duration "30"`},
		{"int", "GATEHOUSE_SERVER_MAX_BODY_BYTES", "1MB", `GATEHOUSE_SERVER_MAX_BODY_BYTES: server.max_body_bytes: want an integer, got "1MB"`},
		{"int overflow", "GATEHOUSE_SERVER_MAX_BODY_BYTES", "99999999999999999999", `GATEHOUSE_SERVER_MAX_BODY_BYTES: server.max_body_bytes: want an integer`},
		{"uint8 overflow", "GATEHOUSE_PASSWORD_PARALLELISM", "256", `GATEHOUSE_PASSWORD_PARALLELISM: password.parallelism: want an integer from 0 to 255, got "256"`},
		{"uint negative", "GATEHOUSE_PASSWORD_ITERATIONS", "-1", `GATEHOUSE_PASSWORD_ITERATIONS: password.iterations: want an integer from 0 to 4294967295`},
		{"user bool", "GATEHOUSE_USERS_0_DISABLED", "nope", `GATEHOUSE_USERS_0_DISABLED: users[0].disabled: want true or false`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte("users: [{id: a}]"), mapEnv(map[string]string{tt.key: tt.val}))
			if !hasLine(err, tt.want) {
				t.Errorf("error =\n%v\nwant a line starting %q", err, tt.want)
			}
		})
	}

	// All problems at once.
	_, err := Parse(nil, mapEnv(map[string]string{
		"GATEHOUSE_DEMO_ENABLED":         "x",
		"GATEHOUSE_SESSION_IDLE_TIMEOUT": "x",
	}))
	if n := len(lines(err)); n != 2 {
		t.Errorf("got %d errors, want 2: %v", n, err)
	}
}

// TestEnvNames checks the variable names generated from the Config type:
// all are looked up through getenv (never os.Environ), none is ambiguous,
// and the documented examples are among them.
func TestEnvNames(t *testing.T) {
	asked := make(map[string]int)
	getenv := func(k string) string {
		asked[k]++
		return ""
	}
	if _, err := Parse([]byte("users: [{id: a}, {id: b}]"), getenv); err != nil {
		t.Fatal(err)
	}
	for name, n := range asked {
		if n != 1 {
			t.Errorf("%s looked up %d times: two fields share the name", name, n)
		}
		if !strings.HasPrefix(name, "GATEHOUSE_") || strings.ToUpper(name) != name {
			t.Errorf("odd variable name %q", name)
		}
	}
	for _, name := range []string{
		"GATEHOUSE_SERVER_PUBLIC_URL", "GATEHOUSE_SERVER_LISTEN", "GATEHOUSE_SERVER_TLS_MODE",
		"GATEHOUSE_SERVER_TLS_SELF_SIGNED_HOSTS", "GATEHOUSE_STORE_BOLT_PATH",
		"GATEHOUSE_SESSION_IDLE_TIMEOUT", "GATEHOUSE_SESSION_SECRETS", "GATEHOUSE_SESSION_SECRETS_FILE",
		"GATEHOUSE_DEMO_ENABLED", "GATEHOUSE_USERS_0_EMAIL", "GATEHOUSE_USERS_1_GROUPS",
		"GATEHOUSE_USERS_1_PASSWORD_HASH_FILE", "GATEHOUSE_USERS_2_ID",
		"GATEHOUSE_OIDC_ISSUER", "GATEHOUSE_OIDC_KEYS_ALGORITHMS", "GATEHOUSE_OIDC_CLIENTS_0_CLIENT_ID",
		"GATEHOUSE_OIDC_CLIENTS_0_CLIENT_SECRET_FILE", "GATEHOUSE_OIDC_SCOPES_0_NAME", "GATEHOUSE_OIDC_CLAIMS_0_ANY_GROUP",
		"GATEHOUSE_OIDC_TRUSTED_CLIENTS", "GATEHOUSE_OIDC_TRUSTED_CLIENTS_FILE",
	} {
		if asked[name] == 0 {
			t.Errorf("%s never looked up", name)
		}
	}
	for _, name := range []string{"GATEHOUSE_USERS_0_ATTRIBUTES", "GATEHOUSE_SERVER_LISTEN_FILE", "GATEHOUSE_USERS_3_ID"} {
		if asked[name] != 0 {
			t.Errorf("%s looked up", name)
		}
	}
}

func TestEnvGreedyGetenvTerminates(t *testing.T) {
	_, err := Parse(nil, func(string) string { return "1" })
	if err == nil {
		t.Fatal("Parse with every variable set to 1: nil error")
	}
}
