package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	get  = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
	post = "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
	chnk = "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n"
)

// TestFramer: which head (counted from 0, "OPTIONS *" not counted) is the
// first with both Content-Length and Transfer-Encoding, for streams fed
// whole, byte by byte, and in halves.
func TestFramer(t *testing.T) {
	cases := []struct {
		name    string
		stream  string
		bad     int64
		heads   int64
		stopped bool
	}{
		{"one GET", get, -1, 1, false},
		{"keep-alive mix", get + post + chnk + get, -1, 4, false},
		{"CL then TE", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 0, 1, true},
		{"TE then CL", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n", 0, 1, true},
		{"lower case names", "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n", 0, 1, true},
		{"mixed case, padded values", "POST / HTTP/1.1\r\nHost: x\r\nContent-LENGTH:  4 \r\nTransfer-Encoding:\tchunked\r\n\r\n", 0, 1, true},
		{"TE value folded", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding:\r\n chunked\r\n\r\n", 0, 1, true},
		{"TE not chunked", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: identity\r\n\r\n", 0, 1, true},
		{"HTTP/1.0 with both", "POST / HTTP/1.0\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\nabcd", 0, 1, true},
		{"bare LF line ends", "POST / HTTP/1.1\nHost: x\nContent-Length: 4\nTransfer-Encoding: chunked\n\n", 0, 1, true},
		{"after a GET", get + get + "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n", 2, 3, true},
		{"after a chunked body", chnk + "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n", 1, 2, true},
		{"after a CL body that looks like a head", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 56\r\n\r\n" +
			"GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: x\r\n\r\n" + get, -1, 2, false},
		{"OPTIONS * is not counted", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n" + "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 0, 1, true},
		{"OPTIONS * itself: what follows is refused", "OPTIONS * HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + get, 0, 0, true},
		{"HTTP/1.0 ignores TE for framing", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n" + get, -1, 2, false},
		{"underscore spelling is another header", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nTransfer_Encoding: chunked\r\n\r\n" + get, -1, 2, false},
		{"bad chunk size stops", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", -1, 1, true},
		{"chunk line with bare LF stops", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n", -1, 1, true},
		{"chunk data without CRLF stops", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n", -1, 1, true},
		{"differing Content-Lengths stop", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", -1, 1, true},
		{"invalid Content-Length stops", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\n", -1, 1, true},
		{"field without colon stops", "GET / HTTP/1.1\r\nHost x\r\n\r\n", -1, 0, true},
		{"upgrade stops", "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n" + "binary\n\nframes", -1, 1, true},
		{"empty lines before a request line", "\r\n\r\n" + get, -1, 1, false},
		{"partial head", "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Enc", -1, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, split := range []string{"whole", "bytes", "halves"} {
				f := newFramer(0)
				switch split {
				case "whole":
					f.feed([]byte(c.stream))
				case "bytes":
					for i := range len(c.stream) {
						f.feed([]byte{c.stream[i]})
					}
				case "halves":
					f.feed([]byte(c.stream[:len(c.stream)/2]))
					f.feed([]byte(c.stream[len(c.stream)/2:]))
				}
				if got := f.bad.Load(); got != c.bad || f.heads != c.heads || f.stopped() != c.stopped {
					t.Errorf("%s: bad %d heads %d stopped %v, want %d %d %v", split, got, f.heads, f.stopped(), c.bad, c.heads, c.stopped)
				}
			}
		})
	}
}

func TestFramer_HeadLimit(t *testing.T) {
	f := newFramer(100)
	f.feed([]byte("GET / HTTP/1.1\r\nHost: x\r\n"))
	f.feed(bytes.Repeat([]byte("X-A: b\r\n"), 1000))
	if !f.stopped() || f.line != nil {
		t.Fatalf("a head over the limit is still followed (stopped %v, buffered %d)", f.stopped(), len(f.line))
	}
	f = newFramer(100)
	f.feed([]byte("GET /" + strings.Repeat("a", 10000)))
	if !f.stopped() {
		t.Fatal("an endless request line is still buffered")
	}
}

// FuzzFramer: the framer never panics, its verdict does not depend on how
// the stream is split into reads, and it flags only heads that name both
// headers.
func FuzzFramer(f *testing.F) {
	for _, s := range []string{get, post, chnk, get + post + chnk,
		"POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\n\r\n" + post} {
		f.Add([]byte(s), uint8(7))
	}
	f.Fuzz(func(t *testing.T, stream []byte, step uint8) {
		whole := newFramer(512)
		whole.feed(stream)
		pieces := newFramer(512)
		n := int(step%31) + 1
		for i := 0; i < len(stream); i += n {
			pieces.feed(stream[i:min(i+n, len(stream))])
		}
		if whole.bad.Load() != pieces.bad.Load() || whole.heads != pieces.heads || whole.stopped() != pieces.stopped() {
			t.Fatalf("split %d: bad %d/%d heads %d/%d stopped %v/%v", n, whole.bad.Load(), pieces.bad.Load(),
				whole.heads, pieces.heads, whole.stopped(), pieces.stopped())
		}
		if whole.bad.Load() >= 0 {
			low := bytes.ToLower(stream)
			if !bytes.Contains(low, []byte("content-length")) || !bytes.Contains(low, []byte("transfer-encoding")) {
				t.Fatalf("flagged a stream without both headers: %q", stream)
			}
		}
	})
}

// testServe runs Serve with h on a loopback port (TLS when cfg is set) and
// returns its address.
func testServe(t *testing.T, h http.Handler, cfg *tls.Config) string {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, h, Options{Addr: "127.0.0.1:0", TLS: cfg, ReadHeaderTimeout: 5 * time.Second,
			ShutdownTimeout: 5 * time.Second, Ready: func(a net.Addr) { addrc <- a }}, log)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return (<-addrc).String()
}

// recordingHandler answers 200 with the request's path and body, and
// records the paths it served.
type recordingHandler struct {
	mu    sync.Mutex
	paths []string
}

func (h *recordingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.paths = append(h.paths, r.URL.Path)
	h.mu.Unlock()
	proto := "plain"
	if r.TLS != nil {
		proto = "tls"
	}
	fmt.Fprintf(w, "%s %s %s %s", r.Proto, proto, r.URL.Path, b)
}

func (h *recordingHandler) served() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.paths...)
}

// exchange writes stream to a fresh connection and reads want responses
// (fewer if the server closes the connection first); closed reports
// whether the server then closed it.
func exchange(t *testing.T, dial func() (net.Conn, error), stream string, want int) (out []*http.Response, closed bool) {
	t.Helper()
	c, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, stream); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for len(out) < want {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			return out, true
		}
		b, _ := io.ReadAll(res.Body)
		res.Body = io.NopCloser(bytes.NewReader(b))
		out = append(out, res)
	}
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	_, err = br.ReadByte()
	return out, err == io.EOF
}

// TestServe_Smuggling: a request with both Content-Length and
// Transfer-Encoding gets a 400, closes the connection, and never reaches
// the handler, on plain and TLS connections; the requests before it on
// the connection are served normally.
func TestServe_Smuggling(t *testing.T) {
	cert, pool := localhostCert(t)
	smuggle := "POST /smuggled HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /inner HTTP/1.1\r\nHost: x\r\n\r\n"
	for _, mode := range []string{"plain", "tls"} {
		t.Run(mode, func(t *testing.T) {
			h := &recordingHandler{}
			var cfg *tls.Config
			if mode == "tls" {
				cfg = TLSConfig(cert)
			}
			addr := testServe(t, h, cfg)
			dial := func() (net.Conn, error) {
				if cfg == nil {
					return net.Dial("tcp", addr)
				}
				return tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "localhost", NextProtos: []string{"http/1.1"}})
			}
			cases := []struct {
				name   string
				stream string
				status []int
				served []string
			}{
				{"keep-alive requests pass", get + post + chnk, []int{200, 200, 200}, []string{"/a", "/b", "/c"}},
				{"CL and TE", smuggle, []int{400}, nil},
				{"TE and CL in lower case", "POST /s HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n0\r\n\r\n", []int{400}, nil},
				{"HTTP/1.0 with both", "POST /s HTTP/1.0\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc", []int{400}, nil},
				{"after served requests", get + chnk + smuggle, []int{200, 200, 400}, []string{"/a", "/c"}},
				{"after OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n" + smuggle, []int{200, 400}, nil},
				{"behind OPTIONS * with both", "OPTIONS * HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + get, []int{200, 400}, nil},
				{"pipelined behind it", smuggle + get, []int{400}, nil},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					before := len(h.served())
					res, closed := exchange(t, dial, c.stream, len(c.status))
					var got []int
					for _, r := range res {
						got = append(got, r.StatusCode)
					}
					if fmt.Sprint(got) != fmt.Sprint(c.status) {
						t.Fatalf("statuses %v, want %v", got, c.status)
					}
					last := res[len(res)-1]
					if last.StatusCode == http.StatusBadRequest {
						if !last.Close || !closed {
							t.Errorf("the 400 keeps the connection open (Connection: close %v, closed %v)", last.Close, closed)
						}
						if b, _ := io.ReadAll(last.Body); !strings.Contains(string(b), "Content-Length and Transfer-Encoding") {
							t.Errorf("400 body %q does not say why", b)
						}
					}
					served := h.served()[before:]
					if fmt.Sprint(served) != fmt.Sprint(c.served) {
						t.Errorf("handler served %v, want %v", served, c.served)
					}
					for _, r := range res[:len(c.served)] {
						if b, _ := io.ReadAll(r.Body); !strings.HasPrefix(string(b), "HTTP/1.1 "+mode+" ") {
							t.Errorf("response %q: want the request seen as HTTP/1.1 over %s", b, mode)
						}
					}
				})
			}
		})
	}
}

// TestServe_TLSProtocols: over TLS, HTTP/2 and HTTP/1.1 both work and the
// handler sees the TLS state either way.
func TestServe_TLSProtocols(t *testing.T) {
	cert, pool := localhostCert(t)
	addr := testServe(t, &recordingHandler{}, TLSConfig(cert))
	for _, tc := range []struct {
		h2   bool
		want string
	}{{true, "HTTP/2.0 tls /p x"}, {false, "HTTP/1.1 tls /p x"}} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: tc.h2}
		if !tc.h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		res, err := c.Post("https://localhost:"+strings.Split(addr, ":")[1]+"/p", "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatalf("h2 %v: %v", tc.h2, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		tr.CloseIdleConnections()
		if string(b) != tc.want {
			t.Errorf("h2 %v: %q, want %q", tc.h2, b, tc.want)
		}
	}
	// A failed handshake does not stop the listener.
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(raw, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	_, _ = io.ReadAll(raw)
	raw.Close()
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatalf("after a plain-text client: %v", err)
	}
	c.Close()
}

type tempErr struct{}

func (tempErr) Error() string   { return "accept: too many open files" }
func (tempErr) Temporary() bool { return true }
func (tempErr) Timeout() bool   { return false }

// flakyListener fails its first Accept with a temporary error.
type flakyListener struct {
	net.Listener
	once sync.Once
}

func (l *flakyListener) Accept() (net.Conn, error) {
	var failed bool
	l.once.Do(func() { failed = true })
	if failed {
		return nil, tempErr{}
	}
	return l.Listener.Accept()
}

// TestListen_TemporaryAcceptError: a TLS listener keeps accepting after a
// temporary error (file descriptors running out), as net/http's does.
func TestListen_TemporaryAcceptError(t *testing.T) {
	cert, pool := localhostCert(t)
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := Listen(&flakyListener{Listener: inner}, TLSConfig(cert), 0, time.Second, slog.New(slog.DiscardHandler))
	defer ln.Close()
	go func() {
		c, err := tls.Dial("tcp", inner.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "localhost", NextProtos: []string{"http/1.1"}})
		if err == nil {
			_, _ = io.WriteString(c, get)
			time.Sleep(100 * time.Millisecond)
			c.Close()
		}
	}()
	c, err := ln.Accept()
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	defer c.Close()
	if gc, ok := c.(*guardConn); !ok || gc.tls == nil || gc.tls.ServerName != "localhost" {
		t.Fatalf("accepted %T without its TLS state", c)
	}
	ln.Close()
	if _, err := ln.Accept(); err == nil {
		t.Fatal("Accept after Close succeeded")
	}
}

