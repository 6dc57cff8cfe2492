package redirect

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func newValidator(t *testing.T) *Validator {
	t.Helper()
	v, err := New("https://sso.example.com", []string{
		"https://app.example.com/portal",
		"https://docs.example.com/",
		"http://localhost:3000/cb",
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCheck_Refuses(t *testing.T) {
	v := newValidator(t)
	for _, raw := range []string{
		"",
		"//evil.com",
		"///evil.com",
		"////evil.com/path",
		"/\\evil.com",
		"\\\\evil.com",
		"\\/evil.com",
		"/\t/evil.com",
		"/\n/evil.com",
		" //evil.com",
		"https://evil.com",
		"http://evil.com/",
		"https:evil.com",
		"https:/evil.com",
		"javascript:alert(1)",
		"JavaScript:alert(1)",
		"data:text/html,<script>alert(1)</script>",
		"vbscript:msgbox",
		"ftp://sso.example.com/",
		"https://sso.example.com@evil.com/",
		"https://evil.com\\@sso.example.com",
		"https://sso.example.com.evil.com/",
		"https://evil.com/?x=https://sso.example.com",
		"https://evil.com#https://sso.example.com",
		"http://sso.example.com/",         // scheme downgrade is another origin
		"https://sso.example.com:8443/",   // another port is another origin
		"https://app.example.com/portalx", // prefix not at a segment boundary
		"https://app.example.com/other",   // outside the registered path
		"https://app.example.com/portal/../admin",
		"https://app.example.com/portal/%2e%2e/admin",
		"https://app.example.com/portal%2f..%2fadmin",
		"https://user:pw@app.example.com/portal",
		"https://xn--sso-example-com.evil/",
		"https://ѕso.example.com/", // Cyrillic ѕ: non-ASCII is refused outright
		"evil.com",
		"./evil",
		"?next=//evil.com",
		"#frag",
		"/" + strings.Repeat("a", MaxLength),
		"http://localhost:3000/cb/../../x",
		"https://localhost:3000/cb",
	} {
		t.Run(raw, func(t *testing.T) {
			got, err := v.Check(raw)
			if err == nil {
				t.Fatalf("Check(%q) = %q, want refusal", raw, got)
			}
			if !errors.Is(err, ErrUnsafe) {
				t.Fatalf("Check(%q) error %v does not wrap ErrUnsafe", raw, err)
			}
		})
	}
}

func TestCheck_Accepts(t *testing.T) {
	v := newValidator(t)
	for raw, want := range map[string]string{
		"/":                                   "/",
		"/demo/":                              "/demo/",
		"/a/b?c=d&e=%2F#top":                  "/a/b?c=d&e=%2F#top",
		"/%2F%2Fevil.com":                     "/%2F%2Fevil.com", // a path on this site, not a host
		"https://sso.example.com/x":           "https://sso.example.com/x",
		"https://SSO.example.com:443/x":       "https://SSO.example.com:443/x",
		"https://app.example.com/portal":      "https://app.example.com/portal",
		"https://app.example.com/portal/page": "https://app.example.com/portal/page",
		"https://docs.example.com/guide?q=1":  "https://docs.example.com/guide?q=1",
		"http://localhost:3000/cb":            "http://localhost:3000/cb",
	} {
		t.Run(raw, func(t *testing.T) {
			got, err := v.Check(raw)
			if err != nil {
				t.Fatalf("Check(%q): %v", raw, err)
			}
			if got != want {
				t.Fatalf("Check(%q) = %q, want %q", raw, got, want)
			}
		})
	}
}

func TestNew_RejectsBadAllowed(t *testing.T) {
	for _, a := range []string{"", "/relative", "javascript:x", "https://u:p@host/", "https://"} {
		if _, err := New("https://sso.example.com", []string{a}); err == nil {
			t.Errorf("New accepted allowed URL %q", a)
		}
	}
}

// FuzzCheck asserts that whatever Check accepts either stays on the site as
// a path (as a browser would resolve it) or lands on an allowed origin.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{"/", "//evil.com", "/\\evil", "https://sso.example.com/x",
		"https://app.example.com/portal/x", "https:evil", "/%2f%2fevil", "javascript:1"} {
		f.Add(s)
	}
	v, err := New("https://sso.example.com", []string{"https://app.example.com/portal"})
	if err != nil {
		f.Fatal(err)
	}
	base, _ := url.Parse("https://sso.example.com/login")
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := v.Check(raw)
		if err != nil {
			return
		}
		ref, perr := url.Parse(got)
		if perr != nil {
			t.Fatalf("accepted %q but it does not parse: %v", got, perr)
		}
		resolved := base.ResolveReference(ref)
		switch strings.ToLower(resolved.Host) {
		case "sso.example.com", "sso.example.com:443", "app.example.com", "app.example.com:443":
		default:
			t.Fatalf("accepted %q which resolves to host %q", raw, resolved.Host)
		}
		if resolved.Scheme != "https" {
			t.Fatalf("accepted %q which resolves to scheme %q", raw, resolved.Scheme)
		}
	})
}
