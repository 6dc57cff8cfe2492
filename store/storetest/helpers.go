package storetest

import (
	"bytes"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/store"
)

// closeOnce closes s, tolerating a store the test already closed.
func closeOnce(t *testing.T, s store.Store) {
	t.Helper()
	if err := s.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
		t.Errorf("Close: %v", err)
	}
}

func mustPut(t *testing.T, s store.Store, key string, value []byte, ttl time.Duration) {
	t.Helper()
	if err := s.Put(t.Context(), key, value, ttl); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func mustDelete(t *testing.T, s store.Store, key string) {
	t.Helper()
	if err := s.Delete(t.Context(), key); err != nil {
		t.Fatalf("Delete(%q): %v", key, err)
	}
}

func mustSetAdd(t *testing.T, s store.Store, set, member string, ttl time.Duration) {
	t.Helper()
	if err := s.SetAdd(t.Context(), set, member, ttl); err != nil {
		t.Fatalf("SetAdd(%q, %q): %v", set, member, err)
	}
}

// wantValue fails unless key holds want.
func wantValue(t *testing.T, s store.Store, key string, want []byte) {
	t.Helper()
	got, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q) = %v, want a value", key, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%q) = %s, want %s", key, show(got), show(want))
	}
}

// wantValueBefore is wantValue for a key written at or after start with a
// TTL of ttl: a miss fails the test only if it was seen clearly before the
// TTL could have run out, so a stalled machine cannot make it flaky.
func wantValueBefore(t *testing.T, x *suite, key string, want []byte, start time.Time, ttl time.Duration) {
	t.Helper()
	got, err := x.s.Get(t.Context(), key)
	if elapsed := x.clock.Now().Sub(start); elapsed >= ttl-presentSlack {
		if err != nil {
			t.Logf("machine too slow to check %q before expiry (%s elapsed)", key, elapsed)
			return
		}
	}
	if err != nil {
		t.Fatalf("Get(%q) = %v before its TTL ran out, want a value", key, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%q) = %s, want %s", key, show(got), show(want))
	}
}

// wantNotFound fails unless Get(key) reports store.ErrNotFound.
func wantNotFound(t *testing.T, s store.Store, key string) {
	t.Helper()
	got, err := s.Get(t.Context(), key)
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(%q) = %s, %v; want ErrNotFound", key, show(got), err)
	}
}

// wantMembers fails unless set has exactly want (in lexical order).
func wantMembers(t *testing.T, s store.Store, set string, want ...string) {
	t.Helper()
	got, err := s.SetMembers(t.Context(), set)
	if err != nil {
		t.Fatalf("SetMembers(%q): %v", set, err)
	}
	if want == nil {
		want = []string{}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("SetMembers(%q) = %q, want %q", set, got, want)
	}
}

// show renders a value for a failure message without flooding the log.
func show(b []byte) string {
	const limit = 64
	if len(b) > limit {
		return strconv.Quote(string(b[:limit])) + "…(" + strconv.Itoa(len(b)) + " bytes)"
	}
	return strconv.Quote(string(b))
}

// sleepUntil sleeps until t.
func sleepUntil(t time.Time) {
	time.Sleep(time.Until(t))
}

// clock is the suite's time: real, or a fake one the suite moves.
type clock interface {
	Now() time.Time
	// SleepUntil returns once Now is at or after t.
	SleepUntil(t time.Time)
}

type realClock struct{}

func (realClock) Now() time.Time             { return time.Now() }
func (realClock) SleepUntil(until time.Time) { sleepUntil(until) }

// fakeClock is a clock that only moves when the suite moves it.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) SleepUntil(until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if until.After(c.now) {
		c.now = until
	}
}
