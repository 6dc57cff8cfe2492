package main

import (
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"testing"
)

// heapGoal is the garbage collector's current heap goal.
func heapGoal() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestServe_HeapFloor: serve keeps the heap goal at server.min_heap_mib
// while it runs and gives the collector back its settings when it
// stops; 0 leaves Go's default. Not parallel: the GC percent is the
// process's, and parallel tests run only after this one.
func TestServe_HeapFloor(t *testing.T) {
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })
	for _, c := range []struct {
		mib       int
		low, high uint64 // the goal's bounds while serving
	}{
		{mib: 96, low: 90 << 20, high: 96 << 20},
		{mib: 0, low: 0, high: 48 << 20},
	} {
		t.Run(strconv.Itoa(c.mib), func(t *testing.T) {
			addr := freePort(t)
			srv := startServe(t, map[string]string{
				"GATEHOUSE_SERVER_LISTEN": addr, "GATEHOUSE_SERVER_PUBLIC_URL": "https://" + addr,
				"GATEHOUSE_STORE_BACKEND": "memory", "GATEHOUSE_SERVER_MIN_HEAP_MIB": strconv.Itoa(c.mib),
			}, "--demo")
			srv.waitFor(t, "Gatehouse is listening")
			if g := heapGoal(); g < c.low || g > c.high {
				t.Errorf("with server.min_heap_mib %d the heap goal is %.1f MiB, want %.0f to %.0f", c.mib, float64(g)/(1<<20), float64(c.low)/(1<<20), float64(c.high)/(1<<20))
			}
			if err := srv.stop(t); err != nil {
				t.Fatal(err)
			}
			p := debug.SetGCPercent(100)
			if p != 100 {
				t.Errorf("after serve stopped the GC percent is %d, want 100", p)
			}
		})
	}
}
