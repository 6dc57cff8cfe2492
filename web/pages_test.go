package web

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func TestRender_OIDCPages(t *testing.T) {
	r := newRenderer(t, Brand{})
	fr := Frame{Title: "T", CSRF: "tok"}
	fields := []Field{{Name: "code", Value: `c"d`}, {Name: "state", Value: "<s>"}}
	user := &UserView{Username: "alice"}
	for _, v := range []View{
		&ConsentPage{Frame: fr, Client: "App <b>", Pending: "pid", Action: "/consent", User: user,
			Scopes: []ScopeView{{Name: "email", Description: "See your e-mail address"}}},
		&ConsentsPage{Frame: fr, Action: "/consents", Consents: []ConsentView{{ClientID: "app", Client: "App <b>"}}, User: user},
		&EndSessionPage{Frame: fr, Client: "App <b>", Action: "/end", Fields: fields, User: user},
		&ContinuePage{Frame: fr, Client: "App <b>", Target: "https://rp.example/cb?x=1&y=2"},
		&FormPostPage{Frame: fr, Target: "https://rp.example/cb?x=1&y=2", Fields: fields},
	} {
		name := v.template()
		rec := httptest.NewRecorder()
		r.Render(rec, http.StatusOK, v)
		body := rec.Body.String()
		if rec.Code != http.StatusOK || !strings.Contains(body, "</html>") {
			t.Fatalf("%s: %d", name, rec.Code)
		}
		if strings.Contains(body, "<b>") || strings.Contains(body, `c"d`) || strings.Contains(body, "<s>") {
			t.Errorf("%s: values not escaped", name)
		}
		if rec.Header().Get("X-Frame-Options") != "DENY" || !strings.Contains(rec.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("%s: security headers missing", name)
		}
	}
}

func TestRender_FormPostNonce(t *testing.T) {
	r := newRenderer(t, Brand{})
	var nonces []string
	for range 2 {
		rec := httptest.NewRecorder()
		r.Render(rec, http.StatusOK, &FormPostPage{Frame: Frame{FormTargets: []string{"https://rp.example"}}, Target: "https://rp.example/cb",
			Fields: []Field{{Name: "code", Value: "c"}}})
		m := regexp.MustCompile(`<script nonce="([^"]+)">`).FindStringSubmatch(rec.Body.String())
		csp := rec.Header().Get("Content-Security-Policy")
		if m == nil || !strings.Contains(csp, "script-src 'nonce-"+m[1]+"'") || !strings.Contains(csp, "form-action 'self' https://rp.example;") {
			t.Fatalf("CSP %q, body %s", csp, rec.Body.String())
		}
		if !strings.Contains(rec.Body.String(), `action="https://rp.example/cb"`) || !strings.Contains(rec.Body.String(), "<noscript>") {
			t.Fatalf("form: %s", rec.Body.String())
		}
		nonces = append(nonces, m[1])
	}
	if nonces[0] == nonces[1] {
		t.Fatal("nonce reused")
	}
	// Other pages allow no script at all.
	rec := httptest.NewRecorder()
	r.Render(rec, http.StatusOK, &ConsentPage{})
	if strings.Contains(rec.Header().Get("Content-Security-Policy"), "script-src") {
		t.Fatal("script allowed on the consent page")
	}
}

func TestPolicy_FormTargets(t *testing.T) {
	for _, tc := range []struct {
		in   string
		kept bool
	}{
		{"https://rp.example", true},
		{"https://rp.example:8443", true},
		{"http://127.0.0.1:9000", true},
		{"https://[::1]:8443", true},
		{"com.example.app:", true},
		{"https://rp.example; script-src *", false},
		{"https://rp.example/path", false},
		{"'unsafe-inline'", false},
		{"*", false},
		{"", false},
	} {
		got := policy([]string{tc.in}, "", "", "")
		if kept := strings.Contains(got, "form-action 'self' "+tc.in+";"); kept != tc.kept || strings.Count(got, ";") != 5 {
			t.Errorf("%q: policy %q", tc.in, got)
		}
	}
}

func TestContinuePage(t *testing.T) {
	r := newRenderer(t, Brand{})
	rec := httptest.NewRecorder()
	r.Render(rec, http.StatusOK, &ContinuePage{Target: "https://rp.example/cb?code=a&state=b"})
	body := rec.Body.String()
	if !strings.Contains(body, `<meta http-equiv="refresh" content="0;url=https://rp.example/cb?code=a&amp;state=b">`) ||
		!strings.Contains(body, `href="https://rp.example/cb?code=a&amp;state=b"`) {
		t.Fatalf("continue page: %s", body)
	}
}
