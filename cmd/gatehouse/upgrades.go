package main

import (
	"context"
	"errors"
	"sync"

	"github.com/gatehouse-sso/gatehouse/proxy"
)

// gateways are the gateways whose websockets may still be open: the
// current generation's and, after reloads, earlier ones that still relay
// websockets (a reload does not cut them).
type gateways struct {
	mu   sync.Mutex
	list []*proxy.Gateway
}

// track adds a newly built generation's gateway and forgets earlier ones
// with no websocket left.
func (gs *gateways) track(gw *proxy.Gateway) {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	kept := gs.list[:0]
	for _, old := range gs.list {
		if old.Upgraded() > 0 {
			kept = append(kept, old)
		}
	}
	gs.list = append(kept, gw)
}

// shutdown closes the websockets of every tracked gateway (a close frame
// with 1001 to both ends, then waiting for them within ctx).
func (gs *gateways) shutdown(ctx context.Context) error {
	gs.mu.Lock()
	list := append([]*proxy.Gateway(nil), gs.list...)
	gs.mu.Unlock()
	errs := make([]error, len(list))
	var wg sync.WaitGroup
	for i, gw := range list {
		wg.Go(func() { errs[i] = gw.Shutdown(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}
