package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const policyConfig = `
users:
  - id: u-alice
    username: alice
    email: alice@example.com
    email_verified: true
    groups: [admins]
  - id: u-bob
    username: bob
    groups: [staff]
gateway:
  rules:
    - name: health
      hosts: [app.example.com]
      path_prefix: /health
      decision: public
    - name: admin
      hosts: [app.example.com]
      path_prefix: /admin
      decision: authenticated
      groups_any: [admins]
    - name: jobs
      hosts: [app.example.com]
      path_prefix: /jobs
      decision: authenticated
      clients: [svc]
    - name: app
      hosts: [app.example.com]
      decision: authenticated
oidc:
  clients:
    - client_id: svc
      client_secret: 0123456789abcdef0123456789abcdef
      grant_types: [client_credentials]
`

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPolicyExplain(t *testing.T) {
	path := writeConfig(t, policyConfig)
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"admin allowed", []string{"--user", "alice", "--url", "https://app.example.com/admin/users", "--method", "post"},
			[]string{"POST https://app.example.com/admin/users as alice", `rule 1 ("admin")`, "allow"}},
		{"admin refused", []string{"--user", "bob", "--url", "https://app.example.com/admin"},
			[]string{`rule 1 ("admin")`, "deny"}},
		{"anonymous needs login", []string{"--url", "https://app.example.com/"},
			[]string{"(anonymous)", `rule 3 ("app")`}},
		{"a service client is not a person", []string{"--client", "svc", "--url", "https://app.example.com/"},
			[]string{"as service client svc", `rule 3 ("app")`, `signed in: service client "svc"`, "clients: none listed: no", "decision: deny"}},
		{"a service client on a rule naming it", []string{"--client", "svc", "--url", "https://app.example.com/jobs/1"},
			[]string{`rule 2 ("jobs")`, "clients [svc]: yes", "decision: allow"}},
		{"a person on a rule naming only a client", []string{"--user", "alice", "--client", "svc", "--url", "https://app.example.com/jobs/1"},
			[]string{"as alice", "only service clients [svc] pass, not people", "decision: deny"}},
		{"public path", []string{"--url", "https://app.example.com/health"},
			[]string{`rule 0 ("health")`, "allow"}},
		{"other host falls to default deny", []string{"--user", "alice", "--url", "https://other.example.com/"},
			[]string{"deny"}},
		{"traversal is normalised first", []string{"--user", "bob", "--url", "https://app.example.com/health/../admin"},
			[]string{"https://app.example.com/admin", `rule 1 ("admin")`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append([]string{"policy", "explain", "--config", path}, tc.args...)
			if err := run(context.Background(), args, envFunc(nil), nil, &out, &errOut); err != nil {
				t.Fatalf("%v\n%s", err, errOut.String())
			}
			got := strings.ToLower(out.String())
			for _, w := range tc.want {
				if !strings.Contains(got, strings.ToLower(w)) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func TestPolicyExplain_BadArgs(t *testing.T) {
	path := writeConfig(t, policyConfig)
	for _, args := range [][]string{
		{"policy"},
		{"policy", "frobnicate"},
		{"policy", "explain", "--config", path},
		{"policy", "explain", "--config", path, "--url", "/relative"},
		{"policy", "explain", "--config", path, "--url", "https://app.example.com/", "--user", "nobody"},
		{"policy", "explain", "--config", path, "--url", "https://app.example.com/", "--ip", "not-an-ip"},
	} {
		var out, errOut bytes.Buffer
		if err := run(context.Background(), args, envFunc(nil), nil, &out, &errOut); err == nil {
			t.Errorf("%v accepted:\n%s", args, out.String())
		}
	}
}

func TestValidate_ReportsPolicyErrorsWithPaths(t *testing.T) {
	path := writeConfig(t, `
gateway:
  rules:
    - hosts: [app.example.com]
      decision: authenticated
    - hosts: [app.example.com]
      path_prefix: /admin
      decision: deny
`)
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"validate", "--config", path}, envFunc(nil), nil, &out, &errOut); err == nil {
		t.Fatal("unreachable rule accepted")
	}
	if !strings.Contains(errOut.String(), "gateway.rules[1]") || !strings.Contains(errOut.String(), "unreachable") {
		t.Fatalf("error does not name the unreachable rule:\n%s", errOut.String())
	}
}
