package idp

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/identity"
	"github.com/gatehouse-sso/gatehouse/idp/keys"
	"github.com/gatehouse-sso/gatehouse/session"
)

// TestUserinfo_LiveClaims: custom claims are computed on every call, so
// a demotion shows at once, and a removed user's token stops working.
func TestUserinfo_LiveClaims(t *testing.T) {
	h := newHarness(t, nil)
	at := h.exchange(h.authorize(h.signIn("u1"), "openid profile"))["access_token"].(string)

	st, body, _ := h.userinfo(at)
	if st != http.StatusOK || body["admin"] != true || body["sub"] != "u1" || body["name"] != "Alice" || body["email"] != nil {
		t.Fatalf("userinfo: %d %v", st, body)
	}
	u, _ := h.users.ByID(context.Background(), "u1")
	u.Groups = nil
	h.users.set(u)
	if _, body, _ := h.userinfo(at); body["admin"] != false {
		t.Fatalf("demotion not live: %v", body)
	}
	h.users.mu.Lock()
	delete(h.users.users, "u1")
	h.users.mu.Unlock()
	st, _, hdr := h.userinfo(at)
	if st != http.StatusUnauthorized || !strings.Contains(hdr.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("deleted user: %d %q", st, hdr.Get("WWW-Authenticate"))
	}
}

func TestClaims_Custom(t *testing.T) {
	tbl, err := newScopeTable(
		[]Scope{{Name: "org", Description: "Your organisation", Claims: []string{"tier", "is_gold", "groups"}}, {Name: "email", Claims: []string{"role"}}},
		[]Claim{
			{Name: "admin", AnyGroup: []string{"admins", "root"}},
			{Name: "role", Attribute: "role"},
			{Name: "tier", Attribute: "org.tier"},
			{Name: "is_gold", Attribute: "org.tier", Equals: "gold"},
			{Name: "missing", Attribute: "nope"},
		})
	if err != nil {
		t.Fatal(err)
	}
	u := identity.User{ID: "u", Email: "a@example.com", Groups: []string{"staff"},
		Attributes: map[string]any{"role": "editor", "org": map[string]any{"tier": "silver"}}}
	cases := []struct {
		scopes []string
		want   map[string]any
	}{
		{[]string{"openid"}, map[string]any{"admin": false}}, // unlisted custom claims go with openid
		{[]string{"openid", "org"}, map[string]any{"admin": false, "tier": "silver", "is_gold": false, "groups": []string{"staff"}}},
		{[]string{"email"}, map[string]any{"email": "a@example.com", "email_verified": false, "role": "editor"}},
		{[]string{"offline_access"}, map[string]any{}},
	}
	for _, tc := range cases {
		got := map[string]any{}
		tbl.userClaims(got, u, tc.scopes)
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(tc.want)
		if string(gj) != string(wj) {
			t.Errorf("%v: got %s, want %s", tc.scopes, gj, wj)
		}
	}
	if !slices.Contains(tbl.names(), "org") || tbl.describe("org") != "Your organisation" {
		t.Errorf("scope table: %v", tbl.names())
	}
	for _, bad := range [][]Claim{{{Name: "email"}}, {{Name: "sub"}}, {{Name: "x"}, {Name: "x"}}} {
		if _, err := newScopeTable(nil, bad); err == nil {
			t.Errorf("claims %v accepted", bad)
		}
	}
	if _, err := newScopeTable([]Scope{{Name: "s", Claims: []string{"unknown"}}}, nil); err == nil {
		t.Error("scope with an unknown claim accepted")
	}
}

func TestParseAuthorize(t *testing.T) {
	known := func(s string) bool { return s == "openid" || s == "email" }
	base := "client_id=c&redirect_uri=https%3A%2F%2Frp%2Fcb&response_type=code&scope=openid&state=s"
	cases := []struct {
		name, q    string
		page       bool
		code, desc string
	}{
		{"ok", base, false, "", ""},
		{"unknown params ignored", base + "&foo=bar&ui_locales=fr&display=popup&acr_values=1&claims_locales=en", false, "", ""},
		{"no client", "redirect_uri=x", true, "", ""},
		{"no redirect", "client_id=c", true, "", ""},
		{"two redirects", base + "&redirect_uri=https%3A%2F%2Frp%2Fcb", true, "", ""},
		{"two states", base + "&state=t", false, "invalid_request", `parameter "state" is repeated`},
		{"request", base + "&request=x", false, "request_not_supported", ""},
		{"request_uri", base + "&request_uri=x", false, "request_uri_not_supported", ""},
		{"token", strings.Replace(base, "response_type=code", "response_type=token", 1), false, "unsupported_response_type", ""},
		{"bad scope", strings.Replace(base, "scope=openid", "scope=openid+x", 1), false, "invalid_scope", ""},
		{"tab-separated scope", strings.Replace(base, "scope=openid", "scope=openid%09email", 1), false, "invalid_scope", ""},
		{"plain", base + "&code_challenge=" + strings.Repeat("a", 43) + "&code_challenge_method=plain", false, "invalid_request", "PKCE method plain is not supported"},
		{"S256 without challenge", base + "&code_challenge_method=S256", false, "invalid_request", "code_challenge required"},
		{"challenge too long", base + "&code_challenge_method=S256&code_challenge=" + strings.Repeat("a", 129), false, "invalid_request", ""},
		{"challenge bad char", base + "&code_challenge_method=S256&code_challenge=" + strings.Repeat("a", 42) + "%2B", false, "invalid_request", ""},
		{"max_age text", base + "&max_age=abc", false, "invalid_request", ""},
		{"none+consent", base + "&prompt=none+consent", false, "invalid_request", ""},
		{"form_post", base + "&response_mode=form_post", false, "", ""},
		{"long nonce", base + "&nonce=" + strings.Repeat("n", 2000), false, "invalid_request", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, _ := url.ParseQuery(tc.q)
			req, page, e := parseAuthorize(v, known)
			if (page != "") != tc.page {
				t.Fatalf("page error %q", page)
			}
			if tc.page {
				return
			}
			switch {
			case tc.code == "" && e != nil:
				t.Fatalf("unexpected %v", e)
			case tc.code != "" && (e == nil || e.Code != tc.code):
				t.Fatalf("got %v, want %s", e, tc.code)
			case tc.desc != "" && e.Description != tc.desc:
				t.Fatalf("description %q, want %q", e.Description, tc.desc)
			}
			if req.State != v.Get("state") && !strings.Contains(tc.name, "two states") {
				t.Fatalf("state %q", req.State)
			}
		})
	}
	v, _ := url.ParseQuery(base + "&prompt=login+consent+login&max_age=30&login_hint=al&scope=openid+email+openid")
	v.Set("scope", "openid email openid")
	req, _, e := parseAuthorize(v, known)
	if e != nil || !slices.Equal(req.Prompt, []string{"login", "consent"}) || req.MaxAge != 30 || req.LoginHint != "al" || !slices.Equal(req.Scopes, []string{"openid", "email"}) {
		t.Fatalf("parsed %+v, %v", req, e)
	}
}

