package identity

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/store"
)

// syncBuffer is a bytes.Buffer safe for concurrent log writes.
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

type testEnv struct {
	dir   *Directory
	st    *fakeStore
	h     *Hasher
	calls *atomic.Int64 // argon2 computations
	logs  *syncBuffer
}

func mustHash(t testing.TB, password string) string {
	t.Helper()
	enc, err := NewHasher(testParams, 1).Hash(context.Background(), password)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

func newEnv(t testing.TB, st *fakeStore, users ...User) testEnv {
	t.Helper()
	if st == nil {
		st = newFakeStore()
	}
	h := NewHasher(testParams, 4)
	calls := countComputations(h)
	logs := &syncBuffer{}
	d, err := NewDirectory(st, h, users, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatalf("NewDirectory: %v", err)
	}
	calls.Store(0) // forget the dummy hash
	return testEnv{dir: d, st: st, h: h, calls: calls, logs: logs}
}

// fixture: config users alice (password), carol (disabled), erin (no
// password); store users bob (password), dave (disabled), frank (no
// password).
func newFixture(t *testing.T) testEnv {
	t.Helper()
	env := newEnv(t, nil,
		User{ID: "c-alice", Username: "Alice", Email: "Alice@Example.com", Groups: []string{"admins"},
			Attributes: map[string]any{"team": map[string]any{"name": "core"}}, PasswordHash: mustHash(t, "alice-pw")},
		User{ID: "c-carol", Username: "carol", Email: "carol@example.com", Disabled: true, PasswordHash: mustHash(t, "carol-pw")},
		User{ID: "c-erin", Username: "erin"},
	)
	ctx := context.Background()
	for _, c := range []struct {
		u  User
		pw string
	}{
		{User{Username: "Bob", Email: "Bob@Example.org"}, "bob-pw"},
		{User{ID: "s-dave", Username: "dave", Email: "dave@example.org"}, "dave-pw"},
		{User{Username: "frank"}, ""},
	} {
		if _, err := env.dir.Create(ctx, c.u, c.pw); err != nil {
			t.Fatalf("Create %s: %v", c.u.Username, err)
		}
	}
	if err := env.dir.SetDisabled(ctx, "s-dave", true); err != nil {
		t.Fatal(err)
	}
	env.calls.Store(0)
	return env
}

func TestAuthenticate(t *testing.T) {
	env := newFixture(t)
	ctx := context.Background()
	tests := []struct {
		name, login, password string
		wantErr               error
		wantUser              string // username on success or ErrDisabled
		wantSource            string
	}{
		{"config by username", "Alice", "alice-pw", nil, "Alice", SourceConfig},
		{"config by lower-case username", "alice", "alice-pw", nil, "Alice", SourceConfig},
		{"config by upper-case username", "ALICE", "alice-pw", nil, "Alice", SourceConfig},
		{"config by email", "alice@example.com", "alice-pw", nil, "Alice", SourceConfig},
		{"config by mixed-case email", "ALICE@example.COM", "alice-pw", nil, "Alice", SourceConfig},
		{"surrounding spaces", "  alice\t", "alice-pw", nil, "Alice", SourceConfig},
		{"store by username", "bob", "bob-pw", nil, "Bob", SourceStore},
		{"store by email", "bob@EXAMPLE.org", "bob-pw", nil, "Bob", SourceStore},
		{"config wrong password", "alice", "alice-PW", ErrInvalidCredentials, "", ""},
		{"store wrong password", "bob@example.org", "nope", ErrInvalidCredentials, "", ""},
		{"password is case-sensitive", "bob", "BOB-PW", ErrInvalidCredentials, "", ""},
		{"unknown username", "mallory", "alice-pw", ErrInvalidCredentials, "", ""},
		{"unknown email", "mallory@example.com", "x", ErrInvalidCredentials, "", ""},
		{"empty login", "", "x", ErrInvalidCredentials, "", ""},
		{"config user without password", "erin", "", ErrInvalidCredentials, "", ""},
		{"store user without password", "frank", "anything", ErrInvalidCredentials, "", ""},
		{"config disabled, right password", "carol", "carol-pw", ErrDisabled, "carol", SourceConfig},
		{"config disabled, wrong password", "carol", "wrong", ErrInvalidCredentials, "", ""},
		{"store disabled, right password", "dave@example.org", "dave-pw", ErrDisabled, "dave", SourceStore},
		{"store disabled, wrong password", "dave", "wrong", ErrInvalidCredentials, "", ""},
		{"email login does not match username", "alice@", "alice-pw", ErrInvalidCredentials, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env.calls.Store(0)
			u, err := env.dir.Authenticate(ctx, tt.login, tt.password)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Authenticate error = %v, want %v", err, tt.wantErr)
			}
			if n := env.calls.Load(); n != 1 {
				t.Errorf("argon2 computations = %d, want exactly 1", n)
			}
			if u.Username != tt.wantUser || u.Source != tt.wantSource {
				t.Errorf("user = %q (source %q), want %q (%q)", u.Username, u.Source, tt.wantUser, tt.wantSource)
			}
			if u.PasswordHash != "" {
				t.Error("returned user carries its password hash")
			}
			if errors.Is(err, ErrInvalidCredentials) && errors.Is(err, ErrDisabled) {
				t.Error("error is both invalid and disabled")
			}
		})
	}
	for _, secret := range []string{"alice-pw", "bob-pw", "$argon2id"} {
		if strings.Contains(env.logs.String(), secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
}

// TestAuthenticateSameWork pins the anti-enumeration property: an unknown
// user costs the same argon2 work as a wrong password, with the current
// parameters.
func TestAuthenticateSameWork(t *testing.T) {
	env := newEnv(t, nil, User{ID: "u1", Username: "user", PasswordHash: mustHash(t, "pw")})
	ctx := context.Background()
	for _, login := range []string{"user", "nobody"} {
		env.calls.Store(0)
		if _, err := env.dir.Authenticate(ctx, login, "wrong"); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("%s: err = %v", login, err)
		}
		if n := env.calls.Load(); n != 1 {
			t.Errorf("%s: argon2 computations = %d, want 1", login, n)
		}
	}
	// The dummy hash uses the current parameters.
	p, err := ParseHash(env.dir.dummyHash)
	if err != nil || p != env.h.Params() {
		t.Errorf("dummy hash params = %+v, %v; want %+v", p, err, env.h.Params())
	}
}

