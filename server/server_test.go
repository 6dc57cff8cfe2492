package server

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestServe_DrainsInFlight cancels the serving context while a request is
// in flight: the request completes, new connections are refused, Serve
// returns nil.
func TestServe_DrainsInFlight(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	entered := make(chan struct{})
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		_, _ = w.Write([]byte("finished"))
	})
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, h, Options{Addr: "127.0.0.1:0", ReadHeaderTimeout: time.Second,
			ShutdownTimeout: 10 * time.Second, Ready: func(a net.Addr) { addrc <- a }}, log)
	}()
	addr := (<-addrc).String()

	got := make(chan string, 1)
	go func() {
		res, err := http.Get("http://" + addr + "/slow")
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		got <- string(b)
	}()
	<-entered
	cancel()
	time.Sleep(100 * time.Millisecond) // let Shutdown close the listener
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("new connections still accepted while draining")
	}
	close(release)
	if body := <-got; body != "finished" {
		t.Fatalf("in-flight request: %q", body)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// TestRedirectToHTTPS: the plain-HTTP listener keeps the hosts Gatehouse
// serves (with public_url's port) and sends any other host to
// public_url's host; path and query pass as they came.
func TestRedirectToHTTPS(t *testing.T) {
	public, _ := url.Parse("https://sso.example.com:8443")
	served := map[string]bool{"sso.example.com": true, "app.example.com": true, "x.wild.example.com": true, "::1": true}
	keep := func(h string) (string, bool) {
		h = strings.ToLower(strings.TrimSuffix(h, ".")) // the test's normal form: ports are cut below
		if host, _, err := net.SplitHostPort(h); err == nil {
			h = host
		}
		h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
		return h, served[h]
	}
	cases := []struct{ url, want string }{
		{"http://sso.example.com/login?rd=%2F", "https://sso.example.com:8443/login?rd=%2F"},
		{"http://app.example.com/p?q=1", "https://app.example.com:8443/p?q=1"},
		{"http://APP.example.com:80/p", "https://app.example.com:8443/p"},
		{"http://x.wild.example.com/", "https://x.wild.example.com:8443/"},
		{"http://[::1]/v", "https://[::1]:8443/v"},
		{"http://app.example.com/a%2Fb//c", "https://app.example.com:8443/a%2Fb//c"},
		{"http://evil.example/p?q=1", "https://sso.example.com:8443/p?q=1"},
		{"http://evil.example/", "https://sso.example.com:8443/"},
	}
	h := RedirectToHTTPS(public, keep)
	for _, c := range cases {
		rec := &recorder{header: http.Header{}}
		r, _ := http.NewRequest("GET", c.url, nil)
		h.ServeHTTP(rec, r)
		if rec.status != http.StatusPermanentRedirect || rec.header.Get("Location") != c.want {
			t.Errorf("%s: %d %q, want %q", c.url, rec.status, rec.header.Get("Location"), c.want)
		}
	}
	// Without a host list, everything goes to public_url's host.
	rec := &recorder{header: http.Header{}}
	r, _ := http.NewRequest("GET", "http://app.example.com/p", nil)
	RedirectToHTTPS(public, nil).ServeHTTP(rec, r)
	if got := rec.header.Get("Location"); got != "https://sso.example.com:8443/p" {
		t.Errorf("no host list: %q", got)
	}
}

type recorder struct {
	header http.Header
	status int
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *recorder) WriteHeader(s int)           { r.status = s }

func TestMiddleware_RecoversPanics(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }), log, nil)
	rec := &recorder{header: http.Header{}}
	r, _ := http.NewRequest("GET", "/", nil)
	h.ServeHTTP(rec, r)
	if rec.status != http.StatusInternalServerError || rec.header.Get("X-Request-Id") == "" {
		t.Fatalf("status %d, request id %q", rec.status, rec.header.Get("X-Request-Id"))
	}
}

