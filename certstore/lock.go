package certstore

import (
	"context"
	cryptorand "crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/gatehouse-sso/gatehouse/store"
)

// lease is a lock this Storage holds: its token and the refresher keeping
// it alive.
type lease struct {
	token  []byte
	cancel context.CancelFunc
	done   chan struct{} // closed when the refresher has returned
}

// Lock takes the lock name, waiting (polling with backoff) while another
// holder has it, until ctx is done. A lock whose holder stopped refreshing
// it frees itself after the lock TTL.
func (s *Storage) Lock(ctx context.Context, name string) error {
	wait := s.lockPoll
	for {
		ok, err := s.TryLock(ctx, name)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		// Full jitter over the upper half keeps replicas from polling in
		// step.
		d := wait/2 + rand.N(wait/2+1)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("certstore: wait for lock %q: %w", name, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, 8*s.lockPoll)
	}
}

// TryLock takes the lock name if it is free and reports whether it did.
func (s *Storage) TryLock(ctx context.Context, name string) (bool, error) {
	var raw [16]byte
	if _, err := cryptorand.Read(raw[:]); err != nil {
		return false, fmt.Errorf("certstore: lock %q: token: %w", name, err)
	}
	token := []byte(hex.EncodeToString(raw[:]))
	key := LockPrefix + name
	err := s.st.Create(ctx, key, token, s.lockTTL)
	if errors.Is(err, store.ErrExists) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("certstore: lock %q: %w", name, err)
	}

	rctx, cancel := context.WithCancel(context.Background())
	l := &lease{token: token, cancel: cancel, done: make(chan struct{})}
	s.mu.Lock()
	old := s.held[name]
	s.held[name] = l
	s.mu.Unlock()
	if old != nil {
		// Our previous lease expired without Unlock (we could not refresh
		// it); it is dead, stop its refresher.
		old.cancel()
		<-old.done
	}
	go s.refresh(rctx, name, l)
	return true, nil
}

// refresh extends the lease every third of the TTL until cancelled, and
// gives up when the lock is no longer ours.
func (s *Storage) refresh(ctx context.Context, name string, l *lease) {
	defer close(l.done)
	t := time.NewTicker(s.lockTTL / 3)
	defer t.Stop()
	key := LockPrefix + name
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cur, err := s.st.Get(ctx, key)
		switch {
		case errors.Is(err, store.ErrNotFound):
			s.log.Warn("certificate lock expired before it was released", "lock", name)
			return
		case ctx.Err() != nil:
			return
		case err != nil:
			s.log.Warn("cannot read certificate lock to refresh it", "lock", name, "err", err)
			continue
		case subtle.ConstantTimeCompare(cur, l.token) != 1:
			s.log.Warn("certificate lock taken over by another holder after it expired", "lock", name)
			return
		}
		// Not atomic with the read above: see the package documentation.
		if err := s.st.Put(ctx, key, l.token, s.lockTTL); err != nil && ctx.Err() == nil {
			s.log.Warn("cannot refresh certificate lock", "lock", name, "err", err)
		}
	}
}

// Unlock releases the lock name taken by Lock or TryLock on this Storage.
// A lock that already expired or was taken over is not an error: there is
// nothing left to release. Locks are named, not handles: within one process,
// one holder per name at a time (certmagic's usage).
func (s *Storage) Unlock(ctx context.Context, name string) error {
	s.mu.Lock()
	l := s.held[name]
	delete(s.held, name)
	s.mu.Unlock()
	if l == nil {
		return fmt.Errorf("certstore: unlock %q: not held by this storage", name)
	}
	l.cancel()
	<-l.done

	key := LockPrefix + name
	cur, err := s.st.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("certstore: unlock %q: %w", name, err)
	}
	if subtle.ConstantTimeCompare(cur, l.token) != 1 {
		s.log.Warn("certificate lock taken over by another holder before it was released", "lock", name)
		return nil
	}
	// Not atomic with the read above: see the package documentation.
	if err := s.st.Delete(ctx, key); err != nil {
		return fmt.Errorf("certstore: unlock %q: %w", name, err)
	}
	return nil
}
