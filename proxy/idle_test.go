package proxy

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/config"
)

// The bounds of the body idle tests: the server's own timeouts are 1 s,
// the idle bound 1 s, bodies take about 3 s with pauses of 150 ms, and a
// stall lasts up to 20 s (it must be cut long before).
const (
	idleTestTimeout = time.Second
	idleTestChunks  = 20
	idleTestGap     = 150 * time.Millisecond
	idleTestChunk   = 16 << 10
	idleTestStall   = 20 * time.Second
)

// slowUpstream streams a fixed-length body of idleTestChunks chunks with
// pauses (GET /download), stalls after one chunk (GET /stall, reporting
// on stalled when its request is cancelled), and counts a request body
// (POST /upload, reporting the read's outcome on uploaded).
type slowUpstream struct {
	srv      *httptest.Server
	stalled  chan error
	uploaded chan error
}

func newSlowUpstream(t *testing.T) *slowUpstream {
	u := &slowUpstream{stalled: make(chan error, 4), uploaded: make(chan error, 4)}
	chunk := make([]byte, idleTestChunk)
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		switch r.URL.Path {
		case "/download":
			w.Header().Set("Content-Length", strconv.Itoa(idleTestChunks*idleTestChunk))
			for range idleTestChunks {
				_, _ = w.Write(chunk)
				_ = rc.Flush()
				time.Sleep(idleTestGap)
			}
		case "/stall":
			w.Header().Set("Content-Length", strconv.Itoa(2*idleTestChunk))
			_, _ = w.Write(chunk)
			_ = rc.Flush()
			select {
			case <-r.Context().Done():
				u.stalled <- nil
			case <-time.After(idleTestStall):
				u.stalled <- errors.New("the stalled response was not cut")
				_, _ = w.Write(chunk)
			}
		case "/upload":
			n, err := io.Copy(io.Discard, r.Body)
			if err == nil && n != idleTestChunks*idleTestChunk {
				err = fmt.Errorf("read %d bytes", n)
			}
			u.uploaded <- err
			_, _ = fmt.Fprint(w, n)
		}
	}))
	t.Cleanup(u.srv.Close)
	return u
}

// slowBody is a request body sent in idleTestChunks chunks with pauses;
// with stall set it stops after one chunk until stall is closed (or
// idleTestStall).
type slowBody struct {
	sent  int
	stall chan struct{}
}

func (b *slowBody) Read(p []byte) (int, error) {
	if b.sent == idleTestChunks {
		return 0, io.EOF
	}
	if b.sent > 0 {
		if b.stall != nil {
			select {
			case <-b.stall:
			case <-time.After(idleTestStall):
			}
			return 0, errors.New("stalled")
		}
		time.Sleep(idleTestGap)
	}
	b.sent++
	return copy(p, make([]byte, min(len(p), idleTestChunk))), nil
}

// TestGateway_BodyIdleTimeout: with the server's read and write timeouts
// at 1 s, proxied bodies that keep moving for about 3 s complete (a
// download and an upload), while a stall longer than the 1 s idle bound
// is cut, over HTTP/1.1 and HTTP/2.
func TestGateway_BodyIdleTimeout(t *testing.T) {
	up := newSlowUpstream(t)
	e := newTestEnv(t, func(g *config.Gateway) {
		addRoute(config.Route{Host: "slow.test", Upstreams: []string{up.srv.URL}})(g)
		g.Upstream.BodyIdleTimeout = config.Duration(idleTestTimeout)
	})
	for _, h2 := range []bool{false, true} {
		name := "HTTP/1.1"
		if h2 {
			name = "HTTP/2"
		}
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(e.gw.Dispatch(http.NotFoundHandler()))
			srv.Config.ReadTimeout, srv.Config.WriteTimeout = idleTestTimeout, idleTestTimeout
			srv.EnableHTTP2 = h2
			srv.StartTLS()
			t.Cleanup(srv.Close)
			client := srv.Client()
			send := func(method, path string, body io.Reader) (*http.Response, error) {
				req, err := http.NewRequest(method, srv.URL+path, body)
				if err != nil {
					t.Fatal(err)
				}
				req.Host = "slow.test"
				res, err := client.Do(req)
				if err == nil && res.ProtoMajor != map[bool]int{false: 1, true: 2}[h2] {
					t.Fatalf("served over %s", res.Proto)
				}
				return res, err
			}

			t.Run("long download", func(t *testing.T) {
				res, err := send("GET", "/download", nil)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				n, err := io.Copy(io.Discard, res.Body)
				if err != nil || n != idleTestChunks*idleTestChunk || res.StatusCode != http.StatusOK {
					t.Fatalf("status %d, %d of %d bytes, err %v", res.StatusCode, n, idleTestChunks*idleTestChunk, err)
				}
			})
			t.Run("long upload", func(t *testing.T) {
				res, err := send("POST", "/upload", &slowBody{})
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				b, _ := io.ReadAll(res.Body)
				if err := <-up.uploaded; err != nil || res.StatusCode != http.StatusOK {
					t.Fatalf("status %d %q, upstream read: %v", res.StatusCode, b, err)
				}
			})
			t.Run("stalled upstream is cut", func(t *testing.T) {
				res, err := send("GET", "/stall", nil)
				if err == nil {
					_, err = io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
				if err == nil {
					t.Fatal("the client got the whole stalled body")
				}
				if err := <-up.stalled; err != nil {
					t.Fatal(err)
				}
			})
			t.Run("stalled upload is cut", func(t *testing.T) {
				release := make(chan struct{})
				defer close(release)
				go func() {
					if res, err := send("POST", "/upload", &slowBody{stall: release}); err == nil {
						res.Body.Close()
					}
				}()
				select {
				case err := <-up.uploaded:
					if err == nil {
						t.Fatal("the upstream read the whole stalled upload")
					}
				case <-time.After(idleTestStall / 2):
					t.Fatal("the stalled upload was not cut")
				}
			})
		})
	}
}
