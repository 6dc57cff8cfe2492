package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// raw sends bytes on a fresh connection and reads every response on it
// until the server closes it or goes quiet.
func (e *env) raw(t *testing.T, req string) []*http.Response {
	t.Helper()
	c, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var out []*http.Response
	for {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			return out
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		out = append(out, res)
		if res.Close {
			return out
		}
		_ = c.SetDeadline(time.Now().Add(300 * time.Millisecond))
	}
}

// TestBadInput: malformed and hostile requests get a precise 4xx and
// never reach the upstream.
func TestBadInput(t *testing.T) {
	e := newTestEnv(t, nil)
	cookie := e.signIn(alice, "app.test")
	ck := "Cookie: " + cookie.Name + "=" + cookie.Value + "\r\n"
	host := "Host: app.test:" + e.port + "\r\n"
	cases := []struct {
		name   string
		req    string
		status []int // statuses of the responses, in order
	}{
		{"malformed Host", "GET / HTTP/1.1\r\nHost: app test\r\n" + ck + "\r\n", []int{400}},
		{"two Host headers", "GET / HTTP/1.1\r\n" + host + "Host: evil.test\r\n" + ck + "\r\n", []int{400}},
		{"Host that is an URL", "GET / HTTP/1.1\r\nHost: http://app.test/\r\n" + ck + "\r\n", []int{400}},
		{"missing Host", "GET / HTTP/1.1\r\n" + ck + "\r\n", []int{400}},
		{"invalid percent-encoding", "GET /%zz HTTP/1.1\r\n" + host + ck + "\r\n", []int{400}},
		{"truncated percent-encoding", "GET /docs%4 HTTP/1.1\r\n" + host + ck + "\r\n", []int{400}},
		{"encoded slash", "GET /docs%2F..%2Fadmin HTTP/1.1\r\n" + host + ck + "\r\n", []int{400}},
		{"encoded backslash", "GET /docs%5C..%5Cadmin HTTP/1.1\r\n" + host + ck + "\r\n", []int{400}},
		{"NUL in the path", "GET /docs%00.html HTTP/1.1\r\n" + host + ck + "\r\n", []int{400}},
		{"overlong UTF-8 dot", "GET /%C0%AE%C0%AE/admin HTTP/1.1\r\n" + host + ck + "\r\n", []int{400}},
		{"double Content-Length", "POST /docs HTTP/1.1\r\n" + host + ck + "Content-Length: 4\r\nContent-Length: 40\r\n\r\nabcd", []int{400}},
		{"invalid Content-Length", "POST /docs HTTP/1.1\r\n" + host + ck + "Content-Length: +4\r\n\r\nabcd", []int{400}},
		{"negative Content-Length", "POST /docs HTTP/1.1\r\n" + host + ck + "Content-Length: -1\r\n\r\n", []int{400}},
		{"space before the colon", "POST /docs HTTP/1.1\r\n" + host + ck + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", []int{400}},
		{"two transfer codings", "POST /docs HTTP/1.1\r\n" + host + ck + "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n", []int{501}},
		{"oversized headers", "GET /docs HTTP/1.1\r\n" + host + ck + "X-Big: " + strings.Repeat("a", 16<<10) + "\r\n\r\n", []int{431}},
		{"request line with a space in the path", "GET /do cs HTTP/1.1\r\n" + host + ck + "\r\n", []int{400}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.up.hits.Load()
			res := e.raw(t, c.req)
			var got []int
			for _, r := range res {
				got = append(got, r.StatusCode)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.status) {
				t.Fatalf("statuses %v, want %v", got, c.status)
			}
			if n := e.up.hits.Load() - before; n != 0 {
				t.Fatalf("the upstream saw %d requests", n)
			}
		})
	}
}

