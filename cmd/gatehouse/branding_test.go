package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-sso/gatehouse/config"
)

// TestBranding_FromConfig: the ui section's product name, logo and accent
// colour reach every page, with the CSP allowing exactly the inline
// accent style and the logo's origin.
func TestBranding_FromConfig(t *testing.T) {
	e := newEnv(t, func(c *config.Config) {
		c.UI = config.UI{ProductName: "Acme SSO", LogoURL: "https://cdn.example.com/logo.svg", AccentColor: "#123"}
	})
	for _, path := range []string{"/login", "/nothing-here"} {
		r := e.do(e.client, "GET", path, nil, nil)
		for _, want := range []string{"· Acme SSO</title>", `<img src="https://cdn.example.com/logo.svg" alt="">`,
			"<style>:root{--accent:#112233;--on-accent:#ffffff}</style>"} {
			if !strings.Contains(r.body, want) {
				t.Errorf("%s lacks %q", path, want)
			}
		}
		csp := r.header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "style-src 'self' 'sha256-") || !strings.Contains(csp, "img-src 'self' https://cdn.example.com;") {
			t.Errorf("%s: CSP %q", path, csp)
		}
	}
	if r := e.do(e.client, "GET", "/login", nil, nil); r.status != http.StatusOK {
		t.Fatalf("login page: %d", r.status)
	}
}
