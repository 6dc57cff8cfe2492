// Package session owns Gatehouse's SSO session: the cookie codec (gorilla
// securecookie: HMAC-SHA256 + AES-256, with key rotation), the server-side
// record kept in the store, and idle and absolute timeouts.
//
// It also owns revocation: one store topic (RevocationTopic) on which
// ending a session, replacing one, ending all of a user's, and revoking a
// grant or a token are published, and Watch, through which the gateway's
// caches and the OpenID provider hear of them on every replica.
//
// The cookie carries only a random session id; everything else stays on the
// server. The store key is a hash of the id, so a copy of the store does not
// hold usable cookies. This package renders no HTML.
package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gorilla/securecookie"

	"github.com/gatehouse-sso/gatehouse/internal/cookiekeys"
	"github.com/gatehouse-sso/gatehouse/store"
)

// ErrNoSession means the request carries no valid session: no cookie, a
// tampered or undecodable cookie, or a session that ended or expired. The
// caller treats the user as signed out.
var ErrNoSession = errors.New("no session")

// Record is the server-side state of one session.
type Record struct {
	// ID is the session id carried by the cookie. It is not stored in the
	// record itself.
	ID string `json:"-"`
	// SID is the session's public identifier: the OIDC "sid" claim and the
	// name back-channel logout gives the session. It reveals nothing of ID.
	SID       string    `json:"sid"`
	UserID    string    `json:"uid"`
	Created   time.Time `json:"created"`
	LastSeen  time.Time `json:"last_seen"`
	AuthTime  time.Time `json:"auth_time"`
	AMR       []string  `json:"amr,omitempty"`
	IP        string    `json:"ip,omitempty"`
	UserAgent string    `json:"ua,omitempty"`
}

// sidOf derives a session's public identifier from its secret id, one way,
// so it can be shown without exposing the cookie.
func sidOf(id string) string {
	sum := sha256.Sum256([]byte("gatehouse sid v1\x00" + id))
	return base64.RawURLEncoding.EncodeToString(sum[:18])
}

// Options configures a Manager.
type Options struct {
	// CookieName is the base name; see Manager.CookieName for prefixes.
	CookieName string
	// CookieDomain shares the cookie with subdomains when set.
	CookieDomain string
	// Secure marks the cookie Secure (the site is served over https).
	Secure bool
	// IdleTimeout ends sessions unused for this long.
	IdleTimeout time.Duration
	// AbsoluteTimeout ends sessions this long after sign-in.
	AbsoluteTimeout time.Duration
	// Secrets sign and encrypt cookies: the first encodes, all decode.
	// Each must be at least 32 bytes.
	Secrets [][]byte
	// TouchInterval is how often, at most, a use of the session is written
	// back to the store to extend its idle timeout. Default: a minute, or
	// a tenth of IdleTimeout if that is shorter.
	TouchInterval time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Logger receives debug records about rejected cookies.
	Logger *slog.Logger
	// Bus publishes the revocations of ending sessions; one on st is made
	// when nil. Share one Bus per process (see Manager.Bus).
	Bus *Bus
}

// Manager creates, loads and ends sessions.
type Manager struct {
	st     store.Store
	o      Options
	name   string
	codecs []securecookie.Codec
	now    func() time.Time
	log    *slog.Logger
	bus    *Bus
}

