package idp

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/idp/keys"
	"github.com/gatehouse-sso/gatehouse/server"
)

// lockedBuffer is a log sink for one test's concurrent handlers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestToken_SigningFailureLoggedWithRequestID: when a token cannot be
// signed, the error line carries the request's id like every other line
// about the request.
func TestToken_SigningFailureLoggedWithRequestID(t *testing.T) {
	var (
		logs lockedBuffer
		skew atomic.Int64
	)
	log := slog.New(server.LogHandler(slog.NewJSONHandler(&logs, nil)))
	h := newHarness(t, func(o *Options) {
		o.Log = log
		// The keys' clock jumps past every key's life below, so that
		// nothing can be signed.
		km, err := keys.New(context.Background(), o.Store, keys.Options{Now: func() time.Time {
			return time.Now().Add(time.Duration(skew.Load()))
		}})
		if err != nil {
			t.Fatal(err)
		}
		o.Keys = km
	})
	h.srv.Config.Handler = server.Middleware(h.srv.Config.Handler, log, nil)
	code := h.authorize(h.signIn("u1"), "openid")
	skew.Store(int64(400 * 24 * time.Hour))
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {hCallback}, "code_verifier": {hVerifier}}
	req, _ := http.NewRequest("POST", h.srv.URL+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("app", hClientSecret)
	res, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusInternalServerError {
		t.Fatalf("token: %d, want 500 (the token cannot be signed)", res.StatusCode)
	}
	id := res.Header.Get("X-Request-Id")
	if id == "" {
		t.Fatal("no X-Request-Id on the response")
	}
	found := false
	for _, line := range strings.Split(logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || !strings.HasPrefix(rec["msg"].(string), "token: sign") {
			continue
		}
		found = true
		if rec["request_id"] != id {
			t.Errorf("log line %q: request_id = %v, want %q", rec["msg"], rec["request_id"], id)
		}
	}
	if !found {
		t.Fatalf("no signing failure logged:\n%s", logs.String())
	}
}
