package idp

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/idp/clients"
	"github.com/gatehouse-sso/gatehouse/idp/grants"
	"github.com/gatehouse-sso/gatehouse/store"
)

// barrierStore holds the answer of every read of an authorization code
// record until n reads have been made, then lets them all go: n
// redemptions of one code have then all read the code before any of them
// goes on, the worst interleaving, on every run.
type barrierStore struct {
	store.Store
	n       int
	mu      sync.Mutex
	waiting int
	release chan struct{}
}

func newBarrierStore(st store.Store, n int) *barrierStore {
	return &barrierStore{Store: st, n: n, release: make(chan struct{})}
}

func (b *barrierStore) Get(ctx context.Context, key string) ([]byte, error) {
	v, err := b.Store.Get(ctx, key)
	if strings.HasPrefix(key, "idp/code/") {
		// The read is done; it returns only once every reader has read.
		b.mu.Lock()
		b.waiting++
		if b.waiting == b.n {
			close(b.release)
		}
		b.mu.Unlock()
		select {
		case <-b.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return v, err
}

// TestCodeGrant_ConcurrentRedemptionHasOneWinner redeems one code with n
// requests whose reads of the code are all held until every one has read
// it: exactly one gets tokens, the others invalid_grant, and the winner's
// grant is revoked (a replayed code revokes what it issued).
func TestCodeGrant_ConcurrentRedemptionHasOneWinner(t *testing.T) {
	const n = 8
	reg, err := clients.New([]clients.Spec{{ID: "app", Secret: hClientSecret, RedirectURLs: []string{hCallback}, SkipConsent: true}})
	if err != nil {
		t.Fatal(err)
	}
	var bs *barrierStore
	h := newHarness(t, func(o *Options) {
		o.Clients = reg
		bs = newBarrierStore(o.Store, n)
		o.Grants = grants.New(bs, grants.Options{})
	})
	code := h.codeFor(t, h.signIn("u1"), "app", "openid")

	type answer struct {
		status int
		body   map[string]any
	}
	answers := make(chan answer, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			st, body := h.tokenAs("app", codeForm(code))
			answers <- answer{st, body}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("redemptions did not finish: the barrier never filled")
	}
	close(answers)
	var winners []map[string]any
	for a := range answers {
		switch {
		case a.status == http.StatusOK:
			winners = append(winners, a.body)
		case a.body["error"] != "invalid_grant":
			t.Errorf("a losing redemption got %d %v, want invalid_grant", a.status, a.body)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%d of %d concurrent redemptions got tokens, want exactly 1", len(winners), n)
	}
	// The losers were replays: the winner's grant is revoked.
	if st, _, _ := h.userinfo(winners[0]["access_token"].(string)); st != http.StatusUnauthorized {
		t.Fatalf("the winner's access token still works after the replays: %d", st)
	}
}
