// Package grants keeps the OpenID provider's server-side records on the
// store: authorization codes (single use, redeemed atomically; a replayed
// code revokes the grant it produced), grants
// (the family of tokens issued from one authorization), refresh tokens
// (rotated on every use, with a grace window, reuse after it revoking the
// family), revoked access-token ids, and remembered consent.
//
// Opaque tokens are random 256-bit values; only their SHA-256 hashes are
// stored. The package speaks no HTTP and signs nothing.
//
// Store keys, all under "idp/":
//
//	idp/grant/<id>                    Grant (JSON), TTL until ExpiresAt
//	idp/grant-revoked/<id>            tombstone, TTL max(remaining life, 1h)
//	idp/grants-of-session/<sid>       set of grant ids
//	idp/grants-of-user/<uid>          set of grant ids
//	idp/code/<hash>                   Code and its expiry, TTL = code ttl
//	idp/code-used/<hash>              grant id, TTL max(code ttl, 10 min)
//	idp/refresh/<hash>                RefreshToken (JSON), TTL until ExpiresAt
//	idp/revoked-jti/<jti>             marker, TTL until the token's exp
//	idp/consent/<uid>/<client>        sorted scope list (JSON), no TTL
//
// <hash> is base64url(SHA-256(token)); other variable parts are
// path-escaped so that no value can reach into another key.
//
// Revocation: revoking a grant (directly, by consent withdrawal, by a
// replayed code or refresh token) or an access token is published on the
// session package's revocation topic once the store says so, so caches on
// every replica drop the tokens at once.
//
// Time: Options.Now decides every expiry and the grace window (records
// carry their own expiry and are checked against it); the store's TTLs only
// reclaim space, in real time.
package grants

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/gatehouse-sso/gatehouse/session"
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

// Error implements error. It names the grant, never a token.
func (e *ReplayError) Error() string {
	return "grants: replay detected; grant " + e.GrantID + " revoked"
}

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
	// RefreshGrace is how long a rotated refresh token still works. Zero
	// (or negative) means no grace: any reuse of a rotated token is a
	// replay, except that two rotations racing on the same fresh token may
	// both succeed (see RotateRefreshToken).
	RefreshGrace time.Duration
	// Now is the clock for every expiry and grace decision; time.Now when
	// nil.
	Now func() time.Time
	// Bus publishes revocations and waits for this process to apply them;
	// when nil they are published without waiting.
	Bus *session.Bus
}

// Fixed windows.
const (
	// CodeReplayWindow is the least time a redeemed code is remembered so
	// that a second redemption is recognised as a replay (longer if the
	// code's own ttl was longer).
	CodeReplayWindow = 10 * time.Minute
	// RevokedGrantMemory is the least time a revoked grant is remembered as
	// revoked (ErrRevoked rather than ErrNotFound).
	RevokedGrantMemory = time.Hour
)

const (
	tokenBytes   = 32
	tokenLen     = 43 // base64url, no padding, of tokenBytes
	grantIDBytes = 16
	maxIDLen     = 64  // caller-supplied grant ids
	maxJTILen    = 256 // longer jtis are refused, not truncated
)

// Store keeps grant records in a store.Store.
type Store struct {
	st    store.Store
	grace time.Duration
	now   func() time.Time
	bus   *session.Bus
}

