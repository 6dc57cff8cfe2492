package memory

import (
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gatehouse-sso/gatehouse/store"
)

// sizes reports how many keys, sets and set members the store holds,
// expired or not.
func (s *Store) sizes() (keys, sets, members int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, m := range s.sets {
		members += len(m)
	}
	return len(s.kv), len(s.sets), members
}

func TestJanitorReclaimsExpired(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		s := New(WithJanitorInterval(time.Minute))
		defer s.Close()
		for _, k := range []string{"a", "b", "c"} {
			if err := s.Put(ctx, k, []byte("v"), 30*time.Second); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Put(ctx, "forever", []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, "later", []byte("v"), 5*time.Minute); err != nil {
			t.Fatal(err)
		}
		for _, m := range []string{"x", "y"} {
			if err := s.SetAdd(ctx, "gone", m, 30*time.Second); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.SetAdd(ctx, "mixed", "short", 30*time.Second); err != nil {
			t.Fatal(err)
		}
		if err := s.SetAdd(ctx, "mixed", "long", 0); err != nil {
			t.Fatal(err)
		}

		// Expired but not yet swept: invisible, still held.
		time.Sleep(45 * time.Second)
		if _, err := s.Get(ctx, "a"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get(expired) = %v, want ErrNotFound", err)
		}
		if k, st, m := s.sizes(); k != 5 || st != 2 || m != 4 {
			t.Fatalf("before the janitor ran: %d keys, %d sets, %d members; want 5, 2, 4", k, st, m)
		}

		time.Sleep(30 * time.Second) // the janitor ran at 1m
		synctest.Wait()
		if k, st, m := s.sizes(); k != 2 || st != 1 || m != 1 {
			t.Fatalf("after the janitor ran: %d keys, %d sets, %d members; want 2, 1, 1", k, st, m)
		}
	})
}

func TestCloseStopsJanitor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(WithJanitorInterval(time.Second))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		// synctest.Test fails if the janitor goroutine outlives the bubble.
	})
}

func TestWithClock(t *testing.T) {
	ctx := t.Context()
	var mu sync.Mutex
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }

	s := New(WithClock(clock))
	defer s.Close()
	if err := s.Put(ctx, "k", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAdd(ctx, "set", "m", time.Hour); err != nil {
		t.Fatal(err)
	}
	advance(59 * time.Minute)
	if _, err := s.Get(ctx, "k"); err != nil {
		t.Fatalf("Get before expiry: %v", err)
	}
	advance(time.Minute)
	if _, err := s.Get(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get at expiry = %v, want ErrNotFound", err)
	}
	if m, err := s.SetMembers(ctx, "set"); err != nil || len(m) != 0 {
		t.Fatalf("SetMembers at expiry = %q, %v; want empty", m, err)
	}
	if err := s.Create(ctx, "k", []byte("new"), 0); err != nil {
		t.Fatalf("Create over expired = %v", err)
	}
}

func TestHugeTTL(t *testing.T) {
	ctx := t.Context()
	s := New()
	defer s.Close()
	if err := s.Put(ctx, "k", []byte("v"), time.Duration(1<<63-1)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "k"); err != nil {
		t.Fatalf("Get with a huge TTL: %v", err)
	}
}
