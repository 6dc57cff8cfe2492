package proxy

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/securecookie"
	"golang.org/x/oauth2"

	"github.com/gatehouse-sso/gatehouse/store"
)

// Store keys of the gateway, all under "gw/":
//
//	gw/session/<hash>          appSession (JSON), TTL until it expires
//	gw/sessions-of-sid/<sid>   set of gw/session keys of one SSO session
//	gw/ticket/<hash>           handoff of a sign-in to another host, 2 min
//
// <hash> is base64url(SHA-256(secret)): the store never holds a usable
// cookie or ticket. Sign-ins in progress are not stored at all (see
// flow).
const (
	keySession      = "gw/session/"
	keySessionsOf   = "gw/sessions-of-sid/"
	keyTicket       = "gw/ticket/"
	appSessionIDLen = 43
)

// errNoSession means the app session does not exist (or expired).
var errNoSession = errors.New("no app session")

// appSession is the server-side record behind an app cookie.
type appSession struct {
	UserID string `json:"uid"`
	// SID is the SSO session the sign-in came from; ending it ends this.
	SID string `json:"sid,omitempty"`
	// Host binds a host-only cookie's session to its host; empty with a
	// parent-domain cookie.
	Host     string    `json:"host,omitempty"`
	Scopes   []string  `json:"scopes,omitempty"`
	AMR      []string  `json:"amr,omitempty"`
	AuthTime time.Time `json:"auth_time"`
	Created  time.Time `json:"created"`
	Expires  time.Time `json:"expires"`
	// The proxy's own tokens, kept only when a route forwards the access
	// token (headers.access_token).
	AccessToken  string    `json:"at,omitempty"`
	AccessExpiry time.Time `json:"at_exp,omitzero"`
	RefreshToken string    `json:"rt,omitempty"`
}

func hashKey(prefix, secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return prefix + base64.RawURLEncoding.EncodeToString(sum[:])
}

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (g *Gateway) loadSession(ctx context.Context, id string) (appSession, error) {
	raw, err := g.o.Store.Get(ctx, hashKey(keySession, id))
	if errors.Is(err, store.ErrNotFound) {
		return appSession{}, errNoSession
	}
	if err != nil {
		return appSession{}, fmt.Errorf("load app session: %w", err)
	}
	var rec appSession
	if err := json.Unmarshal(raw, &rec); err != nil {
		return appSession{}, fmt.Errorf("decode app session: %w", err)
	}
	return rec, nil
}

func (g *Gateway) saveSession(ctx context.Context, id string, rec appSession) error {
	ttl := rec.Expires.Sub(g.now())
	if ttl <= 0 {
		ttl = time.Millisecond
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode app session: %w", err)
	}
	if err := g.o.Store.Put(ctx, hashKey(keySession, id), b, ttl); err != nil {
		return fmt.Errorf("store app session: %w", err)
	}
	return nil
}

// createSession stores a new app session and indexes it by SSO session.
func (g *Gateway) createSession(ctx context.Context, rec appSession) (string, error) {
	id := randomToken()
	if err := g.saveSession(ctx, id, rec); err != nil {
		return "", err
	}
	if rec.SID != "" {
		if err := g.o.Store.SetAdd(ctx, keySessionsOf+rec.SID, hashKey(keySession, id), rec.Expires.Sub(g.now())); err != nil {
			return "", fmt.Errorf("index app session: %w", err)
		}
	}
	return id, nil
}

// endSession deletes app session id and evicts it from this node's cache.
func (g *Gateway) endSession(ctx context.Context, id string) error {
	key := hashKey(keySession, id)
	rec, err := g.loadSession(ctx, id)
	if err != nil && !errors.Is(err, errNoSession) {
		return err
	}
	if err := g.o.Store.Delete(ctx, key); err != nil {
		return fmt.Errorf("end app session: %w", err)
	}
	g.sessions.evict(func(p *principal) bool { return p.id == id })
	if rec.SID != "" {
		if err := g.o.Store.SetRemove(ctx, keySessionsOf+rec.SID, key); err != nil {
			return fmt.Errorf("end app session: unindex: %w", err)
		}
	}
	return nil
}

// EndSSO ends every app session that came from SSO session sid and evicts
// them (and bearer tokens of that session) from this node's cache at
// once. Watch calls it for every SSO session that ends, on every replica
// (deleting the app sessions twice is harmless); errors are logged.
func (g *Gateway) EndSSO(ctx context.Context, sid string) {
	if sid == "" {
		return
	}
	// Evict first: even if the store fails below, this node stops
	// trusting the session now.
	g.sessions.evict(func(p *principal) bool { return p.sid == sid })
	g.bearers.evict(func(p *principal) bool { return p.sid == sid })
	set := keySessionsOf + sid
	keys, err := g.o.Store.SetMembers(ctx, set)
	if err != nil {
		g.log.ErrorContext(ctx, "gateway: list app sessions of an ended session", "err", err)
		return
	}
	for _, k := range keys {
		if err := g.o.Store.Delete(ctx, k); err != nil {
			g.log.ErrorContext(ctx, "gateway: end app session", "err", err)
			continue
		}
		_ = g.o.Store.SetRemove(ctx, set, k)
	}
	// A fill that read a record before the deletes must not survive them.
	g.sessions.evict(func(p *principal) bool { return p.sid == sid })
}