// New returns a Store on st.
func New(st store.Store, o Options) *Store {
	s := &Store{st: st, grace: max(o.RefreshGrace, 0), now: o.Now, bus: o.Bus}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Keys.

func grantKey(id string) string       { return "idp/grant/" + id }
func tombstoneKey(id string) string   { return "idp/grant-revoked/" + id }
func sessionSet(sid string) string    { return "idp/grants-of-session/" + url.PathEscape(sid) }
func userSet(uid string) string       { return "idp/grants-of-user/" + url.PathEscape(uid) }
func codeKey(hash string) string      { return "idp/code/" + hash }
func codeUsedKey(hash string) string  { return "idp/code-used/" + hash }
func refreshKey(hash string) string   { return "idp/refresh/" + hash }
func revokedJTIKey(jti string) string { return "idp/revoked-jti/" + url.PathEscape(jti) }
func consentKey(uid, client string) string {
	return "idp/consent/" + url.PathEscape(uid) + "/" + url.PathEscape(client)
}

// mintToken returns a fresh opaque token and the hash under which it is
// stored.
func mintToken() (token, hash string) {
	b := make([]byte, tokenBytes)
	_, _ = rand.Read(b) // never fails (crypto/rand documents it)
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, hashOf(token)
}

// hashOf is the store name of token.
func hashOf(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// tokenHash returns the store name of a token presented by a client, or
// false when it cannot be one of ours (so nothing is looked up).
func tokenHash(token string) (string, bool) {
	if len(token) != tokenLen {
		return "", false
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(token); err != nil {
		return "", false
	}
	return hashOf(token), true
}

// newGrantID returns a random grant id.
func newGrantID() string {
	b := make([]byte, grantIDBytes)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// validID reports whether id can name a grant: 1 to 64 characters of the
// base64url alphabet (what newGrantID makes), so it is safe in a key.
func validID(id string) bool {
	if id == "" || len(id) > maxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// equal compares two identifiers in constant time.
func equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// Grants.

// CreateGrant stores g (its ID is generated when empty) and indexes it by
// session (GrantsOfSession) and user. ClientID and ExpiresAt are required;
// CreatedAt defaults to now. A caller-supplied ID must be 1 to 64
// base64url characters.
func (s *Store) CreateGrant(ctx context.Context, g Grant) (Grant, error) {
	now := s.now()
	switch {
	case g.ClientID == "":
		return Grant{}, errors.New("grants: create grant: empty ClientID")
	case g.ExpiresAt.IsZero():
		return Grant{}, errors.New("grants: create grant: ExpiresAt not set")
	case !g.ExpiresAt.After(now):
		return Grant{}, errors.New("grants: create grant: ExpiresAt is not in the future")
	}
	if g.ID == "" {
		g.ID = newGrantID()
	} else if !validID(g.ID) {
		return Grant{}, errors.New("grants: create grant: invalid ID")
	}
	if g.CreatedAt.IsZero() {
		g.CreatedAt = now
	}
	g.Scopes = slices.Clone(g.Scopes)
	g.AMR = slices.Clone(g.AMR)
	b, err := json.Marshal(g)
	if err != nil {
		return Grant{}, fmt.Errorf("grants: create grant: encode: %w", err)
	}
	ttl := g.ExpiresAt.Sub(now)
	if err := s.st.Create(ctx, grantKey(g.ID), b, ttl); err != nil {
		return Grant{}, fmt.Errorf("grants: create grant: %w", err)
	}
	if g.SessionID != "" {
		if err := s.st.SetAdd(ctx, sessionSet(g.SessionID), g.ID, ttl); err != nil {
			return Grant{}, fmt.Errorf("grants: create grant: index by session: %w", err)
		}
	}
	if g.UserID != "" {
		if err := s.st.SetAdd(ctx, userSet(g.UserID), g.ID, ttl); err != nil {
			return Grant{}, fmt.Errorf("grants: create grant: index by user: %w", err)
		}
	}
	return g, nil
}

// Grant returns a live grant, or ErrRevoked / ErrNotFound. Any other error
// is a store failure: the caller must refuse the request, not treat the
// grant as valid.
func (s *Store) Grant(ctx context.Context, id string) (Grant, error) {
	if !validID(id) {
		return Grant{}, ErrNotFound
	}
	b, err := s.st.Get(ctx, grantKey(id))
	switch {
	case errors.Is(err, store.ErrNotFound):
		if _, err := s.st.Get(ctx, tombstoneKey(id)); err == nil {
			return Grant{}, ErrRevoked
		} else if !errors.Is(err, store.ErrNotFound) {
			return Grant{}, fmt.Errorf("grants: load grant: %w", err)
		}
		return Grant{}, ErrNotFound
	case err != nil:
		return Grant{}, fmt.Errorf("grants: load grant: %w", err)
	}
	var g Grant
	if err := json.Unmarshal(b, &g); err != nil {
		return Grant{}, fmt.Errorf("grants: load grant: decode: %w", err)
	}
	if !s.now().Before(g.ExpiresAt) {
		return Grant{}, ErrNotFound
	}
	return g, nil
}

// RevokeGrant revokes the grant and therefore every token issued from it.
// Revoking a missing grant is not an error.
//
// The record is deleted first and the tombstone written after, so a failure
// half way leaves the grant unusable (ErrNotFound instead of ErrRevoked),
// never live.
func (s *Store) RevokeGrant(ctx context.Context, id string) error {
	if !validID(id) {
		return nil
	}
	b, err := s.st.Get(ctx, grantKey(id))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("grants: revoke grant: %w", err)
	}
	var g Grant
	if err := json.Unmarshal(b, &g); err != nil {
		// Unreadable: still make it unusable.
		if err := s.st.Delete(ctx, grantKey(id)); err != nil {
			return fmt.Errorf("grants: revoke grant: %w", err)
		}
		if err := s.putTombstone(ctx, id, RevokedGrantMemory); err != nil {
			return err
		}
		return s.published(ctx, Grant{ID: id})
	}
	if err := s.st.Delete(ctx, grantKey(id)); err != nil {
		return fmt.Errorf("grants: revoke grant: %w", err)
	}
	if err := s.putTombstone(ctx, id, max(g.ExpiresAt.Sub(s.now()), RevokedGrantMemory)); err != nil {
		return err
	}
	if g.SessionID != "" {
		if err := s.st.SetRemove(ctx, sessionSet(g.SessionID), id); err != nil {
			return fmt.Errorf("grants: revoke grant: unindex session: %w", err)
		}
	}
	if g.UserID != "" {
		if err := s.st.SetRemove(ctx, userSet(g.UserID), id); err != nil {
			return fmt.Errorf("grants: revoke grant: unindex user: %w", err)
		}
	}
	return s.published(ctx, g)
}

// RevokeUser revokes every live grant of userID, and with them every
// refresh and access token issued from them, including the offline ones
// that outlive the user's sessions; it returns how many it revoked. Call
// it when the user is disabled or deleted, so that enabling the user again
// does not bring the tokens back.
func (s *Store) RevokeUser(ctx context.Context, userID string) (int, error) {
	if userID == "" {
		return 0, errors.New("grants: revoke user: empty user id")
	}
	gs, err := s.liveMembers(ctx, userSet(userID))
	if err != nil {
		return 0, fmt.Errorf("grants: revoke user: list grants: %w", err)
	}
	var errs []error
	for _, g := range gs {
		if err := s.RevokeGrant(ctx, g.ID); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return len(gs) - len(errs), fmt.Errorf("grants: revoke user: %w", err)
	}
	return len(gs), nil
}

// published announces the revocation of grant g.
func (s *Store) published(ctx context.Context, g Grant) error {
	err := s.publish(ctx, session.Revocation{Kind: session.KindGrant, GrantID: g.ID, SID: g.SessionID, UserID: g.UserID})
	if err != nil {
		return fmt.Errorf("grants: revoke grant: %w", err)
	}
	return nil
}

// publish announces r, through the bus when there is one.
func (s *Store) publish(ctx context.Context, r session.Revocation) error {
	if s.bus != nil {
		return s.bus.Publish(ctx, r)
	}
	return session.Publish(ctx, s.st, r)
}

func (s *Store) putTombstone(ctx context.Context, id string, ttl time.Duration) error {
	if err := s.st.Put(ctx, tombstoneKey(id), []byte{'1'}, ttl); err != nil {
		return fmt.Errorf("grants: revoke grant: write tombstone: %w", err)
	}
	return nil
}

// GrantsOfSession lists the live grants created from SSO session sid.
func (s *Store) GrantsOfSession(ctx context.Context, sid string) ([]Grant, error) {
	if sid == "" {
		return nil, nil
	}
	gs, err := s.liveMembers(ctx, sessionSet(sid))
	if err != nil {
		return nil, fmt.Errorf("grants: grants of session: %w", err)
	}
	return gs, nil
}

// liveMembers loads the live grants named in an index set, skipping the
// ones that expired or were revoked since.
func (s *Store) liveMembers(ctx context.Context, set string) ([]Grant, error) {
	ids, err := s.st.SetMembers(ctx, set)
	if err != nil {
		return nil, err
	}
	var out []Grant
	for _, id := range ids {
		g, err := s.Grant(ctx, id)
		switch {
		case errors.Is(err, ErrNotFound), errors.Is(err, ErrRevoked):
			continue
		case err != nil:
			return nil, err
		}
		out = append(out, g)
	}
	return out, nil
}

// Authorization codes.

// codeRecord is what "idp/code/<hash>" holds.
type codeRecord struct {
	Code      Code          `json:"code"`
	ExpiresAt time.Time     `json:"exp"`
	TTL       time.Duration `json:"ttl"`
}

// NewCode stores c for ttl and returns the opaque code to hand out.
// c.GrantID and c.ClientID are required.
func (s *Store) NewCode(ctx context.Context, c Code, ttl time.Duration) (string, error) {
	switch {
	case !validID(c.GrantID):
		return "", errors.New("grants: new code: empty or invalid GrantID")
	case c.ClientID == "":
		return "", errors.New("grants: new code: empty ClientID")
	case ttl <= 0:
		return "", errors.New("grants: new code: ttl must be positive")
	}
	b, err := json.Marshal(codeRecord{Code: c, ExpiresAt: s.now().Add(ttl), TTL: ttl})
	if err != nil {
		return "", fmt.Errorf("grants: new code: encode: %w", err)
	}
	code, hash := mintToken()
	if err := s.st.Create(ctx, codeKey(hash), b, ttl); err != nil {
		return "", fmt.Errorf("grants: new code: %w", err)
	}
	return code, nil
}

// TakeCode redeems a code exactly once (atomically, across replicas). A
// second redemption within the replay-detection window revokes the grant
// and returns *ReplayError; otherwise an unknown code is ErrNotFound.
//
// The single winner is decided by store.Create on the "used" marker, and
// the code record is deleted after it; so every other redemption, whether
// concurrent with the winner or later, finds either the code (and loses the
// Create) or the marker, and is reported as a replay. Among N concurrent
// redemptions exactly one returns the Code and N-1 return *ReplayError.
func (s *Store) TakeCode(ctx context.Context, code string) (Code, error) {
	hash, ok := tokenHash(code)
	if !ok {
		return Code{}, ErrNotFound
	}
	b, err := s.st.Get(ctx, codeKey(hash))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Code{}, s.codeReplay(ctx, hash, "")
	case err != nil:
		return Code{}, fmt.Errorf("grants: take code: %w", err)
	}
	var rec codeRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return Code{}, fmt.Errorf("grants: take code: decode: %w", err)
	}
	if !s.now().Before(rec.ExpiresAt) {
		return Code{}, ErrNotFound
	}
	window := max(rec.TTL, CodeReplayWindow)
	err = s.st.Create(ctx, codeUsedKey(hash), []byte(rec.Code.GrantID), window)
	switch {
	case errors.Is(err, store.ErrExists):
		return Code{}, s.codeReplay(ctx, hash, rec.Code.GrantID)
	case err != nil:
		return Code{}, fmt.Errorf("grants: take code: mark used: %w", err)
	}
	// Won. The marker already makes any other redemption a replay, so a
	// failure to delete the record costs nothing but space.
	if _, err := s.st.Take(ctx, codeKey(hash)); err != nil && !errors.Is(err, store.ErrNotFound) {
		return Code{}, fmt.Errorf("grants: take code: delete: %w", err)
	}
	return rec.Code, nil
}

// codeReplay handles a redemption that lost: if the code was redeemed (its
// marker names the grant; gid when already known), the grant is revoked
// and a *ReplayError returned; else ErrNotFound.
func (s *Store) codeReplay(ctx context.Context, hash, gid string) error {
	if gid == "" {
		b, err := s.st.Get(ctx, codeUsedKey(hash))
		switch {
		case errors.Is(err, store.ErrNotFound):
			return ErrNotFound
		case err != nil:
			return fmt.Errorf("grants: take code: %w", err)
		}
		gid = string(b)
	}
	if err := s.RevokeGrant(ctx, gid); err != nil {
		return fmt.Errorf("grants: take code: replay: %w", err)
	}
	return &ReplayError{GrantID: gid}
}

// Refresh tokens.

// NewRefreshToken issues a refresh token for grant rt.GrantID, which must
// be live and belong to rt.ClientID. IssuedAt defaults to now; ExpiresAt
// defaults to, and is capped at, the grant's expiry. RotatedAt is ignored.
func (s *Store) NewRefreshToken(ctx context.Context, rt RefreshToken) (string, error) {
	if rt.GrantID == "" || rt.ClientID == "" {
		return "", errors.New("grants: new refresh token: empty GrantID or ClientID")
	}
	g, err := s.Grant(ctx, rt.GrantID)
	if err != nil {
		return "", fmt.Errorf("grants: new refresh token: %w", err)
	}
	if !equal(g.ClientID, rt.ClientID) {
		return "", errors.New("grants: new refresh token: client is not the grant's")
	}
	now := s.now()
	if rt.IssuedAt.IsZero() {
		rt.IssuedAt = now
	}
	if rt.ExpiresAt.IsZero() || rt.ExpiresAt.After(g.ExpiresAt) {
		rt.ExpiresAt = g.ExpiresAt
	}
	rt.RotatedAt = time.Time{}
	tok, err := s.storeRefresh(ctx, rt, now)
	if err != nil {
		return "", fmt.Errorf("grants: new refresh token: %w", err)
	}
	return tok, nil
}

// storeRefresh stores rt under a new token.
func (s *Store) storeRefresh(ctx context.Context, rt RefreshToken, now time.Time) (string, error) {
	ttl := rt.ExpiresAt.Sub(now)
	if ttl <= 0 {
		return "", errors.New("expires before it is issued")
	}
	b, err := json.Marshal(rt)
	if err != nil {
		return "", fmt.Errorf("encode: %w", err)
	}
	tok, hash := mintToken()
	if err := s.st.Create(ctx, refreshKey(hash), b, ttl); err != nil {
		return "", err
	}
	return tok, nil
}

// loadRefresh returns the record of a presented token, ErrNotFound when
// there is none or it expired.
func (s *Store) loadRefresh(ctx context.Context, token string, now time.Time) (RefreshToken, string, error) {
	hash, ok := tokenHash(token)
	if !ok {
		return RefreshToken{}, "", ErrNotFound
	}
	b, err := s.st.Get(ctx, refreshKey(hash))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return RefreshToken{}, "", ErrNotFound
	case err != nil:
		return RefreshToken{}, "", err
	}
	var rt RefreshToken
	if err := json.Unmarshal(b, &rt); err != nil {
		return RefreshToken{}, "", fmt.Errorf("decode: %w", err)
	}
	if !now.Before(rt.ExpiresAt) {
		return RefreshToken{}, "", ErrNotFound
	}
	return rt, hash, nil
}

// RotateRefreshToken exchanges token for a successor with the same grant
// and a new lifetime ttl from now (capped at the grant's expiry). A token
// rotated less than RefreshGrace ago still works (another successor is
// issued); one rotated earlier revokes the grant and returns *ReplayError.
// clientID must be the token's client, else ErrNotFound. A revoked grant is
// ErrRevoked.
//
// The first rotation marks the token rotated by rewriting its record (kept
// until the token's own expiry, so that late reuse is still recognised).
// Two rotations racing on the same fresh token may both see it unrotated;
// both then succeed, each with its own successor, as a reuse within the
// grace window would. This is the only case in which a zero RefreshGrace
// lets a token be used twice.
func (s *Store) RotateRefreshToken(ctx context.Context, token, clientID string, ttl time.Duration) (newToken string, rt RefreshToken, g Grant, err error) {
	if ttl <= 0 {
		return "", RefreshToken{}, Grant{}, errors.New("grants: rotate refresh token: ttl must be positive")
	}
	now := s.now()
	old, hash, err := s.loadRefresh(ctx, token, now)
	switch {
	case errors.Is(err, ErrNotFound):
		return "", RefreshToken{}, Grant{}, ErrNotFound
	case err != nil:
		return "", RefreshToken{}, Grant{}, fmt.Errorf("grants: rotate refresh token: %w", err)
	}
	if clientID == "" || !equal(old.ClientID, clientID) {
		return "", RefreshToken{}, Grant{}, ErrNotFound
	}
	g, err = s.Grant(ctx, old.GrantID)
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrRevoked):
		return "", RefreshToken{}, Grant{}, err
	case err != nil:
		return "", RefreshToken{}, Grant{}, fmt.Errorf("grants: rotate refresh token: %w", err)
	}
	switch {
	case old.RotatedAt.IsZero():
		old.RotatedAt = now
		b, err := json.Marshal(old)
		if err != nil {
			return "", RefreshToken{}, Grant{}, fmt.Errorf("grants: rotate refresh token: encode: %w", err)
		}
		// loadRefresh checked now < ExpiresAt, so the ttl is positive.
		if err := s.st.Put(ctx, refreshKey(hash), b, old.ExpiresAt.Sub(now)); err != nil {
			return "", RefreshToken{}, Grant{}, fmt.Errorf("grants: rotate refresh token: mark rotated: %w", err)
		}
	case now.Sub(old.RotatedAt) <= s.grace:
		// Parallel refresh (tabs, replicas): another successor.
	default:
		if err := s.RevokeGrant(ctx, g.ID); err != nil {
			return "", RefreshToken{}, Grant{}, fmt.Errorf("grants: rotate refresh token: replay: %w", err)
		}
		return "", RefreshToken{}, Grant{}, &ReplayError{GrantID: g.ID}
	}
	rt = RefreshToken{
		GrantID:   g.ID,
		ClientID:  old.ClientID,
		IssuedAt:  now,
		ExpiresAt: minTime(now.Add(ttl), g.ExpiresAt),
	}
	newToken, err = s.storeRefresh(ctx, rt, now)
	if err != nil {
		return "", RefreshToken{}, Grant{}, fmt.Errorf("grants: rotate refresh token: issue successor: %w", err)
	}
	return newToken, rt, g, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// LookupRefreshToken returns a live refresh token's record and grant
