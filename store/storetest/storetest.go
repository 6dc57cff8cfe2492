package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/store"
)

// Timing of the expiry tests. A value with ttl shortTTL must be gone after
// expiryWait; it is required to be present only when checked within
// ttl-presentSlack of being written.
const (
	shortTTL     = 200 * time.Millisecond
	expiryWait   = 600 * time.Millisecond
	presentSlack = 50 * time.Millisecond
	racers       = 100
)

// Backend tells the suite how to make stores of one backend.
type Backend struct {
	// New returns a fresh, empty store on every call. Required.
	New func(t *testing.T) store.Store
	// Clocked, when set, returns a fresh, empty store that reads the
	// current time from now for every TTL decision. The suite then moves a
	// fake clock instead of sleeping; a backend that expires keys by its
	// own clock (a server) leaves it nil and the suite runs in real time.
	Clocked func(t *testing.T, now func() time.Time) store.Store
	// Handle opens another handle on the backend behind s (another
	// connection to the same server, another handle on the same file),
	// as a second replica would. Required: the bus and counter tests
	// check that what one handle does, the other sees.
	Handle func(t *testing.T, s store.Store) store.Store
}

// suite is what each conformance test gets.
type suite struct {
	s      store.Store
	clock  clock
	handle func() store.Store
}

// Run runs the conformance suite against b. Each subtest gets its own
// store and closes it when it ends (the factory may register its own
// cleanup, e.g. removing a temporary directory, but must not fail if the
// store is already closed); a handle made by b.Handle is closed by the
// suite as well.
func Run(t *testing.T, b Backend) {
	if b.New == nil || b.Handle == nil {
		t.Fatal("storetest: Backend.New and Backend.Handle are required")
	}
	plain := func(fn func(t *testing.T, s store.Store)) func(*testing.T, *suite) {
		return func(t *testing.T, x *suite) { fn(t, x.s) }
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, x *suite)
	}{
		{"GetMissing", plain(testGetMissing)},
		{"PutGet", plain(testPutGet)},
		{"ValuesAreCopied", plain(testValuesAreCopied)},
		{"EmptyValue", plain(testEmptyValue)},
		{"LargeValue", plain(testLargeValue)},
		{"OddKeysAndValues", plain(testOddKeysAndValues)},
		{"PutReplacesValue", plain(testPutReplacesValue)},
		{"PutReplacesTTL", testPutReplacesTTL},
		{"TTLExpiry", testTTLExpiry},
		{"NegativeTTL", plain(testNegativeTTL)},
		{"CreateMissing", plain(testCreateMissing)},
		{"CreateExisting", plain(testCreateExisting)},
		{"CreateRace", plain(testCreateRace)},
		{"Take", plain(testTake)},
		{"TakeRace", plain(testTakeRace)},
		{"Delete", plain(testDelete)},
		{"SetBasics", plain(testSetBasics)},
		{"SetMissingIsEmpty", plain(testSetMissingIsEmpty)},
		{"SetsAreSeparate", plain(testSetsAreSeparate)},
		{"SetsIndependentOfKeys", plain(testSetsIndependentOfKeys)},
		{"SetMemberTTL", testSetMemberTTL},
		{"ConcurrentMixed", plain(testConcurrentMixed)},
		{"Incr", plain(testIncr)},
		{"IncrWindow", testIncrWindow},
		{"IncrNotCounter", plain(testIncrNotCounter)},
		{"IncrRace", testIncrRace},
		{"PublishSubscribe", plain(testPublishSubscribe)},
		{"PublishOrder", plain(testPublishOrder)},
		{"PublishAcrossHandles", testPublishAcrossHandles},
		{"SlowSubscriber", plain(testSlowSubscriber)},
		{"SubscriptionEnds", testSubscriptionEnds},
		{"Ping", plain(testPing)},
		{"Closed", plain(testClosed)},
		{"ContextCancelled", plain(testContextCancelled)},
		{"ContextDeadline", plain(testContextDeadline)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := &suite{clock: realClock{}}
			if b.Clocked != nil {
				c := newFakeClock()
				x.clock = c
				x.s = b.Clocked(t, c.Now)
			} else {
				x.s = b.New(t)
			}
			t.Cleanup(func() { closeOnce(t, x.s) })
			x.handle = func() store.Store {
				h := b.Handle(t, x.s)
				t.Cleanup(func() { closeOnce(t, h) })
				return h
			}
			tc.fn(t, x)
		})
	}
}

