package web

import (
	"crypto/sha256"
	"encoding/base64"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func TestContrast_KnownValues(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want float64
	}{
		{"#ffffff", "#000000", 21},
		{"#000", "#fff", 21},
		{"#777777", "#ffffff", 4.48},
		{"#7aa2ff", "#ffffff", 2.49},
		{"#2456c7", "#ffffff", 6.50},
	} {
		if got := contrast(tc.a, tc.b); math.Abs(got-tc.want) > 0.01 {
			t.Errorf("contrast(%s, %s) = %.3f, want %.2f", tc.a, tc.b, got, tc.want)
		}
	}
}

// cssVars reads the custom properties of the light (:root) and dark
// (prefers-color-scheme: dark) blocks of the stylesheet.
func cssVars(t *testing.T) (light, dark map[string]string) {
	t.Helper()
	css, err := staticFS.ReadFile("static/gatehouse.css")
	if err != nil {
		t.Fatal(err)
	}
	s := string(css)
	block := regexp.MustCompile(`:root\{([^}]*)\}`)
	darkAt := strings.Index(s, "@media (prefers-color-scheme:dark)")
	if darkAt < 0 {
		t.Fatal("no dark-mode block in the stylesheet")
	}
	parse := func(src string) map[string]string {
		m := block.FindStringSubmatch(src)
		if m == nil {
			t.Fatalf("no :root block in %q", src)
		}
		vars := map[string]string{}
		for _, decl := range strings.Split(m[1], ";") {
			k, v, ok := strings.Cut(decl, ":")
			if ok && strings.HasPrefix(k, "--") {
				vars[k] = v
			}
		}
		return vars
	}
	return parse(s[:darkAt]), parse(s[darkAt:])
}

// TestStylesheet_Contrast computes WCAG contrast from the stylesheet's
// own colours: primary buttons, links and text reach AA (4.5:1) in both
// colour schemes.
func TestStylesheet_Contrast(t *testing.T) {
	light, dark := cssVars(t)
	for scheme, vars := range map[string]map[string]string{"light": light, "dark": dark} {
		for _, pair := range [][2]string{
			{"--on-accent", "--accent"}, // primary button text
			{"--link", "--card"},        // links, secondary buttons, the header
			{"--fg", "--card"},          // body text
			{"--err", "--card"},         // error messages
		} {
			a, b := vars[pair[0]], vars[pair[1]]
			c := contrast(a, b)
			if c < 4.5 {
				t.Errorf("%s: %s %s on %s %s has contrast %.2f:1, want at least 4.5:1", scheme, pair[0], a, pair[1], b, c)
			}
		}
	}
}

func TestBrand_Check(t *testing.T) {
	for _, tc := range []struct {
		b  Brand
		ok bool
	}{
		{Brand{}, true},
		{Brand{Name: "Acme SSO", LogoURL: "/static/logo.svg", AccentColor: "#1a2B3c"}, true},
		{Brand{LogoURL: "https://cdn.example.com/logo.png", AccentColor: "#abc"}, true},
		{Brand{AccentColor: "red"}, false},
		{Brand{AccentColor: "#12345"}, false},
		{Brand{AccentColor: "#123456;}body{display:none"}, false},
		{Brand{LogoURL: "http://example.com/logo.png"}, false},
		{Brand{LogoURL: "//example.com/logo.png"}, false},
		{Brand{LogoURL: "javascript:alert(1)"}, false},
		{Brand{LogoURL: "https://user:pw@example.com/logo.png"}, false},
		{Brand{LogoURL: `/logo.png" onerror="x`}, false},
		{Brand{Name: "bad\nname"}, false},
		{Brand{Name: strings.Repeat("x", 65)}, false},
	} {
		err := tc.b.Check()
		if (err == nil) != tc.ok {
			t.Errorf("%+v: err %v, want ok=%v", tc.b, err, tc.ok)
		}
		if _, rerr := NewRenderer(nil, tc.b); (rerr == nil) != tc.ok {
			t.Errorf("%+v: NewRenderer err %v, want ok=%v", tc.b, rerr, tc.ok)
		}
	}
}

// TestBrand_Rendered: the configured name, logo and accent appear on every
// page, the inline style is allowed by its hash (and nothing else inline
// is), the logo's origin by img-src, and the button text on any accent
// colour reaches 4.5:1.
func TestBrand_Rendered(t *testing.T) {
	r := newRenderer(t, Brand{Name: "Acme <SSO>", LogoURL: "https://cdn.example.com/logo.png", AccentColor: "#FFD700"})
	rec := httptest.NewRecorder()
	r.Render(rec, http.StatusOK, &SignedOutPage{Frame: Frame{Title: "Signed out"}})
	body := rec.Body.String()
	for _, want := range []string{
		"<title>Signed out · Acme &lt;SSO&gt;</title>",
		`<img src="https://cdn.example.com/logo.png" alt="">`,
		"<span>Acme &lt;SSO&gt;</span>",
		"<style>:root{--accent:#ffd700;--on-accent:#000000}</style>",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q:\n%s", want, body)
		}
	}
	sum := sha256.Sum256([]byte(":root{--accent:#ffd700;--on-accent:#000000}"))
	csp := rec.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "style-src 'self' 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"';") ||
		!strings.Contains(csp, "img-src 'self' https://cdn.example.com;") {
		t.Errorf("CSP %q", csp)
	}
	for _, accent := range []string{"#000000", "#ffffff", "#777777", "#767676", "#2456c7", "#7aa2ff", "#ffd700", "#808080", "#f0f"} {
		b := Brand{AccentColor: accent}.resolve()
		m := regexp.MustCompile(`--accent:(#[0-9a-f]{6});--on-accent:(#[0-9a-f]{6})`).FindStringSubmatch(string(b.Style))
		if m == nil {
			t.Fatalf("%s: style %q", accent, b.Style)
		}
		if c := contrast(m[1], m[2]); c < 4.5 {
			t.Errorf("accent %s: button text contrast %.2f", accent, c)
		}
	}
}
