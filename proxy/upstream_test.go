package proxy

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/config"
)

// route adds a route for host to the environment's configuration.
func addRoute(routes ...config.Route) func(*config.Gateway) {
	return func(g *config.Gateway) {
		for _, r := range routes {
			d := withDefaults(r)
			d.PreserveHost, d.MaxBodyBytes, d.UpstreamCAFile, d.Timeout = r.PreserveHost, r.MaxBodyBytes, r.UpstreamCAFile, r.Timeout
			g.Routes = append(g.Routes, d)
			g.Rules = append([]config.Rule{{Hosts: []string{r.Host}, Decision: "public"}}, g.Rules...)
		}
	}
}

// wsAccept computes Sec-WebSocket-Accept (RFC 6455 §4.2.2).
func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// wsEcho is a websocket upstream: it completes the handshake by hand
// (Hijack) and then echoes every byte, frames included.
func wsEcho(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || r.Header.Get("Sec-Websocket-Key") == "" {
			http.Error(w, "not a websocket handshake", http.StatusBadRequest)
			return
		}
		if r.Header.Get(HeaderForwardedUser) != "alice" {
			http.Error(w, "no identity", http.StatusForbidden)
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
			wsAccept(r.Header.Get("Sec-Websocket-Key")))
		_ = rw.Flush()
		_, _ = io.Copy(conn, rw)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestGateway_Websocket(t *testing.T) {
	ws := wsEcho(t)
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
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	fmt.Fprintf(conn, "GET /chat HTTP/1.1\r\nHost: ws.test:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nX-Forwarded-User: mallory\r\nCookie: %s=%s\r\n\r\n",
		e.port, key, c.Name, c.Value)
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols || res.Header.Get("Sec-Websocket-Accept") != wsAccept(key) {
		t.Fatalf("handshake: %d %v", res.StatusCode, res.Header)
	}
	// A masked text frame "hello" (client frames are masked); the echo
	// returns the bytes as they are.
	frame := []byte{0x81, 0x85, 1, 2, 3, 4}
	for i, b := range []byte("hello") {
		frame = append(frame, b^[]byte{1, 2, 3, 4}[i%4])
	}
	for range 3 {
		if _, err := conn.Write(frame); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(frame))
		if _, err := io.ReadFull(br, got); err != nil || string(got) != string(frame) {
			t.Fatalf("echo: %q %v", got, err)
		}
	}
	// Anonymous handshakes never reach the upstream.
	r := e.do("GET", e.url("ws.test", "/chat"), nil, hdr("Upgrade", "websocket", "Connection", "Upgrade",
		"Sec-WebSocket-Key", key, "Sec-WebSocket-Version", "13"))
	if r.status != http.StatusUnauthorized {
		t.Fatalf("anonymous handshake: %d", r.status)
	}
}

// TestGateway_StreamingFlush: server-sent events reach the client while
// the upstream is still writing.
func TestGateway_StreamingFlush(t *testing.T) {
	release := make(chan struct{})
	sse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: first\n\n")
		http.NewResponseController(w).Flush()
		<-release
		fmt.Fprint(w, "data: second\n\n")
	}))
	t.Cleanup(sse.Close)
	e := newTestEnv(t, addRoute(config.Route{Host: "sse.test", Upstreams: []string{sse.URL}}))
	req, _ := http.NewRequest("GET", e.url("sse.test", "/events"), nil)
	req.Header.Set("Accept", "text/event-stream")
	res, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(res.Body).ReadString('\n')
		got <- line
	}()
	select {
	case line := <-got:
		if line != "data: first\n" {
			t.Fatalf("first event %q", line)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first event was not flushed before the upstream finished")
	}
	close(release)
	rest, _ := io.ReadAll(res.Body)
	if !strings.Contains(string(rest), "data: second") {
		t.Fatalf("rest %q", rest)
	}
}

