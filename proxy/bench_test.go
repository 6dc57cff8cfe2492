package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/config"
)

// The benchmarks compare Gatehouse with the limits of any Go server over
// real HTTP on loopback, with 64 keep-alive connections:
//
//	go test -run XXX -bench 'ForwardAuth|BareHandler|SameHeadersHandler|Proxy|BareReverseProxy' -benchmem -cpu 4 ./proxy
//
// forward-auth (valid cached session) ÷ a handler answering an empty 200
// (and ÷ one answering an empty 200 with the same identity headers),
// and the gateway proxy (cached session, identity headers and assertion)
// ÷ a bare httputil.ReverseProxy with a tuned transport, both in front of
// the same upstream.

// load sends the raw request req over keep-alive connections from
// parallel goroutines (64 connections, like the wrk runs) and checks each
// answer's status. Like wrk it parses only the status line and
// Content-Length, so the figures measure the server, not a Go client
// parsing headers on the same CPUs.
func load(b *testing.B, addr, req string, want int) {
	b.Helper()
	raw := []byte(req)
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer conn.Close()
		br := bufio.NewReaderSize(conn, 32<<10)
		for pb.Next() {
			if _, err := conn.Write(raw); err != nil {
				b.Error(err)
				return
			}
			status, err := readResponse(br)
			if err != nil || status != want {
				b.Errorf("status %d, err %v", status, err)
				return
			}
		}
	})
}

// readResponse reads one response with a Content-Length body.
func readResponse(br *bufio.Reader) (int, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 {
		return 0, errors.New("short status line")
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, err
	}
	length := -1
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(line) <= 2 {
			break
		}
		if len(line) > 16 && bytes.EqualFold(line[:15], []byte("Content-Length:")) {
			length, err = strconv.Atoi(string(bytes.TrimSpace(line[15:])))
			if err != nil {
				return 0, err
			}
		}
	}
	if length < 0 {
		return 0, errors.New("no Content-Length")
	}
	_, err = br.Discard(length)
	return status, err
}

// faRequestLine is the nginx auth_request subrequest of the benchmarks.
func faRequestLine(host, cookie string) string {
	return "GET /forward-auth/nginx HTTP/1.1\r\nHost: " + host + "\r\n" +
		"X-Original-URL: https://fa.test/staff/page?x=1\r\nX-Original-Method: GET\r\n" +
		"Cookie: " + cookie + "\r\nAccept: text/html\r\n\r\n"
}

// BenchmarkForwardAuth: nginx-style forward-auth for a signed-in user
// whose session is cached: 200 with identity headers and the assertion.
func BenchmarkForwardAuth(b *testing.B) {
	e := newTestEnv(b, nil)
	c := e.signIn(alice, "fa.test")
	load(b, e.srv.Listener.Addr().String(), faRequestLine("auth.test:"+e.port, c.Name+"="+c.Value), http.StatusOK)
}

// BenchmarkBareHandler: the limit for any HTTP check, an empty 200 for
// the same request.
func BenchmarkBareHandler(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	b.Cleanup(srv.Close)
	cookie := "__Host-gatehouse_app=" + strings.Repeat("x", 180)
	load(b, srv.Listener.Addr().String(), faRequestLine("auth.test", cookie), http.StatusOK)
}

// BenchmarkSameHeadersHandler: the limit for any check giving Gatehouse's
// answer, an empty 200 with the identity headers Gatehouse sent alice
// (values shared by every request, as Gatehouse shares them). Against
// BenchmarkBareHandler it is the cost of writing the headers; against
// BenchmarkForwardAuth, Gatehouse's own cost.
func BenchmarkSameHeadersHandler(b *testing.B) {
	e := newTestEnv(b, nil)
	c := e.signIn(alice, "fa.test")
	answer := httptest.NewRecorder()
	e.gw.Dispatch(http.NotFoundHandler()).ServeHTTP(answer, faHandlerRequest(c))
	same := answer.Result().Header
	if answer.Code != http.StatusOK || same.Get(HeaderForwardedUser) != alice.Username || same.Get(HeaderAssertion) == "" {
		b.Fatalf("forward-auth answered %d with %v", answer.Code, same)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for name, v := range same {
			h[name] = v
		}
		w.WriteHeader(http.StatusOK)
	}))
	b.Cleanup(srv.Close)
	load(b, srv.Listener.Addr().String(), faRequestLine("auth.test", c.Name+"="+c.Value), http.StatusOK)
}

