package demo

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestWhoami(t *testing.T) {
	r := httptest.NewRequest("GET", "/demo/x", nil)
	r.Header.Set("X-Forwarded-User", "alice")
	r.Header.Set("Remote-Groups", "<b>admins</b>")
	r.Header.Set("X-Forwarded-Proto", "https")
	rec := httptest.NewRecorder()
	Whoami().ServeHTTP(rec, r)
	body := rec.Body.String()
	for _, want := range []string{`<meta name="viewport" content="width=device-width, initial-scale=1">`, "Hello, alice", "Remote-Groups", "&lt;b&gt;admins&lt;/b&gt;", "X-Forwarded-Proto"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}