// without rotating it (introspection, revocation).
//
// A token is live while it has not expired, its grant is live, and it has
// not been rotated or was rotated no longer than RefreshGrace ago (it can
// still be exchanged). A token rotated earlier is ErrNotFound here: looking
// it up is not a use, so it does not revoke the family. A revoked grant is
// ErrRevoked.
func (s *Store) LookupRefreshToken(ctx context.Context, token string) (RefreshToken, Grant, error) {
	now := s.now()
	rt, _, err := s.loadRefresh(ctx, token, now)
	switch {
	case errors.Is(err, ErrNotFound):
		return RefreshToken{}, Grant{}, ErrNotFound
	case err != nil:
		return RefreshToken{}, Grant{}, fmt.Errorf("grants: look up refresh token: %w", err)
	}
	if !rt.RotatedAt.IsZero() && now.Sub(rt.RotatedAt) > s.grace {
		return RefreshToken{}, Grant{}, ErrNotFound
	}
	g, err := s.Grant(ctx, rt.GrantID)
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrRevoked):
		return RefreshToken{}, Grant{}, err
	case err != nil:
		return RefreshToken{}, Grant{}, fmt.Errorf("grants: look up refresh token: %w", err)
	}
	return rt, g, nil
}

// Access tokens.

// RevokeAccessToken records that the access token with id jti is revoked
// until exp. A token already expired needs no record.
func (s *Store) RevokeAccessToken(ctx context.Context, jti string, exp time.Time) error {
	if jti == "" || len(jti) > maxJTILen {
		return errors.New("grants: revoke access token: jti empty or too long")
	}
	ttl := exp.Sub(s.now())
	if ttl <= 0 {
		return nil
	}
	if err := s.st.Put(ctx, revokedJTIKey(jti), []byte{'1'}, ttl); err != nil {
		return fmt.Errorf("grants: revoke access token: %w", err)
	}
	if err := s.publish(ctx, session.Revocation{Kind: session.KindToken, JTI: jti}); err != nil {
		return fmt.Errorf("grants: revoke access token: %w", err)
	}
	return nil
}

