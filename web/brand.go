package web

import (
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// DefaultProductName is the name pages show when none is configured.
const DefaultProductName = "Gatehouse"

// Brand is the product's look on every page: the name in the header and
// the document title, an optional logo, and an optional accent colour for
// primary buttons (the configuration's ui section).
type Brand struct {
	// Name is the product name; empty means DefaultProductName.
	Name string
	// LogoURL is an image shown above the page: a path on this site
	// ("/static/..." or served by a route) or an https URL.
	LogoURL string
	// AccentColor is "#rgb" or "#rrggbb"; empty keeps the built-in
	// colours. Button text is black or white, whichever contrasts more,
	// so primary buttons always reach 4.5:1.
	AccentColor string
	// Style is the inline CSS applying AccentColor; set by NewRenderer.
	Style template.CSS
}

var hexColorRE = regexp.MustCompile(`^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// Limits on branding values.
const (
	maxNameLen    = 64
	maxLogoURLLen = 2048
)

// Check reports every problem with b, one per field.
func (b Brand) Check() error {
	var errs []error
	if len(b.Name) > maxNameLen {
		errs = append(errs, fmt.Errorf("product name: longer than %d bytes", maxNameLen))
	}
	if strings.IndexFunc(b.Name, unicode.IsControl) >= 0 {
		errs = append(errs, errors.New("product name: contains a control character"))
	}
	if err := CheckLogoURL(b.LogoURL); err != nil {
		errs = append(errs, fmt.Errorf("logo URL: %w", err))
	}
	if b.AccentColor != "" && !hexColorRE.MatchString(b.AccentColor) {
		errs = append(errs, fmt.Errorf("accent colour %q: want #rgb or #rrggbb", b.AccentColor))
	}
	return errors.Join(errs...)
}

// CheckLogoURL accepts an empty value, an absolute path on this site, or
// an https URL without credentials.
func CheckLogoURL(s string) error {
	if s == "" {
		return nil
	}
	if len(s) > maxLogoURLLen {
		return fmt.Errorf("longer than %d bytes", maxLogoURLLen)
	}
	if strings.ContainsAny(s, " \t\r\n\\\"'<>") {
		return errors.New("contains a space, quote, backslash or angle bracket")
	}
	if strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//") {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return errors.New("want a path on this site (/...) or an https URL without credentials")
	}
	return nil
}

// resolve fills in defaults and the accent style.
func (b Brand) resolve() Brand {
	if b.Name == "" {
		b.Name = DefaultProductName
	}
	b.Style = ""
	if b.AccentColor != "" {
		accent := expandHex(b.AccentColor)
		on := "#ffffff"
		if contrast(accent, "#000000") > contrast(accent, on) {
			on = "#000000"
		}
		b.Style = template.CSS(":root{--accent:" + accent + ";--on-accent:" + on + "}")
	}
	return b
}

// logoOrigin is the origin of an absolute logo URL ("" for a local path).
func logoOrigin(logo string) string {
	u, err := url.Parse(logo)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// expandHex turns "#abc" into "#aabbcc" and lowercases.
func expandHex(c string) string {
	c = strings.ToLower(c)
	if len(c) == 4 {
		return "#" + string([]byte{c[1], c[1], c[2], c[2], c[3], c[3]})
	}
	return c
}

// contrast is the WCAG 2 contrast ratio of two "#rrggbb" colours (1 to
// 21); it is 0 when either is not of that form.
func contrast(a, b string) float64 {
	la, ok1 := luminance(a)
	lb, ok2 := luminance(b)
	if !ok1 || !ok2 {
		return 0
	}
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// luminance is the WCAG 2 relative luminance of "#rrggbb" or "#rgb".
func luminance(c string) (float64, bool) {
	if !hexColorRE.MatchString(c) {
		return 0, false
	}
	c = expandHex(c)
	var l float64
	for i, weight := range []float64{0.2126, 0.7152, 0.0722} {
		v, err := strconv.ParseUint(c[1+2*i:3+2*i], 16, 8)
		if err != nil {
			return 0, false
		}
		s := float64(v) / 255
		if s <= 0.04045 {
			s /= 12.92
		} else {
			s = math.Pow((s+0.055)/1.055, 2.4)
		}
		l += weight * s
	}
	return l, true
}
