package oidcrp

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/gatehouse-sso/gatehouse/internal/cookiekeys"
	"github.com/gorilla/securecookie"
	"golang.org/x/oauth2"
)

// Defaults of [Config].
const (
	// DefaultTTL is how long a flow may take from Start to its callback.
	DefaultTTL = 10 * time.Minute
	// DefaultMaxStateLen bounds the state parameter a callback accepts
	// and the states Start seals.
	DefaultMaxStateLen = 6144
)

// Endpoints are the provider's addresses, configured or found by
// [Discover].
type Endpoints struct {
	AuthURL     string
	TokenURL    string
	JWKSURL     string // where ID token keys are fetched when Config.KeySet is nil
	UserInfoURL string // informational: for callers that read a profile
	// IssParameter is the provider's authorization_response_iss_parameter_supported
	// (RFC 9207): when true a callback without iss is refused.
	IssParameter bool
}

// Once records single-use keys: Use returns nil the first time it sees
// key within ttl and an error after that (or when it cannot tell). A
// store-backed implementation makes a flow completable once even when
// its binding cookie and code were both stolen.
type Once interface {
	Use(ctx context.Context, key string, ttl time.Duration) error
}

// Config describes one relying party: one client at one provider.
type Config struct {
	// Issuer is the provider's issuer identifier: ID tokens must name it,
	// and a callback's iss parameter, when present, must equal it. Only a
	// NoIDToken provider may leave it empty; iss is then not checked, so
	// give each such provider a redirect URI of its own.
	Issuer       string
	ClientID     string
	ClientSecret string
	// AuthStyle is how the client authenticates at the token endpoint:
	// oauth2.AuthStyleInHeader (client_secret_basic),
	// oauth2.AuthStyleInParams (client_secret_post), or the zero value,
	// which tries the header first and remembers what worked.
	AuthStyle oauth2.AuthStyle
	Endpoints Endpoints
	// Scopes are asked for in every flow ("openid" is added unless
	// NoIDToken).
	Scopes []string
	// AuthParams are added to every authorization request (a provider's
	// own parameters, such as Google's hd or access_type).
	AuthParams url.Values
	// KeySet verifies ID token signatures; when nil, the keys are fetched
	// from Endpoints.JWKSURL.
	KeySet oidc.KeySet
	// SigningAlgs are the ID token algorithms accepted (RS256 when empty).
	SigningAlgs []string
	// NoIDToken is for plain OAuth 2 providers: no nonce, no ID token;
	// the caller reads the profile with the access token ([RP.Client]).
	NoIDToken bool
	// HTTPClient makes the token, key and refresh requests
	// (http.DefaultClient when nil).
	HTTPClient *http.Client

	// Secrets seal the state: the first seals, all open (rotation).
	// Each must have at least 32 bytes.
	Secrets [][]byte
	// Label names this relying party in the key derivation and the
	// sealed value, so that one party's states never open at another.
	Label string
	// CookiePrefix starts the name of every binding cookie ("__Host-"
	// with Secure keeps them host-only); one cookie per flow, so parallel
	// tabs do not overwrite each other.
	CookiePrefix string
	// Secure marks the binding cookies Secure.
	Secure bool
	// TTL bounds a flow (DefaultTTL when zero).
	TTL time.Duration
	// MaxStateLen bounds the state (DefaultMaxStateLen when zero).
	MaxStateLen int
	// Once, when set, makes each state completable once (see [Once]).
	Once Once
	// Now is the clock of ID token checks; time.Now when nil.
	Now func() time.Time
}

// RP is a configured relying party. It is safe for concurrent use.
type RP struct {
	c        Config
	oauth    oauth2.Config
	codecs   []securecookie.Codec
	verifier *oidc.IDTokenVerifier
	client   *http.Client
	name     string
}

