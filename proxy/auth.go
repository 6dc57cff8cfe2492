package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-sso/gatehouse/identity"
	"github.com/gatehouse-sso/gatehouse/policy"
	"github.com/gatehouse-sso/gatehouse/session"
)

// principal is an authenticated caller as the hot path needs it: the
// policy subject and the identity header values, prebuilt once per cache
// fill.
type principal struct {
	subject policy.Subject
	id      string // app session id; "" for a bearer token
	sid     string // the SSO session it belongs to
	host    string // the host an app session is bound to; "" for any
	service bool   // a client_credentials token: no user
	jti     string // a bearer token's id; "" for an app session
	gid     string // a bearer token's grant; "" for an app session or a service token

	vUser, vEmail, vGroups, vName []string

	token    []string // the access token, for X-Forwarded-Access-Token
	tokenExp time.Time
	refresh  bool // the app session holds a refresh token

	expires int64 // when the cache entry ends (Unix ns)
	asserts *assertCache
}

// newPrincipal builds the principal of user u.
func newPrincipal(u identity.User) *principal {
	return &principal{
		subject: policy.Subject{
			Authenticated: true, UserID: u.ID, Username: u.Username,
			Email: u.Email, EmailVerified: u.EmailVerified, Groups: u.Groups,
		},
		vUser: one(u.Username), vEmail: one(u.Email), vGroups: one(strings.Join(u.Groups, ",")), vName: one(u.Name),
		asserts: &assertCache{},
	}
}

// sameIdentity reports whether two principals would send the same
// identity, so a signed assertion can be reused across a cache refill.
func sameIdentity(a, b *principal) bool {
	eq := func(x, y []string) bool {
		return len(x) == len(y) && (len(x) == 0 || x[0] == y[0])
	}
	return a.subject.UserID == b.subject.UserID && eq(a.vUser, b.vUser) && eq(a.vEmail, b.vEmail) &&
		eq(a.vGroups, b.vGroups) && eq(a.vName, b.vName)
}

// cache holds validated principals by their raw credential (the cookie
// value or the bearer token), so a hit costs one map lookup: no HMAC, no
// decryption, no store I/O. Only successes are cached.
type cache struct {
	m sync.Map // string → *principal
	// epoch moves on every eviction; a fill that started before one
	// discards its result (it may have read a record just deleted).
	epoch atomic.Uint64
	fills atomic.Uint32
}

// get returns the live entry for key, or the expired one as stale.
func (c *cache) get(key string, now int64) (live, stale *principal) {
	v, ok := c.m.Load(key)
	if !ok {
		return nil, nil
	}
	p := v.(*principal)
	if now < p.expires {
		return p, nil
	}
	return nil, p
}

// put caches p under key unless an eviction happened since epoch was
// read. It sweeps expired entries now and then.
func (c *cache) put(key string, p *principal, epoch uint64, now int64) {
	c.m.Store(key, p)
	if c.epoch.Load() != epoch {
		c.m.CompareAndDelete(key, p)
		return
	}
	if c.fills.Add(1)%256 == 0 {
		c.m.Range(func(k, v any) bool {
			if v.(*principal).expires <= now {
				c.m.CompareAndDelete(k, v)
			}
			return true
		})
	}
}

// flush removes every entry.
func (c *cache) flush() { c.evict(func(*principal) bool { return true }) }

// evict removes every entry match selects, at once.
func (c *cache) evict(match func(*principal) bool) {
	c.epoch.Add(1)
	c.m.Range(func(k, v any) bool {
		if match(v.(*principal)) {
			c.m.CompareAndDelete(k, v)
		}
		return true
	})
}

// authResult is the outcome of authenticating a request.
type authResult uint8

const (
	authNone        authResult = iota // anonymous
	authOK                            // a principal
	authBadToken                      // a bearer token that is not acceptable
	authUnavailable                   // the store failed: fail closed, cache nothing
)

// judge authenticates r (for req.Host) and decides req for whoever it
// is: a signed-in principal only when the result is authOK. Bearer tokens
// are accepted only from the clients listed in bearer (none when empty).
func (g *Gateway) judge(ctx context.Context, r *http.Request, req policy.Request, bearer []string) (*principal, authResult, policy.Outcome) {
	p, res := g.authenticate(ctx, r, req.Host, bearer)
	var sub *policy.Subject
	if res == authOK {
		sub = &p.subject
	}
	return p, res, g.pol.Decide(req, sub, g.now())
}

