package clients

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	confSecret  = "s3cret-s3cret-s3cret"
	weirdID     = "we+ird:id%"
	weirdSecret = "a+b/c:d%-0123456789 &=?"
)

// valid returns a correct confidential client spec.
func valid() Spec {
	return Spec{
		ID:           "app",
		Secret:       confSecret,
		Name:         "App",
		RedirectURLs: []string{"https://app.example.com/cb"},
	}
}

func mutate(f func(*Spec)) []Spec {
	s := valid()
	f(&s)
	return []Spec{s}
}

func TestNew_RefusesBadSpecs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		specs []Spec
		index int
		id    string
		field string
	}{
		{"id missing", mutate(func(s *Spec) { s.ID = "" }), 0, "", "id"},
		{"id with space", mutate(func(s *Spec) { s.ID = "my app" }), 0, "my app", "id"},
		{"id with tab", mutate(func(s *Spec) { s.ID = "my\tapp" }), 0, "my\tapp", "id"},
		{"id non-ASCII", mutate(func(s *Spec) { s.ID = "äpp" }), 0, "äpp", "id"},
		{"id too long", mutate(func(s *Spec) { s.ID = strings.Repeat("a", 129) }), 0, strings.Repeat("a", 128) + "...", "id"},
		{"id duplicate", []Spec{valid(), valid()}, 1, "app", "id"},
		{"confidential without secret", mutate(func(s *Spec) { s.Secret = "" }), 0, "app", "secret"},
		{"secret too short", mutate(func(s *Spec) { s.Secret = "fifteen-bytes!!" }), 0, "app", "secret"},
		{"public with secret", mutate(func(s *Spec) { s.Public = true }), 0, "app", "secret"},
		{"no redirect url", mutate(func(s *Spec) { s.RedirectURLs = nil }), 0, "app", "redirect_urls"},
		{"redirect relative", mutate(func(s *Spec) { s.RedirectURLs = []string{"/cb"} }), 0, "app", `redirect_urls[0] "/cb"`},
		{"redirect scheme-relative", mutate(func(s *Spec) { s.RedirectURLs = []string{"//app.example.com/cb"} }), 0, "app", "redirect_urls[0]"},
		{"redirect fragment", mutate(func(s *Spec) { s.RedirectURLs = []string{"https://app.example.com/cb#x"} }), 0, "app", "redirect_urls[0]"},
		{"redirect empty fragment", mutate(func(s *Spec) { s.RedirectURLs = []string{"https://app.example.com/cb#"} }), 0, "app", "redirect_urls[0]"},
		{"redirect http public host", mutate(func(s *Spec) {
			s.RedirectURLs = []string{"https://app.example.com/cb", "http://app.example.com/cb"}
		}), 0, "app", `redirect_urls[1] "http://app.example.com/cb"`},
		{"redirect http localhost lookalike", mutate(func(s *Spec) { s.RedirectURLs = []string{"http://localhost.evil.com/cb"} }), 0, "app", "redirect_urls[0]"},
		{"redirect http dot-localhost lookalike", mutate(func(s *Spec) { s.RedirectURLs = []string{"http://app.localhost.evil.com/cb"} }), 0, "app", "redirect_urls[0]"},
		{"redirect http 127 lookalike", mutate(func(s *Spec) { s.RedirectURLs = []string{"http://127.0.0.1.nip.io/cb"} }), 0, "app", "redirect_urls[0]"},
		{"redirect http private ip", mutate(func(s *Spec) { s.RedirectURLs = []string{"http://10.0.0.1/cb"} }), 0, "app", "redirect_urls[0]"},
		{"redirect http mapped loopback", mutate(func(s *Spec) { s.RedirectURLs = []string{"http://[::ffff:127.0.0.1]/cb"} }), 0, "app", "redirect_urls[0]"},
		{"redirect javascript", mutate(func(s *Spec) { s.RedirectURLs = []string{"javascript:alert(1)"} }), 0, "app", "redirect_urls[0]"},
		{"redirect data", mutate(func(s *Spec) { s.RedirectURLs = []string{"data:text/html,<script>alert(1)</script>"} }), 0, "app", "redirect_urls[0]"},
		{"redirect file", mutate(func(s *Spec) { s.RedirectURLs = []string{"file:///etc/passwd"} }), 0, "app", "redirect_urls[0]"},
		{"redirect dotless custom scheme", mutate(func(s *Spec) { s.RedirectURLs = []string{"myapp:/cb"} }), 0, "app", "redirect_urls[0]"},
		{"redirect custom scheme empty", mutate(func(s *Spec) { s.RedirectURLs = []string{"com.example.app:"} }), 0, "app", "redirect_urls[0]"},
		{"redirect userinfo", mutate(func(s *Spec) { s.RedirectURLs = []string{"https://user:pw@app.example.com/cb"} }), 0, "app", "redirect_urls[0]"},
		{"redirect no host", mutate(func(s *Spec) { s.RedirectURLs = []string{"https:///cb"} }), 0, "app", "redirect_urls[0]"},
		{"redirect opaque https", mutate(func(s *Spec) { s.RedirectURLs = []string{"https:app.example.com/cb"} }), 0, "app", "redirect_urls[0]"},
		{"redirect space", mutate(func(s *Spec) { s.RedirectURLs = []string{"https://app.example.com/c b"} }), 0, "app", "redirect_urls[0]"},
		{"redirect backslash", mutate(func(s *Spec) { s.RedirectURLs = []string{`https://app.example.com\@evil.com/cb`} }), 0, "app", "redirect_urls[0]"},
		{"redirect non-ASCII host", mutate(func(s *Spec) { s.RedirectURLs = []string{"https://аpp.example.com/cb"} }), 0, "app", "redirect_urls[0]"},
		{"redirect bad port", mutate(func(s *Spec) { s.RedirectURLs = []string{"https://app.example.com:x/cb"} }), 0, "app", "redirect_urls[0]"},
		{"redirect too long", mutate(func(s *Spec) {
			s.RedirectURLs = []string{"https://app.example.com/" + strings.Repeat("a", 2048)}
		}), 0, "app", "redirect_urls[0]"},
		{"post-logout http", mutate(func(s *Spec) { s.PostLogoutRedirectURLs = []string{"http://app.example.com/"} }), 0, "app", "post_logout_redirect_urls[0]"},
		{"post-logout relative", mutate(func(s *Spec) {
			s.PostLogoutRedirectURLs = []string{"https://app.example.com/", "/home"}
		}), 0, "app", "post_logout_redirect_urls[1]"},
		{"post-logout javascript", mutate(func(s *Spec) { s.PostLogoutRedirectURLs = []string{"javascript:alert(1)"} }), 0, "app", "post_logout_redirect_urls[0]"},
		{"grant unknown", mutate(func(s *Spec) { s.GrantTypes = []string{"authorization_code", "implicit"} }), 0, "app", "grant_types[1]"},
		{"grant password", mutate(func(s *Spec) { s.GrantTypes = []string{"password"} }), 0, "app", "grant_types[0]"},
		{"grant client_credentials public", mutate(func(s *Spec) {
			s.Public, s.Secret = true, ""
			s.GrantTypes = []string{"authorization_code", "client_credentials"}
		}), 0, "app", "grant_types[1]"},
		{"signing alg HS256", mutate(func(s *Spec) { s.SigningAlg = "HS256" }), 0, "app", "signing_alg"},
		{"signing alg none", mutate(func(s *Spec) { s.SigningAlg = "none" }), 0, "app", "signing_alg"},
		{"signing alg lowercase", mutate(func(s *Spec) { s.SigningAlg = "rs256" }), 0, "app", "signing_alg"},
		{"access ttl negative", mutate(func(s *Spec) { s.AccessTokenTTL = -time.Second }), 0, "app", "access_token_ttl"},
		{"id ttl negative", mutate(func(s *Spec) { s.IDTokenTTL = -time.Second }), 0, "app", "id_token_ttl"},
		{"refresh ttl negative", mutate(func(s *Spec) { s.RefreshTokenTTL = -time.Second }), 0, "app", "refresh_token_ttl"},
		{"backchannel http", mutate(func(s *Spec) { s.BackchannelLogoutURI = "http://app.example.com/bcl" }), 0, "app", "backchannel_logout_uri"},
		{"backchannel relative", mutate(func(s *Spec) { s.BackchannelLogoutURI = "/bcl" }), 0, "app", "backchannel_logout_uri"},
		{"backchannel fragment", mutate(func(s *Spec) { s.BackchannelLogoutURI = "https://app.example.com/bcl#x" }), 0, "app", "backchannel_logout_uri"},
		{"backchannel custom scheme", mutate(func(s *Spec) { s.BackchannelLogoutURI = "com.example.app:/bcl" }), 0, "app", "backchannel_logout_uri"},
		{"scope with space", mutate(func(s *Spec) { s.Scopes = []string{"openid", "a b"} }), 0, "app", "scopes[1]"},
		{"scope empty", mutate(func(s *Spec) { s.Scopes = []string{""} }), 0, "app", "scopes[0]"},
		{"name control", mutate(func(s *Spec) { s.Name = "App\n<script>" }), 0, "app", "name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := New(tc.specs)
			if err == nil {
				t.Fatalf("New accepted the spec: %+v", r.All())
			}
			t.Log(err)
			want := fmt.Sprintf("client[%d] %q: %s", tc.index, tc.id, tc.field)
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %q", err, want)
			}
			for _, s := range tc.specs {
				if s.Secret != "" && strings.Contains(err.Error(), s.Secret) {
					t.Errorf("error %q reveals the secret", err)
				}
			}
		})
	}
}