// TestGateway_RoundRobinAndPassiveHealth: requests alternate between
// upstreams; one that cannot be reached is skipped for fail_timeout (and
// the request that found it dead is retried on another, see
// TestGateway_RetryOnAnotherUpstream).
func TestGateway_RoundRobinAndPassiveHealth(t *testing.T) {
	a, b := newEcho(t), newEcho(t)
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadURL := "http://" + dead.Addr().String()
	dead.Close()
	e := newTestEnv(t, addRoute(config.Route{Host: "rr.test", Upstreams: []string{a.srv.URL, deadURL, b.srv.URL}}))
	deadUp := e.gw.table.match("rr.test", "/").pool.ups[1]
	for range 13 {
		if r := e.do("GET", e.url("rr.test", "/"), nil, nil); r.status != http.StatusOK {
			t.Fatalf("%d, want 200 (a dead upstream is retried on another)", r.status)
		}
	}
	if deadUp.downUntil.Load() <= e.clock.now().UnixNano() {
		t.Fatal("the dead upstream is not out of rotation")
	}
	if a.hits.Load() < 5 || b.hits.Load() < 5 || a.hits.Load()+b.hits.Load() != 13 {
		t.Fatalf("uneven: %d and %d", a.hits.Load(), b.hits.Load())
	}
	// After fail_timeout it is tried again (and found dead again).
	e.clock.advance(11 * time.Second)
	if deadUp.downUntil.Load() > e.clock.now().UnixNano() {
		t.Fatal("still out of rotation after fail_timeout")
	}
	for range 3 {
		if r := e.do("GET", e.url("rr.test", "/"), nil, nil); r.status != http.StatusOK {
			t.Fatalf("after fail_timeout: %d", r.status)
		}
	}
	if deadUp.downUntil.Load() <= e.clock.now().UnixNano() {
		t.Fatal("the dead upstream was not tried again after fail_timeout")
	}
	// A browser gets a page without internals.
	dead2, _ := net.Listen("tcp", "127.0.0.1:0")
	url2 := "http://" + dead2.Addr().String()
	dead2.Close()
	e2 := newTestEnv(t, addRoute(config.Route{Host: "down.test", Upstreams: []string{url2}}))
	r := e2.do("GET", e2.url("down.test", "/"), nil, browser)
	if r.status != http.StatusBadGateway || strings.Contains(r.body, "127.0.0.1") || strings.Contains(r.body, "refused") {
		t.Fatalf("502 page: %d %.300s", r.status, r.body)
	}
}

func TestGateway_PreserveHost(t *testing.T) {
	up := newEcho(t)
	e := newTestEnv(t, func(g *config.Gateway) {
		addRoute(config.Route{Host: "keep.test", Upstreams: []string{up.srv.URL}, PreserveHost: true})(g)
		addRoute(config.Route{Host: "swap.test", Upstreams: []string{up.srv.URL}})(g)
	})
	var s seen
	_ = json.Unmarshal([]byte(e.do("GET", e.url("keep.test", "/"), nil, nil).body), &s)
	if s.Host != "keep.test:"+e.port {
		t.Errorf("preserve_host: upstream Host %q", s.Host)
	}
	_ = json.Unmarshal([]byte(e.do("GET", e.url("swap.test", "/"), nil, nil).body), &s)
	if s.Host != strings.TrimPrefix(up.srv.URL, "http://") {
		t.Errorf("default: upstream Host %q", s.Host)
	}
}

func TestGateway_UpstreamTLSWithCustomCA(t *testing.T) {
	up := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "secure upstream")
	}))
	t.Cleanup(up.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: up.Certificate().Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	e := newTestEnv(t, func(g *config.Gateway) {
		addRoute(config.Route{Host: "tls.test", Upstreams: []string{up.URL}, UpstreamCAFile: caFile})(g)
		addRoute(config.Route{Host: "untrusted.test", Upstreams: []string{up.URL}})(g)
	})
	if r := e.do("GET", e.url("tls.test", "/"), nil, nil); r.status != http.StatusOK || r.body != "secure upstream" {
		t.Fatalf("with the CA: %d %q", r.status, r.body)
	}
	if r := e.do("GET", e.url("untrusted.test", "/"), nil, nil); r.status != http.StatusBadGateway {
		t.Fatalf("without the CA: %d", r.status)
	}
}