// authenticate finds the principal of a request for host: a bearer token
// of one of the clients in bearer (when there are any) or the app cookie.
// A valid token of another client is refused like an invalid one: its
// audience is not this host.
func (g *Gateway) authenticate(ctx context.Context, r *http.Request, host string, bearer []string) (*principal, authResult) {
	if len(bearer) > 0 {
		if tok, ok := bearerToken(r.Header); ok {
			p, res := g.bearer(ctx, tok)
			if res == authOK && !slices.Contains(bearer, p.subject.Client) {
				return nil, authBadToken
			}
			return p, res
		}
	}
	raw := cookieValue(r.Header, g.cookieName)
	if raw == "" {
		return nil, authNone
	}
	return g.session(ctx, raw, host)
}

// bearerToken returns the token of an "Authorization: Bearer" header.
func bearerToken(h http.Header) (string, bool) {
	v := h["Authorization"]
	if len(v) != 1 || len(v[0]) < 8 || !strings.EqualFold(v[0][:7], "bearer ") {
		return "", false
	}
	tok := strings.TrimSpace(v[0][7:])
	return tok, tok != ""
}

// clockLeeway tolerates clock differences between replicas.
const clockLeeway = 5 * time.Second

// accessClaims are what the gateway reads of an IdP access token.
type accessClaims struct {
	Iss      string   `json:"iss"`
	Sub      string   `json:"sub"`
	ClientID string   `json:"client_id"`
	Exp      int64    `json:"exp"`
	Iat      int64    `json:"iat"`
	Nbf      int64    `json:"nbf"`
	Jti      string   `json:"jti"`
	Scope    string   `json:"scope"`
	AuthTime int64    `json:"auth_time"`
	Amr      []string `json:"amr"`
	Sid      string   `json:"sid"`
	Gid      string   `json:"gid"`
}

// bearer validates an IdP access token: signature with the published
// keys, typ at+jwt, issuer, lifetime; then, once per cache period, that
// it was not revoked and its user is still enabled.
func (g *Gateway) bearer(ctx context.Context, tok string) (*principal, authResult) {
	now := g.now()
	if p, _ := g.bearers.get(tok, now.UnixNano()); p != nil {
		return p, authOK
	}
	epoch := g.bearers.epoch.Load()
	payload, h, err := g.o.Keys.Verify(tok)
	if err != nil {
		return nil, authBadToken
	}
	if !strings.EqualFold(h.Typ, "at+jwt") && !strings.EqualFold(h.Typ, "application/at+jwt") {
		return nil, authBadToken
	}
	var c accessClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, authBadToken
	}
	unix := now.Unix()
	lee := int64(clockLeeway / time.Second)
	switch {
	case c.Iss != g.issuer, c.Sub == "", c.Jti == "", c.ClientID == "":
		return nil, authBadToken
	case unix >= c.Exp+lee, c.Nbf > unix+lee, c.Iat > unix+lee:
		return nil, authBadToken
	}
	if g.o.Revocations != nil {
		live, err := g.o.Revocations.AccessTokenLive(ctx, c.Jti, c.Gid)
		if err != nil {
			g.log.ErrorContext(ctx, "gateway: check access token revocation", "err", err)
			return nil, authUnavailable
		}
		if !live {
			return nil, authBadToken
		}
	}
	var p *principal
	if c.Gid == "" {
		// client_credentials: the client itself, no user and no user
		// headers. "client:" keeps its id apart from user ids in rules.
		p = &principal{
			subject: policy.Subject{Authenticated: true, Service: true, Client: c.ClientID, UserID: "client:" + c.ClientID},
			service: true, asserts: &assertCache{},
		}
	} else {
		u, res := g.user(ctx, c.Sub)
		if res != authOK {
			if res == authNone {
				res = authBadToken
			}
			return nil, res
		}
		p = newPrincipal(u)
		p.subject.AMR = c.Amr
		if c.AuthTime > 0 {
			p.subject.AuthTime = time.Unix(c.AuthTime, 0)
		}
	}
	p.subject.Scopes = strings.Fields(c.Scope)
	p.subject.Client = c.ClientID
	p.sid = c.Sid
	p.jti, p.gid = c.Jti, c.Gid
	p.token = []string{tok}
	p.tokenExp = time.Unix(c.Exp, 0)
	p.expires = min(now.Add(g.cacheTTL).UnixNano(), p.tokenExp.UnixNano())
	if g.cacheTTL > 0 {
		g.bearers.put(tok, p, epoch, now.UnixNano())
	}
	return p, authOK
}

// user loads an enabled user; authNone when it is gone or disabled.
func (g *Gateway) user(ctx context.Context, id string) (identity.User, authResult) {
	u, err := g.o.Users.ByID(ctx, id)
	switch {
	case errors.Is(err, identity.ErrNotFound):
		return identity.User{}, authNone
	case err != nil:
		g.log.ErrorContext(ctx, "gateway: load user", "err", err)
		return identity.User{}, authUnavailable
	case u.Disabled:
		return identity.User{}, authNone
	}
	return u, authOK
}