func TestAuthenticateMalformedStoredHash(t *testing.T) {
	env := newEnv(t, nil)
	ctx := context.Background()
	rec, _ := json.Marshal(record{User: User{ID: "s1", Username: "broken", PasswordHash: "$argon2id$v=19$m=99999999,t=1,p=1$AAAA$AAAA"}})
	env.st.Put(ctx, userKey("s1"), rec, 0)
	env.st.Put(ctx, usernameKey("broken"), []byte("s1"), 0)
	env.calls.Store(0)
	if _, err := env.dir.Authenticate(ctx, "broken", "x"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("err = %v, want ErrInvalidCredentials", err)
	}
	if n := env.calls.Load(); n != 1 {
		t.Errorf("argon2 computations = %d, want 1", n)
	}
	if !strings.Contains(env.logs.String(), "malformed") || strings.Contains(env.logs.String(), "AAAA") {
		t.Errorf("log should report the malformed hash without it: %s", env.logs.String())
	}
}

func TestAuthenticateCancelled(t *testing.T) {
	env := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, login := range []string{"alice", "nobody"} {
		_, err := env.dir.Authenticate(ctx, login, "alice-pw")
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("%s: err = %v, want context.Canceled", login, err)
		}
	}
}

func TestByIDAndByLogin(t *testing.T) {
	env := newFixture(t)
	ctx := context.Background()
	bob, err := env.dir.ByLogin(ctx, "BOB")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		get     func() (User, error)
		want    string
		wantErr error
	}{
		{"config by id", func() (User, error) { return env.dir.ByID(ctx, "c-alice") }, "Alice", nil},
		{"store by id", func() (User, error) { return env.dir.ByID(ctx, bob.ID) }, "Bob", nil},
		{"disabled by id", func() (User, error) { return env.dir.ByID(ctx, "s-dave") }, "dave", nil},
		{"unknown id", func() (User, error) { return env.dir.ByID(ctx, "nope") }, "", ErrNotFound},
		{"empty id", func() (User, error) { return env.dir.ByID(ctx, "") }, "", ErrNotFound},
		{"id is case-sensitive", func() (User, error) { return env.dir.ByID(ctx, "C-ALICE") }, "", ErrNotFound},
		{"config by username", func() (User, error) { return env.dir.ByLogin(ctx, "aLiCe") }, "Alice", nil},
		{"config by email", func() (User, error) { return env.dir.ByLogin(ctx, "alice@EXAMPLE.com") }, "Alice", nil},
		{"store by email", func() (User, error) { return env.dir.ByLogin(ctx, "bob@example.org") }, "Bob", nil},
		{"unknown login", func() (User, error) { return env.dir.ByLogin(ctx, "zed") }, "", ErrNotFound},
		{"unknown email", func() (User, error) { return env.dir.ByLogin(ctx, "zed@example.org") }, "", ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := tt.get()
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if u.Username != tt.want {
				t.Errorf("username = %q, want %q", u.Username, tt.want)
			}
			if u.PasswordHash != "" {
				t.Error("returned user carries its password hash")
			}
		})
	}

	// Returned users are copies.
	a, _ := env.dir.ByID(ctx, "c-alice")
	if !a.InGroup("admins") || a.InGroup("Admins") || a.InGroup("") {
		t.Errorf("InGroup wrong for groups %v", a.Groups)
	}
	a.Groups[0] = "hacked"
	a.Attributes["team"].(map[string]any)["name"] = "hacked"
	again, _ := env.dir.ByID(ctx, "c-alice")
	if again.Groups[0] != "admins" || again.Attributes["team"].(map[string]any)["name"] != "core" {
		t.Errorf("mutating a returned user changed the directory: %+v", again)
	}
	if env.calls.Load() != 0 {
		t.Error("lookups computed hashes")
	}
}

