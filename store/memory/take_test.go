package memory

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// TestTake_ExactlyOneWinnerUnderContention: many goroutines Take the same
// keys at once, released together key after key; every key is handed out
// exactly once. It needs no race detector: a Take that reads and deletes
// in two steps hands some key out twice within a few hundred rounds.
func TestTake_ExactlyOneWinnerUnderContention(t *testing.T) {
	const (
		keys    = 3000
		workers = 8
	)
	if runtime.GOMAXPROCS(0) < 2 {
		t.Logf("GOMAXPROCS is %d: contention comes from preemption only", runtime.GOMAXPROCS(0))
	}
	ctx := context.Background()
	s := New()
	t.Cleanup(func() { s.Close() })
	for i := range keys {
		if err := s.Put(ctx, fmt.Sprintf("k%d", i), []byte{byte(i)}, 0); err != nil {
			t.Fatal(err)
		}
	}
	wins := make([]atomic.Int32, keys)
	var round sync.WaitGroup
	for i := range keys {
		key := fmt.Sprintf("k%d", i)
		start := make(chan struct{})
		round.Add(workers)
		for range workers {
			go func() {
				defer round.Done()
				<-start
				v, err := s.Take(ctx, key)
				switch {
				case err == nil:
					if len(v) != 1 || v[0] != byte(i) {
						t.Errorf("%s: took %v", key, v)
					}
					wins[i].Add(1)
				case err.Error() != "store: not found":
					t.Errorf("%s: %v", key, err)
				}
			}()
		}
		close(start)
		round.Wait()
	}
	for i := range wins {
		if n := wins[i].Load(); n != 1 {
			t.Fatalf("key k%d was taken %d times, want exactly once", i, n)
		}
	}
}