// session resolves the app cookie raw for host.
func (g *Gateway) session(ctx context.Context, raw, host string) (*principal, authResult) {
	now := g.now()
	p, stale := g.sessions.get(raw, now.UnixNano())
	if p == nil {
		var res authResult
		if p, res = g.loadPrincipal(ctx, raw, stale, now); res != authOK {
			return nil, res
		}
	}
	if !g.bound(p, host) {
		return nil, authNone
	}
	return p, authOK
}

// bound reports whether an app session may be used on host: the host it
// was created on, or, with a parent-domain cookie, any host under it.
func (g *Gateway) bound(p *principal, host string) bool {
	if p.host != "" {
		return p.host == host
	}
	d := g.cookieDomain
	return d != "" && (host == d || strings.HasSuffix(host, "."+d))
}

// loadPrincipal decodes the cookie, loads its app session and user, and
// caches the result.
func (g *Gateway) loadPrincipal(ctx context.Context, raw string, stale *principal, now time.Time) (*principal, authResult) {
	epoch := g.sessions.epoch.Load()
	id, ok := g.decodeCookie(raw)
	if !ok {
		return nil, authNone
	}
	rec, err := g.loadSession(ctx, id)
	if errors.Is(err, errNoSession) {
		return nil, authNone
	}
	if err != nil {
		g.log.ErrorContext(ctx, "gateway: load app session", "err", err)
		return nil, authUnavailable
	}
	if !now.Before(rec.Expires) {
		if err := g.endSession(ctx, id); err != nil {
			g.log.WarnContext(ctx, "gateway: end expired app session", "err", err)
		}
		return nil, authNone
	}
	u, res := g.user(ctx, rec.UserID)
	if res != authOK {
		if res == authNone {
			if err := g.endSession(ctx, id); err != nil {
				g.log.WarnContext(ctx, "gateway: end app session of a disabled user", "err", err)
			}
		}
		return nil, res
	}
	p := g.sessionPrincipal(id, rec, u, now)
	if stale != nil && stale.id == id && sameIdentity(stale, p) {
		p.asserts = stale.asserts
	}
	if g.cacheTTL > 0 {
		g.sessions.put(raw, p, epoch, now.UnixNano())
	}
	return p, authOK
}

// sessionPrincipal builds the principal of an app session.
func (g *Gateway) sessionPrincipal(id string, rec appSession, u identity.User, now time.Time) *principal {
	p := newPrincipal(u)
	p.id, p.sid, p.host = id, rec.SID, rec.Host
	p.subject.Scopes = rec.Scopes
	p.subject.AMR = rec.AMR
	p.subject.AuthTime = rec.AuthTime
	if rec.AccessToken != "" {
		p.token = []string{rec.AccessToken}
		p.tokenExp = rec.AccessExpiry
	}
	p.refresh = rec.RefreshToken != ""
	p.expires = min(now.Add(g.cacheTTL).UnixNano(), rec.Expires.UnixNano())
	return p
}

// Watch subscribes the gateway's caches to the revocation topic through
// bus (the process's, shared with the session manager and the grants) and
// returns once the subscription is in place: from then on a session that
// ends, a user revoked, a grant or an access token revoked, on this
// replica or any other, is dropped from the caches as soon as the message
// arrives, without waiting for Gateway.SessionCacheTTL. The hot path itself
// does no I/O for it. The returned Watcher's Sync waits for the messages
// published so far. Call it once, before serving.
func (g *Gateway) Watch(ctx context.Context, bus *session.Bus) (*session.Watcher, error) {
	w, err := bus.Watch(ctx, g.revoked)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	return w, nil
}

// revokedTimeout bounds the store work of one revocation.
const revokedTimeout = 10 * time.Second

// revoked drops what r revokes from the caches.
func (g *Gateway) revoked(ctx context.Context, r session.Revocation) {
	switch r.Kind {
	case session.KindSession:
		ctx, cancel := context.WithTimeout(ctx, revokedTimeout)
		defer cancel()
		g.EndSSO(ctx, r.SID)
	case session.KindUser:
		if r.UserID == "" {
			return
		}
		ofUser := func(p *principal) bool { return !p.service && p.subject.UserID == r.UserID }
		g.sessions.evict(ofUser)
		g.bearers.evict(ofUser)
	case session.KindGrant:
		if r.GrantID != "" {
			g.bearers.evict(func(p *principal) bool { return p.gid == r.GrantID })
		}
	case session.KindToken:
		if r.JTI != "" {
			g.bearers.evict(func(p *principal) bool { return p.jti == r.JTI })
		}
	default: // KindLost, or anything unknown: trust nothing cached.
		g.sessions.flush()
		g.bearers.flush()
	}
}
