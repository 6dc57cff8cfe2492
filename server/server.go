// Package server runs Gatehouse's listeners: TLS, timeouts, the
// request-level middleware every handler sits behind (request ids, access
// log, panic recovery, header size limits), health endpoints, the optional
// HTTP→HTTPS redirect listener and graceful shutdown.
//
// It lives apart from proxy because an IdP-only deployment serves through
// it too; proxying is one handler among those it serves.
package server

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
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

// HeaderRequestID carries the request id: in every response, to
// upstreams, and from trusted proxies in.
const HeaderRequestID = "X-Request-Id"

// maxRequestIDLen bounds an incoming request id that is reused.
const maxRequestIDLen = 128

// validRequestID reports whether an incoming request id may be reused:
// 1 to 128 bytes of letters, digits and - _ . : / + = (UUIDs, hex ids,
// nginx's $request_id, base64), nothing that could break a log line or
// a header.
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '_', c == '.', c == ':', c == '/', c == '+', c == '=':
		default:
			return false
		}
	}
	return true
}

// requestCtx is a request's context carrying its id.
type requestCtx struct {
	context.Context
	id string
}

// requestIDKey finds a requestCtx in a context chain.
type requestIDKey struct{}

func (c *requestCtx) Value(key any) any {
	if key == (requestIDKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// RequestID returns the id Middleware gave the request ctx belongs to, or
// "" outside a request.
func RequestID(ctx context.Context) string {
	if c, ok := ctx.Value(requestIDKey{}).(*requestCtx); ok {
		return c.id
	}
	return ""
}

// LogHandler wraps h so that every record logged with a request's
// context (log.InfoContext(r.Context(), ...)) carries the request's id
// as "request_id".
func LogHandler(h slog.Handler) slog.Handler { return logHandler{h} }

type logHandler struct{ slog.Handler }

func (l logHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return l.Handler.Handle(ctx, r)
}

func (l logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return logHandler{l.Handler.WithAttrs(as)}
}
func (l logHandler) WithGroup(name string) slog.Handler { return logHandler{l.Handler.WithGroup(name)} }

// tracked is the per-request state of Middleware, allocated once: the
// context with the id, the response writer that records the status and
// keeps the response's X-Request-Id single, and the header values.
type tracked struct {
	ctx  requestCtx
	w    statusWriter
	resp [1]string // the response's X-Request-Id
	req  [1]string // the request's, sent upstream
}

// statusWriter records the status code for the access log, and makes the
// response carry exactly one X-Request-Id, the request's (a proxied
// upstream's own id is replaced). It keeps http.Flusher and http.Hijacker
// reachable.
type statusWriter struct {
	http.ResponseWriter
	status int
	id     []string
}

// fixID sets the response's X-Request-Id to the request's.
func (s *statusWriter) fixID() {
	h := s.ResponseWriter.Header()
	if v := h[HeaderRequestID]; len(v) != 1 || v[0] != s.id[0] {
		h[HeaderRequestID] = s.id
	}
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 && code >= 200 {
		s.status = code
	}
	s.fixID()
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
		s.fixID()
	}
	return s.ResponseWriter.Write(b)
}

// FlushError flushes (http.ResponseController calls it).
func (s *statusWriter) FlushError() error {
	if s.status == 0 {
		s.status = http.StatusOK
		s.fixID()
	}
	return http.NewResponseController(s.ResponseWriter).Flush()
}

// Flush implements http.Flusher.
func (s *statusWriter) Flush() { _ = s.FlushError() }

// Hijack hands the connection over (protocol upgrades); the response the
// hijacker writes carries the same single X-Request-Id.
func (s *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	s.fixID()
	return http.NewResponseController(s.ResponseWriter).Hijack()
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Middleware wraps h with a request id, an access log line at debug level
// (method, path without query, status, duration: no cookies, no personal
// data), and panic recovery.
//
// The id is a per-process random prefix and a counter, or the
// X-Request-Id a peer in trusted (the reverse proxies in front) sent,
// when it is 1 to 128 bytes of letters, digits and - _ . : / + =. It is
// in the request's context (RequestID; LogHandler adds it to every log
// line written with that context), replaces the request's X-Request-Id
// (so upstreams receive the same id) and is the response's only
// X-Request-Id. It runs on every request, forward-auth checks included:
// one allocation holds its state.
func Middleware(h http.Handler, log *slog.Logger, trusted []netip.Prefix) http.Handler {
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := hex.EncodeToString(b[:]) + "-"
	var seq atomic.Uint64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := &tracked{}
		id := ""
		if v := r.Header[HeaderRequestID]; len(v) == 1 && validRequestID(v[0]) && fromTrusted(r, trusted) {
			id = v[0]
		} else {
			id = prefix + strconv.FormatUint(seq.Add(1), 36)
		}
		t.resp[0], t.req[0] = id, id
		if r.Header == nil {
			r.Header = http.Header{}
		}
		t.ctx = requestCtx{Context: r.Context(), id: id}
		t.w = statusWriter{ResponseWriter: w, id: t.resp[:]}
		r.Header[HeaderRequestID] = t.req[:]
		w.Header()[HeaderRequestID] = t.resp[:]
		r = r.WithContext(&t.ctx)
		ctx := r.Context()
		debug := log.Enabled(ctx, slog.LevelDebug)
		var start time.Time
		if debug {
			start = time.Now()
		}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.ErrorContext(ctx, "handler panic", "panic", fmt.Sprint(p))
				http.Error(&t.w, "internal error", http.StatusInternalServerError)
			}
			if debug {
				log.DebugContext(ctx, "request", "method", r.Method,
					"path", r.URL.Path, "status", t.w.status, "duration", time.Since(start))
			}
		}()
		h.ServeHTTP(&t.w, r)
	})
}

