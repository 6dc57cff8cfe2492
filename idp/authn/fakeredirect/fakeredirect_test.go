// Package fakeredirect_test is the example of adding a sign-in method: a
// redirect method ("Sign in with Example", an upstream that vouches for
// alice) written in this one file and registered with one line in the
// list of methods, signs a user in through the dispatcher.
package fakeredirect_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-sso/gatehouse/idp/authn"
	"github.com/gatehouse-sso/gatehouse/idp/authn/authntest"
	"github.com/gatehouse-sso/gatehouse/idp/authn/password"
)

// example is the method: Start sends the browser to the upstream with a
// fresh nonce; the upstream comes back with code "ok-<nonce>".
type example struct {
	upstream string
}

var _ authn.Redirect = (*example)(nil)

func (*example) Name() string  { return "example" }
func (*example) Label() string { return "Sign in with Example" }

func (m *example) Start(_ context.Context, s authn.RedirectStart) (string, []byte, error) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	nonce := hex.EncodeToString(b[:])
	q := url.Values{"redirect_uri": {s.CallbackURL}, "state": {s.State}, "nonce": {nonce}}
	return m.upstream + "/authorize?" + q.Encode(), []byte(nonce), nil
}

func (m *example) Callback(_ context.Context, r *http.Request, state []byte) (authn.Identity, error) {
	if r.URL.Query().Get("code") != "ok-"+string(state) {
		return authn.Identity{}, fmt.Errorf("%w: upstream code does not match this sign-in", authn.ErrRejected)
	}
	return authn.Identity{UserID: authntest.UserID, AMR: []string{"fed"}}, nil
}

// upstream vouches for whoever comes: it sends the browser back with a
// code made of the nonce.
func upstream(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		back := url.Values{"state": {q.Get("state")}, "code": {"ok-" + q.Get("nonce")}}
		http.Redirect(w, r, q.Get("redirect_uri")+"?"+back.Encode(), http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestExampleRedirectMethod(t *testing.T) {
	up := upstream(t)
	e := authntest.New(t, func(u *authntest.Users) []authn.Method {
		return []authn.Method{
			password.New(u),
			&example{upstream: up.URL}, // the one registration line
		}
	}, nil)
	b := e.Browser()

	// The sign-in page offers the method, carrying the return target.
	page := e.Get(b, "/login?rd=%2Fapp")
	m := regexp.MustCompile(`<a class="button" href="([^"]+)">Sign in with Example</a>`).FindStringSubmatch(page.Body)
	if m == nil {
		t.Fatalf("no button: %s", page.Body)
	}
	start := e.Get(b, strings.ReplaceAll(m[1], "&amp;", "&"))
	if start.Status != http.StatusFound || !strings.HasPrefix(start.Location, up.URL+"/authorize?") {
		t.Fatalf("start: %d %q", start.Status, start.Location)
	}
	back := e.Get(b, start.Location)
	if back.Status != http.StatusFound || !strings.HasPrefix(back.Location, e.Server.URL+"/login/example/callback?") {
		t.Fatalf("upstream: %d %q", back.Status, back.Location)
	}

	// Another browser cannot use the callback.
	if res := e.Get(e.Browser(), back.Location); res.Status != http.StatusBadRequest {
		t.Fatalf("callback in another browser: %d", res.Status)
	}
	// A forged code is refused and logged, and ends the transaction.
	forged := strings.Replace(back.Location, "code=ok-", "code=bad-", 1)
	b2 := e.Browser()
	s2 := e.Get(b2, m[1])
	fwd := e.Get(b2, s2.Location)
	if res := e.Get(b2, strings.Replace(fwd.Location, "code=ok-", "code=bad-", 1)); res.Status != http.StatusUnauthorized {
		t.Fatalf("forged code: %d", res.Status)
	}
	if res := e.Get(b2, fwd.Location); res.Status != http.StatusBadRequest {
		t.Fatalf("callback after a refused one: %d", res.Status)
	}
	if res := e.Get(b, forged); res.Status != http.StatusUnauthorized {
		t.Fatalf("forged code in the right browser: %d", res.Status)
	}
	if !strings.Contains(e.Logs.String(), `"msg":"sign-in failed","client_ip":"127.0.0.1","method":"example","login":"","reason":"upstream code does not match this sign-in"`) {
		t.Fatalf("refused callback not logged: %s", e.Logs.String())
	}

	// The forged attempt dropped the first browser's transaction too: it
	// starts again and this time signs in.
	start = e.Get(b, m[1])
	back = e.Get(b, start.Location)
	done := e.Get(b, back.Location)
	if done.Status != http.StatusSeeOther || done.Location != "/app" {
		t.Fatalf("callback: %d %q %s", done.Status, done.Location, done.Body)
	}
	rec, ok := e.Session(b)
	if !ok || rec.UserID != authntest.UserID || !slices.Equal(rec.AMR, []string{"fed"}) {
		t.Fatalf("session %+v %v", rec, ok)
	}
	// The callback completes once.
	if res := e.Get(b, back.Location); res.Status != http.StatusBadRequest {
		t.Fatalf("replayed callback: %d", res.Status)
	}
}
