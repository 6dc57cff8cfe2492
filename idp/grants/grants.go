// Package grants keeps the OpenID provider's server-side records on the
// store: authorization codes (single use, taken atomically; a replayed code
// is reported with the grant it produced so the caller revokes it), grants
// (the family of tokens issued from one authorization), refresh tokens
// (rotated on every use, with a grace window, reuse after it revoking the
// family), revoked access-token ids, and remembered consent.
//
// Opaque tokens are random 256-bit values; only their SHA-256 hashes are
// stored. The package speaks no HTTP and signs nothing.
package grants

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse-sso/gatehouse/store"
)

// Errors.
var (
	// ErrNotFound: unknown, expired, or already used and past replay
	// detection.
	ErrNotFound = errors.New("grants: not found")
	// ErrRevoked: the grant (family) was revoked.
	ErrRevoked = errors.New("grants: revoked")
)

// ReplayError reports a second use of an authorization code, or reuse of a
// rotated refresh token after the grace window; the grant GrantID has been
// revoked by the time it is returned.
type ReplayError struct{ GrantID string }

func (e *ReplayError) Error() string { return "grants: replay detected; grant " + e.GrantID + " revoked" }

// Grant is one authorization of a client by a user (or, for
// client_credentials, of a client by itself: UserID empty). Every token
// carries its grant id; revoking the grant kills them all.
type Grant struct {
	ID        string    `json:"id"`
	ClientID  string    `json:"client_id"`
	UserID    string    `json:"user_id,omitempty"`
	SessionID string    `json:"sid,omitempty"` // the SSO session it came from
	Scopes    []string  `json:"scopes"`
	AuthTime  time.Time `json:"auth_time,omitempty"`
	AMR       []string  `json:"amr,omitempty"`
	Nonce     string    `json:"nonce,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt ends the grant (the longest refresh-token lifetime).
	ExpiresAt time.Time `json:"expires_at"`
}

// Code is an authorization code's server-side state.
type Code struct {
	GrantID             string `json:"gid"`
	ClientID            string `json:"client_id"`
	RedirectURI         string `json:"redirect_uri"`
	CodeChallenge       string `json:"cc,omitempty"`
	CodeChallengeMethod string `json:"ccm,omitempty"`
}

// RefreshToken is a refresh token's server-side state.
type RefreshToken struct {
	GrantID   string    `json:"gid"`
	ClientID  string    `json:"client_id"`
	IssuedAt  time.Time `json:"iat"`
	ExpiresAt time.Time `json:"exp"`
	// RotatedAt is set once the token was exchanged for a successor.
	RotatedAt time.Time `json:"rotated_at,omitempty"`
}

// Options configures a Store.
type Options struct {
	// RefreshGrace is how long a rotated refresh token still works.
	RefreshGrace time.Duration
	Now          func() time.Time
}

// Store keeps grant records in a store.Store.
type Store struct{}

// New returns a Store on st.
func New(st store.Store, o Options) *Store { panic("unimplemented") }

// CreateGrant stores g (its ID is generated when empty) and indexes it by
// session (GrantsOfSession) and user.
func (s *Store) CreateGrant(ctx context.Context, g Grant) (Grant, error) { panic("unimplemented") }

// Grant returns a live grant, or ErrRevoked / ErrNotFound.
func (s *Store) Grant(ctx context.Context, id string) (Grant, error) { panic("unimplemented") }

// RevokeGrant revokes the grant and therefore every token issued from it.
// Revoking a missing grant is not an error.
func (s *Store) RevokeGrant(ctx context.Context, id string) error { panic("unimplemented") }

// GrantsOfSession lists the live grants created from SSO session sid.
func (s *Store) GrantsOfSession(ctx context.Context, sid string) ([]Grant, error) {
	panic("unimplemented")
}

// NewCode stores c for ttl and returns the opaque code to hand out.
func (s *Store) NewCode(ctx context.Context, c Code, ttl time.Duration) (string, error) {
	panic("unimplemented")
}

// TakeCode redeems a code exactly once (atomically, across replicas). A
// second redemption within the replay-detection window revokes the grant
// and returns *ReplayError; otherwise an unknown code is ErrNotFound.
func (s *Store) TakeCode(ctx context.Context, code string) (Code, error) { panic("unimplemented") }

// NewRefreshToken issues a refresh token for grant rt.GrantID.
func (s *Store) NewRefreshToken(ctx context.Context, rt RefreshToken) (string, error) {
	panic("unimplemented")
}

// RotateRefreshToken exchanges token for a successor with the same grant
// and a new lifetime ttl from now (capped at the grant's expiry). A token
// rotated less than RefreshGrace ago still works (another successor is
// issued); one rotated earlier revokes the grant and returns *ReplayError.
// clientID must be the token's client, else ErrNotFound. A revoked grant is
// ErrRevoked.
func (s *Store) RotateRefreshToken(ctx context.Context, token, clientID string, ttl time.Duration) (newToken string, rt RefreshToken, g Grant, err error) {
	panic("unimplemented")
}

// LookupRefreshToken returns a live refresh token's record and grant
// without rotating it (introspection, revocation).
func (s *Store) LookupRefreshToken(ctx context.Context, token string) (RefreshToken, Grant, error) {
	panic("unimplemented")
}

// RevokeAccessToken records that the access token with id jti is revoked
// until exp.
func (s *Store) RevokeAccessToken(ctx context.Context, jti string, exp time.Time) error {
	panic("unimplemented")
}

// AccessTokenRevoked reports whether jti was revoked.
func (s *Store) AccessTokenRevoked(ctx context.Context, jti string) (bool, error) {
	panic("unimplemented")
}

// RememberConsent records that userID granted clientID scopes (merged with
// earlier consent).
func (s *Store) RememberConsent(ctx context.Context, userID, clientID string, scopes []string) error {
	panic("unimplemented")
}

// ConsentCovers reports whether userID already granted clientID every one
// of scopes.
func (s *Store) ConsentCovers(ctx context.Context, userID, clientID string, scopes []string) (bool, error) {
	panic("unimplemented")
}

// RevokeConsent forgets userID's consent to clientID and revokes the grants
// of that user for that client.
func (s *Store) RevokeConsent(ctx context.Context, userID, clientID string) error {
	panic("unimplemented")
}