// TestMiddleware_RequestID: every response carries exactly one
// X-Request-Id, the one in the request's context and in the request the
// handler sees (and so sends upstream); an incoming id is reused only
// from a trusted peer and only when it is well-formed.
func TestMiddleware_RequestID(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, c := range []struct {
		name   string
		peer   string
		in     []string
		reused bool
	}{
		{"no incoming id", "10.1.2.3:5000", nil, false},
		{"trusted peer, uuid", "10.1.2.3:5000", []string{"3f2b8c1e-9a4d-4e5f-8b6a-1c2d3e4f5a6b"}, true},
		{"trusted peer, nginx hex id", "10.1.2.3:5000", []string{"0123456789abcdef0123456789abcdef"}, true},
		{"trusted peer over IPv4-mapped IPv6", "[::ffff:10.1.2.3]:5000", []string{"abc-123"}, true},
		{"untrusted peer", "192.0.2.7:5000", []string{"attacker-chosen"}, false},
		{"trusted peer, space", "10.1.2.3:5000", []string{"a b"}, false},
		{"trusted peer, quote", "10.1.2.3:5000", []string{`a"b`}, false},
		{"trusted peer, newline", "10.1.2.3:5000", []string{"a\nlevel=ERROR"}, false},
		{"trusted peer, too long", "10.1.2.3:5000", []string{strings.Repeat("a", 129)}, false},
		{"trusted peer, longest", "10.1.2.3:5000", []string{strings.Repeat("a", 128)}, true},
		{"trusted peer, two ids", "10.1.2.3:5000", []string{"one", "two"}, false},
		{"trusted peer, empty", "10.1.2.3:5000", []string{""}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var ctxID, reqID []string
			h := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ctxID = []string{RequestID(r.Context())}
				reqID = r.Header.Values("X-Request-Id")
				w.Header().Add("X-Request-Id", "upstream-own-id") // as a proxied upstream's header would be
				w.WriteHeader(http.StatusNoContent)
			}), slog.New(slog.DiscardHandler), trusted)
			rec := httptest.NewRecorder()
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = c.peer
			r.Header["X-Request-Id"] = c.in
			h.ServeHTTP(rec, r)
			got := rec.Result().Header.Values("X-Request-Id")
			if len(got) != 1 || got[0] == "" {
				t.Fatalf("response X-Request-Id %q, want exactly one", got)
			}
			if ctxID[0] != got[0] || len(reqID) != 1 || reqID[0] != got[0] {
				t.Fatalf("context id %q, request header %q, response %q: want one id everywhere", ctxID, reqID, got)
			}
			if reused := len(c.in) > 0 && got[0] == c.in[0]; reused != c.reused {
				t.Fatalf("id %q: incoming %q reused = %v, want %v", got[0], c.in, reused, c.reused)
			}
		})
	}
	if RequestID(context.Background()) != "" {
		t.Fatal("RequestID outside a request is not empty")
	}
}

// TestMiddleware_ProxiedRequestID: through a real reverse proxy, the
// upstream receives the request's id, and the client gets that one id
// even when the upstream answers with its own, streamed or not.
func TestMiddleware_ProxiedRequestID(t *testing.T) {
	var seen atomic.Value
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.Header.Values("X-Request-Id"))
		w.Header().Set("X-Request-Id", "upstream-"+r.URL.Path[1:])
		if r.URL.Path == "/stream" {
			w.(http.Flusher).Flush()
		}
		_, _ = io.WriteString(w, "hello")
	}))
	defer up.Close()
	target, _ := url.Parse(up.URL)
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) }}
	front := httptest.NewServer(Middleware(rp, slog.New(slog.DiscardHandler), nil))
	defer front.Close()
	for _, path := range []string{"/plain", "/stream"} {
		req, _ := http.NewRequest("GET", front.URL+path, nil)
		req.Header.Set("X-Request-Id", "client-chosen")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.ReadAll(res.Body)
		res.Body.Close()
		got := res.Header.Values("X-Request-Id")
		upstream, _ := seen.Load().([]string)
		if len(got) != 1 || got[0] == "client-chosen" || strings.HasPrefix(got[0], "upstream-") {
			t.Errorf("%s: response X-Request-Id %q, want exactly Gatehouse's own", path, got)
		}
		if len(upstream) != 1 || len(got) == 0 || upstream[0] != got[0] {
			t.Errorf("%s: upstream received %q, client got %q: want the same single id", path, upstream, got)
		}
	}
}

// TestLogHandler: lines logged with a request's context carry its id.
func TestLogHandler(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		var buf bytes.Buffer
		var h slog.Handler = slog.NewTextHandler(&buf, nil)
		if format == "json" {
			h = slog.NewJSONHandler(&buf, nil)
		}
		log := slog.New(LogHandler(h)).With("component", "test")
		var id string
		mw := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id = RequestID(r.Context())
			log.WarnContext(r.Context(), "something about the request")
		}), log, nil)
		mw.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
		log.Info("not about a request")
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		if len(lines) != 2 {
			t.Fatalf("%s: %d lines: %q", format, len(lines), lines)
		}
		want := "request_id=" + id
		if format == "json" {
			want = `"request_id":"` + id + `"`
		}
		if !strings.Contains(lines[0], want) || !strings.Contains(lines[0], "component") {
			t.Errorf("%s: request's line %q lacks %s", format, lines[0], want)
		}
		if strings.Contains(lines[1], "request_id") {
			t.Errorf("%s: line outside a request has a request id: %q", format, lines[1])
		}
	}
}

