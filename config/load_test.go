package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// writeFile writes content to a new file in a test directory and returns
// its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustParse(t *testing.T, doc string, env map[string]string) Config {
	t.Helper()
	c, err := Parse([]byte(doc), mapEnv(env))
	if err != nil {
		t.Fatalf("Parse:\n%s\nerror: %v", doc, err)
	}
	return c
}

func mapEnv(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

func TestParseEmpty(t *testing.T) {
	for _, doc := range []string{"", "\n", "# only a comment\n", "~\n", "null", "---\n", "---\n...\n", "{}"} {
		c, err := Parse([]byte(doc), nil)
		if err != nil {
			t.Errorf("Parse(%q) error: %v", doc, err)
			continue
		}
		if !reflect.DeepEqual(c, Default()) {
			t.Errorf("Parse(%q) = %+v, want Default()", doc, c)
		}
	}
}

func TestParseLayersOnDefaults(t *testing.T) {
	c := mustParse(t, `
server:
  listen: ":9443"
  tls:
    mode: files
    cert_file: /etc/gh/cert.pem
    key_file: /etc/gh/key.pem
  read_timeout: 90s
  max_body_bytes: 1048576
session:
  idle_timeout: 30m
  secrets: ["`+testSecret1+`"]
password:
  parallelism: 2
demo:
  enabled: true
users:
  - id: u-1
    username: one
    groups: [a, b]
    attributes: {team: blue, level: 3}
    password_hash: `+testHashAlice+`
`, nil)
	want := Default()
	want.Server.Listen = ":9443"
	want.Server.TLS.Mode = TLSFiles
	want.Server.TLS.CertFile = "/etc/gh/cert.pem"
	want.Server.TLS.KeyFile = "/etc/gh/key.pem"
	want.Server.ReadTimeout = Duration(90 * time.Second)
	want.Server.MaxBodyBytes = 1 << 20
	want.Session.IdleTimeout = Duration(30 * time.Minute)
	want.Session.Secrets = []Secret{testSecret1}
	want.Password.Parallelism = 2
	want.Demo.Enabled = true
	want.Users = []User{{
		ID: "u-1", Username: "one", Groups: []string{"a", "b"},
		Attributes:   map[string]any{"team": "blue", "level": 3},
		PasswordHash: testHashAlice,
	}}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Parse =\n%+v\nwant\n%+v", c, want)
	}
}

func TestParseNullKeepsDefault(t *testing.T) {
	c := mustParse(t, "server:\n  listen:\n  read_timeout: ~\nlog:\n", nil)
	d := Default()
	if c.Server.Listen != d.Server.Listen || c.Server.ReadTimeout != d.Server.ReadTimeout || c.Log != d.Log {
		t.Errorf("null did not keep defaults: %+v", c.Server)
	}
}

func TestParseListReplacesDefault(t *testing.T) {
	c := mustParse(t, "server:\n  tls:\n    self_signed_hosts: [gh.local]\n", nil)
	if !reflect.DeepEqual(c.Server.TLS.SelfSignedHosts, []string{"gh.local"}) {
		t.Errorf("self_signed_hosts = %v", c.Server.TLS.SelfSignedHosts)
	}
}

