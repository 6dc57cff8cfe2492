package config

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// seedTrustedClients is the kuploy document's KUPLOY_OIDC_TRUSTED_CLIENTS
// example, with a real secret and Gatehouse as the provider id.
const seedTrustedClients = `[
  {
    "clientId": "leeram-business",
    "clientSecret": "` + testSecret1 + `",
    "name": "Leeram Business",
    "redirectUrls": [
      "https://business.example.com/api/auth/oauth2/callback/gatehouse",
      "https://business.example.com/"
    ],
    "skipConsent": true
  }
]`

func TestTrustedClientsSeed(t *testing.T) {
	doc := "oidc:\n  clients:\n    - client_id: spa\n      public: true\n      redirect_urls: [https://spa.example.com/cb]\n"
	c := mustParse(t, doc, map[string]string{trustedClientsEnv: seedTrustedClients})
	if len(c.OIDC.Clients) != 2 {
		t.Fatalf("clients = %+v, want the file's and the variable's", c.OIDC.Clients)
	}
	want := Client{
		ClientID:     "leeram-business",
		ClientSecret: testSecret1,
		Name:         "Leeram Business",
		RedirectURLs: []string{
			"https://business.example.com/api/auth/oauth2/callback/gatehouse",
			"https://business.example.com/",
		},
		SkipConsent: true,
		origin:      "GATEHOUSE_OIDC_TRUSTED_CLIENTS[0]",
	}
	if got := c.OIDC.Clients[1]; !reflect.DeepEqual(got, want) {
		t.Errorf("client =\n%+v\nwant\n%+v", got, want)
	}
	if c.OIDC.Clients[0].ClientID != "spa" || c.OIDC.Clients[0].Origin() != "" {
		t.Errorf("file client = %+v", c.OIDC.Clients[0])
	}
	if got := c.OIDC.Clients[1].Origin(); got != "GATEHOUSE_OIDC_TRUSTED_CLIENTS[0]" {
		t.Errorf("Origin() = %q", got)
	}
	for i, want := range []string{"oidc.clients[0]", `GATEHOUSE_OIDC_TRUSTED_CLIENTS[0] "leeram-business"`, "oidc.clients[2]"} {
		if got := c.OIDC.ClientPath(i); got != want {
			t.Errorf("ClientPath(%d) = %q, want %q", i, got, want)
		}
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
}

func TestTrustedClientsAllFields(t *testing.T) {
	js := `[{
		"clientId": "full", "clientSecret": "` + testSecret2 + `", "name": "Full",
		"redirectUrls": ["https://a.example.com/cb"],
		"postLogoutRedirectUrls": ["https://a.example.com/"],
		"skipConsent": false, "requirePKCE": true, "public": false,
		"scopes": ["openid", "email"],
		"grantTypes": ["authorization_code", "refresh_token", "client_credentials"],
		"backchannelLogoutUri": "https://a.example.com/bcl",
		"signingAlg": "ES256",
		"accessTokenTTL": "10m", "idTokenTTL": "20m", "refreshTokenTTL": "48h"
	}, {"clientId": "pub", "public": true, "redirectUrls": ["com.example.app:/cb"], "name": null, "scopes": null}]`
	c := mustParse(t, "", map[string]string{trustedClientsEnv: js})
	want := []Client{{
		ClientID: "full", ClientSecret: testSecret2, Name: "Full",
		RedirectURLs:           []string{"https://a.example.com/cb"},
		PostLogoutRedirectURLs: []string{"https://a.example.com/"},
		RequirePKCE:            true,
		Scopes:                 []string{"openid", "email"},
		GrantTypes:             []string{"authorization_code", "refresh_token", "client_credentials"},
		BackchannelLogoutURI:   "https://a.example.com/bcl",
		SigningAlg:             "ES256",
		AccessTokenTTL:         Duration(10 * time.Minute),
		IDTokenTTL:             Duration(20 * time.Minute),
		RefreshTokenTTL:        Duration(48 * time.Hour),
		origin:                 "GATEHOUSE_OIDC_TRUSTED_CLIENTS[0]",
	}, {
		ClientID: "pub", Public: true, RedirectURLs: []string{"com.example.app:/cb"},
		origin: "GATEHOUSE_OIDC_TRUSTED_CLIENTS[1]",
	}}
	if !reflect.DeepEqual(c.OIDC.Clients, want) {
		t.Errorf("clients =\n%+v\nwant\n%+v", c.OIDC.Clients, want)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
}

func TestTrustedClientsEmpty(t *testing.T) {
	for _, js := range []string{"[]", " [ ]\n", ""} {
		c := mustParse(t, "oidc: {clients: [{client_id: a}]}", map[string]string{trustedClientsEnv: js})
		if len(c.OIDC.Clients) != 1 {
			t.Errorf("%q: clients = %+v", js, c.OIDC.Clients)
		}
	}
}

// TestTrustedClientsOrder: the file's clients, then those of
// GATEHOUSE_OIDC_CLIENTS_<N>_*, then the JSON's.
func TestTrustedClientsOrder(t *testing.T) {
	c := mustParse(t, "oidc: {clients: [{client_id: file}]}", map[string]string{
		"GATEHOUSE_OIDC_CLIENTS_1_CLIENT_ID": "env",
		"GATEHOUSE_OIDC_CLIENTS_0_NAME":      "From file",
		trustedClientsEnv:                    `[{"clientId": "json"}]`,
	})
	var ids []string
	for _, cl := range c.OIDC.Clients {
		ids = append(ids, cl.ClientID)
	}
	if !reflect.DeepEqual(ids, []string{"file", "env", "json"}) || c.OIDC.Clients[0].Name != "From file" {
		t.Errorf("clients = %+v", c.OIDC.Clients)
	}
	if got := c.OIDC.ClientPath(2); got != `GATEHOUSE_OIDC_TRUSTED_CLIENTS[0] "json"` {
		t.Errorf("ClientPath(2) = %q", got)
	}
}

func TestTrustedClientsRejects(t *testing.T) {
	const v = "GATEHOUSE_OIDC_TRUSTED_CLIENTS"
	tests := []struct {
		name, js string
		want     []string // every line of the error, in order
	}{
		{"invalid json", `[{"clientId": "a",}]`,
			[]string{v + ": not valid JSON: syntax error at line 1, column 19"}},
		{"invalid json multi-line", "[\n  {\"clientId\": \"a\"\n  \"name\": \"b\"}\n]",
			[]string{v + ": not valid JSON: syntax error at line 3, column 3"}},
		{"truncated", `[{"clientId": "a"`,
			[]string{v + ": not valid JSON: unexpected end at line 1, column 17"}},
		{"trailing data", `[] []`,
			[]string{v + ": not valid JSON: syntax error at line 1, column 4"}},
		{"shell quotes kept", `'[]'`,
			[]string{v + ": not valid JSON: syntax error at line 1, column 1"}},
		{"white space", "  \n",
			[]string{v + ": holds only white space; want a JSON array of clients (or leave it unset)"}},
		{"object", `{"clientId": "a"}`,
			[]string{v + ": want a JSON array of clients, got an object"}},
		{"string", `"a"`,
			[]string{v + ": want a JSON array of clients, got a string"}},
		{"null", `null`,
			[]string{v + ": want a JSON array of clients, got null"}},
		{"entry not an object", `[{"clientId": "a"}, "b", 3, null, []]`,
			[]string{
				v + "[1]: want a JSON object, got a string",
				v + "[2]: want a JSON object, got a number",
				v + "[3]: want a JSON object, got null",
				v + "[4]: want a JSON object, got an array",
			}},
		{"unknown field", `[{"clientId": "a"}, {"clientId": "leeram-business", "type": "web", "redirectURLs": []}]`,
			[]string{
				v + `[1] "leeram-business": type: unknown field`,
				v + `[1] "leeram-business": redirectURLs: unknown field (did you mean "redirectUrls"?)`,
			}},
		{"snake case field", `[{"client_id": "a", "skip_consent": true}]`,
			[]string{
				v + `[0]: client_id: unknown field (did you mean "clientId"?)`,
				v + `[0]: skip_consent: unknown field (did you mean "skipConsent"?)`,
			}},
		{"misspelt field", `[{"clientId": "a", "clinetSecret": "x"}]`,
			[]string{v + `[0] "a": clinetSecret: unknown field (did you mean "clientSecret"?)`}},
		{"duplicate field", `[{"clientId": "a", "clientSecret": "x", "clientSecret": "y"}]`,
			[]string{v + `[0] "a": clientSecret: given more than once`}},
		{"redirectUrls string", `[{"clientId": "a"}, {"clientId": "leeram-business", "redirectUrls": "https://b.example.com/cb"}]`,
			[]string{v + `[1] "leeram-business": redirectUrls: want an array of strings, got a string`}},
		{"redirectUrls element", `[{"clientId": "a", "redirectUrls": ["https://a.example.com/", 1]}]`,
			[]string{v + `[0] "a": redirectUrls[1]: want a string, got a number`}},
		{"wrong types", `[{"clientId": 7, "clientSecret": 12345678901234567890, "name": [], "skipConsent": "true",
			"requirePKCE": 1, "public": null, "scopes": {}, "grantTypes": [null], "backchannelLogoutUri": false,
			"signingAlg": {}, "accessTokenTTL": 60, "idTokenTTL": "1 hour", "postLogoutRedirectUrls": true}]`,
			[]string{
				v + `[0]: clientId: want a string, got a number`,
				v + `[0]: clientSecret: want a string, got a number`,
				v + `[0]: name: want a string, got an array`,
				v + `[0]: skipConsent: want true or false, got a string`,
				v + `[0]: requirePKCE: want true or false, got a number`,
				v + `[0]: scopes: want an array of strings, got an object`,
				v + `[0]: grantTypes[0]: want a string, got null`,
				v + `[0]: backchannelLogoutUri: want a string, got a boolean`,
				v + `[0]: signingAlg: want a string, got an object`,
				v + `[0]: accessTokenTTL: want a duration string such as "30m", got a number`,
				v + `[0]: idTokenTTL: invalid duration "1 hour" (want e.g. "90s", "15m", "12h")`,
				v + `[0]: postLogoutRedirectUrls: want an array of strings, got a boolean`,
			}},
		{"escaped client id", `[{"clientId": "a\"b\n", "x": 1}]`,
			[]string{v + `[0] "a\"b\n": x: unknown field`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(nil, mapEnv(map[string]string{trustedClientsEnv: tt.js}))
			if err == nil {
				t.Fatalf("Parse accepted %s: %+v", tt.js, c.OIDC.Clients)
			}
			if got := lines(err); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("error lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			var errs Errors
			if _, ok := err.(Errors); !ok {
				t.Errorf("error is %T, want Errors", err)
			} else {
				errs = err.(Errors)
				for _, e := range errs {
					fe, ok := e.(*FieldError)
					if !ok || !strings.HasPrefix(fe.Env, trustedClientsEnv) {
						t.Errorf("%#v is not a *FieldError naming the variable", e)
					}
				}
			}
		})
	}
}

// TestTrustedClientsNoSecretInErrors: a secret near a syntax error or in a
// field of the wrong type never shows in the error.
func TestTrustedClientsNoSecretInErrors(t *testing.T) {
	for _, js := range []string{
		`[{"clientId": "a", "clientSecret": "s3cr3t-XYZ`,
		`[{"clientId": "a", "clientSecret": "s3cr3t-XYZ"x}]`,
		`[{"clientId": "a", "clientSecret": XYZs3cr3t}]`,
		`[{"clientId": "a", "clientSecret": ["s3cr3t-XYZ"]}]`,
		`[{"clientId": "a", "clientSecret": 1234567XYZ}]`,
		`[{"clientId": "a", "clientSecret": 12345678999}]`,
		`[{"clientId": "a", "clientSecret": {"s3cr3t-XYZ": 1}}]`,
		`[{"clientId": "a", "name": "s3cr3t-XYZ", "clientSecret": "s3cr3t-XYZ" "public": true}]`,
		`s3cr3t-XYZ`,
		`"s3cr3t-XYZ"`,
	} {
		_, err := Parse(nil, mapEnv(map[string]string{trustedClientsEnv: js}))
		if err == nil {
			t.Errorf("Parse accepted %s", js)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "XYZ") || strings.Contains(msg, "s3cr3t") || strings.Contains(msg, "999") {
			t.Errorf("error for %s shows the secret: %s", js, msg)
		}
	}
	// Validate does not show a short secret either.
	c := mustParse(t, "", map[string]string{trustedClientsEnv: `[{"clientId": "a", "clientSecret": "XYZ-short", "redirectUrls": ["https://a.example.com/"]}]`})
	err := c.Validate()
	if !hasLine(err, `GATEHOUSE_OIDC_TRUSTED_CLIENTS[0] "a": clientSecret: must be at least 16 bytes, got 9`) || strings.Contains(err.Error(), "XYZ") {
		t.Errorf("Validate() = %v", err)
	}
}

// TestTrustedClientsAllOrNothing: one bad entry adds none of them, and the
// problems of every entry are reported together with other variables'.
func TestTrustedClientsAllOrNothing(t *testing.T) {
	_, err := Parse(nil, mapEnv(map[string]string{
		"GATEHOUSE_DEMO_ENABLED": "maybe",
		trustedClientsEnv:        `[{"clientId": "a", "bad": 1}, {"clientId": "b"}, {"clientId": "c", "public": "yes"}]`,
	}))
	want := []string{
		`GATEHOUSE_DEMO_ENABLED: demo.enabled: want true or false, got "maybe"`,
		`GATEHOUSE_OIDC_TRUSTED_CLIENTS[0] "a": bad: unknown field`,
		`GATEHOUSE_OIDC_TRUSTED_CLIENTS[2] "c": public: want true or false, got a string`,
	}
	if got := lines(err); !reflect.DeepEqual(got, want) {
		t.Errorf("error lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestTrustedClientsFile(t *testing.T) {
	path := writeFile(t, "clients.json", seedTrustedClients+"\n")
	c := mustParse(t, "", map[string]string{trustedClientsEnv + "_FILE": path})
	if len(c.OIDC.Clients) != 1 || c.OIDC.Clients[0].ClientSecret.Value() != testSecret1 {
		t.Fatalf("clients = %+v", c.OIDC.Clients)
	}
	if got := c.OIDC.ClientPath(0); got != `GATEHOUSE_OIDC_TRUSTED_CLIENTS_FILE[0] "leeram-business"` {
		t.Errorf("ClientPath(0) = %q", got)
	}

	bad := writeFile(t, "bad.json", `[{"clientId": "x", "redirectUrls": "https://x.example.com/"}]`)
	missing := filepath.Join(t.TempDir(), "missing.json")
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"both set", map[string]string{trustedClientsEnv: "[]", trustedClientsEnv + "_FILE": path},
			"GATEHOUSE_OIDC_TRUSTED_CLIENTS: both GATEHOUSE_OIDC_TRUSTED_CLIENTS and GATEHOUSE_OIDC_TRUSTED_CLIENTS_FILE are set; use one"},
		{"missing file", map[string]string{trustedClientsEnv + "_FILE": missing},
			"GATEHOUSE_OIDC_TRUSTED_CLIENTS_FILE: read secret file: open " + missing},
		{"bad entry in file", map[string]string{trustedClientsEnv + "_FILE": bad},
			`GATEHOUSE_OIDC_TRUSTED_CLIENTS_FILE[0] "x": redirectUrls: want an array of strings, got a string`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(nil, mapEnv(tt.env))
			if !hasLine(err, tt.want) || len(lines(err)) != 1 {
				t.Errorf("error =\n%v\nwant one line starting %q", err, tt.want)
			}
		})
	}
}

// TestTrustedClientsValidatePaths: Validate names clients from the
// variable by their entry and their fields by the JSON names the
// variable uses, and compares them with the file's.
func TestTrustedClientsValidatePaths(t *testing.T) {
	doc := "oidc:\n  clients:\n    - client_id: leeram-business\n      public: true\n      redirect_urls: [https://spa.example.com/cb]\n"
	c := mustParse(t, doc, map[string]string{trustedClientsEnv: `[
		{"clientId": "leeram-business", "clientSecret": "` + testSecret1 + `", "redirectUrls": ["http://business.example.com/cb"]},
		{"redirectUrls": ["https://x.example.com/"], "public": true},
		{"clientId": "short", "clientSecret": "tooshort", "redirectUrls": ["https://y.example.com/"], "refreshTokenTTL": "1m", "accessTokenTTL": "5m"}
	]`})
	err := c.Validate()
	want := []string{
		`GATEHOUSE_OIDC_TRUSTED_CLIENTS[0] "leeram-business": clientId: duplicate of oidc.clients[0]`,
		`GATEHOUSE_OIDC_TRUSTED_CLIENTS[0] "leeram-business": redirectUrls[0]: http is allowed only for loopback hosts`,
		`GATEHOUSE_OIDC_TRUSTED_CLIENTS[1]: clientId: required`,
		`GATEHOUSE_OIDC_TRUSTED_CLIENTS[2] "short": clientSecret: must be at least`,
		`GATEHOUSE_OIDC_TRUSTED_CLIENTS[2] "short": refreshTokenTTL: must be at least the client's access token lifetime`,
	}
	if len(lines(err)) != len(want) {
		t.Errorf("Validate() =\n%v\nwant %d lines", err, len(want))
	}
	for _, w := range want {
		if !hasLine(err, w) {
			t.Errorf("Validate() =\n%v\nwant a line starting %q", err, w)
		}
	}
}

// kuployJSON encodes clients in the shape of GATEHOUSE_OIDC_TRUSTED_CLIENTS,
// for round trips.
func kuployJSON(t testing.TB, clients []Client) string {
	t.Helper()
	type entry struct {
		ClientID               string   `json:"clientId"`
		ClientSecret           string   `json:"clientSecret,omitempty"`
		Name                   string   `json:"name,omitempty"`
		RedirectURLs           []string `json:"redirectUrls,omitempty"`
		PostLogoutRedirectURLs []string `json:"postLogoutRedirectUrls,omitempty"`
		SkipConsent            bool     `json:"skipConsent"`
		RequirePKCE            bool     `json:"requirePKCE"`
		Public                 bool     `json:"public"`
		Scopes                 []string `json:"scopes,omitempty"`
		GrantTypes             []string `json:"grantTypes,omitempty"`
		BackchannelLogoutURI   string   `json:"backchannelLogoutUri,omitempty"`
		SigningAlg             string   `json:"signingAlg,omitempty"`
		AccessTokenTTL         string   `json:"accessTokenTTL"`
		IDTokenTTL             string   `json:"idTokenTTL"`
		RefreshTokenTTL        string   `json:"refreshTokenTTL"`
	}
	entries := make([]entry, len(clients))
	for i, c := range clients {
		entries[i] = entry{
			c.ClientID, c.ClientSecret.Value(), c.Name, c.RedirectURLs, c.PostLogoutRedirectURLs,
			c.SkipConsent, c.RequirePKCE, c.Public, c.Scopes, c.GrantTypes, c.BackchannelLogoutURI,
			c.SigningAlg, c.AccessTokenTTL.String(), c.IDTokenTTL.String(), c.RefreshTokenTTL.String(),
		}
	}
	b, err := json.Marshal(entries)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// FuzzTrustedClients feeds arbitrary values to the JSON parser, which must
// not panic; what it accepts must survive a round trip through the same
// shape and Validate.
func FuzzTrustedClients(f *testing.F) {
	for _, s := range []string{
		seedTrustedClients,
		"[]",
		`[{"clientId": "a", "public": true, "redirectUrls": ["com.example.app:/cb"], "accessTokenTTL": "5m"}]`,
		`[{"clientId": "a", "clientId": "b"}]`,
		`[{"clientId": 1, "x": null}, "s", [], {}]`,
		`[{"clientId": "a\u0000", "scopes": ["openid", null]}]`,
		`{"clientId": "a"}`,
		`[{"clientId": "a",}]`,
		"[\n{\"name\": \"\xff\"}]",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, js string) {
		clients, errs := parseTrustedClients([]byte(js), trustedClientsEnv)
		for _, e := range errs {
			if !strings.HasPrefix(e.Error(), trustedClientsEnv) {
				t.Errorf("error does not name the variable: %v", e)
			}
		}
		if len(errs) > 0 {
			return
		}
		encoded := kuployJSON(t, clients)
		again, errs := parseTrustedClients([]byte(encoded), trustedClientsEnv)
		if len(errs) > 0 {
			t.Fatalf("round trip of %q: %v", js, errs)
		}
		if got := kuployJSON(t, again); got != encoded {
			t.Fatalf("round trip of %q changed the clients:\n%s\n%s", js, encoded, got)
		}
		for i := range clients {
			if clients[i].origin != again[i].origin {
				t.Fatalf("origin %q became %q", clients[i].origin, again[i].origin)
			}
		}
		cfg := Default()
		cfg.OIDC.Clients = clients
		if err := cfg.Validate(); err != nil {
			_ = err.Error()
		}
	})
}

// TestTrustedClientFieldsMatchKeys: every JSON field of a trusted client
// names a client key, so Validate can report problems by JSON name.
func TestTrustedClientFieldsMatchKeys(t *testing.T) {
	keys := map[string]bool{}
	ct := reflect.TypeFor[Client]()
	for i := range ct.NumField() {
		if tag, _, _ := strings.Cut(ct.Field(i).Tag.Get("yaml"), ","); tag != "" {
			keys[tag] = true
		}
	}
	for _, f := range trustedClientFields() {
		if !keys[snakeCase(f.name)] {
			t.Errorf("JSON field %q: no client key %q", f.name, snakeCase(f.name))
		}
	}
}
