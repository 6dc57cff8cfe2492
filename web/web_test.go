package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRender_AllPages(t *testing.T) {
	r, err := NewRenderer(nil)
	if err != nil {
		t.Fatal(err)
	}
	p := Page{Title: "T", CSRF: "tok", Return: "/x", Login: "alice", Error: "oops",
		User: &UserView{Username: "alice", Email: "a@example.com", Groups: []string{"g"}}, Status: 404, Message: "gone"}
	for _, name := range []string{PageLogin, PageLogout, PageSignedOut, PageHome, PageError} {
		rec := httptest.NewRecorder()
		r.Render(rec, http.StatusOK, name, p)
		body := rec.Body.String()
		if rec.Code != http.StatusOK || !strings.Contains(body, "</html>") {
			t.Fatalf("%s: %d", name, rec.Code)
		}
		// No external resources: every URL in a page is same-origin.
		for _, bad := range []string{"http://", "https://", "//cdn"} {
			if strings.Contains(body, bad) {
				t.Errorf("%s references an external resource (%s)", name, bad)
			}
		}
		if rec.Header().Get("X-Frame-Options") != "DENY" || !strings.Contains(rec.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("%s: security headers missing", name)
		}
	}
}

func TestRender_Escapes(t *testing.T) {
	r, _ := NewRenderer(nil)
	rec := httptest.NewRecorder()
	r.Render(rec, http.StatusOK, PageLogin, Page{Login: `"><script>alert(1)</script>`, Return: `" onfocus="x`})
	if strings.Contains(rec.Body.String(), "<script>") || strings.Contains(rec.Body.String(), `" onfocus="`) {
		t.Fatal("user input not escaped")
	}
}

func TestStatic(t *testing.T) {
	srv := httptest.NewServer(Static())
	defer srv.Close()
	res, err := http.Get(srv.URL + "/static/gatehouse.css")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Type"), "text/css") || len(b) == 0 {
		t.Fatalf("css: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
}
