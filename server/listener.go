package server

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// guardConn is an accepted HTTP/1 connection whose request framing is
// followed (framer), with its TLS state when it arrived over TLS.
type guardConn struct {
	net.Conn
	f     *framer
	tls   *tls.ConnectionState
	count int64 // requests handed to a handler so far; touched only by the connection's serving goroutine
}

func (c *guardConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.f.stopped() {
		c.f.feed(p[:n])
	}
	return n, err
}

// guardListener accepts connections for Serve: plain ones are wrapped in a
// guardConn at once; TLS ones are handshaken first (concurrently, so a
// slow client does not hold up the others), and then those that chose
// HTTP/2 are handed over as the *tls.Conn net/http needs for HTTP/2, and
// the others wrapped. HTTP/2 needs no framing guard: it has no
// Transfer-Encoding, and net/http refuses requests that carry one.
type guardListener struct {
	net.Listener
	tls            *tls.Config
	maxHeaderBytes int
	timeout        time.Duration
	log            *slog.Logger

	conns   chan net.Conn
	errs    chan error
	done    chan struct{}
	once    sync.Once
	mu      sync.Mutex
	pending map[net.Conn]struct{} // connections in their TLS handshake
}

// Listen wraps ln so that connections served through Harden's handler
// refuse requests that carry both Content-Length and Transfer-Encoding.
// With tlsCfg, it terminates TLS (handshakes time out after timeout).
func Listen(ln net.Listener, tlsCfg *tls.Config, maxHeaderBytes int, timeout time.Duration, log *slog.Logger) net.Listener {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	l := &guardListener{
		Listener: ln, tls: tlsCfg, maxHeaderBytes: maxHeaderBytes, timeout: timeout, log: log,
		done: make(chan struct{}),
	}
	if tlsCfg != nil {
		l.conns = make(chan net.Conn)
		l.errs = make(chan error, 1)
		l.pending = make(map[net.Conn]struct{})
		go l.acceptTLS()
	}
	return l
}

func (l *guardListener) Accept() (net.Conn, error) {
	if l.tls == nil {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		return &guardConn{Conn: c, f: newFramer(l.maxHeaderBytes)}, nil
	}
	select {
	case c := <-l.conns:
		return c, nil
	case err := <-l.errs:
		return nil, err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *guardListener) Close() error {
	err := l.Listener.Close()
	l.once.Do(func() {
		close(l.done)
		if l.pending != nil {
			l.mu.Lock()
			for c := range l.pending {
				c.Close()
			}
			l.mu.Unlock()
		}
	})
	return err
}

// acceptTLS accepts raw connections and handshakes each in its own
// goroutine until the listener fails or is closed.
func (l *guardListener) acceptTLS() {
	var delay time.Duration
	for {
		raw, err := l.Listener.Accept()
		if err != nil {
			var te interface{ Temporary() bool }
			if errors.As(err, &te) && te.Temporary() {
				// Like net/http: back off on resource exhaustion
				// (EMFILE and the like) instead of giving up.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				select {
				case <-time.After(delay):
					continue
				case <-l.done:
					return
				}
			}
			select {
			case l.errs <- err:
			case <-l.done:
			}
			return
		}
		delay = 0
		l.mu.Lock()
		select {
		case <-l.done:
			l.mu.Unlock()
			raw.Close()
			return
		default:
		}
		l.pending[raw] = struct{}{}
		l.mu.Unlock()
		go l.handshake(raw)
	}
}

func (l *guardListener) handshake(raw net.Conn) {
	tc := tls.Server(raw, l.tls)
	_ = raw.SetDeadline(time.Now().Add(l.timeout))
	err := tc.Handshake()
	_ = raw.SetDeadline(time.Time{})
	l.mu.Lock()
	delete(l.pending, raw)
	l.mu.Unlock()
	if err != nil {
		l.log.Debug("TLS handshake failed", "peer", raw.RemoteAddr().String(), "err", err)
		raw.Close()
		return
	}
	state := tc.ConnectionState()
	var c net.Conn
	switch state.NegotiatedProtocol {
	case "h2":
		c = tc
	case "", "http/1.1":
		c = &guardConn{Conn: tc, f: newFramer(l.maxHeaderBytes), tls: &state}
	default:
		// acme-tls/1: the certificate was the answer; nothing follows.
		tc.Close()
		return
	}
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	}
}

type connKey struct{}

// connContext makes a guardConn reachable from its requests.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if gc, ok := c.(*guardConn); ok {
		return context.WithValue(ctx, connKey{}, gc)
	}
	return ctx
}

// Harden sets srv up for connections from Listen: its handler refuses,
// with 400 and a closed connection, every request from the first one
// whose head had both Content-Length and Transfer-Encoding, and sees the
// TLS state of TLS connections in r.TLS as usual.
func Harden(srv *http.Server, log *slog.Logger) {
	h := srv.Handler
	srv.ConnContext = connContext
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if gc, ok := r.Context().Value(connKey{}).(*guardConn); ok {
			idx := gc.count
			gc.count++
			if bad := gc.f.bad.Load(); bad >= 0 && idx >= bad {
				log.WarnContext(r.Context(), "refused a request with both Content-Length and Transfer-Encoding (request smuggling)",
					"peer", r.RemoteAddr, "method", r.Method, "path", r.URL.Path)
				w.Header().Set("Connection", "close")
				plain(w, http.StatusBadRequest, "Bad request: both Content-Length and Transfer-Encoding are set. Send one of them.")
				return
			}
			if r.TLS == nil {
				r.TLS = gc.tls
			}
		}
		h.ServeHTTP(w, r)
	})
}