func TestNewDirectoryValidation(t *testing.T) {
	good := mustHash(t, "pw")
	tests := []struct {
		name    string
		users   []User
		want    string
		wantErr error
	}{
		{"missing id", []User{{Username: "a"}}, `config user #1 (username "a"): id is required`, nil},
		{"missing username", []User{{ID: "u1"}}, `config user "u1": identity: invalid user: username is required`, ErrInvalidUser},
		{"space in username", []User{{ID: "u1", Username: "a b"}}, `"u1"`, ErrInvalidUser},
		{"control char in username", []User{{ID: "u1", Username: "a\x00b"}}, `"u1"`, ErrInvalidUser},
		{"zero-width space in username", []User{{ID: "u1", Username: "a\u200bb"}}, `"u1"`, ErrInvalidUser},
		{"at sign in username", []User{{ID: "u1", Username: "a@b.c"}}, `"u1"`, ErrInvalidUser},
		{"space in id", []User{{ID: "u 1", Username: "a"}}, `"u 1"`, ErrInvalidUser},
		{"bad email", []User{{ID: "u1", Username: "a", Email: "not-an-address"}}, `"u1"`, ErrInvalidUser},
		{"email with display name", []User{{ID: "u1", Username: "a", Email: "A <a@example.com>"}}, `"u1"`, ErrInvalidUser},
		{"malformed hash", []User{{ID: "u1", Username: "a", PasswordHash: "$argon2i$v=19$m=1,t=1,p=1$AAAA$AAAA"}}, `config user "u1": password hash`, ErrMalformedHash},
		{"absurd hash params", []User{{ID: "u1", Username: "a", PasswordHash: "$argon2id$v=19$m=8388608,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}, `"u1"`, ErrMalformedHash},
		{"duplicate id", []User{{ID: "u1", Username: "a"}, {ID: "u1", Username: "b"}}, `config user "u1": duplicate id`, nil},
		{"duplicate username", []User{{ID: "u1", Username: "Ann"}, {ID: "u2", Username: "aNN"}}, `config user "u2": username "aNN" already used by config user "u1"`, nil},
		{"duplicate email", []User{{ID: "u1", Username: "a", Email: "x@example.com"}, {ID: "u2", Username: "b", Email: "X@Example.com"}}, `config user "u2": email`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewDirectory(newFakeStore(), NewHasher(testParams, 1), tt.users, nil)
			if err == nil {
				t.Fatal("NewDirectory succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to contain %q", err, tt.want)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "AAAAAAAA") {
				t.Errorf("err leaks the hash: %v", err)
			}
		})
	}
	if _, err := NewDirectory(newFakeStore(), NewHasher(testParams, 1), []User{
		{ID: "u1", Username: "a", Email: "a@example.com", PasswordHash: good},
		{ID: "u2", Username: "b"},
	}, nil); err != nil {
		t.Errorf("valid users rejected: %v", err)
	}
	if _, err := NewDirectory(newFakeStore(), NewHasher(Params{}, 1), nil, nil); err == nil {
		t.Error("NewDirectory with invalid hasher params succeeded")
	}
}

func TestNewDirectoryStoreCollision(t *testing.T) {
	st := newFakeStore()
	env := newEnv(t, st)
	ctx := context.Background()
	live, err := env.dir.Create(ctx, User{ID: "s-live", Username: "live", Email: "live@example.com"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.dir.Create(ctx, User{ID: "s-gone", Username: "gone"}, ""); err != nil {
		t.Fatal(err)
	}
	if err := env.dir.Delete(ctx, "s-gone"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		u    User
		ok   bool
	}{
		{"live id", User{ID: live.ID, Username: "other"}, false},
		{"deleted id", User{ID: "s-gone", Username: "other"}, false},
		{"username", User{ID: "c1", Username: "LIVE"}, false},
		{"email", User{ID: "c1", Username: "other", Email: "Live@example.com"}, false},
		{"released username", User{ID: "c1", Username: "gone"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewDirectory(st, NewHasher(testParams, 1), []User{tt.u}, nil)
			if tt.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && (!errors.Is(err, ErrExists) || !strings.Contains(err.Error(), `"c1"`) && !strings.Contains(err.Error(), tt.u.ID)) {
				t.Errorf("err = %v, want ErrExists naming the config user", err)
			}
		})
	}
}

var idRE = regexp.MustCompile(`^u_[a-z2-7]{26}$`)

func TestCreate(t *testing.T) {
	env := newEnv(t, nil)
	ctx := context.Background()
	in := User{Username: "Grace", Email: "Grace@Example.com", Name: "Grace Hopper", Groups: []string{"navy"},
		Attributes: map[string]any{"rank": "admiral"}, PasswordHash: "ignored", Source: "bogus"}
	u, err := env.dir.Create(ctx, in, "cobol")
	if err != nil {
		t.Fatal(err)
	}
	if !idRE.MatchString(u.ID) {
		t.Errorf("generated id %q does not match %v", u.ID, idRE)
	}
	if u.Source != SourceStore || u.PasswordHash != "" || u.CreatedAt.IsZero() || !u.UpdatedAt.Equal(u.CreatedAt) {
		t.Errorf("created user = %+v", u)
	}
	if n := env.calls.Load(); n != 1 {
		t.Errorf("argon2 computations = %d, want 1", n)
	}

	// Stored layout.
	raw, err := env.st.Get(ctx, "identity/user/"+u.ID)
	if err != nil {
		t.Fatal(err)
	}
	var stored map[string]any
	if err := json.Unmarshal(raw, &stored); err != nil {
		t.Fatal(err)
	}
	if h, _ := stored["password_hash"].(string); !strings.HasPrefix(h, "$argon2id$") {
		t.Errorf("stored password_hash = %q", h)
	}
	if _, ok := stored["Source"]; ok {
		t.Error("Source is stored")
	}
	for _, k := range []string{"identity/username/grace", "identity/email/grace@example.com"} {
		if v, err := env.st.Get(ctx, k); err != nil || string(v) != u.ID {
			t.Errorf("%s = %q, %v; want %q", k, v, err, u.ID)
		}
	}

	got, err := env.dir.ByID(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "Grace Hopper" || got.Email != "Grace@Example.com" || !got.InGroup("navy") ||
		got.Attributes["rank"] != "admiral" || !got.CreatedAt.Equal(u.CreatedAt) {
		t.Errorf("ByID = %+v", got)
	}
	if _, err := env.dir.Authenticate(ctx, "grace@example.COM", "cobol"); err != nil {
		t.Errorf("Authenticate new user: %v", err)
	}

	// Two generated ids differ.
	u2, err := env.dir.Create(ctx, User{Username: "other"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if u2.ID == u.ID || !idRE.MatchString(u2.ID) {
		t.Errorf("second id %q", u2.ID)
	}
}

func TestCreateValidation(t *testing.T) {
	env := newEnv(t, nil)
	tests := []struct {
		name string
		u    User
	}{
		{"no username", User{}},
		{"space", User{Username: "a b"}},
		{"tab", User{Username: "a\tb"}},
		{"newline", User{Username: "a\nb"}},
		{"DEL", User{Username: "a\x7fb"}},
		{"at sign", User{Username: "a@b"}},
		{"invalid UTF-8", User{Username: "a\xffb"}},
		{"too long", User{Username: strings.Repeat("a", 257)}},
		{"bad email", User{Username: "a", Email: "a@"}},
		{"email with spaces", User{Username: "a", Email: "a b@example.com"}},
		{"email with name", User{Username: "a", Email: "Ann <a@example.com>"}},
		{"bad id", User{ID: "a\x00", Username: "a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := env.dir.Create(context.Background(), tt.u, "sup3r-secret")
			if !errors.Is(err, ErrInvalidUser) {
				t.Fatalf("err = %v, want ErrInvalidUser", err)
			}
			if strings.Contains(err.Error(), "sup3r-secret") {
				t.Error("error contains the password")
			}
		})
	}
	if keys := env.st.keys("identity/"); len(keys) != 0 {
		t.Errorf("invalid creates left keys %v", keys)
	}
	if n := env.calls.Load(); n != 0 {
		t.Errorf("invalid creates hashed %d times", n)
	}
}

func TestCreateCollisions(t *testing.T) {
	env := newFixture(t)
	ctx := context.Background()
	tests := []struct {
		name string
		u    User
		want string
	}{
		{"config id", User{ID: "c-alice", Username: "new"}, "id belongs to a config user"},
		{"config username", User{Username: "ALICE"}, "username belongs to a config user"},
		{"config email", User{Username: "new", Email: "alice@example.COM"}, "email belongs to a config user"},
		{"config user without email keeps username", User{Username: "Erin"}, "username belongs to a config user"},
		{"store username", User{Username: "BOB"}, "reserve username"},
		{"store email", User{Username: "new", Email: "bob@example.org"}, "reserve email"},
		{"store id", User{ID: "s-dave", Username: "new", Email: "new@example.org"}, "reserve id"},
	}
	before := env.st.keys("identity/")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := env.dir.Create(ctx, tt.u, "")
			if !errors.Is(err, ErrExists) {
				t.Fatalf("err = %v, want ErrExists", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to mention %q", err, tt.want)
			}
		})
	}
	if after := env.st.keys("identity/"); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("failed creates changed the store:\nbefore %v\nafter  %v", before, after)
	}
}

func TestCreateRollback(t *testing.T) {
	ctx := context.Background()
	t.Run("email taken", func(t *testing.T) {
		env := newEnv(t, nil)
		if _, err := env.dir.Create(ctx, User{Username: "first", Email: "shared@example.com"}, ""); err != nil {
			t.Fatal(err)
		}
		_, err := env.dir.Create(ctx, User{Username: "second", Email: "SHARED@example.com"}, "")
		if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "create user: reserve email") {
			t.Fatalf("err = %v, want ErrExists from reserving the email", err)
		}
		if _, err := env.st.Get(ctx, "identity/username/second"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("username reservation not released: %v", err)
		}
		if _, err := env.dir.Create(ctx, User{Username: "second", Email: "own@example.com"}, ""); err != nil {
			t.Errorf("username not reusable after rollback: %v", err)
		}
	})
	t.Run("id taken", func(t *testing.T) {
		env := newEnv(t, nil)
		if _, err := env.dir.Create(ctx, User{ID: "fixed", Username: "first"}, ""); err != nil {
			t.Fatal(err)
		}
		_, err := env.dir.Create(ctx, User{ID: "fixed", Username: "second", Email: "second@example.com"}, "")
		if !errors.Is(err, ErrExists) {
			t.Fatalf("err = %v, want ErrExists", err)
		}
		for _, k := range []string{"identity/username/second", "identity/email/second@example.com"} {
			if _, err := env.st.Get(ctx, k); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s not released: %v", k, err)
			}
		}
		if u, _ := env.dir.ByID(ctx, "fixed"); u.Username != "first" {
			t.Errorf("existing user changed: %+v", u)
		}
	})
	t.Run("store failure", func(t *testing.T) {
		env := newEnv(t, nil)
		boom := errors.New("disk on fire")
		env.st.failCreate = func(key string) error {
			if strings.HasPrefix(key, emailPrefix) {
				return boom
			}
			return nil
		}
		_, err := env.dir.Create(ctx, User{Username: "ann", Email: "ann@example.com"}, "")
		if !errors.Is(err, boom) || errors.Is(err, ErrExists) {
			t.Fatalf("err = %v, want the store error", err)
		}
		if keys := env.st.keys("identity/"); len(keys) != 0 {
			t.Errorf("leftover keys after failed create: %v", keys)
		}
	})
}

// TestStaleReservationIgnored covers an index entry left by an unfinished
// Create: it must not resolve to the user who owns that id.
func TestStaleReservationIgnored(t *testing.T) {
	env := newEnv(t, nil)
	ctx := context.Background()
	owner, err := env.dir.Create(ctx, User{ID: "s1", Username: "owner"}, "pw")
	if err != nil {
		t.Fatal(err)
	}
	env.st.Put(ctx, usernameKey("impostor"), []byte(owner.ID), 0)
	env.st.Put(ctx, emailKey("ghost@example.com"), []byte("no-such-id"), 0)
	if _, err := env.dir.ByLogin(ctx, "impostor"); !errors.Is(err, ErrNotFound) {
		t.Errorf("stale username: err = %v, want ErrNotFound", err)
	}
	if _, err := env.dir.ByLogin(ctx, "ghost@example.com"); !errors.Is(err, ErrNotFound) {
		t.Errorf("dangling email: err = %v, want ErrNotFound", err)
	}
	if _, err := env.dir.Authenticate(ctx, "impostor", "pw"); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("Authenticate via stale index: err = %v", err)
	}
}

func TestCreateRace(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		user func(i int) User
	}{
		{"same username", func(i int) User {
			return User{Username: []string{"racer", "Racer", "RACER"}[i%3], Email: fmt.Sprintf("r%d@example.com", i)}
		}},
		{"same email", func(i int) User {
			return User{Username: fmt.Sprintf("racer%d", i), Email: []string{"race@example.com", "Race@Example.com"}[i%2]}
		}},
		{"same id", func(i int) User {
			return User{ID: "the-id", Username: fmt.Sprintf("racer%d", i), Email: fmt.Sprintf("r%d@example.com", i)}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t, nil)
			var wins, losses atomic.Int64
			var winner atomic.Value
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range 20 {
				wg.Go(func() {
					<-start
					u, err := env.dir.Create(ctx, tc.user(i), "")
					switch {
					case err == nil:
						wins.Add(1)
						winner.Store(u.ID)
					case errors.Is(err, ErrExists):
						losses.Add(1)
					default:
						t.Errorf("Create: %v", err)
					}
				})
			}
			close(start)
			wg.Wait()
			if wins.Load() != 1 || losses.Load() != 19 {
				t.Fatalf("wins = %d, losses = %d; want 1 and 19", wins.Load(), losses.Load())
			}
			// Only the winner's three keys remain.
			keys := env.st.keys("identity/")
			if len(keys) != 3 {
				t.Errorf("keys after race = %v, want the winner's record and two index entries", keys)
			}
			id := winner.Load().(string)
			for _, k := range keys {
				if strings.HasPrefix(k, userKeyPrefix) {
					continue
				}
				if v, _ := env.st.Get(ctx, k); string(v) != id {
					t.Errorf("%s = %q, want winner %q", k, v, id)
				}
			}
		})
	}
}

