package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Generous bounds: CI machines are small and shared.
const (
	startTimeout   = 30 * time.Second
	stopTimeout    = 10 * time.Second
	requestTimeout = 20 * time.Second
)

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// proc is a process a test started: its output goes to a log file, which
// is printed when the test fails; it is stopped when the test ends.
type proc struct {
	name string
	cmd  *exec.Cmd
	logs []string // files worth printing on failure
	done chan struct{}
	err  error // set before done is closed
}

// startProc starts bin in dir with env added to this process's
// environment (minus GATEHOUSE_* variables, so a developer's settings do
// not leak in).
func startProc(t *testing.T, name, dir string, env []string, bin string, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(dir, name+".out")
	out, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("%s: create log: %v", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = out, out
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEHOUSE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		out.Close()
		t.Fatalf("%s: start %s: %v", name, bin, err)
	}
	p := &proc{name: name, cmd: cmd, logs: []string{logPath}, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		out.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			p.dump(t)
		}
	})
	return p
}

// stop ends the process: SIGTERM, then SIGKILL after stopTimeout.
func (p *proc) stop(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		t.Logf("%s did not stop within %s of SIGTERM: killing it", p.name, stopTimeout)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// dump prints the tail of the process's logs.
func (p *proc) dump(t *testing.T) {
	for _, f := range p.logs {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Logf("--- %s: %v", f, err)
			continue
		}
		if len(b) > 16<<10 {
			b = b[len(b)-16<<10:]
		}
		t.Logf("--- %s (%s):\n%s", p.name, filepath.Base(f), b)
	}
}

// waitListening waits until addr accepts connections, failing the test
// (with the process's logs) when the process exits first or time runs out.
func (p *proc) waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-p.done:
			p.dump(t)
			t.Fatalf("%s exited before listening on %s: %v", p.name, addr, p.err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.dump(t)
			t.Fatalf("%s is not listening on %s after %s", p.name, addr, startTimeout)
		}
	}
}

// startGatehouse runs the gatehouse binary with examples/forward-auth.yaml,
// listening on a free loopback port, with an in-memory store and the
// given public URL (the proxy's address for Gatehouse's own site).
func startGatehouse(t *testing.T, dir, publicURL string) (addr string) {
	t.Helper()
	addr = freeAddr(t)
	p := startProc(t, "gatehouse", dir, []string{
		"GATEHOUSE_SERVER_PUBLIC_URL=" + publicURL,
		"GATEHOUSE_SERVER_LISTEN=" + addr,
		"GATEHOUSE_STORE_BACKEND=memory",
		"GATEHOUSE_LOG_LEVEL=debug",
	}, build.gatehouse, "serve", "--config", filepath.Join(build.root, "examples", "forward-auth.yaml"))
	p.waitListening(t, addr)
	return addr
}

// connCounter is a TCP relay that counts the connections it accepts: put
// in front of Gatehouse, it shows whether a proxy keeps its connections
// alive.
type connCounter struct {
	ln       net.Listener
	target   string
	accepted atomic.Int64
	mu       sync.Mutex
	conns    []net.Conn
	wg       sync.WaitGroup
}

func newConnCounter(t *testing.T, target string) *connCounter {
	t.Helper()
	return newConnCounterAt(t, "127.0.0.1:0", target)
}

// newConnCounterAt is newConnCounter listening on addr.
func newConnCounterAt(t *testing.T, addr, target string) *connCounter {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("relay: %v", err)
	}
	c := &connCounter{ln: ln, target: target}
	c.wg.Add(1)
	go c.serve()
	t.Cleanup(c.close)
	return c
}

func (c *connCounter) addr() string { return c.ln.Addr().String() }

func (c *connCounter) serve() {
	defer c.wg.Done()
	for {
		in, err := c.ln.Accept()
		if err != nil {
			return
		}
		c.accepted.Add(1)
		out, err := net.DialTimeout("tcp", c.target, 5*time.Second)
		if err != nil {
			in.Close()
			continue
		}
		c.mu.Lock()
		c.conns = append(c.conns, in, out)
		c.mu.Unlock()
		c.wg.Add(2)
		go c.pipe(out, in)
		go c.pipe(in, out)
	}
}

func (c *connCounter) pipe(dst, src net.Conn) {
	defer c.wg.Done()
	_, _ = io.Copy(dst, src)
	// Pass the half-close on, so each side sees the other end.
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

func (c *connCounter) close() {
	c.ln.Close()
	c.mu.Lock()
	for _, conn := range c.conns {
		conn.Close()
	}
	c.mu.Unlock()
	c.wg.Wait()
}

// upstream is the app behind the proxy: it answers every request with
// what it received, as JSON, and counts requests.
type upstream struct {
	srv  *httptest.Server
	hits atomic.Int64
}

// seen is what the upstream received, as it reports it.
type seen struct {
	Method string              `json:"method"`
	Host   string              `json:"host"`
	URI    string              `json:"uri"`
	Header map[string][]string `json:"header"`
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(seen{Method: r.Method, Host: r.Host, URI: r.RequestURI, Header: r.Header})
	}))
	t.Cleanup(u.srv.Close)
	return u
}

// newUpstreamAt is newUpstream listening on addr.
func newUpstreamAt(t *testing.T, addr string) *upstream {
	t.Helper()
	u := newUpstream(t)
	u.srv.Close()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("upstream on %s: %v", addr, err)
	}
	u.srv = httptest.NewUnstartedServer(u.srv.Config.Handler)
	u.srv.Listener.Close()
	u.srv.Listener = l
	u.srv.Start()
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) addr() string { return u.srv.Listener.Addr().String() }

// response is an answer read whole.
type response struct {
	status int
	header http.Header
	body   string
}

func (r response) seen(t *testing.T) seen {
	t.Helper()
	var s seen
	if err := json.Unmarshal([]byte(r.body), &s); err != nil {
		t.Fatalf("the upstream's answer is not what it sends (%d): %v: %.300s", r.status, err, r.body)
	}
	return s
}

// browser is an HTTP client with a cookie jar that sends every request,
// whatever its host name, to the proxy, and does not follow redirects.
type browser struct {
	t      *testing.T
	client *http.Client
}

func newBrowser(t *testing.T, proxyAddr string) *browser {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, proxyAddr)
		},
		MaxIdleConnsPerHost: 4,
	}
	t.Cleanup(tr.CloseIdleConnections)
	jar, _ := cookiejar.New(nil) // never fails without options
	return &browser{t: t, client: &http.Client{
		Transport: tr, Jar: jar, Timeout: requestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// do sends a request. Header names are sent exactly as given (lower
// case, underscores), as a hostile client would.
func (b *browser) do(method, target string, form string, header map[string]string) response {
	b.t.Helper()
	var body io.Reader
	if form != "" {
		body = strings.NewReader(form)
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, target, err)
	}
	if form != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header[k] = []string{v}
	}
	res, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, target, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		b.t.Fatalf("%s %s: read the body: %v", method, target, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: string(bytes.TrimSpace(data))}
}

// get is a GET as a browser sends it (Accept: text/html), plus header.
func (b *browser) get(target string, header map[string]string) response {
	b.t.Helper()
	h := map[string]string{"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
	for k, v := range header {
		h[k] = v
	}
	return b.do(http.MethodGet, target, "", h)
}
