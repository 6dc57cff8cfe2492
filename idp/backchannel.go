package idp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-sso/gatehouse/idp/clients"
	"github.com/gatehouse-sso/gatehouse/session"
	"github.com/gatehouse-sso/gatehouse/store"
)

// backchannelEvent is the event of a logout token.
const backchannelEvent = "http://schemas.openid.net/event/backchannel-logout"

// Back-channel delivery limits.
const (
	logoutTokenTTL    = 2 * time.Minute
	backchannelJobMax = 30 * time.Second
	backchannelRetry  = 500 * time.Millisecond
)

// logoutClaims are the claims of a logout token (OpenID Connect
// Back-Channel Logout 1.0 §2.4). It never carries a nonce.
type logoutClaims struct {
	Iss    string              `json:"iss"`
	Sub    string              `json:"sub,omitempty"`
	Aud    string              `json:"aud"`
	Iat    int64               `json:"iat"`
	Exp    int64               `json:"exp"`
	Jti    string              `json:"jti"`
	Sid    string              `json:"sid,omitempty"`
	Events map[string]struct{} `json:"events"`
}

// backchannel delivers logout tokens when SSO sessions end: in the
// background, at most `workers` POSTs at once, each with a 5 s timeout and
// one retry. Failures are logged (without the token).
type backchannel struct {
	p      *Provider
	client *http.Client
	sem    chan struct{}

	mu     sync.Mutex
	closed bool
	n      int           // jobs in flight
	zero   chan struct{} // closed when n drops to zero
}

func newBackchannel(p *Provider, c *http.Client, workers int) *backchannel {
	if c == nil {
		c = &http.Client{
			Timeout: backchannelWait,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	z := make(chan struct{})
	close(z)
	return &backchannel{p: p, client: c, sem: make(chan struct{}, workers), zero: z}
}

// Watch subscribes the provider to the revocation topic and returns once
// the subscription is in place; until ctx ends, every SSO session that
// ends (here or on another replica) has its grants without offline_access
// revoked and its clients told by back-channel logout, by exactly one
// replica. Call it once, before serving.
func (p *Provider) Watch(ctx context.Context) error {
	w, err := p.o.Sessions.Bus().Watch(ctx, p.revoked)
	if err != nil {
		return fmt.Errorf("idp: %w", err)
	}
	p.watch = w
	return nil
}

// sessionEndedPrefix keys the marker that elects the one replica handling
// a session's end.
const (
	sessionEndedPrefix = "idp/session-ended/"
	sessionEndedTTL    = time.Hour
)

// revoked handles one revocation. Only session ends concern the provider
// (its own records are read live); a session end is claimed with
// store.Create so that each is handled once, whichever replicas hear it.
func (p *Provider) revoked(ctx context.Context, r session.Revocation) {
	switch r.Kind {
	case session.KindSession:
	case session.KindLost:
		p.log.WarnContext(ctx, "back-channel logout: session ends may have been missed")
		return
	default:
		return
	}
	if r.SID == "" {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, backchannelWait)
	defer cancel()
	err := p.o.Store.Create(cctx, sessionEndedPrefix+url.PathEscape(r.SID), []byte{'1'}, sessionEndedTTL)
	switch {
	case errors.Is(err, store.ErrExists):
		return // another replica has it
	case err != nil:
		p.log.ErrorContext(ctx, "back-channel logout: claim session end", "err", err)
		return
	}
	p.bc.sessionEnded(ctx, session.Record{SID: r.SID, UserID: r.UserID})
}

// sessionEnded starts the work of one ended session and returns at once;
// the work happens in the background.
func (b *backchannel) sessionEnded(ctx context.Context, rec session.Record) {
	if rec.SID == "" {
		return
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		b.p.log.WarnContext(ctx, "back-channel logout skipped: shutting down", "sid", rec.SID)
		return
	}
	if b.n == 0 {
		b.zero = make(chan struct{})
	}
	b.n++
	b.mu.Unlock()
	go func() {
		defer b.done()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), backchannelJobMax)
		defer cancel()
		b.run(ctx, rec)
	}()
}