// smallUpstream answers a short body, like a small API.
func smallUpstream(b *testing.B) *httptest.Server {
	body := []byte(`{"ok":true}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	b.Cleanup(srv.Close)
	return srv
}

func proxyRequestLine(host, cookie string) string {
	return "GET /api/items?page=2 HTTP/1.1\r\nHost: " + host + "\r\nAccept: application/json\r\n" +
		"Cookie: " + cookie + "; theme=dark\r\n\r\n"
}

// BenchmarkProxy: a signed-in user's request proxied by the gateway:
// routing, normalisation, cached session, policy, identity headers and
// assertion, cookie stripping, X-Forwarded-*.
func BenchmarkProxy(b *testing.B) {
	up := smallUpstream(b)
	e := newTestEnv(b, func(g *config.Gateway) { g.Routes[0].Upstreams = []string{up.URL} })
	c := e.signIn(alice, "app.test")
	load(b, e.srv.Listener.Addr().String(), proxyRequestLine("app.test:"+e.port, c.Name+"="+c.Value), http.StatusOK)
}

// BenchmarkProxy_NoIdentityHeaders: the same with presets: [] and no
// assertion, to tell the cost of the headers from the rest.
func BenchmarkProxy_NoIdentityHeaders(b *testing.B) {
	up := smallUpstream(b)
	e := newTestEnv(b, func(g *config.Gateway) {
		g.Routes[0].Upstreams = []string{up.URL}
		g.Routes[0].Headers = config.Headers{}
	})
	c := e.signIn(alice, "app.test")
	load(b, e.srv.Listener.Addr().String(), proxyRequestLine("app.test:"+e.port, c.Name+"="+c.Value), http.StatusOK)
}

// BenchmarkBareReverseProxy: the limit for any Go proxy, a bare
// httputil.ReverseProxy with a tuned transport.
func BenchmarkBareReverseProxy(b *testing.B) {
	up := smallUpstream(b)
	target, _ := url.Parse(up.URL)
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
		},
		Transport: &http.Transport{MaxIdleConnsPerHost: 256, ForceAttemptHTTP2: true, IdleConnTimeout: 90 * time.Second},
	}
	srv := httptest.NewServer(rp)
	b.Cleanup(srv.Close)
	load(b, srv.Listener.Addr().String(), proxyRequestLine("app.test", "__Host-gatehouse_app="+strings.Repeat("x", 180)), http.StatusOK)
}

// BenchmarkForwardAuthHandler measures the handler alone, without the
// network: the cost Gatehouse adds to a check, and its allocations.
func BenchmarkForwardAuthHandler(b *testing.B) {
	e := newTestEnv(b, nil)
	c := e.signIn(alice, "fa.test")
	h := e.gw.Dispatch(http.NotFoundHandler())
	req := faHandlerRequest(c)
	w := &discard{h: http.Header{}}
	h.ServeHTTP(w, req)
	if w.code != http.StatusOK {
		b.Fatalf("status %d", w.code)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, req)
	}
}

// faHandlerRequest is faRequestLine's subrequest as an in-process
// request from a trusted peer, with c, the app cookie.
func faHandlerRequest(c *http.Cookie) *http.Request {
	req := httptest.NewRequest(http.MethodGet, "http://auth.test/forward-auth/nginx", nil)
	req.RemoteAddr = "127.0.0.1:5555"
	req.Header = http.Header{
		"X-Original-Url":    {"https://fa.test/staff/page?x=1"},
		"X-Original-Method": {"GET"},
		"Cookie":            {c.Name + "=" + c.Value},
	}
	return req
}

// discard is a reusable ResponseWriter.
type discard struct {
	h    http.Header
	code int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(code int)        { d.code = code }