func TestNew_ReportsEveryBadEntry(t *testing.T) {
	good := valid()
	noSecret := valid()
	noSecret.ID, noSecret.Secret = "b", ""
	badURL := valid()
	badURL.ID, badURL.RedirectURLs, badURL.SigningAlg = "c", []string{"javascript:alert(1)"}, "none"
	_, err := New([]Spec{good, noSecret, badURL})
	if err == nil {
		t.Fatal("New accepted bad specs")
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != 3 {
		t.Fatalf("want 3 joined errors, got %q", err)
	}
	for _, want := range []string{
		`client[1] "b": secret`,
		`client[2] "c": redirect_urls[0] "javascript:alert(1)"`,
		`client[2] "c": signing_alg`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), `client[0]`) {
		t.Errorf("error %q names the good entry", err)
	}
}

func TestNew_AcceptsAndDefaults(t *testing.T) {
	pub := Spec{
		ID:           "spa",
		Public:       true,
		RedirectURLs: []string{"https://spa.example.com/cb", "https://spa.example.com/"},
	}
	native := Spec{
		ID:     "native",
		Public: true,
		RedirectURLs: []string{
			"com.example.app:/oauth2redirect",
			"com.example.app://host/cb",
			"http://localhost:8080/cb",
			"http://app.localhost:8080/cb",
			"http://127.0.0.1:51234/cb",
			"http://127.9.8.7/cb",
			"http://[::1]:8080/cb",
		},
		PostLogoutRedirectURLs: []string{"com.example.app:/logout"},
		SigningAlg:             "ES256",
	}
	service := Spec{
		ID:         "svc",
		Secret:     "0123456789abcdef",
		GrantTypes: []string{GrantClientCredentials, GrantClientCredentials},
	}
	conf := valid()
	conf.RequirePKCE = false
	conf.GrantTypes = []string{}
	conf.BackchannelLogoutURI = "https://app.example.com/bcl?x=1"
	conf.AccessTokenTTL = time.Minute
	conf.Scopes = []string{"openid", "profile", "custom:scope"}

	specs := []Spec{pub, native, service, conf}
	r, err := New(specs)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range r.All() {
		ids = append(ids, c.ID)
	}
	if !slices.Equal(ids, []string{"app", "native", "spa", "svc"}) {
		t.Errorf("All() ids = %v", ids)
	}

	c, _ := r.Get("spa")
	if !c.RequirePKCE {
		t.Error("public client: RequirePKCE not forced")
	}
	if !slices.Equal(c.PostLogoutRedirectURLs, pub.RedirectURLs) {
		t.Errorf("post-logout urls = %v, want the redirect urls", c.PostLogoutRedirectURLs)
	}
	if !slices.Equal(c.GrantTypes, []string{GrantAuthorizationCode, GrantRefreshToken}) {
		t.Errorf("default grant types = %v", c.GrantTypes)
	}
	if c.SigningAlg != "RS256" {
		t.Errorf("default signing alg = %q", c.SigningAlg)
	}

	c, _ = r.Get("native")
	if c.SigningAlg != "ES256" || !c.PostLogoutAllowed("com.example.app:/logout") || c.PostLogoutAllowed("com.example.app:/oauth2redirect") {
		t.Errorf("native client = %+v", c)
	}

	c, _ = r.Get("svc")
	if !slices.Equal(c.GrantTypes, []string{GrantClientCredentials}) || c.AllowsGrant(GrantAuthorizationCode) || !c.AllowsGrant(GrantClientCredentials) {
		t.Errorf("service grant types = %v", c.GrantTypes)
	}

	c, _ = r.Get("app")
	if c.RequirePKCE {
		t.Error("confidential client: RequirePKCE set without being asked")
	}
	if !c.AllowsGrant(GrantRefreshToken) || c.AllowsGrant(GrantClientCredentials) || c.AllowsGrant("") {
		t.Errorf("empty grant types did not default: %v", c.GrantTypes)
	}
	if !c.AllowsScope("custom:scope") || c.AllowsScope("email") || c.AllowsScope("Profile") {
		t.Errorf("scopes = %v", c.Scopes)
	}
	if c, _ := r.Get("spa"); !c.AllowsScope("anything") {
		t.Error("empty scope list must allow every scope")
	}
	if _, ok := r.Get("APP"); ok {
		t.Error("Get is not case-sensitive")
	}

	// The registry does not share the specs' slices.
	specs[0].RedirectURLs[0] = "https://evil.example.com/cb"
	if c, _ := r.Get("spa"); !c.RedirectAllowed("https://spa.example.com/cb") || c.PostLogoutAllowed("https://evil.example.com/cb") {
		t.Error("registry aliases the spec's slices")
	}
}

