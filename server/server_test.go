package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
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
	h := Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }), log)
	rec := &recorder{header: http.Header{}}
	r, _ := http.NewRequest("GET", "/", nil)
	h.ServeHTTP(rec, r)
	if rec.status != http.StatusInternalServerError || rec.header.Get("X-Request-Id") == "" {
		t.Fatalf("status %d, request id %q", rec.status, rec.header.Get("X-Request-Id"))
	}
}

func TestMiddleware_RequestIDOnlyWhenDebugging(t *testing.T) {
	for _, tc := range []struct {
		level slog.Level
		want  bool
	}{{slog.LevelInfo, false}, {slog.LevelDebug, true}} {
		log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: tc.level}))
		h := Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }), log)
		rec := &recorder{header: http.Header{}}
		r, _ := http.NewRequest("GET", "/", nil)
		h.ServeHTTP(rec, r)
		if got := rec.header.Get("X-Request-Id") != ""; got != tc.want || rec.status != http.StatusNoContent {
			t.Errorf("level %v: status %d, X-Request-Id present %v, want %v", tc.level, rec.status, got, tc.want)
		}
	}
}
