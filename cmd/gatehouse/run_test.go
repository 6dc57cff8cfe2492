package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/tls"
	"encoding/json"

	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/identity"
)

// syncBuffer is a bytes.Buffer safe to read while run writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func envFunc(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

type running struct {
	stdout, stderr *syncBuffer
	cancel         context.CancelFunc
	done           chan error
}

// startServe runs `gatehouse serve args...` in-process until stopped.
func startServe(t *testing.T, env map[string]string, args ...string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() {
		r.done <- run(ctx, append([]string{"serve"}, args...), envFunc(env), strings.NewReader(""), r.stdout, r.stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(60 * time.Second):
			buf := make([]byte, 1<<20)
			t.Errorf("serve did not stop within 60s of its context's end; goroutines:\n%s", buf[:runtime.Stack(buf, true)])
		}
	})
	return r
}

func (r *running) waitFor(t *testing.T, substr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(r.stdout.String(), substr) {
			return
		}
		select {
		case err := <-r.done:
			r.done <- err // for stop and Cleanup
			t.Fatalf("serve exited early: %v\nstdout:\n%s\nstderr:\n%s", err, r.stdout, r.stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("timed out waiting for %q\nstdout:\n%s\nstderr:\n%s", substr, r.stdout, r.stderr)
}

func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for Cleanup
		return err
	case <-time.After(30 * time.Second):
		buf := make([]byte, 1<<20)
		t.Fatalf("serve did not stop within 30s; goroutines:\n%s", buf[:runtime.Stack(buf, true)])
		return nil
	}
}

var passwordRE = regexp.MustCompile(`Password\s+(\S+)`)

// TestServeDemo runs the real `serve --demo` on TLS: log in as the demo
// user with the printed password, reach the demo upstream, restart and log
// in again with the same password (bolt persistence).
func TestServeDemo(t *testing.T) {
	dir := t.TempDir()
	addr := freePort(t)
	env := map[string]string{
		"GATEHOUSE_SERVER_LISTEN":     addr,
		"GATEHOUSE_SERVER_PUBLIC_URL": "https://" + addr,
		"GATEHOUSE_STORE_BOLT_PATH":   filepath.Join(dir, "data", "gatehouse.db"),
	}
	srv := startServe(t, env, "--demo")
	srv.waitFor(t, "Gatehouse is listening")
	m := passwordRE.FindStringSubmatch(srv.stdout.String())
	if m == nil {
		t.Fatalf("no demo password printed:\n%s", srv.stdout)
	}
	password := m[1]

	demoLogin(t, "https://"+addr, password)

	if err := srv.stop(t); err != nil {
		t.Fatalf("graceful stop: %v\n%s", err, srv.stderr)
	}
	if fi, err := os.Stat(filepath.Join(dir, "data", "gatehouse.db")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("data file: %v %v", fi, err)
	}

	again := startServe(t, env, "--demo")
	again.waitFor(t, "Gatehouse is listening")
	if strings.Contains(again.stdout.String(), password) {
		t.Fatal("the demo password was printed a second time")
	}
	demoLogin(t, "https://"+addr, password)
}

func demoLogin(t *testing.T, base, password string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{
		Jar:           jar,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
	get := func(path string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Accept", "text/html")
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	res, _ := get("/")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
		t.Fatalf("GET /: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	if res.TLS == nil {
		t.Fatal("demo not served over TLS")
	}
	_, page := get("/login")
	tok := csrfRE.FindStringSubmatch(page)
	if tok == nil {
		t.Fatalf("no csrf token on the login page:\n%s", page)
	}
	res, err := c.PostForm(base+"/login", url.Values{"csrf_token": {tok[1]}, "username": {"demo"}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/demo/" {
		t.Fatalf("demo login: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	res, body := get("/demo/")
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "Hello, demo") || !strings.Contains(body, "X-Forwarded-Email") {
		t.Fatalf("demo upstream: %d\n%s", res.StatusCode, body)
	}
}

func TestServe_BoltLockedByAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "gatehouse.db")
	first := startServe(t, map[string]string{
		"GATEHOUSE_SERVER_LISTEN": freePort(t), "GATEHOUSE_STORE_BOLT_PATH": db,
	}, "--demo")
	first.waitFor(t, "Gatehouse is listening")

	start := time.Now()
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"serve", "--demo"}, envFunc(map[string]string{
		"GATEHOUSE_SERVER_LISTEN": freePort(t), "GATEHOUSE_STORE_BOLT_PATH": db,
		"GATEHOUSE_STORE_BOLT_LOCK_TIMEOUT": "300ms",
	}), strings.NewReader(""), &out, &errOut)
	if err == nil {
		t.Fatal("second gatehouse on the same bolt file started")
	}
	if !strings.Contains(err.Error(), db) || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("error does not name the locked file: %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("lock error took %v", time.Since(start))
	}
}

