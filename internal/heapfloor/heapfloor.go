// Package heapfloor keeps Go's garbage collector from running while the
// heap is small.
//
// Go collects once the heap has grown by GOGC percent (100 unless set) of
// what the last collection left live, and never below a minimum heap of
// 4 MiB. Gatehouse's live heap is 1–2 MiB, and a check or proxied request
// allocates a few KiB, so under load the collector runs dozens of times a
// second; each cycle stops the world twice, scans every goroutine's stack
// and borrows request goroutines for marking, which shows in throughput
// and most in tail latency. A floor raises the heap goal to at least the
// floor, and leaves GOGC's rule in force above it: once the live heap is
// large enough that GOGC's own goal passes the floor, nothing changes.
//
// The collector is tuned through the GC percent (runtime/debug), the only
// knob it has for this: after every collection the percent is set so that
// the next goal is the larger of the floor and GOGC's goal. GOMEMLIMIT
// keeps working as Go documents it (the runtime collects earlier when the
// limit is near), and GOGC=off turns the floor off.
package heapfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
)

// minHeap is Go's minimum heap goal at GOGC=100 (the runtime scales it by
// GOGC/100).
const minHeap = 4 << 20

// The runtime metrics a goal is computed from.
const (
	metricLive    = "/gc/heap/live:bytes"
	metricStacks  = "/gc/scan/stack:bytes"
	metricGlobals = "/gc/scan/globals:bytes"
)

// percent returns the GC percent that makes the heap goal the larger of
// floor and what base (GOGC) gives, for a live heap of live bytes and GC
// roots (live heap, stacks and globals) of roots bytes. Go's goal is
// max(minHeap×p/100, live + roots×p/100); the floor's percent is the
// largest p whose goal stays within the floor.
func percent(floor, live, roots uint64, base int) int {
	if base < 0 || floor == 0 {
		return base
	}
	p := floor * 100 / minHeap
	if roots > 0 {
		if floor <= live {
			return base
		}
		p = min(p, (floor-live)*100/roots)
	}
	return max(base, int(min(p, 1<<30)))
}

// active is the floor running in this process, if any: the GC percent is
// process-wide, so only one floor runs at a time.
var (
	mu     sync.Mutex
	active *tuner
)

// tuner re-tunes the GC percent after every collection.
type tuner struct {
	floor   uint64
	base    int
	stopped atomic.Bool
	samples []metrics.Sample
	last    int // the percent last set; guarded by mu
}

// sentinel is allocated unreachable; its cleanup runs after the
// collection that finds it. It is too large for the tiny allocator, whose
// blocks can outlive their objects.
type sentinel struct{ _ [32]byte }

// Start keeps the heap goal at floor bytes at the least, until the
// returned stop is called (stop restores the GC percent Start found). It
// does nothing when floor is 0, when GOGC is off, or when a floor is
// already running in the process (the first one stays in force; its own
// stop ends it).
func Start(floor uint64) (stop func()) {
	mu.Lock()
	defer mu.Unlock()
	if floor == 0 || active != nil {
		return func() {}
	}
	base := debug.SetGCPercent(100)
	debug.SetGCPercent(base)
	if base < 0 {
		return func() {}
	}
	t := &tuner{floor: floor, base: base, last: base, samples: []metrics.Sample{
		{Name: metricLive}, {Name: metricStacks}, {Name: metricGlobals},
	}}
	active = t
	t.tune()
	t.arm()
	var once sync.Once
	return func() {
		once.Do(func() {
			mu.Lock()
			defer mu.Unlock()
			t.stopped.Store(true)
			debug.SetGCPercent(t.base)
			active = nil
		})
	}
}

// arm asks to be called after the next collection.
func (t *tuner) arm() {
	runtime.AddCleanup(new(sentinel), func(t *tuner) {
		if t.stopped.Load() {
			return
		}
		mu.Lock()
		if !t.stopped.Load() {
			t.tune()
		}
		mu.Unlock()
		t.arm()
	}, t)
}

// tune sets the GC percent for the live heap the last collection left.
func (t *tuner) tune() {
	metrics.Read(t.samples)
	var v [3]uint64
	for i, s := range t.samples {
		if s.Value.Kind() == metrics.KindUint64 {
			v[i] = s.Value.Uint64()
		}
	}
	live := v[0]
	p := percent(t.floor, live, live+v[1]+v[2], t.base)
	if p != t.last {
		debug.SetGCPercent(p)
		t.last = p
	}
}