func TestDeleteTombstone(t *testing.T) {
	env := newEnv(t, nil)
	ctx := context.Background()
	u, err := env.dir.Create(ctx, User{ID: "s-1", Username: "Temp", Email: "temp@example.com"}, "pw")
	if err != nil {
		t.Fatal(err)
	}
	if err := env.dir.Delete(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	raw, err := env.st.Get(ctx, "identity/user/s-1")
	if err != nil || string(raw) != `{"deleted":true}` {
		t.Errorf("tombstone = %s, %v; want {\"deleted\":true}", raw, err)
	}
	for _, k := range []string{"identity/username/temp", "identity/email/temp@example.com", "identity/lock/user/s-1"} {
		if _, err := env.st.Get(ctx, k); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s still present: %v", k, err)
		}
	}
	if _, err := env.dir.ByID(ctx, "s-1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ByID deleted = %v, want ErrNotFound", err)
	}
	if _, err := env.dir.ByLogin(ctx, "temp"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ByLogin deleted = %v, want ErrNotFound", err)
	}
	if _, err := env.dir.Authenticate(ctx, "temp", "pw"); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("Authenticate deleted = %v, want ErrInvalidCredentials", err)
	}
	if err := env.dir.Delete(ctx, "s-1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete = %v, want ErrNotFound", err)
	}
	if err := env.dir.SetDisabled(ctx, "s-1", true); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetDisabled deleted = %v, want ErrNotFound", err)
	}
	if _, err := env.dir.Create(ctx, User{ID: "s-1", Username: "fresh"}, ""); !errors.Is(err, ErrExists) {
		t.Errorf("Create with deleted id = %v, want ErrExists", err)
	}
	again, err := env.dir.Create(ctx, User{Username: "TEMP", Email: "Temp@example.com"}, "pw2")
	if err != nil {
		t.Fatalf("username/email not reusable after delete: %v", err)
	}
	if again.ID == "s-1" {
		t.Error("id reused")
	}
	if got, err := env.dir.Authenticate(ctx, "temp", "pw2"); err != nil || got.ID != again.ID {
		t.Errorf("Authenticate reused username = %+v, %v", got, err)
	}
	if err := env.dir.Delete(ctx, "never-existed"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete unknown = %v, want ErrNotFound", err)
	}
}