// New checks c and builds the relying party.
func New(c Config) (*RP, error) {
	switch {
	case c.ClientID == "":
		return nil, errors.New("oidcrp: client id is empty")
	case c.Endpoints.AuthURL == "" || c.Endpoints.TokenURL == "":
		return nil, errors.New("oidcrp: authorization and token endpoints are required")
	case !c.NoIDToken && c.Issuer == "":
		return nil, errors.New("oidcrp: issuer is empty")
	case !c.NoIDToken && c.KeySet == nil && c.Endpoints.JWKSURL == "":
		return nil, errors.New("oidcrp: ID tokens need a key set or a JWKS URL")
	case c.Label == "":
		return nil, errors.New("oidcrp: label is empty")
	case c.CookiePrefix == "":
		return nil, errors.New("oidcrp: cookie prefix is empty")
	case len(c.Secrets) == 0:
		return nil, errors.New("oidcrp: no secrets to seal the state with")
	}
	if c.TTL <= 0 {
		c.TTL = DefaultTTL
	}
	if c.MaxStateLen <= 0 {
		c.MaxStateLen = DefaultMaxStateLen
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	rp := &RP{c: c, client: c.HTTPClient, name: "oidcrp " + c.Label}
	if rp.client == nil {
		rp.client = http.DefaultClient
	}
	var err error
	if rp.codecs, err = cookiekeys.Codecs(c.Secrets, c.Label, c.TTL, c.MaxStateLen, securecookie.JSONEncoder{}); err != nil {
		return nil, fmt.Errorf("oidcrp: state cookie: %w", err)
	}
	scopes := slices.Clone(c.Scopes)
	if !c.NoIDToken && !slices.Contains(scopes, oidc.ScopeOpenID) {
		scopes = append([]string{oidc.ScopeOpenID}, scopes...)
	}
	rp.oauth = oauth2.Config{
		ClientID: c.ClientID, ClientSecret: c.ClientSecret, Scopes: scopes,
		Endpoint: oauth2.Endpoint{AuthURL: c.Endpoints.AuthURL, TokenURL: c.Endpoints.TokenURL, AuthStyle: c.AuthStyle},
	}
	if !c.NoIDToken {
		ks := c.KeySet
		if ks == nil {
			ks = oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), rp.client), c.Endpoints.JWKSURL)
		}
		algs := c.SigningAlgs
		if len(algs) == 0 {
			algs = []string{oidc.RS256}
		}
		rp.verifier = oidc.NewVerifier(c.Issuer, ks, &oidc.Config{ClientID: c.ClientID, SupportedSigningAlgs: algs, Now: c.Now})
	}
	return rp, nil
}

// ClientID is the client's id at the provider.
func (rp *RP) ClientID() string { return rp.c.ClientID }

// CookiePrefix is the prefix of every binding cookie's name, for callers
// that keep Gatehouse's cookies away from upstreams.
func (rp *RP) CookiePrefix() string { return rp.c.CookiePrefix }

// sealed is what the state carries.
type sealed struct {
	Nonce       string          `json:"n,omitempty"`
	Verifier    string          `json:"v"`
	RedirectURI string          `json:"r"`
	App         json.RawMessage `json:"a,omitempty"`
	// Expires is when the flow ends (Unix seconds, Config.Now's clock);
	// the codecs' own age check uses the system clock and stays as a
	// second bound.
	Expires int64 `json:"e"`
}

// Flow is a flow in progress, opened from its state.
type Flow struct {
	// State is the state parameter the flow travels as.
	State       string
	RedirectURI string
	nonce       string
	verifier    string
	app         json.RawMessage
}

// App decodes the caller's data given to Start into v.
func (f *Flow) App(v any) error {
	if len(f.app) == 0 {
		return errors.New("oidcrp: flow carries no data")
	}
	return json.Unmarshal(f.app, v)
}