// FuzzParseAuthorize feeds arbitrary query strings to the authorize
// parser: it must not panic, must classify every request as exactly one of
// page error, redirect error or valid, and a valid request must satisfy
// every rule the rest of the flow relies on.
func FuzzParseAuthorize(f *testing.F) {
	for _, s := range []string{
		"client_id=c&redirect_uri=https%3A%2F%2Frp%2Fcb&response_type=code&scope=openid&state=s",
		"client_id=c&redirect_uri=x&response_type=code&scope=openid+email&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&prompt=login&max_age=0&nonce=n",
		"client_id=c&client_id=d",
		"client_id=c&redirect_uri=x&response_mode=form_post&request=x",
		"client_id=%00&redirect_uri=%ff&scope=%20%20&prompt=none+none&max_age=99999999999999999999",
		";;&&==",
	} {
		f.Add(s)
	}
	known := func(s string) bool { return s == "openid" || s == "email" || s == "offline_access" }
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		req, page, e := parseAuthorize(v, known)
		if page != "" {
			if e != nil {
				t.Fatal("both a page error and a redirect error")
			}
			return
		}
		if req.ClientID == "" || req.RedirectURI == "" || len(v["client_id"]) != 1 || len(v["redirect_uri"]) != 1 {
			t.Fatalf("client or redirect not established: %+v", req)
		}
		if req.ResponseMode != "" && req.ResponseMode != modeFormPost {
			t.Fatalf("response mode %q", req.ResponseMode)
		}
		if e != nil {
			if e.Code == "" || e.Description == "" || len(e.Description) > 300 {
				t.Fatalf("bad error %+v", e)
			}
			return
		}
		if req.State != v.Get("state") {
			t.Fatalf("state %q != %q", req.State, v.Get("state"))
		}
		if v.Get("response_type") != "code" || len(req.Scopes) == 0 || req.MaxAge < -1 || len(req.Nonce) > maxNonceLen {
			t.Fatalf("accepted %+v", req)
		}
		for _, s := range req.Scopes {
			if !known(s) {
				t.Fatalf("unknown scope %q accepted", s)
			}
		}
		if req.CodeChallenge != "" && (req.CodeChallengeMethod != "S256" || !validPKCE(req.CodeChallenge)) {
			t.Fatalf("bad PKCE accepted: %+v", req)
		}
		if req.prompts(promptNone) && len(req.Prompt) != 1 {
			t.Fatalf("prompt=none combined: %v", req.Prompt)
		}
		// The pending request survives its JSON round trip unchanged.
		b, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		var back authorizeRequest
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if back.State != req.State || back.Nonce != req.Nonce || back.RedirectURI != req.RedirectURI || !slices.Equal(back.Scopes, req.Scopes) {
			t.Fatalf("JSON round trip changed %+v into %+v", req, back)
		}
	})
}

func TestBackchannel_CloseRefusesNewWork(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	if err := h.p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	h.p.bc.sessionEnded(ctx, session.Record{SID: "sid", UserID: "u1"})
	wctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := h.p.Wait(wctx); err != nil {
		t.Fatalf("work started after Close: %v", err)
	}
}

func TestNew_RefusesClientWithoutKey(t *testing.T) {
	h := newHarness(t, nil)
	km, err := keys.New(context.Background(), h.st, keys.Options{Algorithms: []string{keys.RS256}})
	if err != nil {
		t.Fatal(err)
	}
	o := h.p.o
	o.Keys = km
	if _, err := New(o); err == nil || !strings.Contains(err.Error(), `"es"`) {
		t.Fatalf("client signing with a missing key accepted: %v", err)
	}
}

// TestHalfHash pins at_hash to the OpenID Connect Core example.
func TestHalfHash(t *testing.T) {
	// OpenID Connect Core 1.0, Appendix A.3 (RS256, access token
	// "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y").
	if got := halfHash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"); got != "77QmUPtjPfzWtF2AnpK9RQ" {
		t.Fatalf("at_hash %s", got)
	}
}

func TestDiscovery_RS256First(t *testing.T) {
	h := newHarness(t, func(o *Options) {})
	doc := h.p.discoveryDocument()
	if doc.IDTokenSigningAlgValuesSupported[0] != keys.RS256 || slices.Contains(doc.IDTokenSigningAlgValuesSupported, "none") {
		t.Fatalf("algs %v", doc.IDTokenSigningAlgValuesSupported)
	}
}