func TestReadOnlyConfigUsers(t *testing.T) {
	env := newFixture(t)
	ctx := context.Background()
	if err := env.dir.Delete(ctx, "c-alice"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Delete config user = %v, want ErrReadOnly", err)
	}
	if err := env.dir.SetDisabled(ctx, "c-alice", true); !errors.Is(err, ErrReadOnly) {
		t.Errorf("SetDisabled config user = %v, want ErrReadOnly", err)
	}
	if u, _ := env.dir.ByID(ctx, "c-alice"); u.Disabled {
		t.Error("config user got disabled")
	}
}

func TestSetDisabled(t *testing.T) {
	env := newEnv(t, nil)
	ctx := context.Background()
	u, err := env.dir.Create(ctx, User{Username: "toggle"}, "pw")
	if err != nil {
		t.Fatal(err)
	}
	for i, disabled := range []bool{true, true, false, false, true} {
		if err := env.dir.SetDisabled(ctx, u.ID, disabled); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		got, err := env.dir.ByID(ctx, u.ID)
		if err != nil || got.Disabled != disabled {
			t.Fatalf("step %d: Disabled = %v, %v; want %v", i, got.Disabled, err, disabled)
		}
		_, err = env.dir.Authenticate(ctx, "toggle", "pw")
		if disabled != errors.Is(err, ErrDisabled) || (!disabled && err != nil) {
			t.Fatalf("step %d: Authenticate err = %v", i, err)
		}
	}
	if err := env.dir.SetDisabled(ctx, "missing", true); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetDisabled unknown = %v, want ErrNotFound", err)
	}
}

