package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestValidateRefusesWhatServeRefuses runs every configuration that serve
// refuses at startup through validate too: both must refuse it, and
// validate must name the field at fault. A configuration validate accepts
// but serve refuses is an operator's surprise at deploy time.
func TestValidateRefusesWhatServeRefuses(t *testing.T) {
	dir := t.TempDir()
	const base = `server:
  listen: "127.0.0.1:0"
  public_url: "https://sso.example.com"
store:
  backend: memory
`
	route := `gateway:
  routes:
    - name: app
      host: app.example.com
      upstreams: ["http://127.0.0.1:9"]
  rules:
    - name: app
      hosts: [app.example.com]
      decision: authenticated
`
	for _, c := range []struct {
		name, yaml, field string
	}{
		{"the assertion of a route needs ES256", base + "oidc:\n  keys:\n    algorithms: [RS256]\n" + route,
			"oidc.keys.algorithms"},
		{"the assertion of forward-auth needs ES256", base + `oidc:
  keys:
    algorithms: [RS256]
gateway:
  rules:
    - name: fa
      hosts: [fa.example.com]
      decision: authenticated
`, "oidc.keys.algorithms"},
		{"the gateway's client id is reserved", base + `oidc:
  clients:
    - client_id: gatehouse-gateway
      client_secret: "0123456789abcdef0123456789abcdef"
      redirect_urls: ["https://app2.example.com/cb"]
` + route, "oidc.clients[0].client_id"},
		{"the gateway's client id is reserved without app hosts too", base + `oidc:
  clients:
    - client_id: gatehouse-gateway
      client_secret: "0123456789abcdef0123456789abcdef"
      redirect_urls: ["https://app2.example.com/cb"]
`, "oidc.clients[0].client_id"},
		{"a password hash that does not parse", base + `users:
  - id: u-alice
    username: alice
    password_hash: "$argon2id$v=19$m=65536,t=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5"
`, "users[0].password_hash"},
		{"TLS files that do not exist", strings.Replace(base, "store:", `  tls:
    mode: files
    cert_file: `+filepath.Join(dir, "missing.crt")+`
    key_file: `+filepath.Join(dir, "missing.key")+`
store:`, 1), "server.tls"},
		{"a signing key file that does not exist", base + "oidc:\n  keys:\n    algorithms: [RS256]\n    files: [" + filepath.Join(dir, "missing.pem") + "]\n",
			"oidc.keys.files"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "gatehouse.yaml")
			if err := os.WriteFile(path, []byte(c.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			var out, errOut bytes.Buffer
			err := run(context.Background(), []string{"validate", "--config", path}, envFunc(nil), strings.NewReader(""), &out, &errOut)
			if err == nil {
				t.Errorf("validate accepted it: %s", out.String())
			} else if !strings.Contains(errOut.String(), c.field) {
				t.Errorf("validate's report does not name %s:\n%s", c.field, errOut.String())
			}

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			out.Reset()
			errOut.Reset()
			done := make(chan error, 1)
			go func() {
				done <- run(ctx, []string{"serve", "--config", path}, envFunc(nil), strings.NewReader(""), &out, &errOut)
			}()
			select {
			case err := <-done:
				if err == nil {
					t.Errorf("serve accepted it")
				}
			case <-time.After(15 * time.Second):
				cancel()
				<-done
				t.Errorf("serve started with it")
			}
		})
	}
}
