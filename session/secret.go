package session

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/gatehouse-sso/gatehouse/store"
)

const generatedSecretKey = "session-secret/generated"

// GeneratedSecret returns the cookie secret Gatehouse generated for itself
// when the configuration names none, creating it on first use. It lives in
// the store, so every replica sharing the store shares the secret and
// sessions survive restarts.
func GeneratedSecret(ctx context.Context, st store.Store) ([]byte, error) {
	b, err := st.Get(ctx, generatedSecretKey)
	if err == nil {
		return b, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("load generated session secret: %w", err)
	}
	secret := make([]byte, 64)
	_, _ = rand.Read(secret)
	err = st.Create(ctx, generatedSecretKey, secret, 0)
	if errors.Is(err, store.ErrExists) {
		// Another replica won the race; use its secret.
		return st.Get(ctx, generatedSecretKey)
	}
	if err != nil {
		return nil, fmt.Errorf("store generated session secret: %w", err)
	}
	return secret, nil
}
