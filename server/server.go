// Package server runs Gatehouse's listeners: TLS, timeouts, the
// request-level middleware every handler sits behind (request ids, access
// log, panic recovery, header size limits), health endpoints, the optional
// HTTP→HTTPS redirect listener and graceful shutdown.
//
// It lives apart from proxy because an IdP-only deployment serves through
// it too; proxying is one handler among those it serves.
package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// Pinger reports whether a dependency (the store) is usable.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Health mounts /healthz (the process is alive and serving) and /readyz
// (the store answers within two seconds) on mux.
func Health(mux *http.ServeMux, store Pinger, log *slog.Logger) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		plain(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := store.Ping(ctx); err != nil {
			log.WarnContext(ctx, "readiness check failed", "err", err)
			plain(w, http.StatusServiceUnavailable, "store unavailable")
			return
		}
		plain(w, http.StatusOK, "ok")
	})
}

func plain(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body + "\n"))
}

// statusWriter records the status code for the access log. It keeps
// http.Flusher and http.Hijacker reachable through Unwrap.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Middleware wraps h with a request id, an access log line at debug level
// (method, path without query, status, duration: no cookies, no personal
// data), and panic recovery. The id (a per-process random prefix and a
// counter) is in every log line about the request and is returned as
// X-Request-Id when debug logging is on or a handler panics. It runs on
// every request, forward-auth checks included, so when debug logging is
// off it allocates nothing and adds no response header.
func Middleware(h http.Handler, log *slog.Logger) http.Handler {
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := hex.EncodeToString(b[:]) + "-"
	var seq atomic.Uint64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := seq.Add(1)
		debug := log.Enabled(r.Context(), slog.LevelDebug)
		out := w
		var sw *statusWriter
		var start time.Time
		if debug {
			start = time.Now()
			sw = &statusWriter{ResponseWriter: w}
			out = sw
			w.Header()["X-Request-Id"] = []string{prefix + strconv.FormatUint(n, 36)}
		}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				id := prefix + strconv.FormatUint(n, 36)
				log.ErrorContext(r.Context(), "handler panic", "request_id", id, "panic", fmt.Sprint(p))
				w.Header()["X-Request-Id"] = []string{id}
				http.Error(out, "internal error", http.StatusInternalServerError)
			}
			if debug {
				log.DebugContext(r.Context(), "request", "request_id", prefix+strconv.FormatUint(n, 36), "method", r.Method,
					"path", r.URL.Path, "status", sw.status, "duration", time.Since(start))
			}
		}()
		h.ServeHTTP(out, r)
	})
}

// Options configures Serve.
type Options struct {
	Addr              string
	TLS               *tls.Config // nil serves plain HTTP
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	ShutdownTimeout   time.Duration
	// Ready, when set, receives the bound address once listening (useful
	// with port 0).
	Ready func(addr net.Addr)
}

// Serve listens on o.Addr and serves h until ctx is done, then stops
// accepting and lets in-flight requests finish for up to ShutdownTimeout.
// Requests with both Content-Length and Transfer-Encoding get a 400 (see
// Listen and Harden).
func Serve(ctx context.Context, h http.Handler, o Options, log *slog.Logger) error {
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.Addr, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		ReadTimeout:       o.ReadTimeout,
		WriteTimeout:      o.WriteTimeout,
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    o.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if o.TLS != nil {
		srv.TLSConfig = o.TLS
	}
	ln = Listen(ln, o.TLS, o.MaxHeaderBytes, o.ReadHeaderTimeout, log)
	Harden(srv, log)
	if o.Ready != nil {
		o.Ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", o.Addr, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), o.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("drain %s: %w", o.Addr, err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", o.Addr, err)
	}
	return nil
}

// WithNotFound serves mux, answering paths that no pattern matches with
// notFound instead of the mux's plain-text 404. A known path asked with the
// wrong method still gets the mux's 405 with its Allow header.
func WithNotFound(mux *http.ServeMux, notFound http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern == "" {
			probe := headerOnly{}
			h.ServeHTTP(probe, r) // the mux's own 404 or 405, discarded
			if probe.Header().Get("Allow") == "" {
				notFound.ServeHTTP(w, r)
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
}

// headerOnly is a ResponseWriter that keeps headers and drops the rest.
type headerOnly http.Header

func (h headerOnly) Header() http.Header       { return http.Header(h) }
func (headerOnly) Write(b []byte) (int, error) { return len(b), nil }
func (headerOnly) WriteHeader(int)             {}
