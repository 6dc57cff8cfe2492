package identity

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
)

// TestWaitingRoomIsBounded fills the only slot and the whole waiting room:
// the next caller is refused at once with ErrBusy, and every caller that
// waited gets its answer once the slot frees.
func TestWaitingRoomIsBounded(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(testParams, 1)
	enc, err := h.Hash(ctx, "pw")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cap(h.waiting), WaitingPerSlot; got != want {
		t.Fatalf("waiting room of %d, want %d per slot", got, want)
	}
	held := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	h.beforeCompute = func() {
		once.Do(func() { close(held); <-release })
	}

	var wg sync.WaitGroup
	results := make(chan error, WaitingPerSlot+1)
	wg.Go(func() { // takes the slot and holds it
		_, err := h.Verify(ctx, enc, "pw")
		results <- err
	})
	<-held
	for range WaitingPerSlot {
		wg.Go(func() {
			ok, err := h.Verify(ctx, enc, "pw")
			if err == nil && !ok {
				err = errors.New("right password refused")
			}
			results <- err
		})
	}
	// Wait (without a clock) until every one of them is in the room.
	for len(h.waiting) < WaitingPerSlot {
		runtime.Gosched()
	}

	ok, err := h.Verify(ctx, enc, "pw")
	if ok || !errors.Is(err, ErrBusy) {
		t.Fatalf("Verify with the waiting room full = %v, %v; want ErrBusy", ok, err)
	}
	if _, err := h.Hash(ctx, "pw"); !errors.Is(err, ErrBusy) {
		t.Fatalf("Hash with the waiting room full: %v; want ErrBusy", err)
	}

	close(release)
	wg.Wait()
	close(results)
	for err := range results {
		if err != nil {
			t.Errorf("a waiting caller got %v", err)
		}
	}
	if n := len(h.waiting); n != 0 {
		t.Errorf("%d callers still counted as waiting", n)
	}
	// The room is open again.
	if ok, err := h.Verify(ctx, enc, "pw"); !ok || err != nil {
		t.Errorf("Verify after the storm = %v, %v", ok, err)
	}
}

// TestHashingMemoryIsReturnedToTheHeap: after a hash, the memory argon2
// allocated is no longer counted in the Go heap, so hashes one after
// another reuse it instead of piling up until the pacer collects.
func TestHashingMemoryIsReturnedToTheHeap(t *testing.T) {
	const memKiB = 32 * 1024
	ctx := context.Background()
	h := NewHasher(Params{MemoryKiB: memKiB, Iterations: 1, Parallelism: 1}, 1)
	enc, err := h.Hash(ctx, "pw")
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 3 {
		if ok, err := h.Verify(ctx, enc, "pw"); !ok || err != nil {
			t.Fatalf("Verify = %v, %v", ok, err)
		}
	}
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > memKiB<<10/2 {
		t.Fatalf("the heap holds %d MiB more after three hashes of %d MiB: their buffers were not collected", grown>>20, memKiB>>10)
	}
}