func TestGateway_BodyCap(t *testing.T) {
	up := newEcho(t)
	e := newTestEnv(t, addRoute(config.Route{Host: "small.test", Upstreams: []string{up.srv.URL}, MaxBodyBytes: 10}))
	if r := e.do("POST", e.url("small.test", "/"), strings.NewReader("0123456789"), nil); r.status != http.StatusOK {
		t.Fatalf("at the cap: %d", r.status)
	}
	hits := up.hits.Load()
	if r := e.do("POST", e.url("small.test", "/"), strings.NewReader("0123456789x"), nil); r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("over the cap: %d", r.status)
	}
	if up.hits.Load() != hits {
		t.Fatal("an oversized body with Content-Length reached the upstream")
	}
	// Without Content-Length (chunked) the cap applies while streaming.
	body := io.MultiReader(strings.NewReader(strings.Repeat("x", 64)))
	if r := e.do("POST", e.url("small.test", "/"), body, nil); r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked over the cap: %d", r.status)
	}
}

func TestGateway_UpstreamTimeout(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(slow.Close)
	e := newTestEnv(t, addRoute(config.Route{Host: "slow.test", Upstreams: []string{slow.URL}, Timeout: config.Duration(100 * time.Millisecond)}))
	if r := e.do("GET", e.url("slow.test", "/"), nil, nil); r.status != http.StatusGatewayTimeout {
		t.Fatalf("slow upstream: %d", r.status)
	}
}

// TestGateway_RetryOnAnotherUpstream: a request whose upstream cannot be
// reached goes to the next healthy one instead of failing; the dead one is
// taken out of rotation. A request with a body is not retried, nor is one
// whose upstreams differ in base path.
func TestGateway_RetryOnAnotherUpstream(t *testing.T) {
	a := newEcho(t)
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadURL := "http://" + dead.Addr().String()
	dead.Close()
	// Round-robin starts at the second upstream: the dead one.
	e := newTestEnv(t, addRoute(
		config.Route{Host: "retry.test", Upstreams: []string{a.srv.URL, deadURL}},
		config.Route{Host: "body.test", Upstreams: []string{a.srv.URL, deadURL}},
		config.Route{Host: "paths.test", Upstreams: []string{a.srv.URL + "/v1", deadURL + "/v2"}},
	))
	for i := range 4 {
		if r := e.do("GET", e.url("retry.test", "/x"), nil, nil); r.status != http.StatusOK {
			t.Fatalf("request %d: %d, want 200 from the live upstream", i, r.status)
		}
	}
	if n := a.hits.Load(); n != 4 {
		t.Fatalf("live upstream saw %d requests, want 4", n)
	}
	if r := e.do("POST", e.url("body.test", "/x"), strings.NewReader("payload"), nil); r.status != http.StatusBadGateway {
		t.Fatalf("POST with a body to a dead upstream: %d, want 502 (not retried)", r.status)
	}
	if r := e.do("GET", e.url("paths.test", "/x"), nil, nil); r.status != http.StatusBadGateway {
		t.Fatalf("upstreams with different base paths: %d, want 502 (not retried)", r.status)
	}
	// All upstreams dead: 502, and both are down.
	d1, _ := net.Listen("tcp", "127.0.0.1:0")
	d2, _ := net.Listen("tcp", "127.0.0.1:0")
	u1, u2 := "http://"+d1.Addr().String(), "http://"+d2.Addr().String()
	d1.Close()
	d2.Close()
	e2 := newTestEnv(t, addRoute(config.Route{Host: "dead.test", Upstreams: []string{u1, u2}}))
	if r := e2.do("GET", e2.url("dead.test", "/"), nil, nil); r.status != http.StatusBadGateway {
		t.Fatalf("all dead: %d", r.status)
	}
	rt := e2.gw.table.match("dead.test", "/")
	now := e2.clock.now().UnixNano()
	for _, u := range rt.pool.ups {
		if u.downUntil.Load() <= now {
			t.Errorf("%s not taken out of rotation", u.url.Host)
		}
	}
}
