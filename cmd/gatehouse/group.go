package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// group runs actors until its context ends: the parent's end (a signal)
// or the first actor that fails, which cancels all the others.
type group struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	errs   []error
}

// newGroup returns a group whose actors stop when parent ends.
func newGroup(parent context.Context) *group {
	ctx, cancel := context.WithCancel(parent)
	return &group{ctx: ctx, cancel: cancel}
}

// start runs a in its own goroutine. An error it returns is kept (with
// the actor's name) and ends the group's context.
func (g *group) start(a actor) { g.startWith(g.ctx, a) }

// startWith runs a like start, but with ctx (a context derived from the
// group's, which can end earlier: the components of a configuration
// replaced by a reload).
func (g *group) startWith(ctx context.Context, a actor) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
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
