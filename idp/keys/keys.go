// Package keys manages the OpenID provider's signing keys: RS256 and ES256
// keys generated on first start and kept in the store (so every replica
// signs with the same keys), rotated on a schedule with the next key
// published ahead and retired keys published until their tokens expire;
// or keys loaded from PEM files. It signs and verifies JWTs and serves the
// JWKS. `alg: none` and HMAC algorithms are never produced or accepted.
package keys

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gatehouse-sso/gatehouse/store"
)

// Algorithms.
const (
	RS256 = "RS256"
	ES256 = "ES256"
)

// Options configures a Manager.
type Options struct {
	// Algorithms to keep a key for; default RS256 and ES256.
	Algorithms []string
	// RotationPeriod is the life of a generated key as the signing key;
	// default 30 days.
	RotationPeriod time.Duration
	// Retain is how long a key stays published after it stopped signing:
	// at least the longest lifetime of a token it signed. Default 24h.
	Retain time.Duration
	// Files are PEM private keys (PKCS#8, PKCS#1 RSA or SEC1 EC). When set,
	// only these keys are used (one per algorithm at most) and nothing is
	// generated, stored or rotated.
	Files []string
	// RefreshInterval is how often keys are re-read from the store to pick
	// up another replica's rotation; default one minute.
	RefreshInterval time.Duration
	Now             func() time.Time
	Logger          *slog.Logger
}

// Manager holds the current keys in memory: signing and verifying never
// touch the store.
type Manager struct{}

// New loads (or, the first time, generates and stores) the keys.
func New(ctx context.Context, st store.Store, o Options) (*Manager, error) { panic("unimplemented") }

// Run refreshes and rotates keys every RefreshInterval until ctx ends.
func (m *Manager) Run(ctx context.Context) { panic("unimplemented") }

// Refresh re-reads the keys from the store and rotates when due.
func (m *Manager) Refresh(ctx context.Context) error { panic("unimplemented") }

// Sign serialises claims (any JSON-marshalable value) as a compact JWS
// signed with the current key for alg, with header "kid" and "typ" (for
// example "JWT", "at+jwt", "logout+jwt").
func (m *Manager) Sign(alg, typ string, claims any) (string, error) { panic("unimplemented") }

// Verify checks a compact JWS against every published key (current, next
// and retired) and returns its payload and header values. It refuses
// "none", HMAC and any algorithm not in Options.Algorithms, unknown kids,
// and more than one signature. It does not check claims (exp, aud...):
// callers do.
func (m *Manager) Verify(token string) (payload []byte, h Header, err error) { panic("unimplemented") }

// Header is what Verify reports of a JWS header.
type Header struct {
	Alg, Kid, Typ string
}

// Algorithms reports the algorithms keys exist for.
func (m *Manager) Algorithms() []string { panic("unimplemented") }

// JWKS returns the public key set as JSON (RFC 7517), every key with kid,
// alg and use "sig".
func (m *Manager) JWKS() []byte { panic("unimplemented") }

// Handler serves JWKS with Content-Type application/json and a short
// public cache lifetime.
func (m *Manager) Handler() http.Handler { panic("unimplemented") }