func BenchmarkMiddleware(b *testing.B) {
	h := Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	}), slog.New(slog.DiscardHandler), nil)
	r := httptest.NewRequest("GET", "/", nil)
	rec := &recorder{header: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(rec, r)
	}
}

// TestServe_OnShutdown: the shutdown hook runs when shutdown begins, with
// the shutdown deadline, and Serve returns only once it has.
func TestServe_OnShutdown(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	started, release := make(chan bool, 1), make(chan struct{})
	var finished atomic.Bool
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, http.NotFoundHandler(), Options{Addr: "127.0.0.1:0", ReadHeaderTimeout: time.Second,
			ShutdownTimeout: 10 * time.Second, Ready: func(a net.Addr) { addrc <- a },
			OnShutdown: func(ctx context.Context) error {
				_, ok := ctx.Deadline()
				started <- ok
				<-release
				finished.Store(true)
				return nil
			}}, log)
	}()
	<-addrc
	cancel()
	if ok := <-started; !ok {
		t.Fatal("the hook's context has no deadline")
	}
	select {
	case err := <-done:
		t.Fatalf("Serve returned before the hook did: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := <-done; err != nil || !finished.Load() {
		t.Fatalf("Serve: %v, hook finished %v", err, finished.Load())
	}
}

// TestServe_CutsOffWhatOutlivesTheShutdownTimeout: a request that does not
// finish within ShutdownTimeout (a stream, a long poll) has its context
// ended and its connection closed, and Serve returns at the deadline,
// naming it; a connection taken over by an upgrade, which never drains,
// has its request's context ended at once, and Serve returns without
// waiting for the deadline.
func TestServe_CutsOffWhatOutlivesTheShutdownTimeout(t *testing.T) {
	for _, c := range []struct {
		name    string
		timeout time.Duration
		cutOff  bool // Serve waits for the deadline and reports the cut-off
		handler func(w http.ResponseWriter, r *http.Request)
	}{
		{"stream", 300 * time.Millisecond, true, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusOK)
			_ = http.NewResponseController(w).Flush()
			<-r.Context().Done()
		}},
		{"upgrade", 10 * time.Second, false, func(w http.ResponseWriter, r *http.Request) {
			conn, buf, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			_, _ = buf.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n")
			_ = buf.Flush()
			<-r.Context().Done() // as ReverseProxy does for upgraded connections
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			entered := make(chan struct{})
			released := make(chan struct{})
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				close(entered)
				defer close(released)
				c.handler(w, r)
			})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			addrc := make(chan net.Addr, 1)
			done := make(chan error, 1)
			timeout := c.timeout
			go func() {
				done <- Serve(ctx, h, Options{Addr: "127.0.0.1:0", ReadHeaderTimeout: time.Second,
					ShutdownTimeout: timeout, Ready: func(a net.Addr) { addrc <- a }}, log)
			}()
			conn, err := net.Dial("tcp", (<-addrc).String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Write([]byte("GET /held HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
				t.Fatal(err)
			}
			<-entered
			start := time.Now()
			cancel()
			select {
			case err := <-done:
				if c.cutOff && (err == nil || !strings.Contains(err.Error(), timeout.String())) {
					t.Errorf("Serve = %v, want the cut-off reported with the timeout", err)
				}
				if !c.cutOff && err != nil {
					t.Errorf("Serve = %v, want nil", err)
				}
			case <-time.After(timeout + 10*time.Second):
				t.Fatal("Serve did not return after the shutdown timeout")
			}
			select {
			case <-released:
			case <-time.After(5 * time.Second):
				t.Fatal("the held request's context did not end after the shutdown timeout")
			}
			if d := time.Since(start); c.cutOff && d < timeout {
				t.Errorf("cut off after %s, before the shutdown timeout", d)
			} else if !c.cutOff && d >= timeout {
				t.Errorf("the upgraded connection held the shutdown for %s", d)
			}
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.Copy(io.Discard, conn); err != nil {
				t.Errorf("the held connection was not closed: %v", err)
			}
		})
	}
}

// TestServe_OnShutdownBoundedByTheDeadline: a hook that ignores its
// deadline does not hold Serve past the shutdown timeout.
func TestServe_OnShutdownBoundedByTheDeadline(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	stuck := make(chan struct{})
	defer close(stuck)
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, http.NotFoundHandler(), Options{Addr: "127.0.0.1:0", ReadHeaderTimeout: time.Second,
			ShutdownTimeout: 200 * time.Millisecond, Ready: func(a net.Addr) { addrc <- a },
			OnShutdown: func(context.Context) error { <-stuck; return nil }}, log)
	}()
	<-addrc
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Serve waited for a stuck shutdown hook past the shutdown timeout")
	}
}
