package idp

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestEndSession_Checks: RP-initiated logout redirects only to a
// registered URI of a client the hint agrees with, and its confirmation
// form is CSRF-protected.
func TestEndSession_Checks(t *testing.T) {
	h := protoHarness(t)
	alice := h.signIn("u1")
	idt := h.exchangeAs(t, "app", "openid")["id_token"].(string)
	get := func(q url.Values, c *http.Cookie) *http.Response {
		req, _ := http.NewRequest("GET", h.srv.URL+"/end_session?"+q.Encode(), nil)
		if c != nil {
			req.AddCookie(c)
		}
		res, err := h.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	for _, tc := range []struct {
		name string
		q    url.Values
	}{
		{"unregistered URI", url.Values{"client_id": {"app"}, "post_logout_redirect_uri": {"https://evil.example/"}}},
		{"hint of another client", url.Values{"client_id": {"other"}, "id_token_hint": {idt}, "post_logout_redirect_uri": {hCallback}}},
	} {
		if res := get(tc.q, h.signIn("u1")); res.StatusCode != http.StatusBadRequest || res.Header.Get("Location") != "" {
			t.Errorf("%s: %d to %q, want a 400 page", tc.name, res.StatusCode, res.Header.Get("Location"))
		}
	}
	// The confirmation form with a forged token signs nobody out.
	f := url.Values{"csrf_token": {"forged"}, "post_logout_redirect_uri": {hCallback}, "client_id": {"app"}}
	req, _ := http.NewRequest("POST", h.srv.URL+"/end_session", strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(alice)
	res, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("forged confirmation: %d, want 403", res.StatusCode)
	}
	q := authzQuery("app", "openid")
	q.Set("prompt", "none")
	if h.redirected(t, alice, q).Get("code") == "" {
		t.Error("a forged confirmation ended the session")
	}
	// The registered URI of the hint's client is followed.
	if res := get(url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {hCallback}, "state": {"x"}}, alice); !strings.HasPrefix(res.Header.Get("Location"), hCallback) {
		t.Errorf("registered URI: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
}

// TestConsent_RequiresCSRF: a consent answer without the form's token
// issues nothing.
func TestConsent_RequiresCSRF(t *testing.T) {
	h := protoHarness(t)
	alice := h.signIn("u1")
	_, body := h.authz(alice, authzQuery("ask", "openid"))
	m := pendingRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no consent page")
	}
	f := url.Values{"pending": {m[1]}, "decision": {"allow"}, "csrf_token": {"forged"}}
	req, _ := http.NewRequest("POST", h.srv.URL+"/consent", strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(alice)
	req.AddCookie(&http.Cookie{Name: "gatehouse_csrf", Value: "forged"})
	res, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden || strings.Contains(res.Header.Get("Location"), "code=") {
		t.Fatalf("forged consent: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
}
