package config

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateUI(t *testing.T) {
	for _, tc := range []struct {
		name string
		ui   UI
		path string // "" when valid
	}{
		{"empty", UI{}, ""},
		{"all set", UI{ProductName: "Acme SSO", LogoURL: "https://cdn.example.com/logo.svg", AccentColor: "#1A2b3c"}, ""},
		{"local logo, short colour", UI{LogoURL: "/static/logo.png", AccentColor: "#abc"}, ""},
		{"colour name", UI{AccentColor: "red"}, "ui.accent_color"},
		{"colour without #", UI{AccentColor: "2456c7"}, "ui.accent_color"},
		{"colour with CSS", UI{AccentColor: "#fff;}body{display:none"}, "ui.accent_color"},
		{"http logo", UI{LogoURL: "http://cdn.example.com/logo.svg"}, "ui.logo_url"},
		{"scheme-relative logo", UI{LogoURL: "//cdn.example.com/logo.svg"}, "ui.logo_url"},
		{"javascript logo", UI{LogoURL: "javascript:alert(1)"}, "ui.logo_url"},
		{"logo with credentials", UI{LogoURL: "https://u:p@cdn.example.com/logo.svg"}, "ui.logo_url"},
		{"logo with a quote", UI{LogoURL: `/logo.svg" onerror="x`}, "ui.logo_url"},
		{"long name", UI{ProductName: strings.Repeat("n", 65)}, "ui.product_name"},
		{"control character", UI{ProductName: "a\nb"}, "ui.product_name"},
	} {
		c := validConfig()
		c.UI = tc.ui
		err := c.Validate()
		if tc.path == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Path != tc.path {
			t.Errorf("%s: err %v, want one at %s", tc.name, err, tc.path)
		}
	}
}