// TestBadInput_Smuggling: Content-Length together with Transfer-Encoding
// gets a 400 and a closed connection, and neither the request nor the one
// hidden in its body reaches the upstream. (Go's server alone would read
// it by Transfer-Encoding and drop Content-Length; server.Listen's framing
// guard is what tells the handler.)
func TestBadInput_Smuggling(t *testing.T) {
	e := newTestEnv(t, nil)
	host := "Host: app.test:" + e.port + "\r\n"
	smuggled := "GET /admin HTTP/1.1\r\n" + host + "\r\n"
	for _, order := range []string{
		"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
		"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
		"transfer-encoding: chunked\r\ncontent-length: 0\r\n",
	} {
		before := e.up.hits.Load()
		res := e.raw(t, "POST /public/form HTTP/1.1\r\n"+host+order+"\r\n0\r\n\r\n"+smuggled)
		if len(res) != 1 || res[0].StatusCode != http.StatusBadRequest || !res[0].Close {
			var got []int
			for _, r := range res {
				got = append(got, r.StatusCode)
			}
			t.Fatalf("%q: statuses %v, want [400] and a closed connection", order, got)
		}
		if n := e.up.hits.Load() - before; n != 0 {
			t.Fatalf("upstream saw %d requests", n)
		}
	}
	// obs-fold: Go's server replaces the fold with a space (RFC 9112 §5.2
	// allows that); the upstream gets one ordinary header line.
	before := e.up.hits.Load()
	res := e.raw(t, "GET /public/x HTTP/1.1\r\n"+host+"X-Note: a\r\n b\r\n\r\n")
	if len(res) != 1 || res[0].StatusCode != http.StatusOK || e.up.hits.Load()-before != 1 || e.up.seen().Header.Get("X-Note") != "a b" {
		t.Fatalf("obs-fold: %v %q", len(res), e.up.seen().Header["X-Note"])
	}
}

