package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/config"
)

// fakeTokenEndpoint is an IdP token endpoint for refresh grants: it
// rotates the refresh token, slowly, and counts the calls.
type fakeTokenEndpoint struct {
	calls  atomic.Int64
	refuse atomic.Bool
	mu     sync.Mutex
	valid  string
}

func (f *fakeTokenEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := f.calls.Add(1)
	_ = r.ParseForm()
	user, pass, _ := r.BasicAuth()
	w.Header().Set("Content-Type", "application/json")
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path != "/token" || r.PostForm.Get("grant_type") != "refresh_token" || user != ClientID || pass != "secret" ||
		f.refuse.Load() || r.PostForm.Get("refresh_token") != f.valid {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"invalid_grant"}`))
		return
	}
	time.Sleep(20 * time.Millisecond) // parallel requests pile up behind the first
	f.valid = fmt.Sprintf("rt-%d", n)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": fmt.Sprintf("at-%d", n), "token_type": "Bearer", "expires_in": 3600, "refresh_token": f.valid,
	})
}

// TestGateway_RefreshSingleFlight: parallel requests of one session
// whose access token expired share one refresh, so a rotating refresh
// token never signs them out; a refused refresh ends the session.
func TestGateway_RefreshSingleFlight(t *testing.T) {
	idp := &fakeTokenEndpoint{valid: "rt-0"}
	e := newTestEnv(t, func(g *config.Gateway) { g.Routes[0].Headers.AccessToken = true })
	e.gw.idp.Transport = inProcess{h: idp} // the client the gateway's relying party uses
	now := e.clock.now()
	id, err := e.gw.createSession(context.Background(), appSession{UserID: alice.ID, SID: "s1", Host: "app.test",
		AuthTime: now, Created: now, Expires: now.Add(time.Hour),
		AccessToken: "at-0", AccessExpiry: now.Add(-time.Minute), RefreshToken: "rt-0"})
	if err != nil {
		t.Fatal(err)
	}
	rr := &cookieRecorder{h: http.Header{}}
	_ = e.gw.setAppCookie(rr, id)
	c, _ := http.ParseSetCookie(rr.h.Get("Set-Cookie"))

	var wg sync.WaitGroup
	statuses := make(chan int, 20)
	for range 20 {
		wg.Go(func() {
			statuses <- e.do("GET", e.url("app.test", "/docs"), nil, nil, c).status
		})
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != http.StatusOK {
			t.Fatalf("a parallel request got %d", s)
		}
	}
	if n := idp.calls.Load(); n != 1 {
		t.Fatalf("%d refreshes for one session, want 1", n)
	}
	if got := e.up.seen().Header.Get(HeaderAccessToken); got != "at-1" {
		t.Fatalf("upstream access token %q", got)
	}
	// The new token is kept: no refresh for an hour.
	e.do("GET", e.url("app.test", "/docs"), nil, nil, c)
	if n := idp.calls.Load(); n != 1 {
		t.Fatalf("refreshed again: %d", n)
	}
	// Expired again, and the IdP refuses: the session is over.
	e.clock.advance(2 * time.Hour)
	rec, _ := e.gw.loadSession(context.Background(), id)
	rec.Expires = e.clock.now().Add(time.Hour)
	_ = e.gw.saveSession(context.Background(), id, rec)
	idp.refuse.Store(true)
	if r := e.do("GET", e.url("app.test", "/docs"), nil, browser, c); r.status != http.StatusFound {
		t.Fatalf("refused refresh: %d", r.status)
	}
	if _, err := e.gw.loadSession(context.Background(), id); err != errNoSession {
		t.Fatalf("session after a refused refresh: %v", err)
	}
}

type cookieRecorder struct{ h http.Header }

func (c *cookieRecorder) Header() http.Header         { return c.h }
func (c *cookieRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (c *cookieRecorder) WriteHeader(int)             {}