// New returns a Manager storing records in st.
func New(st store.Store, o Options) (*Manager, error) {
	if o.CookieName == "" {
		return nil, errors.New("session: empty cookie name")
	}
	if o.IdleTimeout <= 0 || o.AbsoluteTimeout <= 0 {
		return nil, errors.New("session: timeouts must be positive")
	}
	if len(o.Secrets) == 0 {
		return nil, errors.New("session: no secrets")
	}
	codecs, err := cookiekeys.Codecs(o.Secrets, "gatehouse session cookie", o.AbsoluteTimeout, 0, securecookie.NopEncoder{})
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	if o.TouchInterval <= 0 {
		o.TouchInterval = min(time.Minute, o.IdleTimeout/10)
	}
	m := &Manager{st: st, o: o, codecs: codecs, now: o.Now, log: o.Logger}
	if m.now == nil {
		m.now = time.Now
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	m.bus = o.Bus
	if m.bus == nil {
		m.bus = NewBus(st, m.log)
	}
	m.name = o.CookieName
	switch {
	case o.Secure && o.CookieDomain == "":
		m.name = "__Host-" + o.CookieName
	case o.Secure:
		m.name = "__Secure-" + o.CookieName
	}
	return m, nil
}

// Bus is the revocation bus the manager publishes on.
func (m *Manager) Bus() *Bus { return m.bus }

// CookieName is the cookie's full name: "__Host-<name>" for a host-only
// cookie over https, "__Secure-<name>" for a domain cookie over https, the
// plain name otherwise.
func (m *Manager) CookieName() string { return m.name }

// Start signs userID in: it ends the session the request already carries
// (a new id on every login defeats session fixation), stores a new record
// and sets its cookie on w. The previous session ends as End would end it,
// revocation included, so what was created from it (app sessions, grants)
// cannot outlive it.
func (m *Manager) Start(ctx context.Context, w http.ResponseWriter, r *http.Request, userID string, amr []string) (Record, error) {
	if old, ok := m.cookieID(r); ok {
		if err := m.endID(ctx, old); err != nil {
			return Record{}, fmt.Errorf("start session: end previous: %w", err)
		}
	}
	now := m.now()
	id := newID()
	rec := Record{
		ID:        id,
		SID:       sidOf(id),
		UserID:    userID,
		Created:   now,
		LastSeen:  now,
		AuthTime:  now,
		AMR:       amr,
		IP:        clientIP(r),
		UserAgent: truncate(r.UserAgent(), 256),
	}
	if err := m.save(ctx, rec); err != nil {
		return Record{}, fmt.Errorf("start session: %w", err)
	}
	if err := m.st.SetAdd(ctx, userSet(userID), storeKey(rec.ID), m.o.AbsoluteTimeout); err != nil {
		return Record{}, fmt.Errorf("start session: index by user: %w", err)
	}
	value, err := securecookie.EncodeMulti(m.name, []byte(rec.ID), m.codecs...)
	if err != nil {
		return Record{}, fmt.Errorf("start session: encode cookie: %w", err)
	}
	http.SetCookie(w, m.cookie(value, int(m.o.AbsoluteTimeout/time.Second)))
	return rec, nil
}

// Load returns the session of the request. It returns ErrNoSession when the
// user is signed out (and logs why at debug), and any other error when the
// store failed: the caller must then fail closed, not treat the user as
// signed out.
func (m *Manager) Load(ctx context.Context, r *http.Request) (Record, error) {
	id, ok := m.cookieID(r)
	if !ok {
		return Record{}, ErrNoSession
	}
	raw, err := m.st.Get(ctx, storeKey(id))
	if errors.Is(err, store.ErrNotFound) {
		m.log.DebugContext(ctx, "session cookie refers to no live session")
		return Record{}, ErrNoSession
	}
	if err != nil {
		return Record{}, fmt.Errorf("load session: %w", err)
	}
	var rec Record
	if err := json.Unmarshal(raw, &rec); err != nil {
		return Record{}, fmt.Errorf("load session: decode record: %w", err)
	}
	rec.ID = id
	now := m.now()
	if m.expired(rec, now) {
		m.log.DebugContext(ctx, "session expired", "idle", now.Sub(rec.LastSeen).Round(time.Second), "age", now.Sub(rec.Created).Round(time.Second))
		if err := m.delete(ctx, id, rec.UserID); err != nil {
			return Record{}, fmt.Errorf("load session: end expired: %w", err)
		}
		return Record{}, ErrNoSession
	}
	if now.Sub(rec.LastSeen) >= m.o.TouchInterval {
		rec.LastSeen = now
		if err := m.save(ctx, rec); err != nil {
			return Record{}, fmt.Errorf("load session: touch: %w", err)
		}
	}
	return rec, nil
}

// End ends the request's session, if any, and clears the cookie on w.
// The end is published on the revocation topic.
func (m *Manager) End(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	m.ClearCookie(w)
	id, ok := m.cookieID(r)
	if !ok {
		return nil
	}
	if err := m.endID(ctx, id); err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}

// endID deletes session id, if it still exists, and publishes its end.
func (m *Manager) endID(ctx context.Context, id string) error {
	rec, err := m.record(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := m.delete(ctx, id, rec.UserID); err != nil {
		return err
	}
	return m.ended(ctx, rec)
}

// ended publishes the end of session rec.
func (m *Manager) ended(ctx context.Context, rec Record) error {
	if rec.SID == "" {
		return nil
	}
	return m.bus.Publish(ctx, Revocation{Kind: KindSession, SID: rec.SID, UserID: rec.UserID})
}

// record reads the stored record of session id.
func (m *Manager) record(ctx context.Context, id string) (Record, error) {
	raw, err := m.st.Get(ctx, storeKey(id))
	if err != nil {
		return Record{}, err
	}
	var rec Record
	if err := json.Unmarshal(raw, &rec); err != nil {
		return Record{}, fmt.Errorf("decode session record: %w", err)
	}
	rec.ID = id
	return rec, nil
}

// EndAll ends every session of userID, publishing each end, and returns
// how many there were.
func (m *Manager) EndAll(ctx context.Context, userID string) (int, error) {
	keys, err := m.st.SetMembers(ctx, userSet(userID))
	if err != nil {
		return 0, fmt.Errorf("end sessions of user: list: %w", err)
	}
	for _, k := range keys {
		var rec Record
		raw, err := m.st.Get(ctx, k)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return 0, fmt.Errorf("end sessions of user: read: %w", err)
		default:
			_ = json.Unmarshal(raw, &rec)
		}
		if err := m.st.Delete(ctx, k); err != nil {
			return 0, fmt.Errorf("end sessions of user: %w", err)
		}
		if err := m.st.SetRemove(ctx, userSet(userID), k); err != nil {
			return 0, fmt.Errorf("end sessions of user: unindex: %w", err)
		}
		if err := m.ended(ctx, rec); err != nil {
			return 0, fmt.Errorf("end sessions of user: %w", err)
		}
	}
	return len(keys), nil
}

// RevokeUser ends every session of userID and publishes that every
// credential of theirs is revoked, so that caches drop the user's bearer
// tokens too. Call it after disabling or deleting a user. It returns how
// many sessions ended.
func (m *Manager) RevokeUser(ctx context.Context, userID string) (int, error) {
	n, err := m.EndAll(ctx, userID)
	if err != nil {
		return 0, fmt.Errorf("revoke user: %w", err)
	}
	if err := m.bus.Publish(ctx, Revocation{Kind: KindUser, UserID: userID}); err != nil {
		return n, fmt.Errorf("revoke user: %w", err)
	}
	return n, nil
}

// ClearCookie expires the session cookie on w.
func (m *Manager) ClearCookie(w http.ResponseWriter) {
	c := m.cookie("", -1)
	c.Expires = time.Unix(0, 0)
	http.SetCookie(w, c)
}

func (m *Manager) cookie(value string, maxAge int) *http.Cookie {
	c := &http.Cookie{
		Name:     m.name,
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		Secure:   m.o.Secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
	if m.o.CookieDomain != "" {
		c.Domain = m.o.CookieDomain
	}
	return c
}

// cookieID decodes the session id from the request's cookie.
func (m *Manager) cookieID(r *http.Request) (string, bool) {
	c, err := r.Cookie(m.name)
	if err != nil || c.Value == "" {
		return "", false
	}
	var raw []byte
	if err := securecookie.DecodeMulti(m.name, c.Value, &raw, m.codecs...); err != nil {
		m.log.DebugContext(r.Context(), "session cookie rejected", "reason", err.Error())
		return "", false
	}
	if len(raw) != idLen {
		m.log.DebugContext(r.Context(), "session cookie rejected", "reason", "bad id length")
		return "", false
	}
	return string(raw), true
}

func (m *Manager) expired(rec Record, now time.Time) bool {
	return now.Sub(rec.LastSeen) >= m.o.IdleTimeout || now.Sub(rec.Created) >= m.o.AbsoluteTimeout
}

// save writes rec with a TTL that ends at whichever timeout comes first.
func (m *Manager) save(ctx context.Context, rec Record) error {
	ttl := min(rec.LastSeen.Add(m.o.IdleTimeout).Sub(m.now()), rec.Created.Add(m.o.AbsoluteTimeout).Sub(m.now()))
	if ttl <= 0 {
		ttl = time.Millisecond
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode record: %w", err)
	}
	if err := m.st.Put(ctx, storeKey(rec.ID), b, ttl); err != nil {
		return fmt.Errorf("store record: %w", err)
	}
	return nil
}

// delete removes the session id; userID is looked up when empty.
func (m *Manager) delete(ctx context.Context, id, userID string) error {
	key := storeKey(id)
	if userID == "" {
		raw, err := m.st.Get(ctx, key)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return err
		default:
			var rec Record
			if json.Unmarshal(raw, &rec) == nil {
				userID = rec.UserID
			}
		}
	}
	if err := m.st.Delete(ctx, key); err != nil {
		return err
	}
	if userID != "" {
		if err := m.st.SetRemove(ctx, userSet(userID), key); err != nil {
			return err
		}
	}
	return nil
}

const idLen = 43 // 32 random bytes, base64url without padding

func newID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// storeKey hashes the id so the store never holds a usable cookie value.
func storeKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return "session/" + base64.RawURLEncoding.EncodeToString(sum[:])
}

func userSet(userID string) string { return "session-user/" + userID }

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
