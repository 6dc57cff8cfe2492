package idp

import "testing"

func TestTrustedURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://rp.example/cb?x=1":     "https://rp.example/cb?x=1",
		"com.example.app:/cb":           "com.example.app:/cb",
		"javascript:alert(1)":           "about:blank",
		"JavaScript:alert(1)":           "about:blank",
		"data:text/html,x":              "about:blank",
		"/relative":                     "about:blank",
		"http://[::1]:%zz/":             "about:blank",
		"vbscript:msgbox":               "about:blank",
		"https://rp.example/#not-valid": "https://rp.example/#not-valid",
	} {
		if got := string(trustedURL(in)); got != want {
			t.Errorf("trustedURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"https://RP.example:8443/cb?x": "https://rp.example:8443",
		"http://127.0.0.1:9/cb":        "http://127.0.0.1:9",
		"com.example.app:/cb":          "com.example.app:",
		"no-scheme":                    "",
		"https:///nohost":              "",
	} {
		if got := origin(in); got != want {
			t.Errorf("origin(%q) = %q, want %q", in, got, want)
		}
	}
}
