package web

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func TestRender_OIDCPages(t *testing.T) {
	r, err := NewRenderer(nil)
	if err != nil {
		t.Fatal(err)
	}
	p := Page{Title: "T", CSRF: "tok", Client: "App <b>", Pending: "pid", Action: "/consent",
		Scopes:   []ScopeView{{Name: "email", Description: "See your e-mail address"}},
		Consents: []ConsentView{{ClientID: "app", Client: "App"}},
		Fields:   []Field{{Name: "code", Value: `c"d`}, {Name: "state", Value: "<s>"}},
		Target:   "https://rp.example/cb?x=1&y=2",
		User:     &UserView{Username: "alice"}}
	for _, name := range []string{PageConsent, PageConsents, PageEndSession, PageContinue, PageFormPost} {
		rec := httptest.NewRecorder()
		r.Render(rec, http.StatusOK, name, p)
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
	r, _ := NewRenderer(nil)
	var nonces []string
	for range 2 {
		rec := httptest.NewRecorder()
		r.Render(rec, http.StatusOK, PageFormPost, Page{Target: "https://rp.example/cb", FormTargets: []string{"https://rp.example"},
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
	r.Render(rec, http.StatusOK, PageConsent, Page{})
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
		got := policy([]string{tc.in}, "")
		if kept := strings.Contains(got, "form-action 'self' "+tc.in+";"); kept != tc.kept || strings.Count(got, ";") != 5 {
			t.Errorf("%q: policy %q", tc.in, got)
		}
	}
}

func TestContinuePage(t *testing.T) {
	r, _ := NewRenderer(nil)
	rec := httptest.NewRecorder()
	r.Render(rec, http.StatusOK, PageContinue, Page{Target: "https://rp.example/cb?code=a&state=b"})
	body := rec.Body.String()
	if !strings.Contains(body, `<meta http-equiv="refresh" content="0;url=https://rp.example/cb?code=a&amp;state=b">`) ||
		!strings.Contains(body, `href="https://rp.example/cb?code=a&amp;state=b"`) {
		t.Fatalf("continue page: %s", body)
	}
}