func TestParseAnchorsAndMerge(t *testing.T) {
	c := mustParse(t, `
users:
  - &base
    id: u-1
    username: one
    groups: &g [staff]
  - <<: *base
    id: u-2
    username: two
  - id: u-3
    username: three
    groups: *g
`, nil)
	if len(c.Users) != 3 || c.Users[1].ID != "u-2" || !reflect.DeepEqual(c.Users[1].Groups, []string{"staff"}) ||
		!reflect.DeepEqual(c.Users[2].Groups, []string{"staff"}) {
		t.Errorf("users = %+v", c.Users)
	}
	_, err := Parse([]byte("users:\n  - &b {id: a, usernme: x}\n  - <<: *b\n    id: b\n"), nil)
	if !hasLine(err, "line 2: users[0].usernme: unknown key") {
		t.Errorf("unknown key behind an anchor: %v", err)
	}
	_, err = Parse([]byte("x: &b {nope: 1}\n"), nil)
	if !hasLine(err, "line 1: x: unknown key") {
		t.Errorf("unknown top-level key: %v", err)
	}
	_, err = Parse([]byte("base: &b {nope: 1}\nserver:\n  <<: *b\n"), nil)
	if !hasLine(err, "line 1: base: unknown key") {
		t.Errorf("merge: %v", err)
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want string // prefix of one line of the error
	}{
		{"unknown nested key", "server:\n  lisen: \":1\"\n", `line 2: server.lisen: unknown key (did you mean "listen"?)`},
		{"unknown deep key", "server:\n  tls:\n    mdoe: off\n", `line 3: server.tls.mdoe: unknown key (did you mean "mode"?)`},
		{"unknown top key", "servers: {}\n", `line 1: servers: unknown key (did you mean "server"?)`},
		{"unknown key no suggestion", "log:\n  colour: true\n", "line 2: log.colour: unknown key"},
		{"unknown key in user", "users:\n  - id: a\n    nmae: A\n", `line 3: users[0].nmae: unknown key (did you mean "name"?)`},
		{"unknown key in second user", "users:\n  - id: a\n  - id: b\n    mail: x\n", "line 4: users[1].mail: unknown key"},
		{"_file on non-secret", "server:\n  listen_file: /x\n", "line 2: server.listen_file: unknown key"},
		{"non-string key", "server:\n  [a]: b\n", "line 2: server: keys must be plain names"},
		{"duplicate key", "log:\n  level: info\n  level: debug\n", "line 3: log.level: duplicate key (first given on line 2)"},
		{"int type", "server:\n  max_body_bytes: lots\n", `line 2: server.max_body_bytes: want an integer, got "lots"`},
		{"int fraction", "server:\n  max_header_bytes: 1.5\n", `line 2: server.max_header_bytes: want an integer, got "1.5"`},
		{"int float syntax", "server:\n  max_body_bytes: 1e6\n", `line 2: server.max_body_bytes: want an integer, got "1e6"`},
		{"uint float", "password:\n  iterations: 2.0\n", `line 2: password.iterations: want an integer from 0 to 4294967295, got "2.0"`},
		{"int quoted", "server:\n  max_body_bytes: \"100\"\n", `line 2: server.max_body_bytes: want an integer, got "100"`},
		{"uint negative", "password:\n  memory_kib: -1\n", "line 2: password.memory_kib: want an integer from 0 to 4294967295"},
		{"uint8 overflow", "password:\n  parallelism: 300\n", `line 2: password.parallelism: want an integer from 0 to 255, got "300"`},
		{"bool type", "demo:\n  enabled: maybe\n", `line 2: demo.enabled: want true or false, got "maybe"`},
		{"bool in user", "users:\n  - disabled: 2\n", "line 2: users[0].disabled: want true or false"},
		{"duration type", "session:\n  idle_timeout: 5 minutes\n", `line 2: session.idle_timeout: invalid duration "5 minutes"`},
		{"duration number", "server:\n  read_timeout: 30\n", `line 2: server.read_timeout: invalid duration "30"`},
		{"duration mapping", "server:\n  read_timeout: {s: 1}\n", "line 2: server.read_timeout: want a single value, got a mapping"},
		{"string got list", "server:\n  tls:\n    mode: [off]\n", "line 3: server.tls.mode: want a single value, got a list"},
		{"struct got scalar", "server: yes\n", "line 1: server: want a mapping, got a single value"},
		{"struct got list", "session: []\n", "line 1: session: want a mapping, got a list"},
		{"bearer: true names the clients to list", "gateway:\n  routes:\n    - host: a.example.com\n      bearer: true\n",
			"line 4: gateway.routes[0].bearer: want a mapping, got a single value: list the clients whose access tokens are accepted, such as bearer: {clients: [cli, mobile]}"},
		{"list got scalar", "login:\n  allowed_return_urls: https://x/\n", "line 2: login.allowed_return_urls: want a list, got a single value"},
		{"list got mapping", "users: {id: a}\n", "line 1: users: want a list, got a mapping"},
		{"list element type", "server:\n  tls:\n    self_signed_hosts: [a, [b]]\n", "line 3: server.tls.self_signed_hosts[1]: want a single value, got a list"},
		{"secret list element", "session:\n  secrets: [{a: b}]\n", "line 2: session.secrets[0]: want a single value, got a mapping"},
		{"attributes not a map", "users:\n  - attributes: [a]\n", "line 2: users[0].attributes: want a mapping, got a list"},
		{"top level list", "- a\n- b\n", "line 1: want a mapping, got a list"},
		{"top level scalar", "hello\n", "line 1: want a mapping, got a single value"},
		{"syntax error", "server:\n  listen: [\n", "line 2: did not find expected node content"},
		{"tab indentation", "server:\n\tlisten: x\n", "line 2: found character that cannot start any token"},
		{"two documents", "log: {level: info}\n---\nlog: {level: debug}\n", "line 2: more than one YAML document"},
		{"broken alias", "server: *nope\n", "unknown anchor 'nope' referenced"},
		{"merge non-map", "server:\n  <<: [1]\n", "line 2: server: want a mapping, got a single value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc), nil)
			if err == nil {
				t.Fatalf("Parse(%q) = nil error, want %q", tt.doc, tt.want)
			}
			if !hasLine(err, tt.want) {
				t.Errorf("Parse(%q) =\n%v\nwant a line starting %q", tt.doc, err, tt.want)
			}
		})
	}
}

