package config

import (
	"errors"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const examplePath = "../examples/gatehouse.yaml"

func TestExampleValid(t *testing.T) {
	c, err := Load(examplePath, nil)
	if err != nil {
		t.Fatalf("Load(%s): %v", examplePath, err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("%s does not validate:\n%v", examplePath, err)
	}
	if len(c.Users) < 2 {
		t.Errorf("example has %d users, want at least 2", len(c.Users))
	}
	for i, u := range c.Users {
		if !strings.HasPrefix(u.PasswordHash.Value(), "$argon2id$v=19$m=47104,t=1,p=1$") {
			t.Errorf("users[%d].password_hash is not a PHC argon2id hash with the default parameters", i)
		}
	}
}

// yamlKeys returns every YAML key of type t, recursively.
func yamlKeys(t reflect.Type, into map[string]bool) {
	switch t.Kind() {
	case reflect.Struct:
		for _, f := range yamlFields(t) {
			into[f.key] = true
			yamlKeys(f.typ, into)
		}
	case reflect.Slice, reflect.Pointer:
		yamlKeys(t.Elem(), into)
	}
}

// TestExampleComplete keeps the example complete: every key of the Config
// type appears in it (commented out or not), so does the _file form of the
// secrets, and it has a comment for every key.
func TestExampleComplete(t *testing.T) {
	b, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	keys := make(map[string]bool)
	yamlKeys(reflect.TypeFor[Config](), keys)
	if len(keys) < 40 {
		t.Fatalf("found only %d keys in Config; the reflection walk is broken", len(keys))
	}
	keys["secrets_file"] = true
	keys["password_hash_file"] = true
	keys["client_secret_file"] = true
	for k := range keys {
		re := regexp.MustCompile(`(?m)^[\s#-]*` + regexp.QuoteMeta(k) + `:`)
		if !re.MatchString(text) {
			t.Errorf("%s does not mention the key %q", examplePath, k)
		}
	}
	for _, want := range []string{"openssl rand -base64 32", "demo-password-alice", "demo-password-bob",
		"GATEHOUSE_OIDC_TRUSTED_CLIENTS", "GATEHOUSE_OIDC_TRUSTED_CLIENTS_FILE"} {
		if !strings.Contains(text, want) {
			t.Errorf("%s does not mention %q", examplePath, want)
		}
	}
}

// Markers around the example's commented-out confidential clients.
const (
	confidentialBegin = "# --- begin confidential clients ---"
	confidentialEnd   = "# --- end confidential clients ---"
)

// uncommentConfidential returns the example with the block of confidential
// clients uncommented the way its comment tells users to: the leading "# "
// (or a lone "#") of each line between the markers is removed.
func uncommentConfidential(t *testing.T, text string) string {
	t.Helper()
	var out []string
	in, found := false, 0
	for line := range strings.SplitSeq(text, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == confidentialBegin:
			in = true
			found++
			continue
		case trimmed == confidentialEnd:
			in = false
			found++
			continue
		case in:
			indent := line[:len(line)-len(strings.TrimLeft(line, " "))]
			rest := strings.TrimPrefix(line[len(indent):], "#")
			rest = strings.TrimPrefix(rest, " ")
			line = indent + rest
		}
		out = append(out, line)
	}
	if found != 2 || in {
		t.Fatalf("%s: markers %q and %q not found once each", examplePath, confidentialBegin, confidentialEnd)
	}
	return strings.Join(out, "\n")
}

// exampleSecrets reads only the secret files the example names, handing
// out fresh values, as if the user had created them.
func exampleSecrets(t *testing.T) func(string) (string, error) {
	return func(name string) (string, error) {
		if !strings.HasPrefix(name, "/run/secrets/gatehouse-client-") {
			t.Errorf("example reads an unexpected secret file %s", name)
			return "", errors.New("unexpected file")
		}
		return "test-" + strings.TrimPrefix(name, "/run/secrets/") + "-0123456789abcdef", nil
	}
}

// TestExampleClients checks the OIDC section of the example, with its
// confidential clients enabled as documented: it validates, and has the
// clients and claims the example promises.
func TestExampleClients(t *testing.T) {
	b, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	text := uncommentConfidential(t, string(b))
	c, err := parse([]byte(text), examplePath, nil, exampleSecrets(t))
	if err != nil {
		t.Fatalf("example with the confidential clients enabled: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("example with the confidential clients enabled does not validate:\n%v", err)
	}
	byID := make(map[string]Client)
	for _, cl := range c.OIDC.Clients {
		byID[cl.ClientID] = cl
	}
	if len(byID) != 3 {
		t.Fatalf("got clients %v, want dashboard, business and reports-service", slices.Collect(maps.Keys(byID)))
	}
	spa, web, svc := byID["dashboard"], byID["business"], byID["reports-service"]
	if !spa.Public || spa.ClientSecret != "" {
		t.Errorf("dashboard is not a public client without secret: %+v", spa)
	}
	if web.Public || !web.SkipConsent || !web.RequirePKCE || web.ClientSecret.Value() == "" ||
		!slices.Contains(web.RedirectURLs, "https://business.example.com/api/auth/oauth2/callback/gatehouse") ||
		!slices.Contains(web.PostLogoutRedirectURLs, "https://business.example.com/") {
		t.Errorf("business is not a first-party confidential Better Auth client: %+v", web)
	}
	if !slices.Equal(svc.GrantTypes, []string{"client_credentials"}) || svc.ClientSecret.Value() == "" {
		t.Errorf("reports-service is not a client_credentials client: %+v", svc)
	}
	if !slices.ContainsFunc(c.OIDC.Claims, func(cl Claim) bool {
		return cl.Name == "hub_admin" && slices.Equal(cl.AnyGroup, []string{"admins"})
	}) {
		t.Errorf("no hub_admin claim from the admins group: %+v", c.OIDC.Claims)
	}
	if !slices.ContainsFunc(c.OIDC.Scopes, func(s Scope) bool { return slices.Contains(s.Claims, "hub_admin") }) {
		t.Errorf("no scope releases hub_admin: %+v", c.OIDC.Scopes)
	}

	// As shipped (block commented out), the example has no secret at all.
	shipped, err := Load(examplePath, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, cl := range shipped.OIDC.Clients {
		if cl.ClientSecret != "" {
			t.Errorf("the example ships a client secret in oidc.clients[%d]", i)
		}
	}
}

// exampleTrustedJSON returns the GATEHOUSE_OIDC_TRUSTED_CLIENTS value shown
// in the example's comments.
func exampleTrustedJSON(t *testing.T, text string) string {
	t.Helper()
	const start = "GATEHOUSE_OIDC_TRUSTED_CLIENTS='"
	var b strings.Builder
	in := false
	for line := range strings.SplitSeq(text, "\n") {
		_, c, ok := strings.Cut(line, "#")
		if !ok {
			continue
		}
		c = strings.TrimSpace(c)
		if !in {
			if rest, ok := strings.CutPrefix(c, start); ok {
				in = true
				b.WriteString(rest)
			}
			continue
		}
		if rest, ok := strings.CutSuffix(c, "'"); ok {
			b.WriteString(rest)
			return b.String()
		}
		b.WriteString(c)
	}
	t.Fatalf("%s: no %s...' example", examplePath, start)
	return ""
}

// TestExampleTrustedClients feeds the JSON example of the comments to
// GATEHOUSE_OIDC_TRUSTED_CLIENTS: with its placeholder secret it is refused,
// with a generated one it validates.
func TestExampleTrustedClients(t *testing.T) {
	b, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	js := exampleTrustedJSON(t, string(b))
	c, err := Load(examplePath, mapEnv(map[string]string{trustedClientsEnv: js}))
	if err != nil {
		t.Fatalf("example JSON: %v\n%s", err, js)
	}
	err = c.Validate()
	const want = `GATEHOUSE_OIDC_TRUSTED_CLIENTS[0] "leeram-business": clientSecret: is a placeholder`
	if !hasLine(err, want) {
		t.Errorf("example JSON with its placeholder secret: Validate() = %v, want a line starting %q", err, want)
	}

	re := regexp.MustCompile(`"clientSecret": "<[^"]*>"`)
	if !re.MatchString(js) {
		t.Fatalf("example JSON has no placeholder clientSecret: %s", js)
	}
	js = re.ReplaceAllString(js, `"clientSecret": "`+testSecret1+`"`)
	c, err = Load(examplePath, mapEnv(map[string]string{trustedClientsEnv: js}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("example JSON with a real secret does not validate:\n%v", err)
	}
	last := c.OIDC.Clients[len(c.OIDC.Clients)-1]
	if last.ClientID != "leeram-business" || !last.SkipConsent || len(last.RedirectURLs) != 2 {
		t.Errorf("example JSON client = %+v", last)
	}
}

// TestExampleGateway checks the gateway section of the example: the
// routes and rules it promises, the per-route header defaults, and that its
// acme block validates once acme mode is switched on as its comments say.
func TestExampleGateway(t *testing.T) {
	c, err := Load(examplePath, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := c.Gateway
	if len(g.Routes) != 2 {
		t.Fatalf("example has %d routes, want 2", len(g.Routes))
	}
	legacy, api := g.Routes[0], g.Routes[1]
	if len(legacy.Bearer.Clients) != 0 || !slices.Equal(legacy.Headers.Presets, []string{PresetOAuth2Proxy}) || !legacy.Headers.Assertion {
		t.Errorf("legacy route = %+v, want oauth2-proxy headers and the assertion", legacy)
	}
	if !slices.Equal(api.Bearer.Clients, []string{"dashboard"}) || len(api.Headers.Presets) != 0 || !api.Headers.Assertion {
		t.Errorf("api route = %+v, want bearer, no presets and the assertion by default", api)
	}
	byName := make(map[string]Rule)
	for _, r := range g.Rules {
		byName[r.Name] = r
	}
	if r := byName["health"]; r.Decision != DecisionPublic || r.PathPrefix != "/health" {
		t.Errorf("health rule = %+v", r)
	}
	if r := byName["admin"]; r.Decision != DecisionAuthenticated || !slices.Equal(r.GroupsAny, []string{"admins"}) || r.MaxSessionAge <= 0 {
		t.Errorf("admin rule = %+v", r)
	}
	if r := byName["app"]; r.Decision != DecisionAuthenticated || !slices.Equal(r.Hosts, []string{"app.example.com"}) || r.PathPrefix != "" {
		t.Errorf("app rule = %+v", r)
	}
	if !g.ForwardAuth.Enabled || c.Server.TLS.Mode != TLSSelfSigned {
		t.Errorf("forward_auth %+v, tls mode %q", g.ForwardAuth, c.Server.TLS.Mode)
	}

	acme := mapEnv(map[string]string{"GATEHOUSE_SERVER_TLS_MODE": "acme", "GATEHOUSE_SERVER_HTTP_LISTEN": ":8080"})
	c, err = Load(examplePath, acme)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("example in acme mode with http_listen does not validate:\n%v", err)
	}
	c.Server.HTTPListen = ""
	err = c.Validate()
	if got := lines(err); len(got) != 1 || !strings.HasPrefix(got[0], "server.tls.acme.challenges[1]: http-01 needs server.http_listen") {
		t.Errorf("example in acme mode without http_listen: Validate() = %v, want only the http-01 problem", err)
	}
}
