package proxy

import (
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// bodyGuard bounds the pauses of one proxied exchange instead of its
// total length, as nginx's proxy_read_timeout and proxy_send_timeout do:
// the client connection's read and write deadlines (the server's
// read_timeout and write_timeout, which bound Gatehouse's own pages) are
// replaced by "idle from now", pushed forward whenever a byte of the
// request body is read or a piece of the response is written. So a 200 MB
// download at 3 MB/s completes, while a client, an upload or an upstream
// that stalls for longer than the bound is cut:
//
//   - a client that stops reading: the write blocks past its deadline;
//   - an upload that stops: the body read fails at its deadline, and the
//     upstream request with it;
//   - an upstream that stops sending: over HTTP/1 the connection's read
//     deadline ends the server's background read, which cancels the
//     request's context; over HTTP/2 the stream's write deadline resets
//     the stream, which cancels it too. The cancelled context aborts the
//     upstream request.
//
// While the upstream prepares its answer (after the request body, before
// the response head) the bound is the route's response-header timeout
// plus idle, so the transport's own timeout answers first, with 504.
//
// The guard is the ResponseWriter handed to the reverse proxy and the
// request body it reads; one allocation per proxied request. Deadlines
// are moved only when they have come within 7/8 of the bound, so a fast
// body sets them a few times, not once per write.
type bodyGuard struct {
	w    http.ResponseWriter
	rc   http.ResponseController
	body io.ReadCloser
	idle int64 // the bound, in ns
	wait int64 // the bound while waiting for the response head, in ns
	// until is the deadline last set (Unix ns); answered is set once the
	// response head is written.
	until    atomic.Int64
	answered atomic.Bool
}

// start sets up the guard for a proxied request: it installs itself
// as r.Body (when there is a body) and sets the first deadlines. The
// caller proxies with the guard as the ResponseWriter.
func (b *bodyGuard) start(w http.ResponseWriter, r *http.Request, idle, wait time.Duration) {
	b.w = w
	b.rc = *http.NewResponseController(w)
	b.idle, b.wait = int64(idle), int64(wait)
	now := time.Now().UnixNano()
	if r.Body != nil && r.Body != http.NoBody {
		b.body = r.Body
		r.Body = b
		b.set(now + b.idle)
		return
	}
	b.set(now + b.wait)
}

// set moves both deadlines of the client connection (or HTTP/2 stream)
// to t.
func (b *bodyGuard) set(t int64) {
	b.until.Store(t)
	d := time.Unix(0, t)
	_ = b.rc.SetReadDeadline(d)
	_ = b.rc.SetWriteDeadline(d)
}

// progress pushes the deadlines to idle from now, unless they are still
// further away than 7/8 of it.
func (b *bodyGuard) progress() {
	now := time.Now().UnixNano()
	if b.until.Load()-now < b.idle-b.idle/8 {
		b.set(now + b.idle)
	}
}

// Read reads the request body for the upstream.
func (b *bodyGuard) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	switch {
	case err != nil:
		// The upload is over (or failed): the upstream now prepares its
		// answer.
		if !b.answered.Load() {
			b.set(time.Now().UnixNano() + b.wait)
		}
	case n > 0:
		b.progress()
	}
	return n, err
}

// Close closes the request body.
func (b *bodyGuard) Close() error { return b.body.Close() }

// Header returns the response header map.
func (b *bodyGuard) Header() http.Header { return b.w.Header() }

// WriteHeader writes the response head; from a final status on, pauses
// are bounded by idle.
func (b *bodyGuard) WriteHeader(code int) {
	if code >= http.StatusOK && !b.answered.Swap(true) {
		b.set(time.Now().UnixNano() + b.idle)
	}
	b.w.WriteHeader(code)
}

// Write writes part of the response body.
func (b *bodyGuard) Write(p []byte) (int, error) {
	if !b.answered.Load() {
		b.WriteHeader(http.StatusOK)
	}
	b.progress()
	return b.w.Write(p)
}

// Unwrap lets http.ResponseController reach the connection's writer
// (Flush, deadlines).
func (b *bodyGuard) Unwrap() http.ResponseWriter { return b.w }