func TestServe_InvalidConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	os.WriteFile(path, []byte("server:\n  listen: \"\"\n  tls:\n    mode: sometimes\nlog:\n  level: loud\nbogus: 1\n"), 0o600)
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"serve", "--config", path}, envFunc(nil), strings.NewReader(""), &out, &errOut)
	if err == nil {
		t.Fatal("serve accepted an invalid config")
	}
	if !strings.Contains(errOut.String(), "bogus") {
		t.Fatalf("unknown key not reported:\n%s", errOut.String())
	}
}

func TestValidateCmd(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"validate", "--config", "../../examples/gatehouse.yaml"}, envFunc(nil), strings.NewReader(""), &out, &errOut); err != nil {
		t.Fatalf("example config rejected: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "configuration is valid") {
		t.Fatalf("output: %s", out.String())
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	os.WriteFile(path, []byte(`server:
  public_url: "ftp://x"
  tls:
    mode: sometimes
log:
  level: loud
session:
  secrets: ["short"]
users:
  - id: a
    username: alice
    password_hash: "$argon2id$v=19$m=99999999999,t=1,p=1$AAAA$AAAA"
  - id: a
    username: alice
`), 0o600)
	out.Reset()
	errOut.Reset()
	err := run(context.Background(), []string{"validate", "--config", path}, envFunc(nil), strings.NewReader(""), &out, &errOut)
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, path := range []string{"server.public_url", "server.tls.mode", "log.level", "session.secrets[0]", "users[1].id", "users[1].username", "users[0].password_hash"} {
		if !strings.Contains(errOut.String(), path) {
			t.Errorf("error list lacks %s:\n%s", path, errOut.String())
		}
	}

	out.Reset()
	errOut.Reset()
	if err := run(context.Background(), []string{"validate", "--config", filepath.Join(dir, "missing.yaml")}, envFunc(nil), strings.NewReader(""), &out, &errOut); err == nil {
		t.Fatal("missing file accepted")
	}
}

func TestHashPasswordCmd(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"hash-password"}, envFunc(nil), strings.NewReader("s3cret-passphrase\n"), &out, &errOut); err != nil {
		t.Fatal(err)
	}
	hash := strings.TrimSpace(out.String())
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=47104,t=1,p=1$") {
		t.Fatalf("hash %q", hash)
	}
	ok, err := identity.NewHasher(identity.DefaultParams(), 1).Verify(context.Background(), hash, "s3cret-passphrase")
	if err != nil || !ok {
		t.Fatalf("printed hash does not verify: %v", err)
	}
	if strings.Contains(out.String()+errOut.String(), "s3cret-passphrase") {
		t.Fatal("password echoed")
	}
	if err := run(context.Background(), []string{"hash-password"}, envFunc(nil), strings.NewReader("\n"), &out, &errOut); err == nil {
		t.Fatal("empty password accepted")
	}
}

func TestVersionAndUnknownCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"version"}, envFunc(nil), nil, &out, &errOut); err != nil || !strings.HasPrefix(out.String(), "gatehouse ") {
		t.Fatalf("version: %q %v", out.String(), err)
	}
	if err := run(context.Background(), []string{"frobnicate"}, envFunc(nil), nil, &out, &errOut); err == nil {
		t.Fatal("unknown command accepted")
	}
}

func TestHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help", "-help", "help"} {
		var out, errOut bytes.Buffer
		if err := run(context.Background(), []string{arg}, envFunc(nil), strings.NewReader(""), &out, &errOut); err != nil {
			t.Errorf("%s: %v", arg, err)
		}
		for _, cmd := range []string{"serve", "validate", "hash-password", "policy explain", "version", "healthcheck"} {
			if !strings.Contains(out.String(), "\n  "+cmd) {
				t.Errorf("%s: the command list lacks %s:\n%s", arg, cmd, out.String())
			}
		}
	}
}

// TestValidate_EnvironmentOnly: without a file, validate checks the
// defaults and the environment, as serve would run them.
func TestValidate_EnvironmentOnly(t *testing.T) {
	t.Chdir(t.TempDir()) // no ./gatehouse.yaml
	var out, errOut bytes.Buffer
	env := map[string]string{"GATEHOUSE_SERVER_PUBLIC_URL": "https://sso.example.com", "GATEHOUSE_STORE_BACKEND": "memory"}
	if err := run(context.Background(), []string{"validate"}, envFunc(env), strings.NewReader(""), &out, &errOut); err != nil {
		t.Fatalf("valid environment refused: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "defaults and environment: configuration is valid") {
		t.Fatalf("output: %q", out.String())
	}
	env["GATEHOUSE_LOG_LEVEL"] = "loud"
	out.Reset()
	errOut.Reset()
	if err := run(context.Background(), []string{"validate"}, envFunc(env), strings.NewReader(""), &out, &errOut); err == nil {
		t.Fatal("invalid environment accepted")
	}
	if !strings.Contains(errOut.String(), "log.level") {
		t.Fatalf("report does not name log.level:\n%s", errOut.String())
	}
}

// TestValidate_ReportsEveryProblemAtOnce: an unknown key, a value of the
// wrong type and a bad environment variable do not hide the other
// problems.
func TestValidate_ReportsEveryProblemAtOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.yaml")
	os.WriteFile(path, []byte("server:\n  lisen: \":1\"\n  max_body_bytes: lots\nlog:\n  level: loud\n"), 0o600)
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"validate", "--config", path}, envFunc(map[string]string{"GATEHOUSE_DEMO_ENABLED": "maybe"}), strings.NewReader(""), &out, &errOut)
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{"server.lisen: unknown key", "server.max_body_bytes", "log.level: must be one of", "GATEHOUSE_DEMO_ENABLED"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, errOut.String())
		}
	}
}

