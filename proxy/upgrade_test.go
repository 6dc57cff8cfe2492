package proxy

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/config"
)

// wsFrame is one websocket frame (RFC 6455 §5.2), unmasked.
type wsFrame struct {
	op      byte
	payload []byte
}

// readWSFrame reads one frame, unmasking a masked one; masked tells
// whether it was.
func readWSFrame(r io.Reader) (f wsFrame, masked bool, err error) {
	var h [2]byte
	if _, err = io.ReadFull(r, h[:]); err != nil {
		return f, false, err
	}
	f.op = h[0] & 0x0f
	masked = h[1]&0x80 != 0
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err = io.ReadFull(r, b[:]); err != nil {
			return f, masked, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err = io.ReadFull(r, b[:]); err != nil {
			return f, masked, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	var key [4]byte
	if masked {
		if _, err = io.ReadFull(r, key[:]); err != nil {
			return f, masked, err
		}
	}
	f.payload = make([]byte, n)
	if _, err = io.ReadFull(r, f.payload); err != nil {
		return f, masked, err
	}
	if masked {
		for i := range f.payload {
			f.payload[i] ^= key[i%4]
		}
	}
	return f, masked, nil
}

// wsFrameBytes encodes a final frame, masked with key when key is set.
func wsFrameBytes(op byte, payload []byte, key []byte) []byte {
	b := []byte{0x80 | op}
	m := byte(0)
	if key != nil {
		m = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		b = append(b, m|byte(n))
	case n < 1<<16:
		b = append(b, m|126, byte(n>>8), byte(n))
	default:
		b = append(b, m|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if key == nil {
		return append(b, payload...)
	}
	b = append(b, key...)
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	return b
}

// wsCloseUpstream is a websocket upstream that echoes text frames
// (reporting their length) and,
// given a close frame, reports its code (and whether it was masked, as a
// client's must be), answers with a close frame and hangs up.
func wsCloseUpstream(t *testing.T) (*httptest.Server, chan string) {
	got := make(chan string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
			wsAccept(r.Header.Get("Sec-Websocket-Key")))
		_ = rw.Flush()
		for {
			f, masked, err := readWSFrame(rw)
			if err != nil {
				got <- "read: " + err.Error()
				return
			}
			switch f.op {
			case 1:
				got <- fmt.Sprintf("text %d", len(f.payload))
				_, _ = conn.Write(wsFrameBytes(1, f.payload, nil))
			case 8:
				code := 0
				if len(f.payload) >= 2 {
					code = int(binary.BigEndian.Uint16(f.payload))
				}
				got <- fmt.Sprintf("close %d masked %v", code, masked)
				_, _ = conn.Write(wsFrameBytes(8, f.payload[:2], nil))
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

// TestGateway_WebsocketShutdown: at shutdown a websocket gets a close
// frame with 1001 (going away) on both sides, between two frames even
// when one is half sent, and Shutdown returns once both ends closed.
func TestGateway_WebsocketShutdown(t *testing.T) {
	up, got := wsCloseUpstream(t)
	e := newTestEnv(t, addRoute(config.Route{Host: "ws.test", Upstreams: []string{up.URL}}))
	key := []byte{9, 8, 7, 6}
	dial := func() (net.Conn, *bufio.Reader) {
		conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		wsKey := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
		fmt.Fprintf(conn, "GET /chat HTTP/1.1\r\nHost: ws.test:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", e.port, wsKey)
		br := bufio.NewReader(conn)
		res, err := http.ReadResponse(br, nil)
		if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("handshake: %v %v", res, err)
		}
		// The relay works before shutdown.
		if _, err := conn.Write(wsFrameBytes(1, []byte("hello"), key)); err != nil {
			t.Fatal(err)
		}
		if f, _, err := readWSFrame(br); err != nil || string(f.payload) != "hello" {
			t.Fatalf("echo: %q %v", f.payload, err)
		}
		if g := <-got; g != "text 5" {
			t.Fatalf("upstream got %q", g)
		}
		return conn, br
	}
	idle, idleR := dial()
	busy, busyR := dial()
	// busy is half-way through sending a frame when shutdown begins.
	long := wsFrameBytes(1, []byte(strings.Repeat("x", 300)), key)
	if _, err := busy.Write(long[:100]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- e.gw.Shutdown(ctx)
	}()
	for _, c := range []struct {
		name string
		conn net.Conn
		r    *bufio.Reader
	}{{"idle", idle, idleR}, {"busy", busy, busyR}} {
		if c.name == "busy" {
			// The rest of the frame: it reaches the upstream whole,
			// before the close frame (its echo is dropped: the client
			// has its close frame already).
			if _, err := busy.Write(long[100:]); err != nil {
				t.Fatal(err)
			}
			if g := <-got; g != "text 300" {
				t.Fatalf("busy: the frame in progress did not reach the upstream whole: %q", g)
			}
		}
		f, masked, err := readWSFrame(c.r)
		if err != nil || f.op != 8 || masked || len(f.payload) < 2 || binary.BigEndian.Uint16(f.payload) != 1001 {
			t.Fatalf("%s: client got %+v masked %v, err %v; want an unmasked close frame with 1001", c.name, f, masked, err)
		}
		if g := <-got; g != "close 1001 masked true" {
			t.Fatalf("%s: upstream got %q", c.name, g)
		}
		// The upstream has answered and hung up; the gateway still
		// waits for the client's answer before closing the connection
		// (closing first would have that answer reset the connection).
		time.Sleep(100 * time.Millisecond)
		_ = c.conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if n, err := c.r.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("%s: before the client answered the close: read %d, %v; want the connection still open", c.name, n, err)
		}
		_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		// The client answers; the gateway then closes the connection,
		// cleanly: an EOF, not a reset.
		if _, err := c.conn.Write(wsFrameBytes(8, f.payload[:2], key)); err != nil {
			t.Fatalf("%s: the client's close frame: %v", c.name, err)
		}
		if _, err := io.ReadAll(c.r); err != nil {
			t.Fatalf("%s: the gateway did not close the connection cleanly: %v", c.name, err)
		}
		c.conn.Close()
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return after both websockets closed")
	}
	// No new upgrades once shutting down.
	r := e.do("GET", e.url("ws.test", "/chat"), nil, hdr("Upgrade", "websocket", "Connection", "Upgrade",
		"Sec-WebSocket-Key", "x", "Sec-WebSocket-Version", "13"))
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("upgrade during shutdown: %d, want 503", r.status)
	}
}

// TestGateway_WebsocketShutdownDeadline: a websocket whose client never
// answers is closed when the shutdown deadline passes.
func TestGateway_WebsocketShutdownDeadline(t *testing.T) {
	ws := wsEcho(t) // echoes bytes: never answers a close frame itself
	e := newTestEnv(t, func(g *config.Gateway) {
		g.Routes = append(g.Routes, withDefaults(config.Route{Host: "ws.test", Upstreams: []string{ws.URL}}))
		g.Rules = append([]config.Rule{{Hosts: []string{"ws.test"}, Decision: "authenticated"}}, g.Rules...)
	})
	c := e.signIn(alice, "ws.test")
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /chat HTTP/1.1\r\nHost: ws.test:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: eA==\r\nSec-WebSocket-Version: 13\r\nCookie: %s=%s\r\n\r\n", e.port, c.Name, c.Value)
	br := bufio.NewReader(conn)
	if res, err := http.ReadResponse(br, nil); err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", res, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := e.gw.Shutdown(ctx); err == nil {
		t.Fatal("Shutdown: nil, want the deadline's error")
	}
	// The client got the close frame, then the connection was closed.
	f, _, err := readWSFrame(br)
	if err != nil || f.op != 8 {
		t.Fatalf("close frame: %+v %v", f, err)
	}
	if _, err := io.ReadAll(br); err != nil {
		t.Fatalf("connection not closed at the deadline: %v", err)
	}
}

// TestFrameCursor: frame boundaries are found however the stream is cut.
func TestFrameCursor(t *testing.T) {
	var stream []byte
	var ends []int
	for _, f := range [][]byte{
		wsFrameBytes(1, nil, nil),
		wsFrameBytes(1, []byte("hi"), []byte{1, 2, 3, 4}),
		wsFrameBytes(2, make([]byte, 300), nil),
		wsFrameBytes(2, make([]byte, 70000), []byte{5, 6, 7, 8}),
		wsFrameBytes(9, []byte("p"), nil),
	} {
		stream = append(stream, f...)
		ends = append(ends, len(stream))
	}
	for _, step := range []int{1, 2, 3, 7, 100, 4096, len(stream)} {
		var c frameCursor
		boundaries := map[int]bool{}
		for i := 0; i < len(stream); i += step {
			j := min(i+step, len(stream))
			if n := c.untilBoundary(stream[i:j]); !c.atBoundary() && n < j-i {
				boundaries[i+n] = true
			}
			c.feed(stream[i:j])
			if c.atBoundary() {
				boundaries[j] = true
			}
		}
		for _, e := range ends {
			if step == 1 && !boundaries[e] {
				t.Errorf("step %d: no boundary at %d", step, e)
			}
		}
		for b := range boundaries {
			found := false
			for _, e := range ends {
				found = found || e == b
			}
			if !found {
				t.Errorf("step %d: boundary at %d is inside a frame", step, b)
			}
		}
		if !c.atBoundary() {
			t.Errorf("step %d: not at a boundary at the end", step)
		}
		if c.sawClose {
			t.Errorf("step %d: a close frame seen in a stream without one", step)
		}
	}
}

// TestUpgradedConn_LateWakeUp: goAway's wake-up deadline may land after
// Read has already handed the upstream its close frame (the copy towards
// the upstream started reading only after shutdown began). That timeout
// is no error: the connection keeps waiting for the client's answer
// instead of being dropped at once.
func TestUpgradedConn_LateWakeUp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c := &upgradedConn{Conn: server, set: &upgrades{}, websocket: true}
	defer c.Close()
	// Shutdown began before the first Read: it hands out the close frame
	// at once, and goAway's deadline comes after.
	c.goingAway.Store(true)
	p := make([]byte, 64)
	if n, err := c.Read(p); err != nil || n != 8 || p[0] != 0x88 {
		t.Fatalf("first Read: % x, %v; want the close frame", p[:n], err)
	}
	c.linger.Store(time.Now().Add(10 * time.Second).UnixNano())
	c.goAway()
	res := make(chan error, 1)
	go func() {
		_, err := c.Read(p)
		res <- err
	}()
	select {
	case err := <-res:
		t.Fatalf("Read returned %v before the client hung up", err)
	case <-time.After(200 * time.Millisecond):
	}
	// The client reads the gateway's close frame and hangs up.
	_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
	if f, _, err := readWSFrame(client); err != nil || f.op != 8 {
		t.Fatalf("client: %+v %v; want the close frame", f, err)
	}
	client.Close()
	select {
	case err := <-res:
		if !errors.Is(err, io.EOF) {
			t.Fatalf("Read after the client hung up: %v, want EOF", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read did not return when the client hung up")
	}
}

// TestFrameCursor_SawClose: a close frame is noted once its last byte has
// gone by, however the stream is cut, and not before.
func TestFrameCursor_SawClose(t *testing.T) {
	for _, tc := range []struct {
		name  string
		close []byte
	}{
		{"masked with a code", wsFrameBytes(8, []byte{0x03, 0xe9}, []byte{1, 2, 3, 4})},
		{"unmasked, empty", wsFrameBytes(8, nil, nil)},
		{"masked, with a reason", wsFrameBytes(8, append([]byte{0x03, 0xe8}, strings.Repeat("r", 120)...), []byte{5, 6, 7, 8})},
	} {
		stream := append(wsFrameBytes(1, []byte("before"), []byte{1, 1, 1, 1}), tc.close...)
		for _, step := range []int{1, 3, len(stream)} {
			var c frameCursor
			for i := 0; i < len(stream); i += step {
				j := min(i+step, len(stream))
				c.feed(stream[i:j])
				if want := j == len(stream); c.sawClose != want {
					t.Errorf("%s, step %d: sawClose %v after %d of %d bytes", tc.name, step, c.sawClose, j, len(stream))
				}
			}
		}
	}
}

// TestGateway_WebsocketShutdownStuckClient: a client that stopped reading
// (the relay's write to it blocked mid-frame) does not hold Shutdown past
// its deadline.
func TestGateway_WebsocketShutdownStuckClient(t *testing.T) {
	flood := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
			wsAccept(r.Header.Get("Sec-Websocket-Key")))
		_ = rw.Flush()
		frame := wsFrameBytes(2, make([]byte, 60000), nil)
		_ = conn.SetWriteDeadline(time.Now().Add(20 * time.Second))
		for {
			if _, err := conn.Write(frame); err != nil {
				return
			}
		}
	}))
	t.Cleanup(flood.Close)
	e := newTestEnv(t, addRoute(config.Route{Host: "ws.test", Upstreams: []string{flood.URL}}))
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /feed HTTP/1.1\r\nHost: ws.test:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: eA==\r\nSec-WebSocket-Version: 13\r\n\r\n", e.port)
	// The client reads nothing more: the relay fills the socket buffers
	// and blocks writing to it.
	time.Sleep(500 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.gw.Shutdown(ctx) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Shutdown: nil, want the deadline's error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown blocked behind the relay's write to a client that does not read")
	}
}

// TestUpgradedConn_CloseBeforeGoAway: when the relay ends (the upstream
// answered its close frame and hung up) before shutdown's goAway got to
// write the client's close frame, Close sends it, waits for the client's
// answer, and only then closes, cleanly.
func TestUpgradedConn_CloseBeforeGoAway(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c := &upgradedConn{Conn: server, set: &upgrades{}, websocket: true}
	c.linger.Store(time.Now().Add(10 * time.Second).UnixNano())
	c.goingAway.Store(true) // as Shutdown does before goAway runs
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	_ = client.SetDeadline(time.Now().Add(10 * time.Second))
	f, _, err := readWSFrame(client)
	if err != nil || f.op != 8 || len(f.payload) < 2 || binary.BigEndian.Uint16(f.payload) != 1001 {
		t.Fatalf("client got %+v, %v; want a close frame with 1001", f, err)
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) before the client answered", err)
	case <-time.After(100 * time.Millisecond):
	}
	if _, err := client.Write(wsFrameBytes(8, f.payload[:2], []byte{1, 2, 3, 4})); err != nil {
		t.Fatal(err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := io.ReadAll(client); err != nil {
		t.Fatalf("the connection did not end cleanly: %v", err)
	}
}