func TestNew_Empty(t *testing.T) {
	r, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.All()) != 0 {
		t.Error("clients from nothing")
	}
	if _, ok := r.Get(""); ok {
		t.Error("Get found the empty id")
	}
}

// newRegistry returns a registry with a confidential client, one whose id
// and secret need form-encoding, and a public client.
func newRegistry(t testing.TB) *Registry {
	t.Helper()
	r, err := New([]Spec{
		{ID: "conf", Secret: confSecret, RedirectURLs: []string{"https://app.example.com/cb"}},
		{ID: weirdID, Secret: weirdSecret, RedirectURLs: []string{"https://weird.example.com/cb"}},
		{ID: "pub", Public: true, RedirectURLs: []string{"https://spa.example.com/cb"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// encodedBasic encodes per RFC 6749 §2.3.1, as golang.org/x/oauth2 does.
func encodedBasic(user, pass string) string {
	return basic(url.QueryEscape(user), url.QueryEscape(pass))
}

func tokenRequest(t testing.TB, authz []string, query string, form url.Values) *http.Request {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/token?"+query, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, a := range authz {
		req.Header.Add("Authorization", a)
	}
	if err := req.ParseForm(); err != nil {
		t.Fatal(err)
	}
	return req
}

func TestAuthenticate(t *testing.T) {
	r := newRegistry(t)
	form := func(kv ...string) url.Values {
		v := url.Values{"grant_type": {"authorization_code"}}
		for i := 0; i < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v
	}
	for _, tc := range []struct {
		name  string
		authz []string
		query string
		form  url.Values
		// either
		wantID string
		// or
		wantCode, wantDesc string
		wantBasic          bool
	}{
		{name: "basic", authz: []string{encodedBasic("conf", confSecret)}, form: form(), wantID: "conf"},
		{name: "basic lowercase scheme", authz: []string{"basic " + strings.TrimPrefix(encodedBasic("conf", confSecret), "Basic ")}, form: form(), wantID: "conf"},
		{name: "basic extra spaces", authz: []string{"Basic   " + strings.TrimPrefix(encodedBasic("conf", confSecret), "Basic ")}, form: form(), wantID: "conf"},
		{name: "basic form-encoded special characters", authz: []string{encodedBasic(weirdID, weirdSecret)}, form: form(), wantID: weirdID},
		{name: "basic special characters left unencoded", authz: []string{basic(weirdID, weirdSecret)}, form: form(),
			wantCode: "invalid_request", wantDesc: descMalformedBasic, wantBasic: true},
		{name: "basic with matching body client_id", authz: []string{encodedBasic(weirdID, weirdSecret)}, form: form("client_id", weirdID), wantID: weirdID},
		{name: "post", form: form("client_id", "conf", "client_secret", confSecret), wantID: "conf"},
		{name: "post special characters", form: form("client_id", weirdID, "client_secret", weirdSecret), wantID: weirdID},
		{name: "public none", form: form("client_id", "pub"), wantID: "pub"},
		{name: "public none with empty secret", form: form("client_id", "pub", "client_secret", ""), wantID: "pub"},
		{name: "public basic empty password", authz: []string{encodedBasic("pub", "")}, form: form(), wantID: "pub"},
		{name: "public with secret", form: form("client_id", "pub", "client_secret", "whatever-whatever"),
			wantCode: "invalid_client", wantDesc: descFailed},
		{name: "public basic with password", authz: []string{encodedBasic("pub", "x")}, form: form(),
			wantCode: "invalid_client", wantDesc: descFailed, wantBasic: true},
		{name: "basic wrong secret", authz: []string{encodedBasic("conf", confSecret+"x")}, form: form(),
			wantCode: "invalid_client", wantDesc: descFailed, wantBasic: true},
		{name: "post wrong secret", form: form("client_id", "conf", "client_secret", "S3CRET-S3CRET-S3CRET"),
			wantCode: "invalid_client", wantDesc: descFailed},
		{name: "secret prefix", form: form("client_id", "conf", "client_secret", confSecret[:len(confSecret)-1]),
			wantCode: "invalid_client", wantDesc: descFailed},
		{name: "unknown client", form: form("client_id", "nobody", "client_secret", confSecret),
			wantCode: "invalid_client", wantDesc: descFailed},
		{name: "unknown client basic", authz: []string{encodedBasic("nobody", confSecret)}, form: form(),
			wantCode: "invalid_client", wantDesc: descFailed, wantBasic: true},
		{name: "unknown client without secret", form: form("client_id", "nobody"),
			wantCode: "invalid_client", wantDesc: descFailed},
		{name: "client id is case-sensitive", form: form("client_id", "CONF", "client_secret", confSecret),
			wantCode: "invalid_client", wantDesc: descFailed},
		{name: "missing client_id", form: form(),
			wantCode: "invalid_client", wantDesc: descMissingID},
		{name: "secret without client_id", form: form("client_secret", confSecret),
			wantCode: "invalid_client", wantDesc: descMissingID},
		{name: "basic empty user", authz: []string{encodedBasic("", confSecret)}, form: form(),
			wantCode: "invalid_client", wantDesc: descMissingID, wantBasic: true},
		{name: "confidential without secret", form: form("client_id", "conf"),
			wantCode: "invalid_client", wantDesc: descFailed},
		{name: "confidential basic empty password", authz: []string{encodedBasic("conf", "")}, form: form(),
			wantCode: "invalid_client", wantDesc: descFailed, wantBasic: true},
		{name: "both methods", authz: []string{encodedBasic("conf", confSecret)}, form: form("client_id", "conf", "client_secret", confSecret),
			wantCode: "invalid_request", wantDesc: descMultiple, wantBasic: true},
		{name: "mismatched ids", authz: []string{encodedBasic("conf", confSecret)}, form: form("client_id", "pub"),
			wantCode: "invalid_request", wantDesc: descMismatch, wantBasic: true},
		{name: "malformed base64", authz: []string{"Basic !!!not-base64"}, form: form("client_id", "pub"),
			wantCode: "invalid_request", wantDesc: descMalformedBasic, wantBasic: true},
		{name: "base64 without padding", authz: []string{"Basic " + base64.RawStdEncoding.EncodeToString([]byte("conf:"+confSecret+"x"))}, form: form(),
			wantCode: "invalid_request", wantDesc: descMalformedBasic, wantBasic: true},
		{name: "malformed form-encoding", authz: []string{basic("conf", "%zz")}, form: form(),
			wantCode: "invalid_request", wantDesc: descMalformedBasic, wantBasic: true},
		{name: "basic without colon", authz: []string{"Basic " + base64.StdEncoding.EncodeToString([]byte("conf"))}, form: form(),
			wantCode: "invalid_request", wantDesc: descMalformedBasic, wantBasic: true},
		{name: "basic without credentials", authz: []string{"Basic"}, form: form("client_id", "pub"),
			wantCode: "invalid_request", wantDesc: descMalformedBasic, wantBasic: true},
		{name: "two authorization headers", authz: []string{encodedBasic("conf", confSecret), encodedBasic("conf", confSecret)}, form: form(),
			wantCode: "invalid_request", wantDesc: descMultipleHeader},
		{name: "repeated client_id", form: form("client_id", "pub", "client_id", "conf", "client_secret", confSecret),
			wantCode: "invalid_request", wantDesc: descRepeated},
		{name: "repeated client_secret", form: form("client_id", "conf", "client_secret", "x", "client_secret", confSecret),
			wantCode: "invalid_request", wantDesc: descRepeated},
		// Another scheme is not client authentication: it is ignored and
		// the body decides.
		{name: "bearer header ignored, post ok", authz: []string{"Bearer abc"}, form: form("client_id", "conf", "client_secret", confSecret), wantID: "conf"},
		{name: "bearer header does not authenticate", authz: []string{"Bearer " + confSecret}, form: form("client_id", "conf"),
			wantCode: "invalid_client", wantDesc: descFailed},
		{name: "basic-looking scheme", authz: []string{"Basicx " + strings.TrimPrefix(encodedBasic("conf", confSecret), "Basic ")}, form: form(),
			wantCode: "invalid_client", wantDesc: descMissingID},
		// RFC 6749 §2.3.1: credentials must not be in the request URI.
		{name: "secret in query ignored", query: "client_id=conf&client_secret=" + confSecret, form: form(),
			wantCode: "invalid_client", wantDesc: descMissingID},
		{name: "secret in query with body id", query: "client_secret=" + confSecret, form: form("client_id", "conf"),
			wantCode: "invalid_client", wantDesc: descFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := r.Authenticate(tokenRequest(t, tc.authz, tc.query, tc.form))
			if tc.wantID != "" {
				if err != nil {
					t.Fatalf("Authenticate: %v", err)
				}
				if c.ID != tc.wantID {
					t.Fatalf("authenticated %q, want %q", c.ID, tc.wantID)
				}
				return
			}
			if c != nil {
				t.Fatalf("authenticated %q", c.ID)
			}
			var ae *AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v (%T) is not an *AuthError", err, err)
			}
			if ae.Code != tc.wantCode || ae.Description != tc.wantDesc || ae.Basic != tc.wantBasic {
				t.Errorf("got %+v, want {%s %q Basic:%v}", *ae, tc.wantCode, tc.wantDesc, tc.wantBasic)
			}
		})
	}
}

// TestAuthenticate_NilPostForm: a request whose form was never parsed has
// no credentials in the body.
func TestAuthenticate_NilPostForm(t *testing.T) {
	r := newRegistry(t)
	req := httptest.NewRequest(http.MethodPost, "/token", nil)
	req.Header.Set("Authorization", encodedBasic("conf", confSecret))
	if c, err := r.Authenticate(req); err != nil || c.ID != "conf" {
		t.Fatalf("Authenticate = %v, %v", c, err)
	}
	req.Header.Del("Authorization")
	if _, err := r.Authenticate(req); err == nil {
		t.Fatal("authenticated without credentials")
	}
}

func TestRedirectAllowed_NearMisses(t *testing.T) {
	const exact = "https://app.example.com/cb"
	r, err := New([]Spec{{
		ID: "app", Secret: confSecret,
		RedirectURLs: []string{exact, "http://127.0.0.1:8080/callback?tenant=a", "com.example.app:/oauth2redirect"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := r.Get("app")
	for _, ok := range c.RedirectURLs {
		if !c.RedirectAllowed(ok) || !c.PostLogoutAllowed(ok) {
			t.Errorf("registered %q refused", ok)
		}
	}
	for _, uri := range []string{
		"",
		"https://app.example.com/cb/",             // trailing slash
		"https://app.example.com/cb//",            // two
		"https://app.example.com//cb",             // extra slash
		"https://App.example.com/cb",              // host case
		"https://APP.EXAMPLE.COM/cb",              // host case
		"https://app.example.com/CB",              // path case
		"HTTPS://app.example.com/cb",              // scheme case
		"https://app.example.com/cb?",             // empty query
		"https://app.example.com/cb?x=1",          // added query
		"https://app.example.com/cb#",             // empty fragment
		"https://app.example.com/cb#frag",         // fragment
		"https://app.example.com:443/cb",          // explicit default port
		"https://app.example.com:8443/cb",         // other port
		"http://app.example.com/cb",               // downgrade
		"https://user@app.example.com/cb",         // userinfo
		"https://app.example.com@evil.com/cb",     // userinfo trick
		"https://app.example.com.evil.com/cb",     // suffix domain
		"https://app.example.com./cb",             // trailing dot
		"https://app.example.com/%63b",            // encoded c
		"https://app.example.com/c%62",            // encoded b
		"https://app.example.com/cb%2F",           // encoded slash
		"https://app.example.com/cbx",             // prefix extension
		"https://app.example.com/cb/x",            // sub path
		"https://app.example.com/cb/../x",         // traversal
		"https://app.example.com/x/../cb",         // traversal to the right path
		"https://app.example.com/./cb",            // dot segment
		"https://аpp.example.com/cb",              // Cyrillic а
		"https://app.examp1e.com/cb",              // digit lookalike
		"https://xn--pp-7kc.example.com/cb",       // punycode lookalike
		"https://app.example.com/cb ",             // trailing space
		" https://app.example.com/cb",             // leading space
		"https://app.example.com/cb\x00",          // NUL
		"https://app.example.com/cb\n",            // newline
		"//app.example.com/cb",                    // scheme-relative
		"/cb",                                     // relative
		"https://app.example.com",                 // origin only
		"http://127.0.0.1:8080/callback",          // registered query dropped
		"http://127.0.0.1:8080/callback?tenant=b", // registered query changed
		"http://127.0.0.1:8081/callback?tenant=a", // loopback port change (RFC 8252 §7.3 not supported)
		"http://localhost:8080/callback?tenant=a", // localhost for 127.0.0.1
		"com.example.app://oauth2redirect",        // custom scheme shape
		"com.example.app:/oauth2redirect/",        // trailing slash
		"COM.EXAMPLE.APP:/oauth2redirect",         // scheme case
	} {
		if c.RedirectAllowed(uri) {
			t.Errorf("RedirectAllowed(%q) = true", uri)
		}
		if c.PostLogoutAllowed(uri) {
			t.Errorf("PostLogoutAllowed(%q) = true", uri)
		}
	}
}

func TestPostLogoutAllowed_OwnList(t *testing.T) {
	s := valid()
	s.PostLogoutRedirectURLs = []string{"https://app.example.com/"}
	r, err := New([]Spec{s})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := r.Get("app")
	if !c.PostLogoutAllowed("https://app.example.com/") || c.PostLogoutAllowed("https://app.example.com/cb") {
		t.Errorf("post-logout urls = %v", c.PostLogoutRedirectURLs)
	}
	if c.RedirectAllowed("https://app.example.com/") {
		t.Error("a post-logout url became a redirect url")
	}
}

func FuzzRedirectAllowed(f *testing.F) {
	registered := []string{
		"https://app.example.com/cb",
		"https://app.example.com/cb?x=1",
		"http://[::1]:8080/cb",
		"com.example.app:/oauth2redirect",
	}
	r, err := New([]Spec{{ID: "app", Secret: confSecret, RedirectURLs: registered}})
	if err != nil {
		f.Fatal(err)
	}
	c, _ := r.Get("app")
	for _, s := range registered {
		f.Add(s)
		f.Add(s + "/")
		f.Add(strings.ToUpper(s))
		f.Add(s[:len(s)-1])
	}
	f.Add("")
	f.Add("https://app.example.com/cb#x")
	f.Fuzz(func(t *testing.T, uri string) {
		want := false
		for _, s := range registered {
			if uri == s {
				want = true
			}
		}
		if got := c.RedirectAllowed(uri); got != want {
			t.Fatalf("RedirectAllowed(%q) = %v, want %v", uri, got, want)
		}
		if got := c.PostLogoutAllowed(uri); got != want {
			t.Fatalf("PostLogoutAllowed(%q) = %v, want %v", uri, got, want)
		}
	})
}

// lenientBasic decodes a Basic header more permissively than Authenticate
// does; the fuzz test uses it as an oracle: whatever Authenticate accepts,
// this must decode to the same credentials.
func lenientBasic(h string) (user, pass string, ok bool) {
	scheme, creds, _ := strings.Cut(strings.TrimSpace(h), " ")
	if !strings.EqualFold(scheme, "Basic") {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(creds))
	if err != nil {
		return "", "", false
	}
	u, p, found := strings.Cut(string(raw), ":")
	if !found {
		return "", "", false
	}
	user, err1 := url.QueryUnescape(u)
	pass, err2 := url.QueryUnescape(p)
	return user, pass, err1 == nil && err2 == nil
}

func FuzzAuthenticateBasic(f *testing.F) {
	r := newRegistry(f)
	secrets := map[string]string{"conf": confSecret, weirdID: weirdSecret}
	descs := []string{descFailed, descMissingID, descMultiple, descMismatch, descMalformedBasic, descRepeated, descMultipleHeader}

	f.Add(encodedBasic("conf", confSecret), "", "")
	f.Add(encodedBasic(weirdID, weirdSecret), weirdID, "")
	f.Add(basic(weirdID, weirdSecret), "", "")
	f.Add(encodedBasic("conf", confSecret+"x"), "", "")
	f.Add(encodedBasic("pub", ""), "pub", "")
	f.Add(encodedBasic("pub", "x"), "", "")
	f.Add("Basic !!!", "", "")
	f.Add("Basic", "conf", confSecret)
	f.Add("basic   "+base64.StdEncoding.EncodeToString([]byte("conf:%zz")), "", "")
	f.Add("Bearer x", "conf", confSecret)
	f.Add("", "pub", "")
	f.Add("", "conf", "")
	f.Fuzz(func(t *testing.T, authz, bodyID, bodySecret string) {
		req := &http.Request{Header: http.Header{}, PostForm: url.Values{}}
		if authz != "" {
			req.Header["Authorization"] = []string{authz}
		}
		if bodyID != "" {
			req.PostForm.Set("client_id", bodyID)
		}
		if bodySecret != "" {
			req.PostForm.Set("client_secret", bodySecret)
		}
		c, err := r.Authenticate(req)
		if err != nil {
			var ae *AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v (%T) is not an *AuthError", err, err)
			}
			if ae.Code != "invalid_client" && ae.Code != "invalid_request" {
				t.Fatalf("code %q", ae.Code)
			}
			if !slices.Contains(descs, ae.Description) {
				t.Fatalf("description %q is not a fixed string", ae.Description)
			}
			if c != nil {
				t.Fatal("client and error both returned")
			}
			return
		}
		if got, ok := r.Get(c.ID); !ok || got != c {
			t.Fatalf("authenticated an unregistered client %q", c.ID)
		}
		user, pass, isBasic := lenientBasic(authz)
		if c.Public {
			if bodySecret != "" || (isBasic && pass != "") {
				t.Fatalf("public client authenticated with a secret (authz %q)", authz)
			}
			return
		}
		want := secrets[c.ID]
		viaBasic := isBasic && user == c.ID && pass == want
		viaPost := bodyID == c.ID && bodySecret == want
		if !viaBasic && !viaPost {
			t.Fatalf("authenticated %q without its secret: authz %q, body %q/%q", c.ID, authz, bodyID, bodySecret)
		}
	})
}

func BenchmarkAuthenticate(b *testing.B) {
	r := newRegistry(b)
	for _, bc := range []struct {
		name  string
		authz string
		form  url.Values
		ok    bool
	}{
		{"basic", encodedBasic("conf", confSecret), url.Values{}, true},
		{"post", "", url.Values{"client_id": {"conf"}, "client_secret": {confSecret}}, true},
		{"public", "", url.Values{"client_id": {"pub"}}, true},
		{"wrong_secret", "", url.Values{"client_id": {"conf"}, "client_secret": {"wrong-wrong-wrong-wrong"}}, false},
		{"unknown_client", "", url.Values{"client_id": {"nobody"}, "client_secret": {confSecret}}, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := &http.Request{Header: http.Header{}, PostForm: bc.form}
			if bc.authz != "" {
				req.Header.Set("Authorization", bc.authz)
			}
			b.ReportAllocs()
			for b.Loop() {
				_, err := r.Authenticate(req)
				if (err == nil) != bc.ok {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzCheckRedirectURL: whatever registration accepts is absolute, has no
// fragment, and is https, http on loopback, or a dotted private-use scheme.
func FuzzCheckRedirectURL(f *testing.F) {
	for _, s := range []string{
		"https://app.example.com/cb", "http://localhost:3000/cb", "http://[::1]/cb",
		"http://127.0.0.1.evil/cb", "com.example.app:/cb", "javascript:alert(1)",
		"JAVASCRIPT://%0aalert(1)", "data:,x", "https://a/#", "http://[::1%25eth0]/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if checkRedirectURL(raw) != nil {
			return
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("accepted unparsable %q", raw)
		}
		if strings.Contains(raw, "#") || u.User != nil {
			t.Fatalf("accepted %q with a fragment or userinfo", raw)
		}
		switch {
		case u.Scheme == "https" && u.Host != "":
		case u.Scheme == "http" && loopback(u.Hostname()):
		case strings.Contains(u.Scheme, "."):
		default:
			t.Fatalf("accepted %q", raw)
		}
	})
}
