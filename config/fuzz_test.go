package config

import (
	"errors"
	"os"
	"testing"
)

// FuzzParse feeds arbitrary documents to the parser, which must never
// panic; whatever it accepts must also survive Validate and printing.
// Secret files are not read: every *_file names a fake file.
func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile(examplePath); err == nil {
		f.Add(b)
	}
	for _, s := range []string{
		"",
		"server:\n  lisen: x\n",
		"server: {listen: ':1', tls: {mode: off}}\n",
		"users:\n  - &u {id: a, groups: [x]}\n  - <<: *u\n    id: b\n",
		"users:\n  - password_hash_file: /x\n",
		"session:\n  secrets_file: [/a, /b]\n  idle_timeout: 5m\n",
		"password: {parallelism: 300, memory_kib: -1}\n",
		"users: [{attributes: {a: &a [1, 2], b: [*a, *a]}}]\n",
		"a: &a [*a]\n",
		"---\n---\n",
		"server: !!binary aGVsbG8=\n",
		"<<: {log: {level: debug}}\n",
		"oidc: {issuer: 'https://localhost:8443/a', clients: [{client_id: a, client_secret_file: /x, redirect_urls: ['com.x.y:/cb']}], claims: [{name: c, any_group: [g]}], scopes: [{name: s, claims: [c]}]}\n",
		"gateway: {routes: [&r {host: A.example.com, path_prefix: '/%2e/', upstreams: [http://x], headers: {assertion: false}}, {<<: *r, host: '*.b'}, ~]}\n",
		"gateway: {rules: [{hosts: ['*'], path_prefix: /a, path_regex: '(', methods: ['*'], networks: [10.0.0.1/8], decision: maybe}]}\n",
		"server: {tls: {mode: acme, acme: {hosts: ['*.x', 1.2.3.4], challenges: [], alt_http_port: 70000}}}\n",
	} {
		f.Add([]byte(s))
	}
	fakeSecret := func(name string) (string, error) {
		if name == "missing" {
			return "", errors.New("missing")
		}
		return "fuzz-secret-value-of-at-least-32-bytes", nil
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parse(data, "fuzz.yaml", nil, fakeSecret)
		if err != nil {
			_ = err.Error()
			return
		}
		if err := c.Validate(); err != nil {
			_ = err.Error()
		}
	})
}
