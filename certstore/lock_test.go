package certstore_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/certstore"
	"github.com/gatehouse-sso/gatehouse/store"
)

// fast are lock options for tests: quick polling, default TTL (so nothing
// expires unless a test means it to).
var fast = certstore.Options{LockPoll: time.Millisecond}

func TestLockExcludesAcrossStorages(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		st := open(t)
		replicas := []*certstore.Storage{certstore.New(st, fast), certstore.New(st, fast)}
		const workers, rounds = 8, 15
		var holders, maxHolders, total atomic.Int64
		var wg sync.WaitGroup
		errc := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				s := replicas[w%len(replicas)]
				for range rounds {
					if err := s.Lock(t.Context(), "issue_cert_example.com"); err != nil {
						errc <- err
						return
					}
					n := holders.Add(1)
					for {
						m := maxHolders.Load()
						if n <= m || maxHolders.CompareAndSwap(m, n) {
							break
						}
					}
					total.Add(1)
					time.Sleep(100 * time.Microsecond) // widen the window a second holder would need
					holders.Add(-1)
					if err := s.Unlock(context.Background(), "issue_cert_example.com"); err != nil {
						errc <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatal(err)
		}
		if got := maxHolders.Load(); got != 1 {
			t.Errorf("at most %d holders at once, want 1", got)
		}
		if got := total.Load(); got != workers*rounds {
			t.Errorf("%d critical sections, want %d", got, workers*rounds)
		}
	})
}

func TestTryLockAndUnlock(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		st := open(t)
		a, b := certstore.New(st, fast), certstore.New(st, fast)
		ctx := t.Context()
		mustTry := func(s *certstore.Storage, name string, want bool) {
			t.Helper()
			got, err := s.TryLock(ctx, name)
			if err != nil || got != want {
				t.Fatalf("TryLock(%q) = %v, %v; want %v", name, got, err, want)
			}
		}
		mustTry(a, "x", true)
		mustTry(b, "x", false)
		mustTry(a, "x", false) // a lock is not re-entrant, even for its holder
		mustTry(b, "y", true)  // other names are independent
		if err := a.Unlock(ctx, "x"); err != nil {
			t.Fatalf("Unlock: %v", err)
		}
		if _, err := st.Get(ctx, certstore.LockPrefix+"x"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("lock key after Unlock: %v, want ErrNotFound", err)
		}
		mustTry(b, "x", true)
		if err := a.Unlock(ctx, "x"); err == nil {
			t.Error("Unlock of a lock held by another Storage succeeded")
		}
		if _, err := st.Get(ctx, certstore.LockPrefix+"x"); err != nil {
			t.Errorf("b's lock was released by a's Unlock: %v", err)
		}
		for _, n := range []string{"x", "y"} {
			if err := b.Unlock(ctx, n); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestLockRefreshedWhileHeld(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		st := open(t)
		// The holder refreshes every TTL/3; the TTL leaves a refresh 600 ms
		// of slack on a loaded machine (the race detector, parallel
		// packages on two cores).
		const ttl = 900 * time.Millisecond
		opts := certstore.Options{LockTTL: ttl, LockPoll: time.Millisecond}
		a, b := certstore.New(st, opts), certstore.New(st, opts)
		ctx := t.Context()
		if err := a.Lock(ctx, "renew"); err != nil {
			t.Fatal(err)
		}
		// Hold for three TTLs: without refreshing, the lock would be free.
		deadline := time.Now().Add(3 * ttl)
		for time.Now().Before(deadline) {
			if ok, err := b.TryLock(ctx, "renew"); err != nil || ok {
				t.Fatalf("TryLock while held = %v, %v; the holder's lease was not refreshed", ok, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err := a.Unlock(ctx, "renew"); err != nil {
			t.Fatal(err)
		}
		if ok, err := b.TryLock(ctx, "renew"); err != nil || !ok {
			t.Fatalf("TryLock after Unlock = %v, %v", ok, err)
		}
		_ = b.Unlock(ctx, "renew")
	})
}

func TestStaleLockIsRecovered(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		st := open(t)
		ctx := t.Context()
		// A replica died holding the lock: nobody refreshes it.
		key := certstore.LockPrefix + "issue_cert_example.com"
		if err := st.Create(ctx, key, []byte("dead-replica"), 200*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		s := certstore.New(st, certstore.Options{LockPoll: 5 * time.Millisecond})
		if ok, _ := s.TryLock(ctx, "issue_cert_example.com"); ok {
			t.Fatal("TryLock took a live lock")
		}
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := s.Lock(wctx, "issue_cert_example.com"); err != nil {
			t.Fatalf("Lock of a stale lock: %v", err)
		}
		v, err := st.Get(ctx, key)
		if err != nil || bytes.Equal(v, []byte("dead-replica")) {
			t.Errorf("lock value = %q, %v; want our own token", v, err)
		}
		if err := s.Unlock(ctx, "issue_cert_example.com"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestLockWaitEndsWithContext(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		st := open(t)
		a, b := certstore.New(st, fast), certstore.New(st, fast)
		if err := a.Lock(t.Context(), "l"); err != nil {
			t.Fatal(err)
		}
		defer a.Unlock(context.Background(), "l")

		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		if err := b.Lock(ctx, "l"); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Lock past deadline = %v, want DeadlineExceeded", err)
		}

		ctx, cancel = context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- b.Lock(ctx, "l") }()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Lock after cancel = %v, want Canceled", err)
		}
	})
}

func TestUnlockAfterTakeoverLeavesTheNewHolder(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		st := open(t)
		s := certstore.New(st, fast)
		ctx := t.Context()
		if err := s.Lock(ctx, "l"); err != nil {
			t.Fatal(err)
		}
		// Our lease expired and another replica took the lock.
		key := certstore.LockPrefix + "l"
		if err := st.Put(ctx, key, []byte("other-replica"), time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := s.Unlock(ctx, "l"); err != nil {
			t.Fatalf("Unlock: %v", err)
		}
		if v, err := st.Get(ctx, key); err != nil || string(v) != "other-replica" {
			t.Errorf("lock after Unlock = %q, %v; the other holder's lock was removed", v, err)
		}
	})
}
