// Package csrf protects Gatehouse's HTML forms against cross-site request
// forgery with two independent checks: the browser's own cross-origin
// signals (Sec-Fetch-Site / Origin, via net/http.CrossOriginProtection) and
// a token bound to a per-browser cookie by an HMAC (so a token cannot be
// forged or moved to another browser).
package csrf

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
)

// FieldName is the name of the hidden form field carrying the token.
const FieldName = "csrf_token"

// ErrInvalid is wrapped by every verification failure.
var ErrInvalid = errors.New("csrf check failed")

// Protector issues and verifies CSRF tokens.
type Protector struct {
	key        []byte
	cookieName string
	secure     bool
	origin     *http.CrossOriginProtection
}

// New returns a Protector whose tokens are HMACs under key (at least 32
// bytes). secure sets the cookie's Secure flag and "__Host-" prefix, which
// stops a sibling subdomain from planting its own cookie.
func New(key []byte, secure bool) (*Protector, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("csrf: key is %d bytes, need at least 32", len(key))
	}
	name := "gatehouse_csrf"
	if secure {
		name = "__Host-" + name
	}
	return &Protector{key: key, cookieName: name, secure: secure, origin: http.NewCrossOriginProtection()}, nil
}

// Derive returns a Protector whose key is derived from secret (a session
// secret of at least 32 bytes) with HKDF-SHA256 under a label of its own,
// so the CSRF key never equals a key derived from the same secret for
// another purpose.
func Derive(secret []byte, secure bool) (*Protector, error) {
	if len(secret) < 32 {
		return nil, fmt.Errorf("csrf: secret is %d bytes, need at least 32", len(secret))
	}
	key, err := hkdf.Key(sha256.New, secret, nil, "gatehouse csrf v1", 32)
	if err != nil {
		return nil, fmt.Errorf("csrf: derive key: %w", err)
	}
	return New(key, secure)
}

// CookieName is the name of the browser-binding cookie.
func (p *Protector) CookieName() string { return p.cookieName }

// Token returns the token to embed in a form, setting the binding cookie on
// w first when the browser does not have a usable one yet.
func (p *Protector) Token(w http.ResponseWriter, r *http.Request) string {
	binding := p.binding(r)
	if binding == "" {
		var b [32]byte
		_, _ = rand.Read(b[:])
		binding = base64.RawURLEncoding.EncodeToString(b[:])
		http.SetCookie(w, &http.Cookie{
			Name:     p.cookieName,
			Value:    binding,
			Path:     "/",
			Secure:   p.secure,
			HttpOnly: true,
			SameSite: http.SameSiteLaxMode,
		})
	}
	return p.sign(binding)
}

// Verify checks a state-changing request: it must not be cross-origin and
// its form field must carry the token for the browser's binding cookie.
// The caller parses the form first (with a body limit).
func (p *Protector) Verify(r *http.Request) error {
	if err := p.origin.Check(r); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	binding := p.binding(r)
	if binding == "" {
		return fmt.Errorf("%w: no binding cookie", ErrInvalid)
	}
	got := r.PostFormValue(FieldName)
	if got == "" {
		return fmt.Errorf("%w: no token in form", ErrInvalid)
	}
	if !hmac.Equal([]byte(got), []byte(p.sign(binding))) {
		return fmt.Errorf("%w: token does not match", ErrInvalid)
	}
	return nil
}

func (p *Protector) binding(r *http.Request) string {
	c, err := r.Cookie(p.cookieName)
	if err != nil || len(c.Value) != 43 {
		return ""
	}
	if _, err := base64.RawURLEncoding.DecodeString(c.Value); err != nil {
		return ""
	}
	return c.Value
}

func (p *Protector) sign(binding string) string {
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte("gatehouse csrf v1\x00"))
	m.Write([]byte(binding))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
