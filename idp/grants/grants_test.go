package grants

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/session"
	"github.com/gatehouse-sso/gatehouse/store"
	"github.com/gatehouse-sso/gatehouse/store/memory"
)

const grace = 3 * time.Second

// clock is the package's injected clock. The store keeps real time: its
// TTLs, computed from this clock's "now", are long enough that no test but
// TestStoreExpiry depends on them.
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

// recorder wraps a store and remembers every key and value written, so a
// test can check that no raw token reaches the store.
type recorder struct {
	store.Store
	mu     sync.Mutex
	keys   []string // keys and set names
	values []string // values and set members
}

func (r *recorder) note(key, value string) {
	r.mu.Lock()
	r.keys = append(r.keys, key)
	r.values = append(r.values, value)
	r.mu.Unlock()
}

func (r *recorder) Put(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	r.note(key, string(value))
	return r.Store.Put(ctx, key, value, ttl)
}

func (r *recorder) Create(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	r.note(key, string(value))
	return r.Store.Create(ctx, key, value, ttl)
}

func (r *recorder) SetAdd(ctx context.Context, set, member string, ttl time.Duration) error {
	r.note(set, member)
	return r.Store.SetAdd(ctx, set, member, ttl)
}

type env struct {
	s   *Store
	c   *clock
	st  store.Store
	rec *recorder
}

func newEnv(t testing.TB) *env {
	t.Helper()
	mem := memory.New()
	t.Cleanup(func() { _ = mem.Close() })
	rec := &recorder{Store: mem}
	c := &clock{t: time.Now()}
	return &env{s: New(rec, Options{RefreshGrace: grace, Now: c.Now}), c: c, st: mem, rec: rec}
}