// fromTrusted reports whether r's peer is in trusted.
func fromTrusted(r *http.Request, trusted []netip.Prefix) bool {
	if len(trusted) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	a := ap.Addr().Unmap()
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
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
	// OnShutdown, when set, runs when shutdown begins, beside the
	// draining of in-flight requests and within the same deadline: it
	// ends what the server no longer tracks, such as hijacked websockets
	// (the gateway's Shutdown). Serve waits for it until the deadline.
	OnShutdown func(ctx context.Context) error
}

// Serve listens on o.Addr and serves h until ctx is done, then stops
// accepting and lets in-flight requests finish for up to ShutdownTimeout.
// Connections taken over by a protocol upgrade, which nothing drains, have
// their request's context ended once OnShutdown has returned. Whatever is still
// running at the deadline is cut off: request contexts end, connections
// close, and Serve returns an error saying so. Serve returns within
// ShutdownTimeout of ctx's end whatever the connections do.
// Requests with both Content-Length and Transfer-Encoding get a 400 (see
// Listen and Harden).
func Serve(ctx context.Context, h http.Handler, o Options, log *slog.Logger) error {
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.Addr, err)
	}
	// Requests outlive ctx while they drain; base ends when they may not.
	base, release := context.WithCancel(context.WithoutCancel(ctx))
	defer release()
	var inflight atomic.Int64 // handlers running, upgraded connections' included
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inflight.Add(1)
			defer inflight.Add(-1)
			h.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		ReadTimeout:       o.ReadTimeout,
		WriteTimeout:      o.WriteTimeout,
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    o.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	if o.TLS != nil {
		srv.TLSConfig = o.TLS
	}
	ln = Listen(ln, o.TLS, o.MaxHeaderBytes, o.ReadHeaderTimeout, log)
	Harden(srv, log)
	// sctx is the shutdown deadline, set before srv.Shutdown runs the
	// hook.
	var (
		sctx  context.Context
		hooks sync.WaitGroup
	)
	if o.OnShutdown != nil {
		hooks.Add(1)
		srv.RegisterOnShutdown(func() {
			defer hooks.Done()
			if err := o.OnShutdown(sctx); err != nil {
				log.Warn("shutdown", "addr", o.Addr, "err", err)
			}
		})
	}
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
	drainErr := srv.Shutdown(sctx)
	// The hook ends what Shutdown does not track (websockets, gracefully),
	// within the same deadline.
	hooksDone := make(chan struct{})
	go func() {
		hooks.Wait()
		close(hooksDone)
	}()
	select {
	case <-hooksDone:
	case <-sctx.Done():
	}
	// Shutdown waited for the requests it knows, the hook for the
	// websockets; what is left runs on other upgraded connections, which
	// never drain (or, past the deadline, is late): end their contexts,
	// which closes proxied upgrades.
	release()
	if drainErr != nil {
		_ = srv.Close()
	}
	settle := time.NewTicker(10 * time.Millisecond)
	defer settle.Stop()
	for inflight.Load() > 0 && sctx.Err() == nil {
		select {
		case <-settle.C:
		case <-sctx.Done():
		}
	}
	if n := inflight.Load(); drainErr != nil || n > 0 {
		return fmt.Errorf("drain %s: requests still in flight after the shutdown timeout (%s) were cut off", o.Addr, o.ShutdownTimeout)
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