// Start begins a flow that returns to redirectURI carrying app (any JSON
// value the callback needs: the return target, a transaction id). It
// seals the state, sets the cookie binding it to this browser on w, and
// returns the authorization URL to send the browser to. params are added
// to this request only (prompt, max_age, login_hint).
func (rp *RP) Start(w http.ResponseWriter, redirectURI string, app any, params url.Values) (string, error) {
	if redirectURI == "" {
		return "", errors.New("oidcrp: start: no redirect URI")
	}
	s := sealed{Verifier: oauth2.GenerateVerifier(), RedirectURI: redirectURI, Expires: rp.c.Now().Add(rp.c.TTL).Unix()}
	if !rp.c.NoIDToken {
		s.Nonce = rand.Text()
	}
	if app != nil {
		b, err := json.Marshal(app)
		if err != nil {
			return "", fmt.Errorf("oidcrp: start: encode flow data: %w", err)
		}
		s.App = b
	}
	state, err := securecookie.EncodeMulti(rp.name, &s, rp.codecs...)
	if err != nil {
		return "", fmt.Errorf("oidcrp: start: seal state: %w", err)
	}
	http.SetCookie(w, &http.Cookie{
		Name: rp.BindingCookie(state), Value: Digest(state), Path: "/", MaxAge: int(rp.c.TTL / time.Second),
		Secure: rp.c.Secure, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(s.Verifier), oauth2.SetAuthURLParam("redirect_uri", redirectURI)}
	if s.Nonce != "" {
		opts = append(opts, oidc.Nonce(s.Nonce))
	}
	for _, vs := range []url.Values{rp.c.AuthParams, params} {
		for k, v := range vs {
			if len(v) > 0 {
				opts = append(opts, oauth2.SetAuthURLParam(k, v[0]))
			}
		}
	}
	return rp.oauth.AuthCodeURL(state, opts...), nil
}

// BindingCookie names the cookie that binds state to the browser that
// started its flow.
func (rp *RP) BindingCookie(state string) string {
	sum := sha256.Sum256([]byte("gatehouse flow cookie\x00" + state))
	return rp.c.CookiePrefix + base64.RawURLEncoding.EncodeToString(sum[:6])
}

// Digest is what a binding cookie holds: the state is too long for a
// cookie and needs no second copy.
func Digest(state string) string {
	sum := sha256.Sum256([]byte("gatehouse flow binding\x00" + state))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Decode opens a state sealed by this relying party's Start. It fails
// with ErrState for an empty, over-long, forged, tampered or expired one.
func (rp *RP) Decode(state string) (*Flow, error) {
	if state == "" || len(state) > rp.c.MaxStateLen {
		return nil, ErrState
	}
	var s sealed
	if err := securecookie.DecodeMulti(rp.name, state, &s, rp.codecs...); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrState, err)
	}
	if s.Verifier == "" || s.RedirectURI == "" || (!rp.c.NoIDToken && s.Nonce == "") {
		return nil, ErrState
	}
	if rp.c.Now().Unix() >= s.Expires {
		return nil, fmt.Errorf("%w: expired", ErrState)
	}
	return &Flow{State: state, RedirectURI: s.RedirectURI, nonce: s.Nonce, verifier: s.Verifier, app: s.App}, nil
}

// Bound reports whether the request carries the binding cookie of state,
// and clears that cookie on w: a state binds once.
func (rp *RP) Bound(w http.ResponseWriter, r *http.Request, state string) bool {
	name := rp.BindingCookie(state)
	var got string
	if c, err := r.Cookie(name); err == nil {
		got = c.Value
	}
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, Expires: time.Unix(0, 0),
		Secure: rp.c.Secure, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(Digest(state))) == 1
}

// Result is a completed flow.
type Result struct {
	// Token is the token response (access, refresh and expiry).
	Token *oauth2.Token
	// IDToken is the verified ID token; nil with Config.NoIDToken.
	IDToken *oidc.IDToken
}

// Claims decodes the ID token's claims into v.
func (r *Result) Claims(v any) error {
	if r.IDToken == nil {
		return errors.New("oidcrp: no ID token")
	}
	return r.IDToken.Claims(v)
}

