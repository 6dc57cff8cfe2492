package csrf

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestVerify_RefusesAMissingOrMalformedBinding: without a well-formed
// binding cookie a form is refused, even with the token an empty (or
// malformed, hence ignored) binding would have: a token never stands
// alone.
func TestVerify_RefusesAMissingOrMalformedBinding(t *testing.T) {
	p := newProtector(t)
	for _, tc := range []struct {
		name   string
		cookie *http.Cookie
	}{
		{"no cookie", nil},
		{"short cookie", &http.Cookie{Name: p.cookieName, Value: "abc"}},
		{"not base64url", &http.Cookie{Name: p.cookieName, Value: strings.Repeat("*", 43)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := url.Values{FieldName: {p.sign("")}}
			r := httptest.NewRequest("POST", "https://sso.example/consent", strings.NewReader(f.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.cookie != nil {
				r.AddCookie(tc.cookie)
			}
			if err := p.Verify(r); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Verify = %v, want ErrInvalid", err)
			}
		})
	}
}