// TestDeleteSetDisabledRace checks that a SetDisabled racing a Delete
// cannot bring the deleted user back.
func TestDeleteSetDisabledRace(t *testing.T) {
	env := newEnv(t, nil)
	ctx := context.Background()
	for i := range 20 {
		id := fmt.Sprintf("s-%d", i)
		if _, err := env.dir.Create(ctx, User{ID: id, Username: id}, ""); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := env.dir.Delete(ctx, id); err != nil {
				t.Errorf("Delete: %v", err)
			}
		})
		for range 3 {
			wg.Go(func() {
				if err := env.dir.SetDisabled(ctx, id, true); err != nil && !errors.Is(err, ErrNotFound) {
					t.Errorf("SetDisabled: %v", err)
				}
			})
		}
		wg.Wait()
		if _, err := env.dir.ByID(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Fatalf("user %s survived Delete: %v", id, err)
		}
	}
}

func TestLockHonoursContext(t *testing.T) {
	env := newEnv(t, nil)
	ctx := context.Background()
	if _, err := env.dir.Create(ctx, User{ID: "s-1", Username: "locked"}, ""); err != nil {
		t.Fatal(err)
	}
	env.st.Put(ctx, lockKey("s-1"), []byte("someone else"), 0)
	tctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if err := env.dir.SetDisabled(tctx, "s-1", true); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("SetDisabled while locked = %v, want context.DeadlineExceeded", err)
	}
}
