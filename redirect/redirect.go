// Package redirect decides whether a return-to target supplied by a client
// is safe to redirect a browser to: a same-site relative path, an absolute
// URL on Gatehouse's own origin, or a URL under a registered prefix.
// Everything else is refused, so no endpoint can become an open redirect.
package redirect

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// MaxLength is the longest return-to target accepted.
const MaxLength = 2048

// ErrUnsafe is wrapped by every refusal.
var ErrUnsafe = errors.New("unsafe return-to target")

// Validator checks return-to targets against Gatehouse's own origin and a
// list of registered URL prefixes. The zero value refuses every absolute
// URL and accepts relative paths.
type Validator struct {
	self    *url.URL
	allowed []*url.URL
}

// New returns a Validator for the site at self (Gatehouse's public URL) and
// the registered absolute URL prefixes in allowed.
func New(self string, allowed []string) (*Validator, error) {
	v := &Validator{}
	if self != "" {
		u, err := parseAbsolute(self)
		if err != nil {
			return nil, fmt.Errorf("redirect: public url: %w", err)
		}
		v.self = u
	}
	for i, a := range allowed {
		u, err := parseAbsolute(a)
		if err != nil {
			return nil, fmt.Errorf("redirect: allowed url %d: %w", i, err)
		}
		v.allowed = append(v.allowed, u)
	}
	return v, nil
}

func parseAbsolute(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return u, nil
}

// Check returns the target to redirect to when raw is safe, or an error
// wrapping ErrUnsafe that says why not. A relative path is returned as
// given; an absolute URL is returned in its parsed, re-serialised form.
func (v *Validator) Check(raw string) (string, error) {
	if raw == "" {
		return "", fmt.Errorf("%w: empty", ErrUnsafe)
	}
	if len(raw) > MaxLength {
		return "", fmt.Errorf("%w: longer than %d bytes", ErrUnsafe, MaxLength)
	}
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		// Browsers strip tabs and newlines and treat '\' like '/', which
		// turns "/\evil.com" or "/\t/evil.com" into a protocol-relative
		// URL. Refuse them all, and spaces and non-ASCII with them: a
		// legitimate target is percent-encoded.
		if c <= 0x20 || c == 0x7f || c == '\\' || c >= 0x80 {
			return "", fmt.Errorf("%w: contains a control, space, backslash or non-ASCII byte", ErrUnsafe)
		}
	}
	if raw[0] == '/' {
		if len(raw) > 1 && raw[1] == '/' {
			return "", fmt.Errorf("%w: protocol-relative URL", ErrUnsafe)
		}
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
			return "", fmt.Errorf("%w: not a plain path", ErrUnsafe)
		}
		return raw, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%w: unparseable", ErrUnsafe)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", fmt.Errorf("%w: scheme %q", ErrUnsafe, u.Scheme)
	}
	if u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("%w: no host", ErrUnsafe)
	}
	if u.User != nil {
		return "", fmt.Errorf("%w: userinfo", ErrUnsafe)
	}
	if v.self != nil && sameOrigin(u, v.self) {
		return u.String(), nil
	}
	for _, a := range v.allowed {
		if sameOrigin(u, a) && underPath(u.EscapedPath(), a.EscapedPath()) {
			return u.String(), nil
		}
	}
	return "", fmt.Errorf("%w: %s is neither this site nor a registered URL", ErrUnsafe, u.Scheme+"://"+u.Host)
}

// sameOrigin compares scheme, host (case-insensitively) and effective port.
func sameOrigin(a, b *url.URL) bool {
	return a.Scheme == b.Scheme &&
		strings.EqualFold(a.Hostname(), b.Hostname()) &&
		effectivePort(a) == effectivePort(b)
}

func effectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "http" {
		return "80"
	}
	return "443"
}

// underPath reports whether p equals prefix or lies under it at a segment
// boundary, after refusing dot segments that could climb out of it.
func underPath(p, prefix string) bool {
	if p == "" {
		p = "/"
	}
	lp := strings.ToLower(p)
	if strings.Contains(lp, "/../") || strings.HasSuffix(lp, "/..") ||
		strings.Contains(lp, "%2e") || strings.Contains(lp, "%2f") || strings.Contains(lp, "%5c") {
		return false
	}
	if p == prefix {
		return true
	}
	if strings.HasSuffix(prefix, "/") {
		return strings.HasPrefix(p, prefix)
	}
	return strings.HasPrefix(p, prefix+"/")
}