func TestParseReportsAllDecodeErrors(t *testing.T) {
	_, err := Parse([]byte("server:\n  lisen: x\n  read_timeout: soon\nlog:\n  lvl: x\n"), nil)
	for _, w := range []string{"line 2: server.lisen:", "line 3: server.read_timeout:", "line 5: log.lvl:"} {
		if !hasLine(err, w) {
			t.Errorf("error %q lacks a line starting %q", err, w)
		}
	}
	if n := len(lines(err)); n != 3 {
		t.Errorf("got %d errors, want 3: %v", n, err)
	}
}

func TestParseAliasBomb(t *testing.T) {
	// Aliases inside a free-form map: yaml.v3's decoder refuses them.
	var b strings.Builder
	b.WriteString("users:\n  - attributes:\n      a0: &a0 [x, x]\n")
	for i := 1; i < 40; i++ {
		fmt.Fprintf(&b, "      a%d: &a%d [*a%d, *a%d, *a%d, *a%d]\n", i, i, i-1, i-1, i-1, i-1)
	}
	_, err := Parse([]byte(b.String()), nil)
	if !hasLine(err, "document contains excessive aliasing") {
		t.Errorf("Parse(alias bomb in attributes) error = %v", err)
	}

	// Aliases the walker follows: n users sharing a list of n groups.
	const n = 2000
	b.Reset()
	b.WriteString("users:\n  - &u\n    id: a\n    groups: [")
	for i := range n {
		fmt.Fprintf(&b, "g%d, ", i)
	}
	b.WriteString("]\n")
	for range n {
		b.WriteString("  - *u\n")
	}
	start := time.Now()
	_, err = Parse([]byte(b.String()), nil)
	if !hasLine(err, "line ") || !strings.Contains(err.Error(), "too many aliases") {
		t.Errorf("Parse(%d aliases of %d groups) error = %v", n, n, err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("Parse(alias bomb) took %v", d)
	}
}

// TestParseAliasCycle: an alias inside the node it names (through a
// merge key or a list) is an error, not an endless walk.
func TestParseAliasCycle(t *testing.T) {
	for _, doc := range []string{
		"users: [&r {<<: *r, id: a}]",
		"gateway: {routes: [&r {<<: *r, host: a}]}",
		"gateway: {routes: [&r {<<: [*r], host: a}]}",
		"users: &l [{id: a, groups: *l}]",
		"gateway: {routes: [&r {<<: *r,t},]p", // found by FuzzParse
	} {
		_, err := Parse([]byte(doc), nil)
		if err == nil {
			t.Errorf("Parse(%q) = nil error", doc)
		}
	}
	_, err := Parse([]byte("gateway:\n  routes:\n    - &r\n      <<: *r\n      host: a\n"), nil)
	if !hasLine(err, "line 3: gateway.routes[0]: an alias refers to a node that contains it") {
		t.Errorf("Parse(cycle) = %v", err)
	}
}

func TestLoad(t *testing.T) {
	p := writeFile(t, "gatehouse.yaml", "log:\n  level: debug\n")
	c, err := Load(p, mapEnv(map[string]string{"GATEHOUSE_LOG_FORMAT": "json"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Log.Level != "debug" || c.Log.Format != "json" {
		t.Errorf("Load log = %+v", c.Log)
	}

	c, err = Load("", mapEnv(map[string]string{"GATEHOUSE_LOG_LEVEL": "warn"}))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Log.Level = "warn"
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load(\"\") = %+v", c)
	}

	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), nil); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("Load(missing) error = %v", err)
	}

	bad := writeFile(t, "bad.yaml", "# comment\nserver:\n  lisen: x\n")
	_, err = Load(bad, nil)
	if !hasLine(err, bad+":3: server.lisen: unknown key") {
		t.Errorf("Load(bad) error = %v, want it to name file and line", err)
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Path != "server.lisen" || fe.Line != 3 || fe.File != bad {
		t.Errorf("Load(bad) FieldError = %+v", fe)
	}
}

func TestSecretFilesYAML(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	hash := write("hash", testHashAlice+"\r\n")
	s1 := write("s1", testSecret1+"\n")
	s2 := write("s2", testSecret2)
	s3 := write("s3", testSecret1+"\n\n")
	empty := write("empty", "\n")
	missing := filepath.Join(dir, "missing")

	t.Run("user hash and secrets list", func(t *testing.T) {
		c := mustParse(t, `
session:
  secrets_file: [`+s1+`, `+s2+`]
users:
  - id: a
    username: a
    password_hash_file: `+hash+`
  - id: b
    username: b
`, nil)
		if got := c.Users[0].PasswordHash.Value(); got != testHashAlice {
			t.Errorf("password_hash = %q, want trimmed file content", got)
		}
		if c.Users[1].PasswordHash != "" {
			t.Errorf("users[1].password_hash = %q", c.Users[1].PasswordHash.Value())
		}
		if !reflect.DeepEqual(c.Session.Secrets, []Secret{testSecret1, testSecret2}) {
			t.Errorf("secrets = %q", c.Session.Secrets)
		}
	})
	t.Run("single path for list", func(t *testing.T) {
		c := mustParse(t, "session:\n  secrets_file: "+s3+"\n", nil)
		if !reflect.DeepEqual(c.Session.Secrets, []Secret{testSecret1}) {
			t.Errorf("secrets = %q", c.Session.Secrets)
		}
	})
	t.Run("through an alias", func(t *testing.T) {
		c := mustParse(t, "users:\n  - &u {id: a, username: a, password_hash_file: "+hash+"}\n  - {<<: *u, id: b, username: b}\n", nil)
		if c.Users[0].PasswordHash.Value() != testHashAlice || c.Users[1].PasswordHash.Value() != testHashAlice {
			t.Errorf("users = %+v", c.Users)
		}
	})

	tests := []struct {
		name, doc, want string
	}{
		{"both set", "users:\n  - password_hash: x\n    password_hash_file: " + hash + "\n",
			"line 3: users[0].password_hash: both password_hash and password_hash_file are set"},
		{"both set list", "session:\n  secrets_file: [" + s1 + "]\n  secrets: [x]\n",
			"line 2: session.secrets: both secrets and secrets_file are set"},
		{"missing file", "users:\n  - password_hash_file: " + missing + "\n",
			"line 2: users[0].password_hash_file: read secret file: open " + missing + ": no such file or directory"},
		{"missing file in list", "session:\n  secrets_file: [" + s1 + ", " + missing + "]\n",
			"line 2: session.secrets_file[1]: read secret file: open " + missing},
		{"empty file", "users:\n  - password_hash_file: " + empty + "\n",
			"line 2: users[0].password_hash_file: secret file " + empty + " is empty"},
		{"directory", "users:\n  - password_hash_file: " + dir + "\n",
			"line 2: users[0].password_hash_file: read secret file " + dir},
		{"not a path", "users:\n  - password_hash_file: [a]\n",
			"line 2: users[0].password_hash_file: want a file path, got a list"},
		{"null path", "users:\n  - password_hash_file:\n",
			"line 2: users[0].password_hash_file: want a file path"},
		{"list of lists", "session:\n  secrets_file: [[a]]\n",
			"line 2: session.secrets_file[0]: want a file path, got a list"},
		{"empty path", "users:\n  - password_hash_file: \"\"\n",
			"line 2: users[0].password_hash_file: empty file name"},
		{"duplicate _file", "users:\n  - password_hash_file: " + hash + "\n    password_hash_file: " + hash + "\n",
			"line 3: users[0].password_hash_file: duplicate key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc), nil)
			if !hasLine(err, tt.want) {
				t.Errorf("Parse error =\n%v\nwant a line starting %q", err, tt.want)
			}
		})
	}

	t.Run("too large", func(t *testing.T) {
		big := write("big", strings.Repeat("x", maxSecretFile+1))
		_, err := Parse([]byte("users:\n  - password_hash_file: "+big+"\n"), nil)
		if !hasLine(err, "line 2: users[0].password_hash_file: secret file "+big+" is larger than") {
			t.Errorf("Parse error = %v", err)
		}
	})
}
