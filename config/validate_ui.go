package config

import (
	"net/url"
	"regexp"
	"strings"
	"unicode"
)

// accentColorRE is the syntax of ui.accent_color.
var accentColorRE = regexp.MustCompile(`^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// Limits of the ui section.
const (
	maxProductNameLen = 64
	maxLogoURLLen     = 2048
)

func (v *validator) ui(u UI) {
	if len(u.ProductName) > maxProductNameLen {
		v.add("ui.product_name", "longer than %d bytes", maxProductNameLen)
	}
	if strings.IndexFunc(u.ProductName, unicode.IsControl) >= 0 {
		v.add("ui.product_name", "contains a control character")
	}
	if msg := checkLogoURL(u.LogoURL); msg != "" {
		v.add("ui.logo_url", "%s", msg)
	}
	if u.AccentColor != "" && !accentColorRE.MatchString(u.AccentColor) {
		v.add("ui.accent_color", "%q is not a colour: want #rgb or #rrggbb (hex digits)", u.AccentColor)
	}
}

// checkLogoURL accepts "", a path on this site, or an https URL without
// credentials; it returns why anything else is refused.
func checkLogoURL(s string) string {
	switch {
	case s == "":
		return ""
	case len(s) > maxLogoURLLen:
		return "longer than 2048 bytes"
	case strings.ContainsAny(s, " \t\r\n\\\"'<>"):
		return "contains a space, quote, backslash or angle bracket"
	case strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//"):
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return "want a path on this site (/...) or an https URL without credentials"
	}
	return ""
}