// AccessTokenRevoked reports whether jti was revoked. An empty or
// over-long jti is an error (tokens without a usable jti must be refused),
// as is a store failure.
func (s *Store) AccessTokenRevoked(ctx context.Context, jti string) (bool, error) {
	if jti == "" || len(jti) > maxJTILen {
		return false, errors.New("grants: access token revoked: jti empty or too long")
	}
	_, err := s.st.Get(ctx, revokedJTIKey(jti))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	default:
		return false, fmt.Errorf("grants: access token revoked: %w", err)
	}
}

// AccessTokenLive reports whether an access token may still be used: its
// id (jti) not revoked and its grant (gid; empty for client credentials,
// which have none) neither revoked nor gone. Only store failures are
// errors.
func (s *Store) AccessTokenLive(ctx context.Context, jti, gid string) (bool, error) {
	revoked, err := s.AccessTokenRevoked(ctx, jti)
	if err != nil || revoked {
		return false, err
	}
	if gid == "" {
		return true, nil
	}
	_, err = s.Grant(ctx, gid)
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrRevoked):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// Consent.

// normScopes returns scopes sorted, without duplicates or empty strings.
func normScopes(scopes []string) []string {
	out := make([]string, 0, len(scopes))
	for _, sc := range scopes {
		if sc != "" {
			out = append(out, sc)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// consent loads the remembered scopes; found is false when there is no
// record.
func (s *Store) consent(ctx context.Context, userID, clientID string) (scopes []string, found bool, err error) {
	b, err := s.st.Get(ctx, consentKey(userID, clientID))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, false, nil
	case err != nil:
		return nil, false, err
	}
	if err := json.Unmarshal(b, &scopes); err != nil {
		return nil, false, fmt.Errorf("decode: %w", err)
	}
	return scopes, true, nil
}

// RememberConsent records that userID granted clientID scopes (merged with
// earlier consent). The record has no expiry; RevokeConsent ends it.
// Concurrent calls for the same user and client may lose one merge (the
// user is then simply asked again).
func (s *Store) RememberConsent(ctx context.Context, userID, clientID string, scopes []string) error {
	if userID == "" || clientID == "" {
		return errors.New("grants: remember consent: empty user or client id")
	}
	have, _, err := s.consent(ctx, userID, clientID)
	if err != nil {
		return fmt.Errorf("grants: remember consent: %w", err)
	}
	merged := normScopes(append(slices.Clone(have), scopes...))
	b, err := json.Marshal(merged)
	if err != nil {
		return fmt.Errorf("grants: remember consent: encode: %w", err)
	}
	if err := s.st.Put(ctx, consentKey(userID, clientID), b, 0); err != nil {
		return fmt.Errorf("grants: remember consent: %w", err)
	}
	return nil
}

// ConsentCovers reports whether userID already granted clientID every one
// of scopes. Without any remembered consent the answer is false, even for
// an empty scope list.
func (s *Store) ConsentCovers(ctx context.Context, userID, clientID string, scopes []string) (bool, error) {
	if userID == "" || clientID == "" {
		return false, nil
	}
	have, found, err := s.consent(ctx, userID, clientID)
	if err != nil {
		return false, fmt.Errorf("grants: consent covers: %w", err)
	}
	if !found {
		return false, nil
	}
	for _, sc := range scopes {
		if sc == "" {
			continue
		}
		if _, ok := slices.BinarySearch(have, sc); !ok {
			return false, nil
		}
	}
	return true, nil
}

// RevokeConsent forgets userID's consent to clientID and revokes the grants
// of that user for that client.
func (s *Store) RevokeConsent(ctx context.Context, userID, clientID string) error {
	if userID == "" || clientID == "" {
		return errors.New("grants: revoke consent: empty user or client id")
	}
	if err := s.st.Delete(ctx, consentKey(userID, clientID)); err != nil {
		return fmt.Errorf("grants: revoke consent: %w", err)
	}
	gs, err := s.liveMembers(ctx, userSet(userID))
	if err != nil {
		return fmt.Errorf("grants: revoke consent: list grants: %w", err)
	}
	var errs []error
	for _, g := range gs {
		if g.ClientID != clientID {
			continue
		}
		if err := s.RevokeGrant(ctx, g.ID); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("grants: revoke consent: %w", err)
	}
	return nil
}
