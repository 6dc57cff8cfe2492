package form

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-sso/gatehouse/csrf"
)

type pages struct{ status int }

func (p *pages) Error(w http.ResponseWriter, status int, _ string) {
	p.status = status
	w.WriteHeader(status)
}

func TestRead(t *testing.T) {
	prot, err := csrf.New(bytes.Repeat([]byte("k"), 32), false)
	if err != nil {
		t.Fatal(err)
	}
	// A browser that was shown a form: its binding cookie and token.
	rec := httptest.NewRecorder()
	token := prot.Token(rec, httptest.NewRequest("GET", "/", nil))
	cookie := rec.Result().Cookies()[0]

	for _, tc := range []struct {
		name   string
		ct     string
		body   string
		cookie bool
		status int // 0: accepted
	}{
		{"accepted", "application/x-www-form-urlencoded", url.Values{csrf.FieldName: {token}, "a": {"b"}}.Encode(), true, 0},
		{"charset parameter accepted", "application/x-www-form-urlencoded; charset=utf-8", url.Values{csrf.FieldName: {token}}.Encode(), true, 0},
		{"wrong content type", "multipart/form-data", "a=b", true, http.StatusUnsupportedMediaType},
		{"no content type", "", "a=b", true, http.StatusUnsupportedMediaType},
		{"too large", "application/x-www-form-urlencoded", "a=" + strings.Repeat("x", 2000), true, http.StatusRequestEntityTooLarge},
		{"bad encoding", "application/x-www-form-urlencoded", "a=%zz", true, http.StatusBadRequest},
		{"no token", "application/x-www-form-urlencoded", "a=b", true, http.StatusForbidden},
		{"no binding cookie", "application/x-www-form-urlencoded", url.Values{csrf.FieldName: {token}}.Encode(), false, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &pages{}
			r := httptest.NewRequest("POST", "/login", strings.NewReader(tc.body))
			if tc.ct != "" {
				r.Header.Set("Content-Type", tc.ct)
			}
			if tc.cookie {
				r.AddCookie(cookie)
			}
			ok := Reader{Pages: p, CSRF: prot, MaxBytes: 1024}.Read(httptest.NewRecorder(), r)
			if ok != (tc.status == 0) || p.status != tc.status {
				t.Fatalf("ok=%v status=%d, want status %d", ok, p.status, tc.status)
			}
			if ok && r.PostFormValue(csrf.FieldName) != token {
				t.Fatal("form not parsed")
			}
		})
	}
}