// RunPersistence checks that a durable backend keeps its data across Close
// and reopen. open must open (creating if needed) the store kept in dir; it
// is called several times with the same dir, each time after the previous
// store was closed.
func RunPersistence(t *testing.T, open func(t *testing.T, dir string) store.Store) {
	t.Run("SurvivesReopen", func(t *testing.T) {
		ctx := t.Context()
		dir := t.TempDir()

		s := open(t, dir)
		start := time.Now()
		mustPut(t, s, "durable", []byte("forever"), 0)
		mustPut(t, s, "long", []byte("an hour"), time.Hour)
		mustPut(t, s, "short", []byte("gone soon"), shortTTL)
		mustPut(t, s, "taken", []byte("x"), 0)
		mustPut(t, s, "deleted", []byte("x"), 0)
		mustPut(t, s, "empty", []byte{}, 0)
		if _, err := s.Take(ctx, "taken"); err != nil {
			t.Fatalf("Take(taken): %v", err)
		}
		mustDelete(t, s, "deleted")
		mustSetAdd(t, s, "users", "alice", 0)
		mustSetAdd(t, s, "users", "bob", time.Hour)
		mustSetAdd(t, s, "users", "carol", shortTTL)
		mustSetAdd(t, s, "users", "dave", 0)
		if err := s.SetRemove(ctx, "users", "dave"); err != nil {
			t.Fatalf("SetRemove: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		sleepUntil(start.Add(expiryWait))

		s = open(t, dir)
		wantValue(t, s, "durable", []byte("forever"))
		wantValue(t, s, "long", []byte("an hour"))
		wantValue(t, s, "empty", []byte{})
		for _, k := range []string{"short", "taken", "deleted"} {
			wantNotFound(t, s, k)
		}
		wantMembers(t, s, "users", "alice", "bob")

		// Write through the reopened store and reopen once more.
		mustPut(t, s, "second", []byte("generation"), 0)
		if err := s.SetRemove(ctx, "users", "alice"); err != nil {
			t.Fatalf("SetRemove: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}

		s = open(t, dir)
		t.Cleanup(func() { closeOnce(t, s) })
		wantValue(t, s, "durable", []byte("forever"))
		wantValue(t, s, "second", []byte("generation"))
		wantMembers(t, s, "users", "bob")
	})
}

func testGetMissing(t *testing.T, s store.Store) {
	wantNotFound(t, s, "missing")
	if err := s.Delete(t.Context(), "missing"); err != nil {
		t.Fatalf("Delete(missing) = %v, want nil", err)
	}
	wantNotFound(t, s, "missing")
}

func testPutGet(t *testing.T, s store.Store) {
	mustPut(t, s, "session/1", []byte("one"), 0)
	mustPut(t, s, "session/2", []byte("two"), time.Hour)
	wantValue(t, s, "session/1", []byte("one"))
	wantValue(t, s, "session/2", []byte("two"))
	wantNotFound(t, s, "session/")
	wantNotFound(t, s, "session")
}

func testValuesAreCopied(t *testing.T, s store.Store) {
	ctx := t.Context()
	in := []byte("original")
	mustPut(t, s, "put", in, 0)
	copy(in, "XXXXXXXX")
	wantValue(t, s, "put", []byte("original"))

	in = []byte("original")
	if err := s.Create(ctx, "create", in, 0); err != nil {
		t.Fatalf("Create: %v", err)
	}
	copy(in, "XXXXXXXX")
	wantValue(t, s, "create", []byte("original"))

	got, err := s.Get(ctx, "put")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	copy(got, "YYYYYYYY")
	_ = append(got[:0], "ZZZZZZZZZZZZ"...)
	wantValue(t, s, "put", []byte("original"))

	// Two Gets must not share memory either.
	a, _ := s.Get(ctx, "put")
	b, _ := s.Get(ctx, "put")
	if len(a) > 0 && len(b) > 0 {
		a[0] = '!'
		if b[0] == '!' {
			t.Fatal("two Get results share memory")
		}
	}
}

func testEmptyValue(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustPut(t, s, "nil", nil, 0)
	mustPut(t, s, "empty", []byte{}, 0)
	wantValue(t, s, "nil", []byte{})
	wantValue(t, s, "empty", []byte{})
	if err := s.Create(ctx, "nil", []byte("x"), 0); !errors.Is(err, store.ErrExists) {
		t.Fatalf("Create over an empty value = %v, want ErrExists", err)
	}
	got, err := s.Take(ctx, "empty")
	if err != nil || len(got) != 0 {
		t.Fatalf("Take(empty) = %q, %v; want empty value", got, err)
	}
	wantNotFound(t, s, "empty")
}

func testLargeValue(t *testing.T, s store.Store) {
	v := make([]byte, 1<<20)
	for i := range v {
		v[i] = byte(i * 7)
	}
	mustPut(t, s, "large", v, 0)
	wantValue(t, s, "large", v)
}

func testOddKeysAndValues(t *testing.T, s store.Store) {
	ctx := t.Context()
	// Keys, set names and members that naive encodings get wrong.
	oddStrings := []string{
		"", "\x00", "\x00\x00", "a", "a\x00", "a\x00b", "a/b", "/", "//",
		"a/", "\xff\xfe", "日本語/🔑", "with space", "\n\t", "k", "kk",
	}
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	for i, k := range oddStrings {
		v := append([]byte(fmt.Sprintf("%d:", i)), all...)
		mustPut(t, s, k, v, 0)
	}
	for i, k := range oddStrings {
		v := append([]byte(fmt.Sprintf("%d:", i)), all...)
		wantValue(t, s, k, v)
	}
	// Odd members in one set, and odd set names each with two members
	// (one spelled like another set's name).
	for _, m := range oddStrings {
		mustSetAdd(t, s, "odd", m, 0)
	}
	want := slices.Clone(oddStrings)
	slices.Sort(want)
	wantMembers(t, s, "odd", want...)
	for _, set := range oddStrings {
		mustSetAdd(t, s, set, set, 0)
		mustSetAdd(t, s, set, "m", 0)
	}
	for _, set := range oddStrings {
		want := []string{set, "m"}
		slices.Sort(want)
		want = slices.Compact(want)
		wantMembers(t, s, set, want...)
	}
	// Removing from one odd set leaves the others alone.
	for _, m := range oddStrings {
		if err := s.SetRemove(ctx, "odd", m); err != nil {
			t.Fatalf("SetRemove: %v", err)
		}
	}
	wantMembers(t, s, "odd")
	if err := s.SetRemove(ctx, "a", "m"); err != nil {
		t.Fatalf("SetRemove: %v", err)
	}
	wantMembers(t, s, "a", "a")
	wantMembers(t, s, "a\x00", "a\x00", "m")
	wantMembers(t, s, "", "", "m")
	// Taking one odd key leaves the others alone.
	for i, k := range oddStrings {
		got, err := s.Take(ctx, k)
		v := append([]byte(fmt.Sprintf("%d:", i)), all...)
		if err != nil || !bytes.Equal(got, v) {
			t.Fatalf("Take(%q) = %q, %v; want its value", k, got, err)
		}
		for _, other := range oddStrings[i+1:] {
			if _, err := s.Get(ctx, other); err != nil {
				t.Fatalf("after Take(%q): Get(%q) = %v", k, other, err)
			}
		}
	}
}

func testPutReplacesValue(t *testing.T, s store.Store) {
	mustPut(t, s, "k", []byte("first value, longer"), 0)
	mustPut(t, s, "k", []byte("second"), 0)
	wantValue(t, s, "k", []byte("second"))
}

func testPutReplacesTTL(t *testing.T, x *suite) {
	s := x.s
	// TTL -> none: the second Put must clear the expiry.
	mustPut(t, s, "cleared", []byte("v1"), shortTTL)
	mustPut(t, s, "cleared", []byte("v2"), 0)
	// TTL -> longer TTL.
	mustPut(t, s, "extended", []byte("v1"), shortTTL)
	mustPut(t, s, "extended", []byte("v2"), time.Hour)
	// none -> TTL: the second Put must add an expiry.
	mustPut(t, s, "added", []byte("v1"), 0)
	start := x.clock.Now()
	mustPut(t, s, "added", []byte("v2"), shortTTL)
	wantValueBefore(t, x, "added", []byte("v2"), start, shortTTL)

	x.clock.SleepUntil(start.Add(expiryWait))
	wantValue(t, s, "cleared", []byte("v2"))
	wantValue(t, s, "extended", []byte("v2"))
	wantNotFound(t, s, "added")
}

func testTTLExpiry(t *testing.T, x *suite) {
	s := x.s
	ctx := t.Context()
	start := x.clock.Now()
	for _, k := range []string{"get", "take", "create", "put", "delete"} {
		mustPut(t, s, k, []byte("short-lived"), shortTTL)
	}
	if err := s.Create(ctx, "created", []byte("short-lived"), shortTTL); err != nil {
		t.Fatalf("Create: %v", err)
	}
	mustPut(t, s, "forever", []byte("zero ttl"), 0)
	wantValueBefore(t, x, "get", []byte("short-lived"), start, shortTTL)
	wantValueBefore(t, x, "created", []byte("short-lived"), start, shortTTL)

	x.clock.SleepUntil(start.Add(expiryWait))
	wantNotFound(t, s, "get")
	wantNotFound(t, s, "created")
	wantValue(t, s, "forever", []byte("zero ttl"))
	if got, err := s.Take(ctx, "take"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Take(expired) = %q, %v; want ErrNotFound", got, err)
	}
	if err := s.Create(ctx, "create", []byte("new"), 0); err != nil {
		t.Fatalf("Create over an expired key = %v, want nil", err)
	}
	wantValue(t, s, "create", []byte("new"))
	mustPut(t, s, "put", []byte("new"), 0)
	wantValue(t, s, "put", []byte("new"))
	mustDelete(t, s, "delete")
	wantNotFound(t, s, "delete")
}

func testNegativeTTL(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustPut(t, s, "k", []byte("kept"), 0)
	mustSetAdd(t, s, "set", "kept", 0)
	if err := s.Put(ctx, "k", []byte("bad"), -time.Second); !errors.Is(err, store.ErrBadTTL) {
		t.Errorf("Put(ttl<0) = %v, want ErrBadTTL", err)
	}
	if err := s.Put(ctx, "new", []byte("bad"), -time.Nanosecond); !errors.Is(err, store.ErrBadTTL) {
		t.Errorf("Put(ttl<0) = %v, want ErrBadTTL", err)
	}
	if err := s.Create(ctx, "created", []byte("bad"), -time.Second); !errors.Is(err, store.ErrBadTTL) {
		t.Errorf("Create(ttl<0) = %v, want ErrBadTTL", err)
	}
	if err := s.SetAdd(ctx, "set", "kept", -time.Second); !errors.Is(err, store.ErrBadTTL) {
		t.Errorf("SetAdd(ttl<0) = %v, want ErrBadTTL", err)
	}
	if err := s.SetAdd(ctx, "set", "bad", -time.Second); !errors.Is(err, store.ErrBadTTL) {
		t.Errorf("SetAdd(ttl<0) = %v, want ErrBadTTL", err)
	}
	wantValue(t, s, "k", []byte("kept"))
	wantNotFound(t, s, "new")
	wantNotFound(t, s, "created")
	wantMembers(t, s, "set", "kept")
}

func testCreateMissing(t *testing.T, s store.Store) {
	if err := s.Create(t.Context(), "k", []byte("v"), time.Hour); err != nil {
		t.Fatalf("Create(missing) = %v, want nil", err)
	}
	wantValue(t, s, "k", []byte("v"))
}

func testCreateExisting(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustPut(t, s, "k", []byte("first"), 0)
	if err := s.Create(ctx, "k", []byte("second"), 0); !errors.Is(err, store.ErrExists) {
		t.Fatalf("Create(existing) = %v, want ErrExists", err)
	}
	wantValue(t, s, "k", []byte("first"))

	if err := s.Create(ctx, "c", []byte("first"), time.Hour); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if err := s.Create(ctx, "c", []byte("second"), 0); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second Create = %v, want ErrExists", err)
	}
	wantValue(t, s, "c", []byte("first"))
}

func testCreateRace(t *testing.T, s store.Store) {
	ctx := t.Context()
	for round := range 3 {
		key := fmt.Sprintf("race/%d", round)
		errs := make([]error, racers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range racers {
			wg.Go(func() {
				<-start
				errs[i] = s.Create(ctx, key, fmt.Appendf(nil, "winner %d", i), 0)
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("round %d: Create succeeded for both %d and %d", round, winner, i)
				}
				winner = i
			case !errors.Is(err, store.ErrExists):
				t.Fatalf("round %d: racer %d: Create = %v, want nil or ErrExists", round, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no Create succeeded", round)
		}
		wantValue(t, s, key, fmt.Appendf(nil, "winner %d", winner))
	}
}

func testTake(t *testing.T, s store.Store) {
	ctx := t.Context()
	if got, err := s.Take(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Take(missing) = %q, %v; want ErrNotFound", got, err)
	}
	mustPut(t, s, "code", []byte("one-time"), time.Hour)
	mustPut(t, s, "other", []byte("stays"), 0)
	got, err := s.Take(ctx, "code")
	if err != nil || !bytes.Equal(got, []byte("one-time")) {
		t.Fatalf("Take = %q, %v; want %q", got, err, "one-time")
	}
	wantNotFound(t, s, "code")
	if got, err := s.Take(ctx, "code"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second Take = %q, %v; want ErrNotFound", got, err)
	}
	wantValue(t, s, "other", []byte("stays"))
	// The key can be created again after a Take.
	if err := s.Create(ctx, "code", []byte("again"), 0); err != nil {
		t.Fatalf("Create after Take = %v", err)
	}
	wantValue(t, s, "code", []byte("again"))
}

func testTakeRace(t *testing.T, s store.Store) {
	ctx := t.Context()
	for round := range 3 {
		key := fmt.Sprintf("race/%d", round)
		want := fmt.Appendf(nil, "prize %d", round)
		mustPut(t, s, key, want, time.Hour)
		vals := make([][]byte, racers)
		errs := make([]error, racers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range racers {
			wg.Go(func() {
				<-start
				vals[i], errs[i] = s.Take(ctx, key)
			})
		}
		close(start)
		wg.Wait()
		winners := 0
		for i, err := range errs {
			switch {
			case err == nil:
				winners++
				if !bytes.Equal(vals[i], want) {
					t.Fatalf("round %d: Take = %q, want %q", round, vals[i], want)
				}
			case !errors.Is(err, store.ErrNotFound):
				t.Fatalf("round %d: racer %d: Take = %v, want nil or ErrNotFound", round, i, err)
			}
		}
		if winners != 1 {
			t.Fatalf("round %d: %d Takes succeeded, want exactly 1", round, winners)
		}
		wantNotFound(t, s, key)
	}
}

func testDelete(t *testing.T, s store.Store) {
	mustPut(t, s, "k", []byte("v"), 0)
	mustPut(t, s, "k2", []byte("v2"), 0)
	mustDelete(t, s, "k")
	wantNotFound(t, s, "k")
	wantValue(t, s, "k2", []byte("v2"))
	mustDelete(t, s, "k")
	mustDelete(t, s, "never-existed")
}

func testSetBasics(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, m := range []string{"carol", "alice", "bob", "alice"} {
		mustSetAdd(t, s, "users", m, 0)
	}
	wantMembers(t, s, "users", "alice", "bob", "carol")
	if err := s.SetRemove(ctx, "users", "bob"); err != nil {
		t.Fatalf("SetRemove: %v", err)
	}
	wantMembers(t, s, "users", "alice", "carol")
	if err := s.SetRemove(ctx, "users", "bob"); err != nil {
		t.Fatalf("SetRemove(missing member) = %v, want nil", err)
	}
	if err := s.SetRemove(ctx, "no-such-set", "bob"); err != nil {
		t.Fatalf("SetRemove(missing set) = %v, want nil", err)
	}
	for _, m := range []string{"alice", "carol"} {
		if err := s.SetRemove(ctx, "users", m); err != nil {
			t.Fatalf("SetRemove: %v", err)
		}
	}
	wantMembers(t, s, "users")
	mustSetAdd(t, s, "users", "dave", 0)
	wantMembers(t, s, "users", "dave")

	// The returned slice belongs to the caller.
	got, err := s.SetMembers(ctx, "users")
	if err != nil {
		t.Fatalf("SetMembers: %v", err)
	}
	got[0] = "mallory"
	wantMembers(t, s, "users", "dave")
}

func testSetMissingIsEmpty(t *testing.T, s store.Store) {
	got, err := s.SetMembers(t.Context(), "missing")
	if err != nil || len(got) != 0 {
		t.Fatalf("SetMembers(missing) = %q, %v; want empty, nil", got, err)
	}
}

func testSetsAreSeparate(t *testing.T, s store.Store) {
	sets := []string{"s", "s\x00", "s\x00x", "sx", "", "user/1", "user/10", "user/1/x"}
	for _, set := range sets {
		mustSetAdd(t, s, set, "member of "+set, 0)
	}
	for _, set := range sets {
		wantMembers(t, s, set, "member of "+set)
	}
}

func testSetsIndependentOfKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustPut(t, s, "name", []byte("value"), 0)
	mustSetAdd(t, s, "name", "member", 0)
	wantValue(t, s, "name", []byte("value"))
	wantMembers(t, s, "name", "member")

	mustDelete(t, s, "name")
	wantMembers(t, s, "name", "member")
	if err := s.Create(ctx, "name", []byte("again"), 0); err != nil {
		t.Fatalf("Create(name) with a set of that name = %v, want nil", err)
	}
	if err := s.SetRemove(ctx, "name", "member"); err != nil {
		t.Fatalf("SetRemove: %v", err)
	}
	wantValue(t, s, "name", []byte("again"))
	if _, err := s.Take(ctx, "name"); err != nil {
		t.Fatalf("Take: %v", err)
	}
	mustSetAdd(t, s, "name", "member2", 0)
	wantNotFound(t, s, "name")
	wantMembers(t, s, "name", "member2")

	// A key spelled like a member does not appear in the set either.
	mustPut(t, s, "member3", []byte("v"), 0)
	wantMembers(t, s, "name", "member2")
}

func testSetMemberTTL(t *testing.T, x *suite) {
	s := x.s
	start := x.clock.Now()
	mustSetAdd(t, s, "set", "forever", 0)
	mustSetAdd(t, s, "set", "long", time.Hour)
	mustSetAdd(t, s, "set", "short", shortTTL)
	// Re-adding replaces the TTL in either direction.
	mustSetAdd(t, s, "set", "refreshed", shortTTL)
	mustSetAdd(t, s, "set", "refreshed", time.Hour)
	mustSetAdd(t, s, "set", "cleared", shortTTL)
	mustSetAdd(t, s, "set", "cleared", 0)
	mustSetAdd(t, s, "set", "shortened", 0)
	mustSetAdd(t, s, "set", "shortened", shortTTL)
	mustSetAdd(t, s, "only-short", "short", shortTTL)

	got, err := s.SetMembers(t.Context(), "set")
	if elapsed := x.clock.Now().Sub(start); elapsed < shortTTL-presentSlack {
		want := []string{"cleared", "forever", "long", "refreshed", "short", "shortened"}
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("SetMembers before expiry = %q, %v; want %q", got, err, want)
		}
	} else {
		t.Logf("machine too slow to check members before expiry (%s elapsed)", elapsed)
	}

	x.clock.SleepUntil(start.Add(expiryWait))
	wantMembers(t, s, "set", "cleared", "forever", "long", "refreshed")
	wantMembers(t, s, "only-short")
	// An expired member can be added again.
	mustSetAdd(t, s, "only-short", "short", 0)
	wantMembers(t, s, "only-short", "short")
}

func testConcurrentMixed(t *testing.T, s store.Store) {
	ctx := t.Context()
	const workers, ops = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range ops {
				key := fmt.Sprintf("w%d/k%d", w, i)
				val := fmt.Appendf(nil, "v%d", i)
				if err := s.Put(ctx, key, val, time.Hour); err != nil {
					errs <- fmt.Errorf("Put: %w", err)
					return
				}
				if got, err := s.Get(ctx, key); err != nil || !bytes.Equal(got, val) {
					errs <- fmt.Errorf("Get(%q) = %q, %v", key, got, err)
					return
				}
				if err := s.SetAdd(ctx, "shared", key, time.Hour); err != nil {
					errs <- fmt.Errorf("SetAdd: %w", err)
					return
				}
				if _, err := s.SetMembers(ctx, "shared"); err != nil {
					errs <- fmt.Errorf("SetMembers: %w", err)
					return
				}
				if i%2 == 0 {
					if _, err := s.Take(ctx, key); err != nil {
						errs <- fmt.Errorf("Take(%q): %w", key, err)
						return
					}
					if err := s.SetRemove(ctx, "shared", key); err != nil {
						errs <- fmt.Errorf("SetRemove: %w", err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, err := s.SetMembers(ctx, "shared")
	if err != nil {
		t.Fatalf("SetMembers: %v", err)
	}
	if len(got) != workers*ops/2 {
		t.Fatalf("shared set has %d members, want %d", len(got), workers*ops/2)
	}
}

func testPing(t *testing.T, s store.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping = %v, want nil", err)
	}
}

// calls exercises every method except Close; each returns the error the
// method returned.
func calls() []struct {
	name string
	call func(context.Context, store.Store) error
} {
	return []struct {
		name string
		call func(context.Context, store.Store) error
	}{
		{"Get", func(ctx context.Context, s store.Store) error { _, err := s.Get(ctx, "k"); return err }},
		{"Put", func(ctx context.Context, s store.Store) error { return s.Put(ctx, "new", []byte("v"), 0) }},
		{"Create", func(ctx context.Context, s store.Store) error { return s.Create(ctx, "created", []byte("v"), 0) }},
		{"Take", func(ctx context.Context, s store.Store) error { _, err := s.Take(ctx, "k"); return err }},
		{"Delete", func(ctx context.Context, s store.Store) error { return s.Delete(ctx, "k") }},
		{"SetAdd", func(ctx context.Context, s store.Store) error { return s.SetAdd(ctx, "set", "new", 0) }},
		{"SetRemove", func(ctx context.Context, s store.Store) error { return s.SetRemove(ctx, "set", "m") }},
		{"SetMembers", func(ctx context.Context, s store.Store) error { _, err := s.SetMembers(ctx, "set"); return err }},
		{"Incr", func(ctx context.Context, s store.Store) error { _, err := s.Incr(ctx, "counter", 0); return err }},
		{"Publish", func(ctx context.Context, s store.Store) error { return s.Publish(ctx, "topic", []byte("m")) }},
		{"Subscribe", func(ctx context.Context, s store.Store) error {
			sub, err := s.Subscribe(ctx, "topic")
			if err == nil {
				_ = sub.Close()
			}
			return err
		}},
		{"Ping", func(ctx context.Context, s store.Store) error { return s.Ping(ctx) }},
	}
}

func testClosed(t *testing.T, s store.Store) {
	sub := mustSubscribe(t, s, "topic")
	mustPut(t, s, "k", []byte("v"), 0)
	mustSetAdd(t, s, "set", "m", 0)
	if err := s.Close(); err != nil {
		t.Fatalf("Close = %v, want nil", err)
	}
	for _, c := range calls() {
		if err := c.call(t.Context(), s); !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", c.name, err)
		}
	}
	if err := s.Close(); !errors.Is(err, store.ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
	wantEnded(t, sub)
}

// wantNoSideEffects checks that the calls made with a dead context changed
// nothing.
func wantNoSideEffects(t *testing.T, s store.Store) {
	t.Helper()
	wantValue(t, s, "k", []byte("v"))
	wantNotFound(t, s, "new")
	wantNotFound(t, s, "created")
	wantNotFound(t, s, "counter")
	wantMembers(t, s, "set", "m")
}

func testContextCancelled(t *testing.T, s store.Store) {
	mustPut(t, s, "k", []byte("v"), 0)
	mustSetAdd(t, s, "set", "m", 0)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for _, c := range calls() {
		if err := c.call(ctx, s); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context = %v, want context.Canceled", c.name, err)
		}
	}
	wantNoSideEffects(t, s)

	// A dead context takes precedence over a closed store.
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Ping on a closed store with a cancelled context = %v, want context.Canceled", err)
	}
}

func testContextDeadline(t *testing.T, s store.Store) {
	mustPut(t, s, "k", []byte("v"), 0)
	mustSetAdd(t, s, "set", "m", 0)
	ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	for _, c := range calls() {
		if err := c.call(ctx, s); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s with an expired deadline = %v, want context.DeadlineExceeded", c.name, err)
		}
	}
	wantNoSideEffects(t, s)
}