func (b *backchannel) done() {
	b.mu.Lock()
	b.n--
	if b.n == 0 {
		close(b.zero)
	}
	b.mu.Unlock()
}

// run handles one ended session: grants without offline_access die with
// it, and every client with a back-channel URI hears of it once.
func (b *backchannel) run(ctx context.Context, rec session.Record) {
	p := b.p
	gs, err := p.o.Grants.GrantsOfSession(ctx, rec.SID)
	if err != nil {
		p.log.ErrorContext(ctx, "back-channel logout: list grants of session", "err", err)
		return
	}
	sent := map[string]bool{}
	var wg sync.WaitGroup
	for _, g := range gs {
		if !hasScope(g.Scopes, scopeOfflineAccess) {
			if err := p.o.Grants.RevokeGrant(ctx, g.ID); err != nil {
				p.log.ErrorContext(ctx, "logout: revoke grant", "grant_id", g.ID, "err", err)
			}
		}
		c, ok := p.o.Clients.Get(g.ClientID)
		if !ok || c.BackchannelLogoutURI == "" || sent[c.ID] {
			continue
		}
		sent[c.ID] = true
		tok, err := p.logoutToken(c, rec)
		if err != nil {
			p.log.ErrorContext(ctx, "back-channel logout: sign", "client_id", c.ID, "err", err)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.deliver(ctx, c, tok)
		}()
	}
	wg.Wait()
}

// logoutToken signs the logout token for client c and session rec.
func (p *Provider) logoutToken(c *clients.Client, rec session.Record) (string, error) {
	now := p.now()
	return p.o.Keys.Sign(c.SigningAlg, typLogoutToken, logoutClaims{
		Iss:    p.issuer,
		Sub:    rec.UserID,
		Aud:    c.ID,
		Iat:    now.Unix(),
		Exp:    now.Add(logoutTokenTTL).Unix(),
		Jti:    randomID(16),
		Sid:    rec.SID,
		Events: map[string]struct{}{backchannelEvent: {}},
	})
}

// deliver POSTs tok to c's back-channel URI, retrying once.
func (b *backchannel) deliver(ctx context.Context, c *clients.Client, tok string) {
	log := b.p.log
	for attempt := 1; attempt <= 2; attempt++ {
		select {
		case b.sem <- struct{}{}:
		case <-ctx.Done():
			log.WarnContext(ctx, "back-channel logout abandoned", "client_id", c.ID, "err", ctx.Err())
			return
		}
		err := b.post(ctx, c.BackchannelLogoutURI, tok)
		<-b.sem
		if err == nil {
			log.InfoContext(ctx, "back-channel logout delivered", "client_id", c.ID)
			return
		}
		log.WarnContext(ctx, "back-channel logout failed", "client_id", c.ID, "attempt", attempt, "err", err)
		if attempt == 1 {
			select {
			case <-time.After(backchannelRetry):
			case <-ctx.Done():
				return
			}
		}
	}
}

func (b *backchannel) post(ctx context.Context, uri, tok string) error {
	ctx, cancel := context.WithTimeout(ctx, backchannelWait)
	defer cancel()
	body := url.Values{"logout_token": {tok}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, uri, strings.NewReader(body))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := b.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is logged as client_id; keep the cause
		}
		return fmt.Errorf("post: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("status %d", res.StatusCode)
	}
	return nil
}

// wait blocks until no delivery is in flight or ctx ends.
func (b *backchannel) wait(ctx context.Context) error {
	b.mu.Lock()
	z := b.zero
	b.mu.Unlock()
	select {
	case <-z:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for back-channel logouts: %w", ctx.Err())
	}
}

// close refuses new work and waits for the work in flight.
func (b *backchannel) close(ctx context.Context) error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return b.wait(ctx)
}
