package bolt

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/gatehouse-sso/gatehouse/store"
)

// fakeClock is a settable clock safe for concurrent use.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// rawCount returns how many entries bucket holds, expired or not.
func rawCount(t *testing.T, s *Store, bucket []byte) int {
	t.Helper()
	n := 0
	err := s.db.View(func(tx *bbolt.Tx) error {
		n = tx.Bucket(bucket).Stats().KeyN
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// openClocked opens a store with the sweeper goroutine disabled and a fake
// clock, so tests can drive sweepAll themselves.
func openClocked(t *testing.T) (*Store, *fakeClock) {
	t.Helper()
	clock := &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	s, err := open(filepath.Join(t.TempDir(), "gatehouse.db"), Options{SweepInterval: -1}, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, clock
}

func TestSweepDeletesExpiredInBatches(t *testing.T) {
	ctx := t.Context()
	s, clock := openClocked(t)

	// More expired entries than one batch, written in one transaction to
	// keep the test fast.
	const expiredN = 2*sweepBatch + 500
	soon, err := s.expiry(time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		kv, sets := tx.Bucket(kvBucket), tx.Bucket(setsBucket)
		for i := range expiredN {
			if err := kv.Put(kvKey(fmt.Sprintf("session/%05d", i)), encodeRecord(soon, []byte("v"))); err != nil {
				return err
			}
			if err := sets.Put(memberKey("user/1", fmt.Sprintf("%05d", i)), encodeRecord(soon, nil)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"session/00000x", "session/99999", "a"} {
		if err := s.Put(ctx, k, []byte("kept"), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put(ctx, "later", []byte("kept"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAdd(ctx, "user/1", "kept", 0); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAdd(ctx, "user/2", "kept", time.Hour); err != nil {
		t.Fatal(err)
	}

	s.sweepAll() // nothing has expired yet
	if got := rawCount(t, s, kvBucket); got != expiredN+4 {
		t.Fatalf("kv holds %d entries before expiry, want %d", got, expiredN+4)
	}

	clock.Advance(2 * time.Minute)
	if err := s.Put(ctx, "fresh", []byte("kept"), time.Second); err != nil {
		t.Fatal(err)
	}
	s.sweepAll()
	if got := rawCount(t, s, kvBucket); got != 5 {
		t.Errorf("kv holds %d entries after the sweep, want 5", got)
	}
	if got := rawCount(t, s, setsBucket); got != 2 {
		t.Errorf("sets holds %d entries after the sweep, want 2", got)
	}
	for _, k := range []string{"session/00000x", "session/99999", "a", "later", "fresh"} {
		if _, err := s.Get(ctx, k); err != nil {
			t.Errorf("Get(%q) after the sweep: %v", k, err)
		}
	}
}

func TestSweepSparesRewrittenKeys(t *testing.T) {
	ctx := t.Context()
	s, clock := openClocked(t)
	for _, k := range []string{"a", "b"} {
		if err := s.Put(ctx, k, []byte("old"), time.Second); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(time.Minute)
	candidates, next, err := s.scanExpired(kvBucket, nil)
	if err != nil || next != nil || len(candidates) != 2 {
		t.Fatalf("scanExpired = %q, %q, %v; want 2 candidates and no resume key", candidates, next, err)
	}
	// "a" is written again between the scan and the delete.
	if err := s.Put(ctx, "a", []byte("new"), 0); err != nil {
		t.Fatal(err)
	}
	n, err := s.deleteExpired(kvBucket, candidates)
	if err != nil || n != 1 {
		t.Fatalf("deleteExpired = %d, %v; want 1", n, err)
	}
	if got, err := s.Get(ctx, "a"); err != nil || string(got) != "new" {
		t.Fatalf("Get(a) = %q, %v; want the rewritten value", got, err)
	}
}

// syncBuffer is a bytes.Buffer safe for the sweeper goroutine to log into.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestSweeperRuns(t *testing.T) {
	ctx := t.Context()
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := Open(filepath.Join(t.TempDir(), "gatehouse.db"), Options{SweepInterval: 20 * time.Millisecond, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Put(ctx, "session/secret-id", []byte("v"), 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAdd(ctx, "user/1", "session/secret-id", 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for rawCount(t, s, kvBucket)+rawCount(t, s, setsBucket) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the sweeper did not delete expired entries within 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The count is logged, never the keys.
	deadline = time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), "swept expired entries") {
		if time.Now().After(deadline) {
			t.Fatalf("no sweep report logged; logs: %s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Contains(logs.String(), "secret-id") {
		t.Errorf("the sweeper logged a key: %s", logs.String())
	}
}

func TestCorruptRecordErrorRedactsKey(t *testing.T) {
	ctx := t.Context()
	s, clock := openClocked(t)
	err := s.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(kvBucket).Put(kvKey("session/SECRETID"), []byte{1, 2, 3})
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Get(ctx, "session/SECRETID")
	if !errors.Is(err, errCorrupt) {
		t.Fatalf("Get(corrupt) = %v, want errCorrupt", err)
	}
	if errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a corrupt record must not look missing")
	}
	msg := err.Error()
	if strings.Contains(msg, "SECRETID") || !strings.Contains(msg, `bolt get "session/…"`) {
		t.Errorf("error %q should name the operation and namespace but not the secret part of the key", msg)
	}
	for _, op := range []func() error{
		func() error { _, err := s.Take(ctx, "session/SECRETID"); return err },
		func() error { return s.Create(ctx, "session/SECRETID", []byte("v"), 0) },
	} {
		if err := op(); !errors.Is(err, errCorrupt) {
			t.Errorf("got %v, want errCorrupt", err)
		}
	}
	// The sweeper leaves what it cannot read alone; Put and Delete still
	// work.
	clock.Advance(time.Hour)
	s.sweepAll()
	if got := rawCount(t, s, kvBucket); got != 1 {
		t.Errorf("kv holds %d entries, want the corrupt one kept", got)
	}
	if err := s.Delete(ctx, "session/SECRETID"); err != nil {
		t.Errorf("Delete(corrupt) = %v", err)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"session/abc":   "session/…",
		"a/b/c":         "a/b/…",
		"nonamespace":   "…",
		"":              "…",
		"trailing/":     "trailing/…",
		"user/1/tokens": "user/1/…",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUnsupportedFormatVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(metaBucket).Put(formatKey, []byte("99"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = Open(path, Options{})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", path)) || !strings.Contains(err.Error(), "format version") {
		t.Fatalf("Open of a future format = %v, want an error naming the file and the version", err)
	}
	// The failed Open released the lock.
	_, err = Open(path, Options{LockTimeout: 200 * time.Millisecond})
	if errors.Is(err, ErrLocked) {
		t.Fatalf("a failed Open kept the file locked: %v", err)
	}
}

func TestHugeTTLSaturates(t *testing.T) {
	ctx := t.Context()
	s, _ := openClocked(t)
	if err := s.Put(ctx, "k", []byte("v"), time.Duration(1<<63-1)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "k"); err != nil {
		t.Fatalf("Get with a huge TTL: %v", err)
	}
}

func TestCloseWaitsForSweeper(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "gatehouse.db"), Options{SweepInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	default:
		t.Fatal("Close returned before the sweeper stopped")
	}
}
