package heapfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		name               string
		floor, live, roots uint64
		base, want         int
	}{
		{"no floor", 0, 1 * mib, 2 * mib, 100, 100},
		{"GOGC off", 32 * mib, 1 * mib, 2 * mib, -1, -1},
		{"before the first collection: the minimum heap reaches the floor", 32 * mib, 0, 0, 100, 800},
		{"small heap: the minimum heap bounds the percent", 32 * mib, 1 * mib, 2 * mib, 100, 800},
		// live + roots×p/100 = 32 MiB: p = (32-10)×100/12 = 183.
		{"middling heap: the goal formula bounds it", 32 * mib, 10 * mib, 12 * mib, 100, 183},
		{"GOGC's goal passes the floor", 32 * mib, 20 * mib, 22 * mib, 100, 100},
		{"live heap above the floor", 32 * mib, 40 * mib, 42 * mib, 100, 100},
		{"a higher GOGC stays", 32 * mib, 1 * mib, 2 * mib, 1000, 1000},
		{"a lower GOGC is raised to the floor", 32 * mib, 1 * mib, 2 * mib, 50, 800},
		{"a floor under Go's minimum heap changes nothing", 2 * mib, 1 * mib, 2 * mib, 100, 100},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := percent(c.floor, c.live, c.roots, c.base); got != c.want {
				t.Fatalf("percent(%d, %d, %d, %d) = %d, want %d", c.floor, c.live, c.roots, c.base, got, c.want)
			}
		})
	}
}

// goal is the runtime's current heap goal.
func goal() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// gcPercent is the GC percent in force.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// collect runs collections until the tuner has seen them: cleanups run
// on their own goroutine after the collection.
func collect(t *testing.T, until func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !until() {
		if time.Now().After(deadline) {
			t.Fatalf("no retuning after collections: goal %d, percent %d", goal(), gcPercent())
		}
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
	}
}

var keep [][]byte

// TestStart runs the real collector: with a small live heap the goal
// rises to the floor; with a live heap past the floor, GOGC's rule is
// back; stop restores the percent it found.
func TestStart(t *testing.T) {
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })
	const floor = 64 << 20
	stop := Start(floor)
	defer stop()

	if other := Start(8 << 20); gcPercent() == 100 {
		t.Fatal("the floor did not raise the GC percent")
	} else {
		other() // a second floor runs nothing, and its stop ends nothing
	}
	collect(t, func() bool { g := goal(); return g > floor*9/10 && g <= floor })

	// 96 MiB live: the floor no longer matters.
	keep = make([][]byte, 96)
	for i := range keep {
		keep[i] = make([]byte, 1<<20)
		keep[i][0] = 1
	}
	collect(t, func() bool { return gcPercent() == 100 && goal() > 150<<20 })
	keep = nil
	collect(t, func() bool { g := goal(); return g > floor*9/10 && g <= floor })

	stop()
	if p := gcPercent(); p != 100 {
		t.Fatalf("after stop the GC percent is %d, want 100", p)
	}
	collect(t, func() bool { return goal() < 16<<20 })
	stop() // a second stop is harmless
	if p := gcPercent(); p != 100 {
		t.Fatalf("after a second stop the GC percent is %d, want 100", p)
	}
}

func TestStartOff(t *testing.T) {
	before := debug.SetGCPercent(-1)
	t.Cleanup(func() { debug.SetGCPercent(before) })
	stop := Start(64 << 20)
	if p := gcPercent(); p != -1 {
		t.Fatalf("with GOGC off, Start set the percent to %d", p)
	}
	stop()
	if p := gcPercent(); p != -1 {
		t.Fatalf("with GOGC off, stop set the percent to %d", p)
	}
	debug.SetGCPercent(100)
	stop = Start(0)
	stop()
	if p := gcPercent(); p != 100 {
		t.Fatalf("a zero floor set the percent to %d", p)
	}
}
