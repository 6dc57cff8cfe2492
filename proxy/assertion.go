package proxy

import (
	"context"
	"sync"
	"time"

	"github.com/gatehouse-sso/gatehouse/idp/keys"
)

// Signed assertion lifetimes: each is valid for a minute and reused for
// half of that, so ES256 signing (tens of µs) happens at most twice a
// minute per session and audience.
const (
	assertionTTL   = 60 * time.Second
	assertionReuse = 30 * time.Second
)

// assertCache keeps a principal's signed assertions by audience.
type assertCache struct{ m sync.Map } // aud → *signedAssertion

type signedAssertion struct {
	v     []string // the header value, shared by requests
	until int64    // reuse until (Unix ns)
}

// assertionClaims are the claims of X-Gatehouse-Assertion.
type assertionClaims struct {
	Iss               string   `json:"iss"`
	Aud               string   `json:"aud"`
	Sub               string   `json:"sub"`
	ClientID          string   `json:"client_id,omitempty"`
	Email             string   `json:"email,omitempty"`
	EmailVerified     bool     `json:"email_verified,omitempty"`
	Name              string   `json:"name,omitempty"`
	PreferredUsername string   `json:"preferred_username,omitempty"`
	Groups            []string `json:"groups,omitempty"`
	AuthTime          int64    `json:"auth_time,omitempty"`
	Amr               []string `json:"amr,omitempty"`
	Iat               int64    `json:"iat"`
	Exp               int64    `json:"exp"`
	Jti               string   `json:"jti"`
}

// assertion returns p's signed assertion for audience aud, signing a new
// one when the cached one is older than assertionReuse. It returns nil
// (no header) when signing fails; an upstream that requires the
// assertion then refuses the request.
func (g *Gateway) assertion(ctx context.Context, p *principal, aud string) []string {
	now := g.now()
	if v, ok := p.asserts.m.Load(aud); ok {
		if s := v.(*signedAssertion); now.UnixNano() < s.until {
			return s.v
		}
	}
	c := assertionClaims{
		Iss: g.issuer, Aud: aud, Sub: p.subject.UserID,
		Iat: now.Unix(), Exp: now.Add(assertionTTL).Unix(), Jti: randomToken()[:22],
	}
	if p.service {
		c.Sub = p.subject.UserID[len("client:"):]
		c.ClientID = c.Sub
	} else {
		c.Email, c.EmailVerified = p.subject.Email, p.subject.EmailVerified
		c.PreferredUsername, c.Groups = p.subject.Username, p.subject.Groups
		if p.vName != nil {
			c.Name = p.vName[0]
		}
		c.Amr = p.subject.AMR
		if !p.subject.AuthTime.IsZero() {
			c.AuthTime = p.subject.AuthTime.Unix()
		}
	}
	tok, err := g.o.Keys.Sign(keys.ES256, "JWT", c)
	if err != nil {
		g.log.ErrorContext(ctx, "gateway: sign assertion", "err", err)
		return nil
	}
	s := &signedAssertion{v: []string{tok}, until: now.Add(assertionReuse).UnixNano()}
	p.asserts.m.Store(aud, s)
	return s.v
}