// TestStripIdentity_AllSpellings: every identity header in every spelling
// a client can send is removed; nothing else is.
func TestStripIdentity_AllSpellings(t *testing.T) {
	spell := func(name string) []string {
		lower := strings.ToLower(name)
		return []string{name, lower, strings.ToUpper(name), strings.ReplaceAll(name, "-", "_"),
			strings.ReplaceAll(lower, "-", "_"), strings.ReplaceAll(strings.ToUpper(name), "-", "_")}
	}
	h := http.Header{}
	for _, name := range identityHeaders {
		for _, s := range spell(name) {
			h[s] = []string{"mallory", "second"}
		}
	}
	keep := []string{"Accept", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-Userx", "Remote-Addr", "Cookie"}
	for _, k := range keep {
		h[k] = []string{"v"}
	}
	StripIdentity(h)
	for name := range h {
		if !contains(keep, name) {
			t.Errorf("%q survived", name)
		}
	}
	if len(h) != len(keep) {
		t.Errorf("kept %d headers, want %d", len(h), len(keep))
	}
	// Through the gateway too, as a raw request (Go canonicalises dashed
	// names but keeps underscored ones as sent).
	e := newTestEnv(t, nil)
	var b strings.Builder
	for _, name := range identityHeaders {
		for _, s := range spell(name) {
			b.WriteString(s + ": mallory\r\n")
		}
	}
	before := e.up.hits.Load()
	res := e.raw(t, "GET /public/x HTTP/1.1\r\nHost: app.test:"+e.port+"\r\n"+b.String()+"\r\n")
	if len(res) != 1 || res[0].StatusCode != http.StatusOK || e.up.hits.Load() != before+1 {
		t.Fatal("request failed")
	}
	for name := range e.up.seen().Header {
		if isIdentityHeader(name) {
			t.Errorf("upstream saw %q", name)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestClientIP(t *testing.T) {
	trusted, _ := parseTrusted([]string{"10.0.0.0/8", "127.0.0.0/8"})
	cases := []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"untrusted peer ignores XFF", "192.0.2.1:1", []string{"203.0.113.1"}, "192.0.2.1"},
		{"trusted peer: right-most untrusted", "10.0.0.1:1", []string{"203.0.113.1, 198.51.100.2, 10.0.0.9"}, "198.51.100.2"},
		{"several header lines", "10.0.0.1:1", []string{"203.0.113.1", "198.51.100.2"}, "198.51.100.2"},
		{"all trusted: left-most", "10.0.0.1:1", []string{"10.1.1.1, 10.2.2.2"}, "10.1.1.1"},
		{"garbage stops the walk", "10.0.0.1:1", []string{"203.0.113.1, garbage, 10.0.0.3"}, "10.0.0.3"},
		{"no XFF", "127.0.0.1:1", nil, "127.0.0.1"},
		{"IPv4-mapped", "[::ffff:10.0.0.1]:1", []string{"203.0.113.1"}, "203.0.113.1"},
	}
	for _, c := range cases {
		r := &http.Request{RemoteAddr: c.remote, Header: http.Header{}}
		if c.xff != nil {
			r.Header["X-Forwarded-For"] = c.xff
		}
		if got := trusted.clientIP(r, peerAddr(r)); got.String() != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

func TestRouteTable(t *testing.T) {
	mk := func(host, prefix string) *route { return &route{host: host, prefix: prefix, aud: host + prefix} }
	tab := newTable([]*route{
		mk("app.test", ""), mk("app.test", "/api"), mk("app.test", "/api/v2/"),
		mk("*.example.test", ""), mk("*.deep.example.test", "/x"),
	})
	cases := map[[2]string]string{
		{"app.test", "/"}:                   "app.test",
		{"app.test", "/api"}:                "app.test/api",
		{"app.test", "/api/users"}:          "app.test/api",
		{"app.test", "/api;jsessionid=1"}:   "app.test/api",
		{"app.test", "/apiary"}:             "app.test",
		{"app.test", "/api/v2"}:             "app.test/api",
		{"app.test", "/api/v2/x"}:           "app.test/api/v2/",
		{"a.example.test", "/"}:             "*.example.test",
		{"a.b.example.test", "/"}:           "*.example.test",
		{"a.deep.example.test", "/x/y"}:     "*.deep.example.test/x",
		{"a.deep.example.test", "/y"}:       "*.example.test",
		{"example.test", "/"}:               "",
		{"other.test", "/"}:                 "",
		{"xapp.test", "/"}:                  "",
		{"app.test.example.test", "/api/x"}: "*.example.test",
	}
	for in, want := range cases {
		got := ""
		if r := tab.match(in[0], in[1]); r != nil {
			got = r.aud
		}
		if got != want {
			t.Errorf("match(%q, %q) = %q, want %q", in[0], in[1], got, want)
		}
	}
}

func TestSplitURL(t *testing.T) {
	cases := map[string][2]string{
		"https://app.test/x?y=1":  {"app.test", "/x?y=1"},
		"https://app.test:8443":   {"app.test:8443", "/"},
		"https://app.test?q":      {"app.test", "/?q"},
		"https://app.test#f":      {"app.test", "/"},
		"app.test/x":              {"", ""},
		"://x/y":                  {"", ""},
		"http://[::1]:80/a/b?c=d": {"[::1]:80", "/a/b?c=d"},
	}
	for in, want := range cases {
		h, u := splitURL(in)
		if h != want[0] || u != want[1] {
			t.Errorf("splitURL(%q) = %q, %q; want %q", in, h, u, want)
		}
	}
}

// FuzzReturnTo: whatever the input, an accepted return-to target is a
// same-host absolute path: never scheme-relative, never with a backslash
// or control character, never naming a host.
func FuzzReturnTo(f *testing.F) {
	for _, s := range []string{"/", "/docs?x=1", "//evil", "/\\evil", "http://app.test:8080/x", "http://evil/",
		"https://app.test:8080/", "javascript:x", "/%2F%2Fevil", "http://app.test:8080@evil/", "\x00", "/\t/evil"} {
		f.Add(s)
	}
	g := &Gateway{scheme: "http", port: ":8080"}
	f.Fuzz(func(t *testing.T, raw string) {
		out, ok := g.returnTo(raw, "app.test")
		if !ok {
			return
		}
		if !strings.HasPrefix(out, "/") || strings.HasPrefix(out, "//") || strings.ContainsAny(out, "\\\r\n\t\x00") {
			t.Fatalf("returnTo(%q) = %q", raw, out)
		}
		u, err := url.Parse(out)
		if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
			t.Fatalf("returnTo(%q) = %q parses as %#v", raw, out, u)
		}
		// Resolved against the app host, it stays there.
		base, _ := url.Parse("http://app.test:8080/a/b")
		if r := base.ResolveReference(u); r.Host != "app.test:8080" {
			t.Fatalf("returnTo(%q) = %q resolves to host %q", raw, out, r.Host)
		}
	})
}

// FuzzOriginal: forward-auth header parsing never panics and yields a
// request URI the gateway can judge, or refuses.
func FuzzOriginal(f *testing.F) {
	for _, s := range []string{"https://app.test/x?y", "http://[::1]/", "https://a", "x", "https://app.test?q#f"} {
		f.Add(s, "/x", "app.test")
	}
	f.Fuzz(func(t *testing.T, origURL, uri, host string) {
		r := &http.Request{Host: "gatehouse", Header: http.Header{}}
		r.Header.Set("X-Original-Url", origURL)
		r.Header.Set("X-Forwarded-Uri", uri)
		r.Header.Set("X-Forwarded-Host", host)
		for _, fl := range []flavour{nginx, traefik} {
			_, h, u := original(r, fl)
			if u != "" && fl == nginx && strings.Contains(origURL, "://") && !strings.HasPrefix(u, "/") {
				t.Fatalf("uri %q from %q", u, origURL)
			}
			_, _ = hostKey(h)
		}
	})
}
