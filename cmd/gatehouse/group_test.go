package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestGroup_FirstErrorCancelsAll: one failing actor stops the others, and
// its error comes back named.
func TestGroup_FirstErrorCancelsAll(t *testing.T) {
	g := newGroup(context.Background())
	stopped := make(chan struct{})
	g.start(actor{name: "waiter", run: func(ctx context.Context) error {
		<-ctx.Done()
		close(stopped)
		return nil
	}})
	g.start(actor{name: "broken", run: func(context.Context) error { return errors.New("boom") }})
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("the failing actor did not stop the other one")
	}
	err := g.wait()
	if err == nil || !strings.Contains(err.Error(), "broken: boom") {
		t.Fatalf("wait() = %v, want the named failure", err)
	}
}

// TestGroup_ParentEndStopsAll: the parent's end (a signal) stops every
// actor, and actors that return nil report nothing.
func TestGroup_ParentEndStopsAll(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	g := newGroup(parent)
	for _, name := range []string{"a", "b"} {
		g.start(actor{name: name, run: func(ctx context.Context) error { <-ctx.Done(); return nil }})
	}
	g.start(actor{name: "done early", run: func(context.Context) error { return nil }})
	cancel()
	if err := g.wait(); err != nil {
		t.Fatalf("wait() = %v", err)
	}
}

// TestGroup_WaitAtMostNamesStuckActors: an actor that ignores its
// context's end cannot hold the group (and the process) forever: the wait
// gives up after its bound and names it, keeping the other errors.
func TestGroup_WaitAtMostNamesStuckActors(t *testing.T) {
	g := newGroup(context.Background())
	stuck := make(chan struct{})
	defer close(stuck)
	g.start(actor{name: "stubborn", run: func(context.Context) error { <-stuck; return nil }})
	g.start(actor{name: "polite", run: func(ctx context.Context) error { <-ctx.Done(); return nil }})
	g.start(actor{name: "broken", run: func(context.Context) error { return errors.New("boom") }})
	start := time.Now()
	err := g.waitAtMost(200 * time.Millisecond)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("waitAtMost took %s", d)
	}
	if err == nil || !strings.Contains(err.Error(), "stubborn") || strings.Contains(err.Error(), "polite") ||
		!strings.Contains(err.Error(), "broken: boom") {
		t.Fatalf("waitAtMost = %v, want the stuck actor named and the failure kept", err)
	}

	// Actors that all return: the same as wait.
	g = newGroup(context.Background())
	g.start(actor{name: "a", run: func(ctx context.Context) error { <-ctx.Done(); return nil }})
	g.cancel()
	if err := g.waitAtMost(10 * time.Second); err != nil {
		t.Fatalf("waitAtMost = %v", err)
	}
}