// localhostCert is a self-signed certificate for localhost and a pool
// that trusts it.
func localhostCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	cert, err := SelfSigned([]string{"localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	return cert, pool
}

// streamBuilder turns fuzz bytes into a stream of well-formed HTTP/1.x
// requests of every framing net/http accepts.
type streamBuilder struct {
	seed []byte
	i    int
}

func (b *streamBuilder) next(n int) int {
	if b.i >= len(b.seed) {
		return 0
	}
	v := int(b.seed[b.i])
	b.i++
	return v % n
}

// request writes one request; withBoth adds Content-Length next to
// Transfer-Encoding. It reports whether net/http hands it to a handler.
func (b *streamBuilder) request(buf *bytes.Buffer, withBoth bool) bool {
	eol := []string{"\r\n", "\n"}[b.next(4)/3] // mostly CRLF
	method := []string{"GET", "POST", "PUT", "HEAD", "DELETE", "PATCH", "OPTIONS"}[b.next(7)]
	target := []string{"/", "/a/b?c=d", "/x%20y", "*"}[b.next(4)]
	if target == "*" && method != "OPTIONS" {
		target = "/"
	}
	http10 := b.next(5) == 0
	proto := "HTTP/1.1"
	if http10 {
		proto = "HTTP/1.0"
	}
	fmt.Fprintf(buf, "%s %s %s%s", method, target, proto, eol)
	if !http10 || b.next(2) == 0 {
		fmt.Fprintf(buf, "Host: example.test%s", eol)
	}
	names := []string{"Content-Type", "X-Content-Length-Note", "Accept", "X-Transfer", "Cookie", "transfer_encoding"}
	for range b.next(4) {
		fmt.Fprintf(buf, "%s: v%d%s", names[b.next(len(names))], b.next(100), eol)
	}
	body := b.next(3) // 0 none, 1 Content-Length, 2 chunked
	if http10 && body == 2 {
		body = 1
	}
	cl := []string{"Content-Length", "content-length", "CONTENT-LENGTH"}[b.next(3)]
	te := []string{"Transfer-Encoding", "transfer-encoding"}[b.next(2)]
	switch {
	case withBoth:
		fmt.Fprintf(buf, "%s: 3%s%s: chunked%s", cl, eol, te, eol)
		body = 2
	case body == 1:
		n := b.next(40)
		fmt.Fprintf(buf, "%s: %d%s%s", cl, n, eol, eol)
		const looksLikeAHead = "GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
		for k := range n {
			buf.WriteByte(looksLikeAHead[k%len(looksLikeAHead)])
		}
		return target != "*"
	case body == 2:
		fmt.Fprintf(buf, "%s:  chunked %s", te, eol)
	}
	if body != 2 {
		buf.WriteString(eol)
		return target != "*"
	}
	buf.WriteString(eol)
	for range b.next(4) {
		n := b.next(20) + 1
		fmt.Fprintf(buf, "%x", n)
		if b.next(3) == 0 {
			buf.WriteString(";ext=1")
		}
		buf.WriteString("\r\n")
		buf.Write(bytes.Repeat([]byte{'\n'}, n)) // data that looks like line ends
		buf.WriteString("\r\n")
	}
	buf.WriteString("0\r\n")
	if b.next(3) == 0 {
		buf.WriteString("X-Trailer: t\r\n") // net/http wants CRLF in trailers
	}
	buf.WriteString("\r\n")
	return target != "*"
}

// FuzzFramer_MatchesNetHTTP builds streams of well-formed requests in every
// framing net/http accepts and checks that the framer counts exactly the
// requests net/http hands to handlers, flags none of them, and flags the
// one request with both headers, wherever it is put.
func FuzzFramer_MatchesNetHTTP(f *testing.F) {
	f.Add([]byte{3, 1, 1, 0, 2, 9, 9, 1, 2, 3, 4, 5, 6, 7}, uint8(2))
	f.Add([]byte{5, 2, 0, 1, 1, 2, 2, 2, 2, 0, 1, 7, 200, 13}, uint8(0))
	f.Add(bytes.Repeat([]byte{1, 2, 3}, 40), uint8(1))
	f.Fuzz(func(t *testing.T, seed []byte, at uint8) {
		b := &streamBuilder{seed: seed}
		var buf bytes.Buffer
		n := b.next(6) + 1
		bad := int(at) % (n + 1) // n: no bad request
		var want, flagged int64 = 0, -1
		for k := range n {
			if k == bad {
				flagged = want
				b.request(&buf, true)
				break
			}
			if b.request(&buf, false) {
				want++
			}
		}
		stream := buf.Bytes()
		fr := newFramer(0)
		fr.feed(stream)
		if got := fr.bad.Load(); got != flagged {
			t.Fatalf("flagged request %d, want %d\n%q", got, flagged, stream)
		}
		if flagged >= 0 {
			return
		}
		// net/http's own count of handled requests on the same stream.
		br := bufio.NewReader(bytes.NewReader(stream))
		var handled int64
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				break
			}
			if _, err := io.Copy(io.Discard, req.Body); err != nil {
				t.Fatalf("net/http could not read a body the builder wrote: %v\n%q", err, stream)
			}
			if !(req.Method == "OPTIONS" && req.RequestURI == "*") {
				handled++
			}
		}
		if handled != want || fr.heads != want || fr.stopped() {
			t.Fatalf("net/http handled %d, framer counted %d (stopped %v), builder wrote %d\n%q", handled, fr.heads, fr.stopped(), want, stream)
		}
	})
}
