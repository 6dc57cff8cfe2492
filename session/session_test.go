package session

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/store"
	"github.com/gatehouse-sso/gatehouse/store/memory"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var (
	secretA = []byte(strings.Repeat("a", 32))
	secretB = []byte(strings.Repeat("b", 40))
)

func newManager(t *testing.T, st store.Store, c *clock, secrets ...[]byte) *Manager {
	t.Helper()
	if len(secrets) == 0 {
		secrets = [][]byte{secretA}
	}
	m, err := New(st, Options{
		CookieName: "gatehouse_session", Secure: true,
		IdleTimeout: time.Hour, AbsoluteTimeout: 8 * time.Hour,
		Secrets: secrets, Now: c.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func newStore(t *testing.T) store.Store {
	t.Helper()
	st := memory.New()
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// login starts a session and returns its cookie.
func login(t *testing.T, m *Manager, r *http.Request, uid string) (*http.Cookie, Record) {
	t.Helper()
	if r == nil {
		r = httptest.NewRequest("POST", "https://sso.example.com/login", nil)
	}
	rec := httptest.NewRecorder()
	s, err := m.Start(context.Background(), rec, r, uid, []string{"pwd"})
	if err != nil {
		t.Fatal(err)
	}
	cs := rec.Result().Cookies()
	if len(cs) != 1 {
		t.Fatalf("want one cookie, got %d", len(cs))
	}
	return cs[0], s
}

func requestWith(c *http.Cookie) *http.Request {
	r := httptest.NewRequest("GET", "https://sso.example.com/", nil)
	if c != nil {
		r.AddCookie(c)
	}
	return r
}

func TestStartLoadEnd(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	st := newStore(t)
	m := newManager(t, st, c)
	r := httptest.NewRequest("POST", "https://sso.example.com/login", nil)
	r.RemoteAddr = "192.0.2.7:5555"
	r.Header.Set("User-Agent", "test-agent")
	cookie, started := login(t, m, r, "u1")

	if cookie.Name != "__Host-gatehouse_session" || !cookie.Secure || !cookie.HttpOnly ||
		cookie.SameSite != http.SameSiteLaxMode || cookie.Path != "/" || cookie.Domain != "" {
		t.Fatalf("cookie attributes: %+v", cookie)
	}
	if strings.Contains(cookie.Value, started.ID) {
		t.Fatal("cookie carries the session id in clear")
	}
	got, err := m.Load(context.Background(), requestWith(cookie))
	if err != nil {
		t.Fatal(err)
	}
	if got.UserID != "u1" || got.ID != started.ID || got.IP != "192.0.2.7" || got.UserAgent != "test-agent" ||
		!got.AuthTime.Equal(c.Now()) || len(got.AMR) != 1 || got.AMR[0] != "pwd" {
		t.Fatalf("loaded record %+v", got)
	}
	members, err := st.SetMembers(context.Background(), userSet("u1"))
	if err != nil || len(members) != 1 {
		t.Fatalf("user index = %v, %v", members, err)
	}

	rec := httptest.NewRecorder()
	if err := m.End(context.Background(), rec, requestWith(cookie)); err != nil {
		t.Fatal(err)
	}
	cleared := rec.Result().Cookies()
	if len(cleared) != 1 || cleared[0].MaxAge >= 0 || cleared[0].Value != "" {
		t.Fatalf("cookie not cleared: %+v", cleared)
	}
	if _, err := m.Load(context.Background(), requestWith(cookie)); !errors.Is(err, ErrNoSession) {
		t.Fatalf("after End: %v, want ErrNoSession (a replayed cookie must not work)", err)
	}
	if members, _ := st.SetMembers(context.Background(), userSet("u1")); len(members) != 0 {
		t.Fatalf("user index not cleaned: %v", members)
	}
}

func TestStart_NewIDEveryLogin(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	m := newManager(t, newStore(t), c)
	first, r1 := login(t, m, nil, "u1")
	// Signing in again from the same browser (cookie present) must give a
	// new id and end the old session: no session fixation.
	r := httptest.NewRequest("POST", "https://sso.example.com/login", nil)
	r.AddCookie(first)
	second, r2 := login(t, m, r, "u1")
	if r1.ID == r2.ID || first.Value == second.Value {
		t.Fatal("session id reused across logins")
	}
	if _, err := m.Load(context.Background(), requestWith(first)); !errors.Is(err, ErrNoSession) {
		t.Fatalf("old session still valid: %v", err)
	}
	if _, err := m.Load(context.Background(), requestWith(second)); err != nil {
		t.Fatalf("new session: %v", err)
	}
}

func TestLoad_SignedOut(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	m := newManager(t, newStore(t), c)
	cookie, _ := login(t, m, nil, "u1")
	other := newManager(t, newStore(t), c, secretB)
	foreign, _ := login(t, other, nil, "u1")

	flip := func(s string) string {
		b := []byte(s)
		i := len(b) / 2
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	tests := []struct {
		name   string
		cookie *http.Cookie
	}{
		{"no cookie", nil},
		{"empty value", &http.Cookie{Name: cookie.Name, Value: ""}},
		{"garbage", &http.Cookie{Name: cookie.Name, Value: "not-a-cookie"}},
		{"tampered", &http.Cookie{Name: cookie.Name, Value: flip(cookie.Value)}},
		{"truncated", &http.Cookie{Name: cookie.Name, Value: cookie.Value[:len(cookie.Value)-4]}},
		{"signed with another secret", &http.Cookie{Name: cookie.Name, Value: foreign.Value}},
		{"other cookie name", &http.Cookie{Name: "gatehouse_session", Value: cookie.Value}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := m.Load(context.Background(), requestWith(tc.cookie)); !errors.Is(err, ErrNoSession) {
				t.Fatalf("Load = %v, want ErrNoSession", err)
			}
		})
	}
}

func TestLoad_Timeouts(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		c := &clock{t: time.Unix(1_700_000_000, 0)}
		m := newManager(t, newStore(t), c)
		cookie, _ := login(t, m, nil, "u1")
		c.Add(59 * time.Minute)
		if _, err := m.Load(context.Background(), requestWith(cookie)); err != nil {
			t.Fatalf("before idle timeout: %v", err)
		}
		// The use above extended the idle window.
		c.Add(59 * time.Minute)
		if _, err := m.Load(context.Background(), requestWith(cookie)); err != nil {
			t.Fatalf("used session expired: %v", err)
		}
		c.Add(61 * time.Minute)
		if _, err := m.Load(context.Background(), requestWith(cookie)); !errors.Is(err, ErrNoSession) {
			t.Fatalf("after idle timeout: %v", err)
		}
	})
	t.Run("absolute", func(t *testing.T) {
		c := &clock{t: time.Unix(1_700_000_000, 0)}
		m := newManager(t, newStore(t), c)
		cookie, _ := login(t, m, nil, "u1")
		for range 9 { // 7h30m of activity
			c.Add(50 * time.Minute)
			if _, err := m.Load(context.Background(), requestWith(cookie)); err != nil {
				t.Fatalf("active session before absolute timeout: %v", err)
			}
		}
		c.Add(31 * time.Minute) // 8h01m after sign-in
		if _, err := m.Load(context.Background(), requestWith(cookie)); !errors.Is(err, ErrNoSession) {
			t.Fatalf("after absolute timeout: %v", err)
		}
	})
}

func TestKeyRotation(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	st := newStore(t)
	old := newManager(t, st, c, secretA)
	cookie, _ := login(t, old, nil, "u1")

	rotated := newManager(t, st, c, secretB, secretA)
	if _, err := rotated.Load(context.Background(), requestWith(cookie)); err != nil {
		t.Fatalf("cookie under the previous secret no longer decodes: %v", err)
	}
	fresh, _ := login(t, rotated, nil, "u2")
	if _, err := old.Load(context.Background(), requestWith(fresh)); !errors.Is(err, ErrNoSession) {
		t.Fatalf("new cookie must be encoded with the new (first) secret: %v", err)
	}
	dropped := newManager(t, st, c, secretB)
	if _, err := dropped.Load(context.Background(), requestWith(cookie)); !errors.Is(err, ErrNoSession) {
		t.Fatalf("secret removed from the list still decodes: %v", err)
	}
}

type failingStore struct {
	store.Store
	err error
}

func (f failingStore) Get(context.Context, string) ([]byte, error) { return nil, f.err }

func TestLoad_StoreFailureIsNotSignedOut(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	st := newStore(t)
	cookie, _ := login(t, newManager(t, st, c), nil, "u1")
	broken := newManager(t, failingStore{Store: st, err: errors.New("disk on fire")}, c)
	_, err := broken.Load(context.Background(), requestWith(cookie))
	if err == nil || errors.Is(err, ErrNoSession) {
		t.Fatalf("Load = %v: a store failure must surface so the caller fails closed", err)
	}
}

func TestEndAll(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	m := newManager(t, newStore(t), c)
	a, _ := login(t, m, nil, "u1")
	b, _ := login(t, m, nil, "u1")
	other, _ := login(t, m, nil, "u2")
	n, err := m.EndAll(context.Background(), "u1")
	if err != nil || n != 2 {
		t.Fatalf("EndAll = %d, %v", n, err)
	}
	for _, ck := range []*http.Cookie{a, b} {
		if _, err := m.Load(context.Background(), requestWith(ck)); !errors.Is(err, ErrNoSession) {
			t.Fatalf("session survived EndAll: %v", err)
		}
	}
	if _, err := m.Load(context.Background(), requestWith(other)); err != nil {
		t.Fatalf("another user's session ended: %v", err)
	}
}

func TestCookieNames(t *testing.T) {
	for _, tc := range []struct {
		secure bool
		domain string
		want   string
	}{
		{true, "", "__Host-gs"},
		{true, "example.com", "__Secure-gs"},
		{false, "", "gs"},
	} {
		m, err := New(newStore(t), Options{CookieName: "gs", CookieDomain: tc.domain, Secure: tc.secure,
			IdleTimeout: time.Hour, AbsoluteTimeout: time.Hour, Secrets: [][]byte{secretA}})
		if err != nil {
			t.Fatal(err)
		}
		if m.CookieName() != tc.want {
			t.Errorf("secure=%v domain=%q: name %q, want %q", tc.secure, tc.domain, m.CookieName(), tc.want)
		}
	}
}

func TestNew_BadOptions(t *testing.T) {
	good := Options{CookieName: "s", IdleTimeout: time.Hour, AbsoluteTimeout: time.Hour, Secrets: [][]byte{secretA}}
	for name, mutate := range map[string]func(*Options){
		"no name":      func(o *Options) { o.CookieName = "" },
		"no secrets":   func(o *Options) { o.Secrets = nil },
		"short secret": func(o *Options) { o.Secrets = [][]byte{[]byte("short")} },
		"zero idle":    func(o *Options) { o.IdleTimeout = 0 },
	} {
		o := good
		mutate(&o)
		if _, err := New(newStore(t), o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestGeneratedSecret(t *testing.T) {
	st := newStore(t)
	a, err := GeneratedSecret(context.Background(), st)
	if err != nil || len(a) < 32 {
		t.Fatalf("GeneratedSecret = %d bytes, %v", len(a), err)
	}
	b, err := GeneratedSecret(context.Background(), st)
	if err != nil || string(a) != string(b) {
		t.Fatal("second call returned another secret")
	}
}

// heard collects what a Watcher on a second handle of the store hears.
type heard struct {
	w  *Watcher
	mu sync.Mutex
	rs []Revocation
}

func listen(t *testing.T, st store.Store) *heard {
	t.Helper()
	other, err := st.(*memory.Store).Handle()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Close() })
	h := &heard{}
	h.w, err = Watch(t.Context(), other, nil, func(_ context.Context, r Revocation) {
		h.mu.Lock()
		h.rs = append(h.rs, r)
		h.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// take returns what was heard since the last take, after a Sync.
func (h *heard) take(t *testing.T) []Revocation {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := h.w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.rs
	h.rs = nil
	return out
}

func TestRevocationsArePublished(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	st := newStore(t)
	m := newManager(t, st, c)
	h := listen(t, st)
	ctx := context.Background()

	a, ra := login(t, m, nil, "u1")
	_, rb := login(t, m, nil, "u1")
	if ra.SID == "" || ra.SID == rb.SID || strings.Contains(a.Value, ra.SID) || ra.SID == ra.ID {
		t.Fatalf("sids: %q %q", ra.SID, rb.SID)
	}
	if got := h.take(t); len(got) != 0 {
		t.Fatalf("sign-ins published %+v", got)
	}
	if err := m.End(ctx, httptest.NewRecorder(), requestWith(a)); err != nil {
		t.Fatal(err)
	}
	want := Revocation{Kind: KindSession, SID: ra.SID, UserID: "u1"}
	if got := h.take(t); len(got) != 1 || got[0] != want {
		t.Fatalf("End published %+v, want %+v", got, want)
	}
	// Ending an already ended session publishes nothing.
	if err := m.End(ctx, httptest.NewRecorder(), requestWith(a)); err != nil {
		t.Fatal(err)
	}
	if got := h.take(t); len(got) != 0 {
		t.Fatalf("second End published %+v", got)
	}

	// Signing in again in the same browser ends the session it carried.
	c1, r1 := login(t, m, nil, "u2")
	_, r2 := login(t, m, requestWith(c1), "u2")
	want = Revocation{Kind: KindSession, SID: r1.SID, UserID: "u2"}
	if got := h.take(t); len(got) != 1 || got[0] != want || r2.SID == r1.SID {
		t.Fatalf("replacing a session published %+v, want %+v", got, want)
	}

	if _, err := m.EndAll(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	want = Revocation{Kind: KindSession, SID: rb.SID, UserID: "u1"}
	if got := h.take(t); len(got) != 1 || got[0] != want {
		t.Fatalf("EndAll published %+v, want %+v", got, want)
	}

	n, err := m.RevokeUser(ctx, "u2")
	if err != nil || n != 1 {
		t.Fatalf("RevokeUser = %d, %v", n, err)
	}
	got := h.take(t)
	if len(got) != 2 || got[0] != (Revocation{Kind: KindSession, SID: r2.SID, UserID: "u2"}) || got[1] != (Revocation{Kind: KindUser, UserID: "u2"}) {
		t.Fatalf("RevokeUser published %+v", got)
	}
}

func TestWatchReportsLostMessages(t *testing.T) {
	st := newStore(t)
	var mu sync.Mutex
	var kinds []Kind
	release := make(chan struct{})
	w, err := Watch(t.Context(), st, nil, func(_ context.Context, r Revocation) {
		<-release // a handler that stalls
		mu.Lock()
		kinds = append(kinds, r.Kind)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 * store.SubscriberBuffer {
		if err := Publish(t.Context(), st, Revocation{Kind: KindToken, JTI: "j"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Publish(t.Context(), RevocationTopic, []byte("not json")); err != nil {
		t.Fatal(err)
	}
	close(release)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(kinds) == 0 || kinds[len(kinds)-1] != KindLost {
		t.Fatalf("a watcher that fell behind was not told: last kinds %v", kinds[max(0, len(kinds)-3):])
	}
}

func TestStartEndsTheReplacedSession(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	st := newStore(t)
	m := newManager(t, st, c)
	old, _ := login(t, m, nil, "u1")
	_, _ = login(t, m, requestWith(old), "u1")
	if _, err := m.Load(context.Background(), requestWith(old)); !errors.Is(err, ErrNoSession) {
		t.Fatalf("replaced session still loads: %v", err)
	}
	keys, err := st.SetMembers(context.Background(), userSet("u1"))
	if err != nil || len(keys) != 1 {
		t.Fatalf("user index after a replacement = %q, %v; want the new session only", keys, err)
	}
}