// grant creates a grant for user u, client cl, session sid, living 14 days.
func (e *env) grant(t testing.TB, u, cl, sid string) Grant {
	t.Helper()
	g, err := e.s.CreateGrant(context.Background(), Grant{
		ClientID: cl, UserID: u, SessionID: sid,
		Scopes:    []string{"openid", "offline_access"},
		ExpiresAt: e.c.Now().Add(14 * 24 * time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func (e *env) refresh(t testing.TB, g Grant) string {
	t.Helper()
	tok, err := e.s.NewRefreshToken(context.Background(), RefreshToken{
		GrantID: g.ID, ClientID: g.ClientID, ExpiresAt: e.c.Now().Add(14 * 24 * time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func wantErr(t *testing.T, what string, got, want error) {
	t.Helper()
	if !errors.Is(got, want) {
		t.Fatalf("%s: error %v, want %v", what, got, want)
	}
}

func wantReplay(t *testing.T, what string, err error, gid string) {
	t.Helper()
	var re *ReplayError
	if !errors.As(err, &re) {
		t.Fatalf("%s: error %v, want *ReplayError", what, err)
	}
	if re.GrantID != gid {
		t.Fatalf("%s: replay of grant %q, want %q", what, re.GrantID, gid)
	}
}

func TestCreateGrantValidation(t *testing.T) {
	e := newEnv(t)
	now := e.c.Now()
	later := now.Add(time.Hour)
	tests := []struct {
		name    string
		g       Grant
		wantErr string // substring; "" means success
	}{
		{"generated id", Grant{ClientID: "app", ExpiresAt: later}, ""},
		{"given id", Grant{ID: "abc-DEF_123", ClientID: "app", ExpiresAt: later}, ""},
		{"no client", Grant{ExpiresAt: later}, "ClientID"},
		{"no expiry", Grant{ClientID: "app"}, "ExpiresAt"},
		{"expired", Grant{ClientID: "app", ExpiresAt: now}, "ExpiresAt"},
		{"id with slash", Grant{ID: "a/b", ClientID: "app", ExpiresAt: later}, "ID"},
		{"id too long", Grant{ID: strings.Repeat("a", 65), ClientID: "app", ExpiresAt: later}, "ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := e.s.CreateGrant(t.Context(), tt.g)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.g.ID != "" && g.ID != tt.g.ID {
				t.Fatalf("id %q, want %q", g.ID, tt.g.ID)
			}
			if len(g.ID) != 22 && tt.g.ID == "" {
				t.Fatalf("generated id %q is not 16 bytes base64url", g.ID)
			}
			if !g.CreatedAt.Equal(now) {
				t.Fatalf("CreatedAt %v, want now", g.CreatedAt)
			}
			got, err := e.s.Grant(t.Context(), g.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != g.ID || got.ClientID != "app" {
				t.Fatalf("loaded %+v", got)
			}
		})
	}
	t.Run("duplicate id", func(t *testing.T) {
		_, err := e.s.CreateGrant(t.Context(), Grant{ID: "abc-DEF_123", ClientID: "app", ExpiresAt: later})
		wantErr(t, "second create", err, store.ErrExists)
	})
}

func TestGrantExpiresByClock(t *testing.T) {
	e := newEnv(t)
	g, err := e.s.CreateGrant(t.Context(), Grant{ClientID: "app", SessionID: "s1", ExpiresAt: e.c.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	e.c.Add(time.Hour)
	_, err = e.s.Grant(t.Context(), g.ID)
	wantErr(t, "expired grant", err, ErrNotFound)
	gs, err := e.s.GrantsOfSession(t.Context(), "s1")
	if err != nil || len(gs) != 0 {
		t.Fatalf("GrantsOfSession = %v, %v; want none", gs, err)
	}
}

func TestRevokeGrant(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	g1 := e.grant(t, "u1", "app", "s1")
	g2 := e.grant(t, "u1", "other", "s1")
	e.grant(t, "u1", "app", "s2")

	gs, err := e.s.GrantsOfSession(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != 2 {
		t.Fatalf("GrantsOfSession(s1) has %d grants, want 2", len(gs))
	}

	if err := e.s.RevokeGrant(ctx, g1.ID); err != nil {
		t.Fatal(err)
	}
	_, err = e.s.Grant(ctx, g1.ID)
	wantErr(t, "revoked grant", err, ErrRevoked)
	_, err = e.s.Grant(ctx, "neverExisted")
	wantErr(t, "unknown grant", err, ErrNotFound)

	gs, err = e.s.GrantsOfSession(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != 1 || gs[0].ID != g2.ID {
		t.Fatalf("GrantsOfSession(s1) after revoke = %+v, want only %s", gs, g2.ID)
	}
	if m, _ := e.st.SetMembers(ctx, sessionSet("s1")); len(m) != 1 {
		t.Fatalf("session index still holds %v", m)
	}
	if m, _ := e.st.SetMembers(ctx, userSet("u1")); len(m) != 2 {
		t.Fatalf("user index holds %v, want 2 members", m)
	}

	for _, id := range []string{g1.ID, "neverExisted", "", "../x"} {
		if err := e.s.RevokeGrant(ctx, id); err != nil {
			t.Fatalf("RevokeGrant(%q) = %v, want nil", id, err)
		}
	}
	if gs, err := e.s.GrantsOfSession(ctx, ""); err != nil || gs != nil {
		t.Fatalf("GrantsOfSession(\"\") = %v, %v", gs, err)
	}
}

func TestCodeSingleUse(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	g := e.grant(t, "u1", "app", "s1")
	want := Code{GrantID: g.ID, ClientID: "app", RedirectURI: "https://app.example/cb",
		CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", CodeChallengeMethod: "S256"}
	code, err := e.s.NewCode(ctx, want, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(code) != 43 {
		t.Fatalf("code %q is not 32 bytes base64url", code)
	}
	got, err := e.s.TakeCode(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("TakeCode = %+v, want %+v", got, want)
	}
	if _, err := e.s.Grant(ctx, g.ID); err != nil {
		t.Fatalf("grant after the first redemption: %v", err)
	}

	// The replay revokes the grant, and the code stays dead.
	_, err = e.s.TakeCode(ctx, code)
	wantReplay(t, "second redemption", err, g.ID)
	_, err = e.s.Grant(ctx, g.ID)
	wantErr(t, "grant after replay", err, ErrRevoked)
	_, err = e.s.TakeCode(ctx, code)
	wantReplay(t, "third redemption", err, g.ID)
	if strings.Contains(err.Error(), code) {
		t.Fatal("error message carries the code")
	}
}

func TestTakeCodeConcurrent(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	g := e.grant(t, "u1", "app", "s1")
	code, err := e.s.NewCode(ctx, Code{GrantID: g.ID, ClientID: "app"}, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	var (
		wg                 sync.WaitGroup
		mu                 sync.Mutex
		wins, replays, nfs int
		other              []error
		start              = make(chan struct{})
	)
	for range n {
		wg.Go(func() {
			<-start
			_, err := e.s.TakeCode(ctx, code)
			var re *ReplayError
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.As(err, &re):
				replays++
			case errors.Is(err, ErrNotFound):
				nfs++
			default:
				other = append(other, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if wins != 1 || replays != n-1 || nfs != 0 || len(other) != 0 {
		t.Fatalf("%d wins, %d replays, %d not found, other errors %v; want 1 win and %d replays",
			wins, replays, nfs, other, n-1)
	}
	_, err = e.s.Grant(ctx, g.ID)
	wantErr(t, "grant after concurrent redemption", err, ErrRevoked)
}

func TestCodeExpired(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	g := e.grant(t, "u1", "app", "")
	code, err := e.s.NewCode(ctx, Code{GrantID: g.ID, ClientID: "app"}, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	e.c.Add(5 * time.Minute)
	_, err = e.s.TakeCode(ctx, code)
	wantErr(t, "expired code", err, ErrNotFound)
	_, err = e.s.TakeCode(ctx, code)
	wantErr(t, "expired code again", err, ErrNotFound)
	if _, err := e.s.Grant(ctx, g.ID); err != nil {
		t.Fatalf("an expired code must not revoke its grant: %v", err)
	}
}

func TestNewCodeValidation(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		c    Code
		ttl  time.Duration
	}{
		{"no grant", Code{ClientID: "app"}, time.Minute},
		{"no client", Code{GrantID: "g"}, time.Minute},
		{"zero ttl", Code{GrantID: "g", ClientID: "app"}, 0},
		{"negative ttl", Code{GrantID: "g", ClientID: "app"}, -time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, err := e.s.NewCode(t.Context(), tt.c, tt.ttl); err == nil {
				t.Fatalf("NewCode = %q, want an error", code)
			}
		})
	}
}

func TestRefreshRotationChain(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	g := e.grant(t, "u1", "app", "s1")
	a := e.refresh(t, g)

	rt, lg, err := e.s.LookupRefreshToken(ctx, a)
	if err != nil || rt.GrantID != g.ID || lg.ID != g.ID || !rt.RotatedAt.IsZero() {
		t.Fatalf("LookupRefreshToken(A) = %+v, %+v, %v", rt, lg, err)
	}

	e.c.Add(time.Minute)
	b, rtB, gB, err := e.s.RotateRefreshToken(ctx, a, "app", 14*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if b == a || gB.ID != g.ID || rtB.ClientID != "app" || !rtB.IssuedAt.Equal(e.c.Now()) || !rtB.RotatedAt.IsZero() {
		t.Fatalf("successor B = %+v of %+v", rtB, gB)
	}
	e.c.Add(time.Minute)
	c, _, _, err := e.s.RotateRefreshToken(ctx, b, "app", 14*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	// B was just rotated: still active within grace. Past it, A and B are
	// no longer active; C is.
	if _, _, err := e.s.LookupRefreshToken(ctx, b); err != nil {
		t.Fatalf("lookup B within grace: %v", err)
	}
	e.c.Add(grace + time.Millisecond)
	for name, tok := range map[string]string{"A": a, "B": b} {
		_, _, err := e.s.LookupRefreshToken(ctx, tok)
		wantErr(t, "lookup "+name, err, ErrNotFound)
	}
	if _, _, err := e.s.LookupRefreshToken(ctx, c); err != nil {
		t.Fatalf("lookup C: %v", err)
	}
	if _, err := e.s.Grant(ctx, g.ID); err != nil {
		t.Fatalf("lookups must not revoke: %v", err)
	}
}

func TestRefreshGraceReuse(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	g := e.grant(t, "u1", "app", "s1")
	a := e.refresh(t, g)
	b, _, _, err := e.s.RotateRefreshToken(ctx, a, "app", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// Within grace A is still active for introspection and can be used again.
	e.c.Add(grace)
	if _, _, err := e.s.LookupRefreshToken(ctx, a); err != nil {
		t.Fatalf("lookup A within grace: %v", err)
	}
	a2, _, _, err := e.s.RotateRefreshToken(ctx, a, "app", time.Hour)
	if err != nil {
		t.Fatalf("reuse of A within grace: %v", err)
	}
	if a2 == b {
		t.Fatal("the second successor repeats the first")
	}
	// Neither successor was revoked, and the grace counts from the first
	// rotation: it was not extended by the reuse.
	for name, tok := range map[string]string{"B": b, "A2": a2} {
		if _, _, err := e.s.LookupRefreshToken(ctx, tok); err != nil {
			t.Fatalf("lookup %s: %v", name, err)
		}
	}
	e.c.Add(time.Millisecond)
	_, _, _, err = e.s.RotateRefreshToken(ctx, a, "app", time.Hour)
	wantReplay(t, "reuse of A just after grace", err, g.ID)
}

func TestRefreshReuseAfterGraceRevokesFamily(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	g := e.grant(t, "u1", "app", "s1")
	a := e.refresh(t, g)
	b, _, _, err := e.s.RotateRefreshToken(ctx, a, "app", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, _, _, err := e.s.RotateRefreshToken(ctx, b, "app", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e.c.Add(grace + time.Second)
	_, _, _, err = e.s.RotateRefreshToken(ctx, a, "app", time.Hour)
	wantReplay(t, "reuse of A after grace", err, g.ID)

	_, err = e.s.Grant(ctx, g.ID)
	wantErr(t, "grant", err, ErrRevoked)
	for name, tok := range map[string]string{"A": a, "B": b, "C": c} {
		_, _, _, err := e.s.RotateRefreshToken(ctx, tok, "app", time.Hour)
		wantErr(t, "rotate "+name, err, ErrRevoked)
	}
	_, _, err = e.s.LookupRefreshToken(ctx, c)
	wantErr(t, "lookup C", err, ErrRevoked)
	if gs, _ := e.s.GrantsOfSession(ctx, "s1"); len(gs) != 0 {
		t.Fatalf("revoked family still listed: %+v", gs)
	}
	if _, err := e.s.NewRefreshToken(ctx, RefreshToken{GrantID: g.ID, ClientID: "app"}); !errors.Is(err, ErrRevoked) {
		t.Fatalf("NewRefreshToken on a revoked grant: %v", err)
	}
}

func TestRefreshOtherClient(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	g := e.grant(t, "u1", "app", "s1")
	a := e.refresh(t, g)
	for _, cl := range []string{"other", "", "App", "app "} {
		_, _, _, err := e.s.RotateRefreshToken(ctx, a, cl, time.Hour)
		wantErr(t, "rotate as "+cl, err, ErrNotFound)
	}
	// The failed attempts did not count as a use: long after any grace, the
	// right client still rotates A without a replay.
	e.c.Add(time.Hour)
	if _, _, _, err := e.s.RotateRefreshToken(ctx, a, "app", time.Hour); err != nil {
		t.Fatalf("rotate as the owner: %v", err)
	}
	if _, err := e.s.NewRefreshToken(ctx, RefreshToken{GrantID: g.ID, ClientID: "other"}); err == nil {
		t.Fatal("NewRefreshToken for a client that is not the grant's succeeded")
	}
}

func TestRefreshCappedAtGrantExpiry(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	g, err := e.s.CreateGrant(ctx, Grant{ClientID: "app", ExpiresAt: e.c.Now().Add(2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := e.s.NewRefreshToken(ctx, RefreshToken{GrantID: g.ID, ClientID: "app", ExpiresAt: e.c.Now().Add(14 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	rt, _, err := e.s.LookupRefreshToken(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if !rt.ExpiresAt.Equal(g.ExpiresAt) {
		t.Fatalf("new token expires %v, want the grant's %v", rt.ExpiresAt, g.ExpiresAt)
	}
	e.c.Add(time.Hour)
	_, rt2, _, err := e.s.RotateRefreshToken(ctx, tok, "app", 14*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !rt2.ExpiresAt.Equal(g.ExpiresAt) {
		t.Fatalf("successor expires %v, want the grant's %v", rt2.ExpiresAt, g.ExpiresAt)
	}
	// A short ttl is kept as asked (a reuse of tok within grace).
	_, rt3, _, err := e.s.RotateRefreshToken(ctx, tok, "app", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !rt3.ExpiresAt.Equal(e.c.Now().Add(time.Minute)) {
		t.Fatalf("successor expires %v, want now+1m", rt3.ExpiresAt)
	}
	e.c.Add(time.Hour)
	_, _, _, err = e.s.RotateRefreshToken(ctx, tok, "app", time.Hour)
	wantErr(t, "rotate after the grant expired", err, ErrNotFound)
}

func TestRefreshExpiresByClock(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	g := e.grant(t, "u1", "app", "")
	tok, err := e.s.NewRefreshToken(ctx, RefreshToken{GrantID: g.ID, ClientID: "app", ExpiresAt: e.c.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	e.c.Add(time.Hour)
	_, _, err = e.s.LookupRefreshToken(ctx, tok)
	wantErr(t, "lookup expired", err, ErrNotFound)
	_, _, _, err = e.s.RotateRefreshToken(ctx, tok, "app", time.Hour)
	wantErr(t, "rotate expired", err, ErrNotFound)
	if _, err := e.s.Grant(ctx, g.ID); err != nil {
		t.Fatalf("an expired token must not revoke its grant: %v", err)
	}
	if _, _, _, err := e.s.RotateRefreshToken(ctx, tok, "app", 0); err == nil {
		t.Fatal("rotation with a zero ttl succeeded")
	}
}

// TestRefreshConcurrentRotation: parallel refreshes of one fresh token all
// succeed, each with its own successor, and revoke nothing.
func TestRefreshConcurrentRotation(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	g := e.grant(t, "u1", "app", "")
	a := e.refresh(t, g)
	const n = 20
	toks := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { toks[i], _, _, errs[i] = e.s.RotateRefreshToken(ctx, a, "app", time.Hour) })
	}
	wg.Wait()
	seen := map[string]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("rotation %d: %v", i, errs[i])
		}
		if seen[toks[i]] {
			t.Fatal("two rotations returned the same successor")
		}
		seen[toks[i]] = true
	}
	if _, err := e.s.Grant(ctx, g.ID); err != nil {
		t.Fatal(err)
	}
}

func TestAccessTokenRevocation(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	now := e.c.Now()
	for _, jti := range []string{"jti-1", "a/b", "../../idp/grant/x"} {
		if r, err := e.s.AccessTokenRevoked(ctx, jti); err != nil || r {
			t.Fatalf("AccessTokenRevoked(%q) before = %v, %v", jti, r, err)
		}
		if err := e.s.RevokeAccessToken(ctx, jti, now.Add(30*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if r, err := e.s.AccessTokenRevoked(ctx, jti); err != nil || !r {
			t.Fatalf("AccessTokenRevoked(%q) after = %v, %v", jti, r, err)
		}
	}
	if r, _ := e.s.AccessTokenRevoked(ctx, "a"); r {
		t.Fatal("revoking a/b revoked a")
	}
	// An expired token needs no record.
	if err := e.s.RevokeAccessToken(ctx, "old", now.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Get(ctx, revokedJTIKey("old")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a record was written for an expired token: %v", err)
	}
	for _, jti := range []string{"", strings.Repeat("j", 257)} {
		if err := e.s.RevokeAccessToken(ctx, jti, now.Add(time.Hour)); err == nil {
			t.Fatalf("RevokeAccessToken(%d bytes) succeeded", len(jti))
		}
		if _, err := e.s.AccessTokenRevoked(ctx, jti); err == nil {
			t.Fatalf("AccessTokenRevoked(%d bytes) succeeded", len(jti))
		}
	}
}

func TestConsent(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	covers := func(u, cl string, scopes ...string) bool {
		t.Helper()
		ok, err := e.s.ConsentCovers(ctx, u, cl, scopes)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if covers("u1", "app") || covers("u1", "app", "openid") {
		t.Fatal("consent covered before any was given")
	}
	if err := e.s.RememberConsent(ctx, "u1", "app", []string{"profile", "openid", "openid", ""}); err != nil {
		t.Fatal(err)
	}
	if err := e.s.RememberConsent(ctx, "u1", "app", []string{"email", "openid"}); err != nil {
		t.Fatal(err)
	}
	b, err := e.st.Get(ctx, consentKey("u1", "app"))
	if err != nil || string(b) != `["email","openid","profile"]` {
		t.Fatalf("stored consent %s, %v", b, err)
	}
	tests := []struct {
		user, client string
		scopes       []string
		want         bool
	}{
		{"u1", "app", nil, true},
		{"u1", "app", []string{"openid"}, true},
		{"u1", "app", []string{"profile", "openid", "email"}, true},
		{"u1", "app", []string{"openid", "groups"}, false},
		{"u1", "other", []string{"openid"}, false},
		{"u2", "app", []string{"openid"}, false},
		{"u1/app", "", []string{"openid"}, false},
		{"", "app", []string{"openid"}, false},
	}
	for _, tt := range tests {
		if got := covers(tt.user, tt.client, tt.scopes...); got != tt.want {
			t.Errorf("ConsentCovers(%q, %q, %v) = %v, want %v", tt.user, tt.client, tt.scopes, got, tt.want)
		}
	}

	// Revocation forgets the consent and revokes that user's grants for
	// that client only.
	gA1 := e.grant(t, "u1", "app", "s1")
	gA2 := e.grant(t, "u1", "app", "s2")
	gB := e.grant(t, "u1", "other", "s1")
	gU2 := e.grant(t, "u2", "app", "s3")
	if err := e.s.RevokeConsent(ctx, "u1", "app"); err != nil {
		t.Fatal(err)
	}
	if covers("u1", "app", "openid") {
		t.Fatal("consent still covers after RevokeConsent")
	}
	for _, g := range []Grant{gA1, gA2} {
		_, err := e.s.Grant(ctx, g.ID)
		wantErr(t, "grant of the revoked client", err, ErrRevoked)
	}
	for _, g := range []Grant{gB, gU2} {
		if _, err := e.s.Grant(ctx, g.ID); err != nil {
			t.Fatalf("unrelated grant %s: %v", g.ClientID, err)
		}
	}
	if err := e.s.RevokeConsent(ctx, "u1", "app"); err != nil {
		t.Fatalf("second RevokeConsent: %v", err)
	}
	if err := e.s.RememberConsent(ctx, "", "app", []string{"openid"}); err == nil {
		t.Fatal("RememberConsent without a user succeeded")
	}
}

// TestGarbageTokens: inputs that are not our tokens are ErrNotFound
// everywhere, look nothing up and revoke nothing.
func TestGarbageTokens(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	g := e.grant(t, "u1", "app", "s1")
	code, err := e.s.NewCode(ctx, Code{GrantID: g.ID, ClientID: "app"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	refresh := e.refresh(t, g)
	fresh, _ := mintToken()
	tests := []struct{ name, token string }{
		{"empty", ""},
		{"short", "abc"},
		{"one short", refresh[:42]},
		{"one long", refresh + "A"},
		{"padded", refresh[:42] + "="},
		{"std alphabet", strings.Repeat("+", 43)},
		{"not canonical", refresh[:42] + "B"}, // non-zero trailing bits
		{"spaces", strings.Repeat(" ", 43)},
		{"huge", strings.Repeat("A", 1<<16)},
		{"nul", strings.Repeat("\x00", 43)},
		{"unknown well-formed", fresh},
		{"hash instead of token", hashOf(refresh)},
		{"key path", "../refresh/" + hashOf(refresh)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.token == refresh || tt.token == code {
				t.Skip("collides with a real token")
			}
			_, err := e.s.TakeCode(ctx, tt.token)
			wantErr(t, "TakeCode", err, ErrNotFound)
			_, _, _, err = e.s.RotateRefreshToken(ctx, tt.token, "app", time.Hour)
			wantErr(t, "RotateRefreshToken", err, ErrNotFound)
			_, _, err = e.s.LookupRefreshToken(ctx, tt.token)
			wantErr(t, "LookupRefreshToken", err, ErrNotFound)
		})
	}
	// A code is not a refresh token, nor the reverse.
	_, _, _, err = e.s.RotateRefreshToken(ctx, code, "app", time.Hour)
	wantErr(t, "code as refresh token", err, ErrNotFound)
	_, err = e.s.TakeCode(ctx, refresh)
	wantErr(t, "refresh token as code", err, ErrNotFound)
	for _, id := range []string{"", "a/b", "../grant/x", strings.Repeat("a", 1000), "\x00"} {
		_, err := e.s.Grant(ctx, id)
		wantErr(t, "Grant(garbage)", err, ErrNotFound)
	}
	if _, err := e.s.Grant(ctx, g.ID); err != nil {
		t.Fatalf("garbage revoked the grant: %v", err)
	}
}

// TestNoRawTokensInStore: only hashes of codes and refresh tokens reach the
// store, in keys or values.
func TestNoRawTokensInStore(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	g := e.grant(t, "u1", "app", "s1")
	code, err := e.s.NewCode(ctx, Code{GrantID: g.ID, ClientID: "app"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.TakeCode(ctx, code); err != nil {
		t.Fatal(err)
	}
	a := e.refresh(t, g)
	b, _, _, err := e.s.RotateRefreshToken(ctx, a, "app", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range append(e.rec.keys, e.rec.values...) {
		for _, tok := range []string{code, a, b} {
			if strings.Contains(w, tok) {
				t.Fatalf("a raw token was written to the store: %q", w)
			}
		}
	}
	for _, k := range e.rec.keys {
		if !strings.HasPrefix(k, "idp/") {
			t.Fatalf("key outside idp/: %q", k)
		}
	}
	for _, want := range []string{codeKey(hashOf(code)), codeUsedKey(hashOf(code)), refreshKey(hashOf(a)), refreshKey(hashOf(b))} {
		if !slices.Contains(e.rec.keys, want) {
			t.Fatalf("key %q was never written", want)
		}
	}
}

// TestStoreExpiry is the one test that waits for the store's real TTLs: the
// package clock is frozen, so only the store can expire the records.
func TestStoreExpiry(t *testing.T) {
	if testing.Short() {
		t.Skip("sleeps")
	}
	mem := memory.New()
	t.Cleanup(func() { _ = mem.Close() })
	frozen := time.Now()
	s := New(mem, Options{RefreshGrace: grace, Now: func() time.Time { return frozen }})
	ctx := t.Context()
	const short = 200 * time.Millisecond

	long, err := s.CreateGrant(ctx, Grant{ClientID: "app", ExpiresAt: frozen.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	brief, err := s.CreateGrant(ctx, Grant{ClientID: "app", UserID: "u1", SessionID: "s1", ExpiresAt: frozen.Add(short)})
	if err != nil {
		t.Fatal(err)
	}
	code, err := s.NewCode(ctx, Code{GrantID: long.ID, ClientID: "app"}, short)
	if err != nil {
		t.Fatal(err)
	}
	refresh, err := s.NewRefreshToken(ctx, RefreshToken{GrantID: long.ID, ClientID: "app", ExpiresAt: frozen.Add(short)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeAccessToken(ctx, "jti", frozen.Add(short)); err != nil {
		t.Fatal(err)
	}
	if gs, _ := s.GrantsOfSession(ctx, "s1"); len(gs) != 1 {
		t.Fatalf("GrantsOfSession before expiry = %v", gs)
	}

	time.Sleep(2 * short)

	_, err = s.TakeCode(ctx, code)
	wantErr(t, "code", err, ErrNotFound)
	_, _, err = s.LookupRefreshToken(ctx, refresh)
	wantErr(t, "refresh token", err, ErrNotFound)
	if r, err := s.AccessTokenRevoked(ctx, "jti"); err != nil || r {
		t.Fatalf("revoked jti after its exp: %v, %v", r, err)
	}
	_, err = s.Grant(ctx, brief.ID)
	wantErr(t, "short grant", err, ErrNotFound)
	if m, _ := mem.SetMembers(ctx, sessionSet("s1")); len(m) != 0 {
		t.Fatalf("session index still holds %v", m)
	}
	if m, _ := mem.SetMembers(ctx, userSet("u1")); len(m) != 0 {
		t.Fatalf("user index still holds %v", m)
	}
	if _, err := s.Grant(ctx, long.ID); err != nil {
		t.Fatalf("long grant: %v", err)
	}
}

// TestStoreFailureFailsClosed: a store error is never reported as a live
// grant or an unrevoked token.
func TestStoreFailureFailsClosed(t *testing.T) {
	mem := memory.New()
	c := &clock{t: time.Now()}
	s := New(mem, Options{Now: c.Now})
	ctx := t.Context()
	g, err := s.CreateGrant(ctx, Grant{ClientID: "app", ExpiresAt: c.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.NewRefreshToken(ctx, RefreshToken{GrantID: g.ID, ClientID: "app"})
	if err != nil {
		t.Fatal(err)
	}
	_ = mem.Close()
	if _, err := s.Grant(ctx, g.ID); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("Grant on a closed store: %v", err)
	}
	if r, err := s.AccessTokenRevoked(ctx, "jti"); err == nil {
		t.Fatalf("AccessTokenRevoked on a closed store = %v, nil", r)
	}
	if _, _, _, err := s.RotateRefreshToken(ctx, tok, "app", time.Hour); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("RotateRefreshToken on a closed store: %v", err)
	}
}

func FuzzTokens(f *testing.F) {
	f.Add("")
	f.Add("abc")
	f.Add(strings.Repeat("A", 43))
	f.Add(strings.Repeat("_", 42) + "=")
	e := newEnv(f)
	g := e.grant(f, "u1", "app", "")
	code, err := e.s.NewCode(context.Background(), Code{GrantID: g.ID, ClientID: "app"}, time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	refresh := e.refresh(f, g)
	f.Fuzz(func(t *testing.T, tok string) {
		if tok == code || tok == refresh {
			t.Skip()
		}
		ctx := context.Background()
		_, err := e.s.TakeCode(ctx, tok)
		wantErr(t, "TakeCode", err, ErrNotFound)
		_, _, _, err = e.s.RotateRefreshToken(ctx, tok, "app", time.Hour)
		wantErr(t, "RotateRefreshToken", err, ErrNotFound)
		_, _, err = e.s.LookupRefreshToken(ctx, tok)
		wantErr(t, "LookupRefreshToken", err, ErrNotFound)
		_, err = e.s.Grant(ctx, tok)
		if err != nil && !errors.Is(err, ErrNotFound) {
			t.Fatalf("Grant: %v", err)
		}
	})
}

func BenchmarkRotateRefreshToken(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	g := e.grant(b, "u1", "app", "s1")
	tok := e.refresh(b, g)
	b.ReportAllocs()
	for b.Loop() {
		next, _, _, err := e.s.RotateRefreshToken(ctx, tok, "app", 14*24*time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		tok = next
	}
}

func BenchmarkCodeRoundTrip(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	g := e.grant(b, "u1", "app", "s1")
	c := Code{GrantID: g.ID, ClientID: "app", RedirectURI: "https://app.example/cb",
		CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", CodeChallengeMethod: "S256"}
	b.ReportAllocs()
	for b.Loop() {
		code, err := e.s.NewCode(ctx, c, 5*time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.s.TakeCode(ctx, code); err != nil {
			b.Fatal(err)
		}
	}
}

func TestAccessTokenLive(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	live := e.grant(t, "u1", "app", "s1")
	revoked := e.grant(t, "u1", "app", "s1")
	if err := e.s.RevokeGrant(ctx, revoked.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.s.RevokeAccessToken(ctx, "jti-revoked", e.c.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, jti, gid string
		want           bool
	}{
		{"live token of a live grant", "jti-1", live.ID, true},
		{"client credentials (no grant)", "jti-2", "", true},
		{"revoked token id", "jti-revoked", live.ID, false},
		{"revoked grant", "jti-3", revoked.ID, false},
		{"unknown grant", "jti-4", "neverExisted", false},
	} {
		got, err := e.s.AccessTokenLive(ctx, c.jti, c.gid)
		if err != nil || got != c.want {
			t.Errorf("%s: AccessTokenLive = %v, %v; want %v", c.name, got, err, c.want)
		}
	}
	if _, err := e.s.AccessTokenLive(ctx, "", live.ID); err == nil {
		t.Error("empty jti: no error")
	}
}

// TestRevocationsArePublished: every way a grant or an access token is
// revoked is announced on the revocation topic, once the store says so.
func TestRevocationsArePublished(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	var mu sync.Mutex
	var heard []session.Revocation
	bus := session.NewBus(e.st, nil)
	if _, err := bus.Watch(ctx, func(_ context.Context, r session.Revocation) {
		mu.Lock()
		heard = append(heard, r)
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	e.s.bus = bus // Publish waits for the watcher: no sleeping below
	take := func() []session.Revocation {
		mu.Lock()
		defer mu.Unlock()
		out := heard
		heard = nil
		return out
	}

	g := e.grant(t, "u1", "app", "s1")
	if err := e.s.RevokeGrant(ctx, g.ID); err != nil {
		t.Fatal(err)
	}
	want := session.Revocation{Kind: session.KindGrant, GrantID: g.ID, SID: "s1", UserID: "u1"}
	if got := take(); len(got) != 1 || got[0] != want {
		t.Fatalf("RevokeGrant published %+v, want %+v", got, want)
	}
	if err := e.s.RevokeGrant(ctx, g.ID); err != nil {
		t.Fatal(err)
	}
	if got := take(); len(got) != 0 {
		t.Fatalf("revoking a revoked grant published %+v", got)
	}

	if err := e.s.RevokeAccessToken(ctx, "jti-1", e.c.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := take(); len(got) != 1 || got[0] != (session.Revocation{Kind: session.KindToken, JTI: "jti-1"}) {
		t.Fatalf("RevokeAccessToken published %+v", got)
	}

	g2 := e.grant(t, "u2", "app", "s2")
	e.grant(t, "u2", "other", "s2")
	if err := e.s.RememberConsent(ctx, "u2", "app", []string{"openid"}); err != nil {
		t.Fatal(err)
	}
	if err := e.s.RevokeConsent(ctx, "u2", "app"); err != nil {
		t.Fatal(err)
	}
	if got := take(); len(got) != 1 || got[0].Kind != session.KindGrant || got[0].GrantID != g2.ID {
		t.Fatalf("RevokeConsent published %+v, want the app grant only", got)
	}

	// A replayed refresh token revokes, and announces, its family.
	g3 := e.grant(t, "u3", "app", "s3")
	tok := e.refresh(t, g3)
	if _, _, _, err := e.s.RotateRefreshToken(ctx, tok, "app", time.Hour); err != nil {
		t.Fatal(err)
	}
	e.c.Add(grace + time.Second)
	if _, _, _, err := e.s.RotateRefreshToken(ctx, tok, "app", time.Hour); err == nil {
		t.Fatal("replay accepted")
	}
	if got := take(); len(got) != 1 || got[0].GrantID != g3.ID {
		t.Fatalf("refresh replay published %+v, want grant %s", got, g3.ID)
	}
}

// TestRevokeUser: every grant of the user goes, offline ones and their
// refresh tokens included; other users' grants stay.
func TestRevokeUser(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	mine := []Grant{e.grant(t, "u1", "app", "s1"), e.grant(t, "u1", "other", "s2"), e.grant(t, "u1", "app", "")}
	rt := e.refresh(t, mine[2])
	theirs := e.grant(t, "u2", "app", "s3")

	n, err := e.s.RevokeUser(ctx, "u1")
	if err != nil || n != len(mine) {
		t.Fatalf("RevokeUser = %d, %v; want %d, nil", n, err, len(mine))
	}
	for _, g := range mine {
		_, err := e.s.Grant(ctx, g.ID)
		wantErr(t, "grant of the revoked user", err, ErrRevoked)
	}
	_, _, err = e.s.LookupRefreshToken(ctx, rt)
	if !errors.Is(err, ErrRevoked) && !errors.Is(err, ErrNotFound) {
		t.Fatalf("refresh token of the revoked user: %v", err)
	}
	if _, err := e.s.Grant(ctx, theirs.ID); err != nil {
		t.Fatalf("another user's grant: %v", err)
	}
	if n, err := e.s.RevokeUser(ctx, "u1"); err != nil || n != 0 {
		t.Fatalf("RevokeUser again = %d, %v; want 0, nil", n, err)
	}
	if _, err := e.s.RevokeUser(ctx, ""); err == nil {
		t.Fatal("RevokeUser(\"\") accepted")
	}
}
