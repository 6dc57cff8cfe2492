package proxy

import (
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-sso/gatehouse/config"
)

// headerUpstream answers every request with the response headers named
// in its query: ?Location=...&Refresh=... (each value as given), and a
// 302 when a Location is among them.
func headerUpstream(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status := http.StatusOK
		for k, vs := range r.URL.Query() {
			w.Header()[http.CanonicalHeaderKey(k)] = vs
			if http.CanonicalHeaderKey(k) == "Location" {
				status = http.StatusFound
			}
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestGateway_UpstreamSetCookieForOwnCookiesDropped: an upstream cannot
// set, overwrite or shadow Gatehouse's cookies, whatever the prefix or
// case; its own cookies pass.
func TestGateway_UpstreamSetCookieForOwnCookiesDropped(t *testing.T) {
	up := headerUpstream(t)
	e := newTestEnv(t, addRoute(config.Route{Host: "cookies.test", Upstreams: []string{up.URL}}))
	dropped := []string{
		"gatehouse_app=evil; Path=/",
		"__Host-gatehouse_app=evil; Path=/; Secure",
		"__HOST-gatehouse_app=evil",
		"__secure-GATEHOUSE_APP=evil",
		" gatehouse_app =evil",
		"__Host-gatehouse_app", // nameless cookie a browser sends back as this text
		"gatehouse_session=evil",
		"__Host-gatehouse_session=evil",
		"gatehouse_csrf=evil",
		"gatehouse_app_flow_abc=evil",
		"__Host-gatehouse_app_flow_xyz=evil",
	}
	kept := []string{"theme=dark; Path=/", "gatehouse_application=1", "lang=en", "__Host-app=1; Path=/; Secure"}
	q := make([]string, 0, len(dropped)+len(kept))
	for _, c := range slices.Concat(kept[:2], dropped, kept[2:]) {
		q = append(q, "Set-Cookie="+urlQueryEscape(c))
	}
	r := e.do("GET", e.url("cookies.test", "/?"+strings.Join(q, "&")), nil, nil)
	if r.status != http.StatusOK {
		t.Fatalf("status %d", r.status)
	}
	if got := r.header["Set-Cookie"]; !slices.Equal(got, kept) {
		t.Fatalf("Set-Cookie reaching the client:\n got %q\nwant %q", got, kept)
	}
	// Only Gatehouse's: no Set-Cookie at all.
	r = e.do("GET", e.url("cookies.test", "/?Set-Cookie=gatehouse_app%3Devil"), nil, nil)
	if v, ok := r.header["Set-Cookie"]; ok {
		t.Fatalf("Set-Cookie %q reached the client", v)
	}
}

func urlQueryEscape(s string) string {
	r := strings.NewReplacer("%", "%25", "&", "%26", "=", "%3D", "+", "%2B", " ", "%20", ";", "%3B", "#", "%23", "?", "%3F")
	return r.Replace(s)
}

// TestGateway_UpstreamRedirectRewritten: Location, Content-Location and
// Refresh URLs naming one of a route's upstreams reach the browser with
// the public origin instead (the upstream's base path taken off); others
// pass as they are.
func TestGateway_UpstreamRedirectRewritten(t *testing.T) {
	up := headerUpstream(t)
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadURL := "http://" + dead.Addr().String()
	dead.Close()
	upHost := strings.TrimPrefix(up.URL, "http://")
	_, upPort, _ := net.SplitHostPort(upHost)
	e := newTestEnv(t, addRoute(
		config.Route{Host: "redir.test", Upstreams: []string{up.URL}},
		config.Route{Host: "base.test", Upstreams: []string{up.URL + "/base/"}},
		config.Route{Host: "pool.test", Upstreams: []string{up.URL, deadURL}},
		config.Route{Host: "keep.test", Upstreams: []string{up.URL}, PreserveHost: true},
	))
	pub := func(host, rest string) string { return "http://" + host + ":" + e.port + rest }
	cases := []struct {
		name, host, header, value, want string
	}{
		{"location", "redir.test", "Location", up.URL + "/x?y=1#f", pub("redir.test", "/x?y=1#f")},
		{"scheme and host in capitals", "redir.test", "Location", "HTTP://" + strings.ToUpper(upHost) + "/x", pub("redir.test", "/x")},
		{"no path", "redir.test", "Location", up.URL, pub("redir.test", "/")},
		{"query without path", "redir.test", "Location", up.URL + "?q=1", pub("redir.test", "/?q=1")},
		{"double slash stays a path", "redir.test", "Location", up.URL + "//evil.test/x", pub("redir.test", "//evil.test/x")},
		{"preserve_host too", "keep.test", "Location", up.URL + "/x", pub("keep.test", "/x")},
		{"content-location", "redir.test", "Content-Location", up.URL + "/doc", pub("redir.test", "/doc")},
		{"refresh", "redir.test", "Refresh", "0; url=" + up.URL + "/next", "0; url=" + pub("redir.test", "/next")},
		{"refresh quoted", "redir.test", "Refresh", `5;URL='` + up.URL + `/next'`, `5; url='` + pub("redir.test", "/next") + `'`},
		{"base path taken off", "base.test", "Location", up.URL + "/base/x", pub("base.test", "/x")},
		{"base path alone", "base.test", "Location", up.URL + "/base", pub("base.test", "/")},
		{"any upstream of the pool", "pool.test", "Location", deadURL + "/x", pub("pool.test", "/x")},

		{"relative", "redir.test", "Location", "/relative", "/relative"},
		{"other host", "redir.test", "Location", "http://other.example/x", "http://other.example/x"},
		{"other scheme", "redir.test", "Location", "https://" + upHost + "/x", "https://" + upHost + "/x"},
		{"longer port", "redir.test", "Location", up.URL + "0/x", up.URL + "0/x"},
		{"user info", "redir.test", "Location", "http://u@" + upHost + "/x", "http://u@" + upHost + "/x"},
		{"outside the base path", "base.test", "Location", up.URL + "/basement", up.URL + "/basement"},
		{"another route's upstream", "pool.test", "Location", "http://127.0.0.2:" + upPort + "/x", "http://127.0.0.2:" + upPort + "/x"},
		{"refresh without url", "redir.test", "Refresh", "30", "30"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do("GET", e.url(c.host, "/?"+c.header+"="+urlQueryEscape(c.value)), nil, nil)
			if r.status >= 500 {
				t.Fatalf("status %d", r.status)
			}
			if got := r.header.Get(c.header); got != c.want {
				t.Fatalf("%s %q reached the client as %q, want %q", c.header, c.value, got, c.want)
			}
		})
	}
	// A trusted proxy's X-Forwarded-Host/Proto are the public origin; a
	// host Gatehouse does not serve is never put into a Location.
	r := e.do("GET", e.url("redir.test", "/?Location="+urlQueryEscape(up.URL+"/x")), nil,
		hdr("X-Forwarded-Host", "redir.test", "X-Forwarded-Proto", "https"))
	if got := r.header.Get("Location"); got != "https://redir.test/x" {
		t.Fatalf("behind a trusted proxy: Location %q", got)
	}
	r = e.do("GET", e.url("redir.test", "/?Location="+urlQueryEscape(up.URL+"/x")), nil, hdr("X-Forwarded-Host", "evil.test"))
	if got := r.header.Get("Location"); strings.Contains(got, "evil.test") {
		t.Fatalf("forwarded host not served by Gatehouse: Location %q", got)
	}
}

// TestUpstreamOrigins: an upstream is recognised with and without its
// scheme's default port.
func TestUpstreamOrigins(t *testing.T) {
	p, err := parseUpstreams([]string{"http://App.internal", "https://10.0.0.5:443/base/", "http://10.0.0.6:8080"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []upstreamOrigin{
		{"http://app.internal", ""}, {"http://app.internal:80", ""},
		{"https://10.0.0.5:443", "/base"}, {"https://10.0.0.5", "/base"},
		{"http://10.0.0.6:8080", ""},
	}
	if got := upstreamOrigins(p); !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

// TestGateway_RouteHost: the plain-HTTP listener keeps Gatehouse's own
// host and route hosts (exact and wildcard); hosts only named in rules
// (forward-auth hosts) and unknown hosts are not kept.
func TestGateway_RouteHost(t *testing.T) {
	e := newTestEnv(t, func(g *config.Gateway) {
		g.Rules = append(g.Rules, config.Rule{Hosts: []string{"rule-only.test"}, Decision: "public"})
	})
	cases := map[string]string{
		"auth.test:" + e.port: "auth.test",
		"app.test":            "app.test",
		"APP.test:80":         "app.test",
		"app.test.":           "app.test",
		"a.wild.test":         "a.wild.test",
		"b.a.wild.test:8080":  "b.a.wild.test",
		"wild.test":           "",
		"rule-only.test":      "",
		"fa.test":             "",
		"evil.test":           "",
		"app.test@evil.test":  "",
		"":                    "",
	}
	for in, want := range cases {
		got, ok := e.gw.RouteHost(in)
		if ok != (want != "") || got != want {
			t.Errorf("RouteHost(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
