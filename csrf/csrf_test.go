package csrf

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func newProtector(t *testing.T) *Protector {
	t.Helper()
	p, err := New([]byte(strings.Repeat("k", 32)), true)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// issue returns a binding cookie and its token as a browser would get them.
func issue(t *testing.T, p *Protector) (*http.Cookie, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	tok := p.Token(rec, httptest.NewRequest("GET", "https://sso.example.com/login", nil))
	cs := rec.Result().Cookies()
	if len(cs) != 1 || cs[0].Name != "__Host-gatehouse_csrf" || !cs[0].Secure || !cs[0].HttpOnly || cs[0].Path != "/" {
		t.Fatalf("unexpected cookie %+v", cs)
	}
	return cs[0], tok
}

func post(form url.Values, cookie *http.Cookie, hdr map[string]string) *http.Request {
	r := httptest.NewRequest("POST", "https://sso.example.com/login", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if cookie != nil {
		r.AddCookie(cookie)
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	return r
}

func TestVerify(t *testing.T) {
	p := newProtector(t)
	cookie, tok := issue(t, p)
	otherCookie, otherTok := issue(t, p)
	other, err := New([]byte(strings.Repeat("x", 32)), true)
	if err != nil {
		t.Fatal(err)
	}
	forged := other.sign(cookie.Value)

	tests := []struct {
		name   string
		form   url.Values
		cookie *http.Cookie
		hdr    map[string]string
		ok     bool
	}{
		{"valid", url.Values{FieldName: {tok}}, cookie, nil, true},
		{"valid same-origin fetch", url.Values{FieldName: {tok}}, cookie, map[string]string{"Sec-Fetch-Site": "same-origin"}, true},
		{"missing token", url.Values{}, cookie, nil, false},
		{"empty token", url.Values{FieldName: {""}}, cookie, nil, false},
		{"missing cookie", url.Values{FieldName: {tok}}, nil, nil, false},
		{"token of another browser", url.Values{FieldName: {otherTok}}, cookie, nil, false},
		{"cookie of another browser", url.Values{FieldName: {tok}}, otherCookie, nil, false},
		{"token signed with another key", url.Values{FieldName: {forged}}, cookie, nil, false},
		{"token equal to cookie (naive double submit)", url.Values{FieldName: {cookie.Value}}, cookie, nil, false},
		{"malformed cookie", url.Values{FieldName: {tok}}, &http.Cookie{Name: cookie.Name, Value: "short"}, nil, false},
		{"cross-site fetch", url.Values{FieldName: {tok}}, cookie, map[string]string{"Sec-Fetch-Site": "cross-site"}, false},
		{"foreign origin", url.Values{FieldName: {tok}}, cookie, map[string]string{"Origin": "https://evil.example"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := p.Verify(post(tc.form, tc.cookie, tc.hdr))
			if tc.ok && err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !tc.ok && !errors.Is(err, ErrInvalid) {
				t.Fatalf("Verify = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestToken_ReusesCookie(t *testing.T) {
	p := newProtector(t)
	cookie, tok := issue(t, p)
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "https://sso.example.com/login", nil)
	r.AddCookie(cookie)
	if got := p.Token(rec, r); got != tok {
		t.Fatalf("token changed for the same cookie")
	}
	if len(rec.Result().Cookies()) != 0 {
		t.Fatalf("cookie re-issued although the browser had one")
	}
}

func TestNew_ShortKey(t *testing.T) {
	if _, err := New([]byte("short"), true); err == nil {
		t.Fatal("short key accepted")
	}
	p, err := New([]byte(strings.Repeat("k", 32)), false)
	if err != nil || p.CookieName() != "gatehouse_csrf" {
		t.Fatalf("insecure cookie name = %q, %v", p.CookieName(), err)
	}
}

// TestDerive: a Protector derived from a secret verifies its own tokens,
// refuses those of a Protector derived from another secret, and its key
// is not the secret itself.
func TestDerive(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	p, err := Derive(secret, true)
	if err != nil {
		t.Fatal(err)
	}
	cookie, tok := issue(t, p)
	form := url.Values{FieldName: {tok}}
	if err := p.Verify(post(form, cookie, nil)); err != nil {
		t.Fatalf("own token refused: %v", err)
	}
	other, err := Derive([]byte(strings.Repeat("t", 32)), true)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Verify(post(form, cookie, nil)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("token under another secret: %v, want ErrInvalid", err)
	}
	raw, err := New(secret, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.Verify(post(form, cookie, nil)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("the secret is used as the key unchanged: %v", err)
	}
	if _, err := Derive([]byte("short"), true); err == nil {
		t.Fatal("a short secret was accepted")
	}
}