// TestServe_JSONLogsEveryLine: with log.format json every line Gatehouse
// writes, the banner and the demo's included, is a JSON object, and the
// start is logged with the configuration's counts.
func TestServe_JSONLogsEveryLine(t *testing.T) {
	addr := freePort(t)
	srv := startServe(t, map[string]string{
		"GATEHOUSE_SERVER_LISTEN": addr, "GATEHOUSE_SERVER_PUBLIC_URL": "https://" + addr,
		"GATEHOUSE_STORE_BACKEND": "memory", "GATEHOUSE_LOG_FORMAT": "json",
	}, "--demo")
	srv.waitFor(t, "Gatehouse is listening")
	if err := srv.stop(t); err != nil {
		t.Fatal(err)
	}
	var loaded map[string]any
	for name, text := range map[string]string{"stdout": srv.stdout.String(), "stderr": srv.stderr.String()} {
		for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Errorf("%s line is not JSON: %q", name, line)
			}
			if rec["msg"] == "configuration loaded" {
				loaded = rec
			}
		}
	}
	if !strings.Contains(srv.stdout.String(), `"password":"`) {
		t.Errorf("the demo's password is not in the JSON banner:\n%s", srv.stdout)
	}
	for _, k := range []string{"users", "clients", "routes", "rules"} {
		if _, ok := loaded[k].(float64); !ok {
			t.Errorf("start line %v lacks the count of %s", loaded, k)
		}
	}
}

func TestDemoListenAddr(t *testing.T) {
	for in, want := range map[string]string{
		":8443":         "127.0.0.1:8443", // the default: every interface
		"0.0.0.0:8443":  "0.0.0.0:8443",   // the operator's choice
		"127.0.0.1:0":   "127.0.0.1:0",
		"[::]:9443":     "[::]:9443",
		"10.0.0.5:8443": "10.0.0.5:8443",
	} {
		if got := demoListenAddr(in); got != want {
			t.Errorf("demoListenAddr(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestServe_WebsocketClosedAtShutdown: stopping `gatehouse serve` sends an
// open websocket a close frame with 1001 (going away), to the client and
// to the upstream, instead of dropping the connection.
func TestServe_WebsocketClosedAtShutdown(t *testing.T) {
	upCodes := make(chan string, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		sum := sha1.Sum([]byte(r.Header.Get("Sec-Websocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
			base64.StdEncoding.EncodeToString(sum[:]))
		_ = rw.Flush()
		// A masked close frame with a 2-byte code: 0x88 0x82, key, code.
		var f [8]byte
		if _, err := io.ReadFull(rw, f[:]); err != nil {
			upCodes <- "read: " + err.Error()
			return
		}
		code := binary.BigEndian.Uint16([]byte{f[6] ^ f[2], f[7] ^ f[3]})
		upCodes <- fmt.Sprintf("%x %x %d", f[0], f[1], code)
	}))
	t.Cleanup(up.Close)

	dir := t.TempDir()
	addr := freePort(t)
	cfg := fmt.Sprintf(`server:
  listen: %q
  public_url: "https://localhost:%s"
  shutdown_timeout: 5s
store:
  bolt:
    path: %q
demo:
  enabled: true
gateway:
  routes:
    - host: ws.localhost
      upstreams: [%q]
  rules:
    - { hosts: [ws.localhost], decision: public }
`, addr, addr[strings.LastIndexByte(addr, ':')+1:], filepath.Join(dir, "gatehouse.db"), up.URL)
	path := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServe(t, nil, "--config", path)
	srv.waitFor(t, "Gatehouse is listening")

	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, ServerName: "ws.localhost", NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /chat HTTP/1.1\r\nHost: ws.localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v\n%s", res, err, srv.stderr)
	}

	stopped := make(chan error, 1)
	go func() {
		srv.cancel()
		err := <-srv.done
		stopped <- err
		srv.done <- err // for Cleanup
	}()
	var f [4]byte
	if _, err := io.ReadFull(br, f[:]); err != nil || f[0] != 0x88 || f[1] != 2 || binary.BigEndian.Uint16(f[2:]) != 1001 {
		t.Fatalf("client got % x, %v; want a close frame with 1001", f, err)
	}
	select {
	case got := <-upCodes:
		if got != "88 82 1001" {
			t.Fatalf("upstream got %q, want a masked close frame with 1001", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream got no close frame")
	}
	// The client answers the close; the server then finishes stopping.
	_, _ = conn.Write([]byte{0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe9})
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
}
