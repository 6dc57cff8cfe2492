package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func newRenderer(t *testing.T, b Brand) *Renderer {
	t.Helper()
	r, err := NewRenderer(nil, b)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// sample returns every page type filled with values, so each template
// is executed against its own data type.
func sample() []View {
	user := &UserView{Username: "alice", Email: "a@example.com", Groups: []string{"g"}}
	f := func() Frame { return Frame{Title: "T", CSRF: "tok"} }
	return []View{
		&LoginPage{Frame: f(), Action: "/login", Fields: []Field{{Name: "rd", Value: "/x"}}, Login: "alice", Error: "oops", Password: true,
			Methods: []MethodLink{{Label: "Sign in with Example", URL: "/login/example"}}},
		&FactorPage{Frame: f(), Action: "/login/factor", Fields: []Field{{Name: "txn", Value: "t"}}, Heading: "Code", Label: "Code", Autocomplete: "one-time-code"},
		&LogoutPage{Frame: f(), Return: "/x", User: user},
		&SignedOutPage{Frame: f()},
		&HomePage{Frame: f(), User: user, DemoURL: "/demo/"},
		&ErrorPage{Frame: f(), Status: 404, Message: "gone"},
		&ConsentPage{Frame: f(), Client: "App", User: user, Scopes: []ScopeView{{Name: "email", Description: "E-mail"}}, Pending: "p", Action: "/consent", ConsentsURL: "/consents"},
		&ConsentsPage{Frame: f(), Action: "/consents", Consents: []ConsentView{{ClientID: "app", Client: "App"}}, User: user},
		&EndSessionPage{Frame: f(), Client: "App", User: user, Action: "/end", Fields: []Field{{Name: "state", Value: "s"}}},
		&ContinuePage{Frame: f(), Target: "/cb", Client: "App"},
		&FormPostPage{Frame: f(), Target: "/cb", Fields: []Field{{Name: "code", Value: "c"}}},
		&DeniedPage{Frame: f(), User: user, SwitchURL: "/.gatehouse/start?rd=%2Fx&switch_user=1", SignOutURL: "/.gatehouse/logout"},
		&AppSignedOutPage{Frame: f(), SignInURL: "/.gatehouse/start?rd=%2F"},
	}
}

func TestRender_AllPages(t *testing.T) {
	r := newRenderer(t, Brand{})
	seen := map[string]bool{}
	for _, v := range sample() {
		name := v.template()
		seen[name] = true
		rec := httptest.NewRecorder()
		r.Render(rec, http.StatusOK, v)
		body := rec.Body.String()
		if rec.Code != http.StatusOK || !strings.Contains(body, "</html>") {
			t.Fatalf("%s: %d %s", name, rec.Code, body)
		}
		if !strings.Contains(body, "<title>T · Gatehouse</title>") {
			t.Errorf("%s: default product name missing from the title", name)
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
	for _, v := range views() {
		if !seen[v.template()] {
			t.Errorf("page %s has no sample in this test", v.template())
		}
	}
}

func TestRender_Escapes(t *testing.T) {
	r := newRenderer(t, Brand{})
	rec := httptest.NewRecorder()
	r.Render(rec, http.StatusOK, &LoginPage{Password: true, Login: `"><script>alert(1)</script>`, Fields: []Field{{Name: "rd", Value: `" onfocus="x`}}})
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

// TestAssets: a page names its stylesheet under Frame.Assets, and
// StaticUnder serves it there.
func TestAssets(t *testing.T) {
	r := newRenderer(t, Brand{})
	rec := httptest.NewRecorder()
	r.Render(rec, http.StatusOK, &ErrorPage{Frame: Frame{Title: "T", Assets: "/.gatehouse/static/"}, Message: "m"})
	if !strings.Contains(rec.Body.String(), `href="/.gatehouse/static/gatehouse.css"`) {
		t.Fatalf("stylesheet not under Assets: %s", rec.Body.String())
	}
	rec = httptest.NewRecorder()
	r.Render(rec, http.StatusOK, &ErrorPage{Frame: Frame{Title: "T"}, Message: "m"})
	if !strings.Contains(rec.Body.String(), `href="/static/gatehouse.css"`) {
		t.Fatalf("default stylesheet path: %s", rec.Body.String())
	}
	srv := httptest.NewServer(StaticUnder("/.gatehouse/static/"))
	defer srv.Close()
	res, err := http.Get(srv.URL + "/.gatehouse/static/gatehouse.css")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Type"), "text/css") {
		t.Fatalf("css: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
}
