package idp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// sessionWith starts a session for u1 with amr and returns its cookie.
func (h *harness) sessionWith(amr ...string) *http.Cookie {
	h.tb.Helper()
	rec := httptest.NewRecorder()
	if _, err := h.sessions.Start(context.Background(), rec, httptest.NewRequest("GET", "/", nil), "u1", amr); err != nil {
		h.tb.Fatal(err)
	}
	return rec.Result().Cookies()[0]
}

// get fetches target (absolute or a path) with cookie, not following
// redirects.
func (h *harness) get(target string, cookie *http.Cookie) (int, *url.URL) {
	h.tb.Helper()
	if strings.HasPrefix(target, "/") {
		target = h.srv.URL + target
	}
	req, _ := http.NewRequest("GET", target, nil)
	req.AddCookie(cookie)
	res, err := h.client.Do(req)
	if err != nil {
		h.tb.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	loc, _ := url.Parse(res.Header.Get("Location"))
	return res.StatusCode, loc
}

// getBody fetches a path with cookie and returns the status and body.
func (h *harness) getBody(path string, cookie *http.Cookie) (int, string) {
	h.tb.Helper()
	req, _ := http.NewRequest("GET", h.srv.URL+path, nil)
	req.AddCookie(cookie)
	res, err := h.client.Do(req)
	if err != nil {
		h.tb.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// jwtClaims decodes a JWT's payload without verifying it.
func jwtClaims(t *testing.T, tok any) map[string]any {
	t.Helper()
	s, _ := tok.(string)
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %v", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func authorizeURL(extra url.Values) string {
	q := url.Values{"client_id": {"app"}, "redirect_uri": {hCallback}, "response_type": {"code"}, "scope": {"openid"},
		"state": {"s"}, "nonce": {"n"}, "code_challenge": {challengeOf(hVerifier)}, "code_challenge_method": {"S256"}}
	for k, v := range extra {
		q[k] = v
	}
	return "/authorize?" + q.Encode()
}

// TestAuthorize_ACRValues: acr derives from the session's amr; a request
// for a higher acr sends the browser to the sign-in dispatcher once (to
// add a factor), and then, acr_values being voluntary, the code carries
// the acr achieved.
func TestAuthorize_ACRValues(t *testing.T) {
	h := newHarness(t, nil)
	acrOf := func(code string) (string, string) {
		body := h.exchange(code)
		return jwtClaims(t, body["id_token"])["acr"].(string), jwtClaims(t, body["access_token"])["acr"].(string)
	}

	// Password only, acr 2 asked: to the dispatcher with acr=2.
	pwd := h.sessionWith("pwd")
	st, loc := h.get(authorizeURL(url.Values{"acr_values": {"2"}}), pwd)
	if st != http.StatusFound || loc.Path != "/login" || loc.Query().Get("acr") != "2" || loc.Query().Get("force") != "" {
		t.Fatalf("acr 2 with a password session: %d %s", st, loc)
	}
	// Back without a factor (none available): the code (on the continue
	// page, as after any sign-in), with acr 1.
	st, body := h.getBody(loc.Query().Get("rd"), pwd)
	m := regexp.MustCompile(`[?&]code=([^&"]+)`).FindStringSubmatch(body)
	if st != http.StatusOK || m == nil {
		t.Fatalf("resume: %d %s", st, body)
	}
	if id, at := acrOf(m[1]); id != "1" || at != "1" {
		t.Fatalf("acr id %q access %q, want 1", id, at)
	}

	// A session with a second factor meets acr 2 at once.
	mfa := h.sessionWith("pwd", "otp")
	st, loc = h.get(authorizeURL(url.Values{"acr_values": {"2"}}), mfa)
	if st != http.StatusFound || loc.Query().Get("code") == "" {
		t.Fatalf("acr 2 with a second factor: %d %s", st, loc)
	}
	if id, at := acrOf(loc.Query().Get("code")); id != "2" || at != "2" {
		t.Fatalf("acr id %q access %q, want 2", id, at)
	}

	for _, tc := range []struct {
		name  string
		extra url.Values
	}{
		{"acr 1 asked", url.Values{"acr_values": {"1"}}},
		{"either asked", url.Values{"acr_values": {"2 1"}}},
		{"unknown value", url.Values{"acr_values": {"urn:example:loa:3"}}},
		{"prompt=none never asks", url.Values{"acr_values": {"2"}, "prompt": {"none"}}},
	} {
		st, loc := h.get(authorizeURL(tc.extra), pwd)
		if st != http.StatusFound || loc.Query().Get("code") == "" {
			t.Errorf("%s: %d %s", tc.name, st, loc)
		}
	}
	if st, loc := h.get(authorizeURL(url.Values{"acr_values": {strings.Repeat("x", 1025)}}), pwd); loc.Query().Get("error") != "invalid_request" {
		t.Errorf("oversized acr_values: %d %s", st, loc)
	}
}

func TestDiscovery_ACRValues(t *testing.T) {
	h := newHarness(t, nil)
	res, err := h.client.Get(h.srv.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var doc struct {
		ACR []string `json:"acr_values_supported"`
	}
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil || strings.Join(doc.ACR, " ") != "1 2" {
		t.Fatalf("acr_values_supported %v %v", doc.ACR, err)
	}
}