// decodeCookie returns the app session id in an app cookie value.
func (g *Gateway) decodeCookie(raw string) (string, bool) {
	var id []byte
	if err := securecookie.DecodeMulti(g.cookieName, raw, &id, g.codecs...); err != nil || len(id) != appSessionIDLen {
		return "", false
	}
	return string(id), true
}

// setAppCookie sets the app cookie for session id on w.
func (g *Gateway) setAppCookie(w http.ResponseWriter, id string) error {
	v, err := securecookie.EncodeMulti(g.cookieName, []byte(id), g.codecs...)
	if err != nil {
		return fmt.Errorf("encode app cookie: %w", err)
	}
	http.SetCookie(w, g.appCookie(v, int(g.o.SessionTTL/time.Second)))
	return nil
}

func (g *Gateway) clearAppCookie(w http.ResponseWriter) {
	c := g.appCookie("", -1)
	c.Expires = time.Unix(0, 0)
	http.SetCookie(w, c)
}

func (g *Gateway) appCookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: g.cookieName, Value: value, Path: "/", Domain: g.cookieDomain, MaxAge: maxAge,
		Secure: g.secure, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	}
}

// refreshSkew refreshes an access token this long before it expires.
const refreshSkew = 30 * time.Second

// fresh returns p with an access token that is not about to expire,
// refreshing it when needed. Concurrent requests of one app session share
// one refresh (on this node; the IdP's refresh grace covers replicas), so
// they never race each other into a sign-out. A refused refresh ends the
// app session (authNone); a failed one is authUnavailable.
func (g *Gateway) fresh(ctx context.Context, r *http.Request, p *principal) (*principal, authResult) {
	if p.id == "" || !p.refresh || g.now().Add(refreshSkew).Before(p.tokenExp) {
		return p, authOK
	}
	raw := cookieValue(r.Header, g.cookieName)
	return g.flights.do(ctx, p.id, func(ctx context.Context) (*principal, authResult) {
		return g.refresh(ctx, raw, p)
	})
}

func (g *Gateway) refresh(ctx context.Context, raw string, p *principal) (*principal, authResult) {
	epoch := g.sessions.epoch.Load()
	rec, err := g.loadSession(ctx, p.id)
	if errors.Is(err, errNoSession) {
		return nil, authNone
	}
	if err != nil {
		g.log.ErrorContext(ctx, "gateway: refresh: load app session", "err", err)
		return nil, authUnavailable
	}
	now := g.now()
	if !now.Add(refreshSkew).Before(rec.AccessExpiry) {
		if g.idp == nil || rec.RefreshToken == "" {
			return nil, authNone
		}
		tok, err := g.rp.Refresh(ctx, rec.RefreshToken)
		var re *oauth2.RetrieveError
		switch {
		case errors.As(err, &re) && re.ErrorCode == "invalid_grant":
			g.log.InfoContext(ctx, "gateway: refresh refused; ending the app session", "user_id", rec.UserID)
			if err := g.endSession(ctx, p.id); err != nil {
				g.log.WarnContext(ctx, "gateway: end app session", "err", err)
			}
			return nil, authNone
		case err != nil:
			g.log.ErrorContext(ctx, "gateway: refresh access token", "err", err)
			return nil, authUnavailable
		}
		rec.AccessToken, rec.AccessExpiry = tok.AccessToken, tok.Expiry
		if tok.RefreshToken != "" {
			rec.RefreshToken = tok.RefreshToken
		}
		if err := g.saveSession(ctx, p.id, rec); err != nil {
			g.log.ErrorContext(ctx, "gateway: refresh: save app session", "err", err)
			return nil, authUnavailable
		}
	}
	q := *p
	q.token = []string{rec.AccessToken}
	q.tokenExp = rec.AccessExpiry
	q.refresh = rec.RefreshToken != ""
	if g.cacheTTL > 0 && raw != "" {
		g.sessions.put(raw, &q, epoch, now.UnixNano())
	}
	return &q, authOK
}

// flights runs one function per key at a time; callers arriving while it
// runs share its result (a keyed single-flight).
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

type flight struct {
	done chan struct{}
	p    *principal
	res  authResult
}

// refreshTimeout bounds a shared refresh, which does not end with the
// request that started it.
const refreshTimeout = 10 * time.Second

func (f *flights) do(ctx context.Context, key string, fn func(context.Context) (*principal, authResult)) (*principal, authResult) {
	f.mu.Lock()
	if c, ok := f.m[key]; ok {
		f.mu.Unlock()
		select {
		case <-c.done:
			return c.p, c.res
		case <-ctx.Done():
			return nil, authUnavailable
		}
	}
	if f.m == nil {
		f.m = make(map[string]*flight)
	}
	c := &flight{done: make(chan struct{})}
	f.m[key] = c
	f.mu.Unlock()

	run, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
	c.p, c.res = fn(run)
	cancel()

	f.mu.Lock()
	delete(f.m, key)
	f.mu.Unlock()
	close(c.done)
	return c.p, c.res
}
