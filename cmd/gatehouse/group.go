package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// group runs actors until its context ends: the parent's end (a signal)
// or the first actor that fails, which cancels all the others.
type group struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	errs   []error
	active map[string]int // actors running, by name
}

// newGroup returns a group whose actors stop when parent ends.
func newGroup(parent context.Context) *group {
	ctx, cancel := context.WithCancel(parent)
	return &group{ctx: ctx, cancel: cancel, active: make(map[string]int)}
}

// start runs a in its own goroutine. An error it returns is kept (with
// the actor's name) and ends the group's context.
func (g *group) start(a actor) { g.startWith(g.ctx, a) }

// startWith runs a like start, but with ctx (a context derived from the
// group's, which can end earlier: the components of a configuration
// replaced by a reload).
func (g *group) startWith(ctx context.Context, a actor) {
	g.wg.Add(1)
	g.mu.Lock()
	g.active[a.name]++
	g.mu.Unlock()
	go func() {
		defer g.wg.Done()
		defer func() {
			g.mu.Lock()
			if g.active[a.name]--; g.active[a.name] == 0 {
				delete(g.active, a.name)
			}
			g.mu.Unlock()
		}()
		if err := a.run(ctx); err != nil {
			g.fail(fmt.Errorf("%s: %w", a.name, err))
		}
	}()
}

// fail records err and ends the group's context.
func (g *group) fail(err error) {
	g.mu.Lock()
	g.errs = append(g.errs, err)
	g.mu.Unlock()
	g.cancel()
}

// stop ends the group's context, waits for every actor and returns their
// errors.
func (g *group) stop() error {
	g.cancel()
	return g.wait()
}

// wait waits for every actor to return and returns their errors.
func (g *group) wait() error {
	g.wg.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	return errors.Join(g.errs...)
}

// waitAtMost waits for every actor like wait, but for at most d: an actor
// still running then (one that ignores its context's end) is named in the
// error, and left behind, so that a stuck component cannot keep the
// process from stopping.
func (g *group) waitAtMost(d time.Duration) error {
	done := make(chan struct{})
	go func() {
		g.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return g.wait()
	case <-t.C:
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var names []string
	for name, n := range g.active {
		if n > 1 {
			name = fmt.Sprintf("%s (%d)", name, n)
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return errors.Join(append(slices.Clone(g.errs),
		fmt.Errorf("still running %s after they were told to stop, given up on: %s", d, strings.Join(names, ", ")))...)
}