// Scopes are the scopes the token response says were granted.
func (r *Result) Scopes() []string {
	s, _ := r.Token.Extra("scope").(string)
	return strings.Fields(s)
}

// Callback checks the redirect back from the provider that r is, with
// the flow's binding cookie, and completes the flow: Decode, Bound and
// Finish in one.
func (rp *RP) Callback(w http.ResponseWriter, r *http.Request) (*Flow, *Result, error) {
	q := r.URL.Query()
	f, err := rp.Decode(q.Get("state"))
	if err != nil {
		return nil, nil, err
	}
	if !rp.Bound(w, r, f.State) {
		return f, nil, ErrBinding
	}
	res, err := rp.Finish(r.Context(), f, q)
	return f, res, err
}

// Finish completes a decoded (and bound) flow from the callback's query:
// it refuses an iss naming another issuer (or, when the provider
// promises iss, none), an error the provider sent, a missing code and,
// with Config.Once, a second completion; then it exchanges the code with
// the PKCE verifier and verifies the ID token and its nonce.
func (rp *RP) Finish(ctx context.Context, f *Flow, q url.Values) (*Result, error) {
	iss, hasIss := q["iss"]
	switch {
	case rp.c.Issuer == "": // a plain OAuth 2 provider with no issuer identifier
	case hasIss && (len(iss) != 1 || iss[0] != rp.c.Issuer):
		return nil, ErrIssuer
	case !hasIss && rp.c.Endpoints.IssParameter:
		return nil, ErrIssuer
	}
	if e := q.Get("error"); e != "" || len(q["error"]) > 0 {
		return nil, &ProviderError{Code: e, Description: q.Get("error_description")}
	}
	code := q.Get("code")
	if code == "" || len(q["code"]) != 1 {
		return nil, ErrNoCode
	}
	if rp.c.Once != nil {
		if err := rp.c.Once.Use(ctx, "oidcrp:"+rp.c.Label+":"+Digest(f.State), rp.c.TTL); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrReplay, err)
		}
	}
	tok, err := rp.oauth.Exchange(context.WithValue(ctx, oauth2.HTTPClient, rp.client), code,
		oauth2.VerifierOption(f.verifier), oauth2.SetAuthURLParam("redirect_uri", f.RedirectURI))
	if err != nil {
		return nil, tokenError(err)
	}
	res := &Result{Token: tok}
	if rp.c.NoIDToken {
		return res, nil
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, fmt.Errorf("%w: the token response has no id_token", ErrIDToken)
	}
	idt, err := rp.verifier.Verify(oidc.ClientContext(ctx, rp.client), raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrIDToken, err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(f.nonce)) != 1 {
		return nil, fmt.Errorf("%w: nonce does not match the flow's", ErrIDToken)
	}
	res.IDToken = idt
	return res, nil
}

// Refresh redeems a refresh token for a fresh token. A refusal by the
// token endpoint wraps ErrRefused and the *oauth2.RetrieveError (whose
// ErrorCode tells invalid_grant apart); anything else wraps
// ErrUnavailable.
func (rp *RP) Refresh(ctx context.Context, refreshToken string) (*oauth2.Token, error) {
	ts := rp.oauth.TokenSource(context.WithValue(ctx, oauth2.HTTPClient, rp.client),
		&oauth2.Token{RefreshToken: refreshToken, Expiry: time.Unix(1, 0)})
	tok, err := ts.Token()
	if err != nil {
		return nil, tokenError(err)
	}
	return tok, nil
}

// Client is an HTTP client that sends tok's access token, for callers
// that read a profile from the provider's API.
func (rp *RP) Client(ctx context.Context, tok *oauth2.Token) *http.Client {
	return rp.oauth.Client(context.WithValue(ctx, oauth2.HTTPClient, rp.client), tok)
}

// tokenError classifies a token endpoint failure: an answer below 500 is
// a refusal, anything else (network, 5xx) the provider being unavailable.
func tokenError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}
