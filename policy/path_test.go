package policy

import (
	"bufio"
	"errors"
	"net/http"
	"net/url"
	"path"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

func TestNormalizePath(t *testing.T) {
	tests := []struct {
		raw  string
		want string // "" when an error is expected
	}{
		{"", "/"},
		{"/", "/"},
		{"/a/b", "/a/b"},
		{"/a/b/", "/a/b/"},
		{"//a///b//", "/a/b/"},
		{"/a/./b", "/a/b"},
		{"/a/../b", "/b"},
		{"/../../a", "/a"},
		{"/a/..", "/"},
		{"/a/b/..", "/a/"},
		{"/a/.", "/a/"},
		{"/a/b/%2e%2E", "/a/"},
		{"/%61%62%63%2D%5f%7e", "/abc-_~"},
		{"/a%3db", "/a%3Db"},     // reserved stays encoded, hex upper-cased
		{"/a;b=c/d", "/a;b=c/d"}, // matrix parameters kept
		{"/a/..;x/b", "/b"},      // "..;x" is a dot segment
		{"/a/.;x/b", "/a/b"},     // ".;x" too
		{"/a/;jsessionid=1", "/a/;jsessionid=1"},
		{"/;jsessionid=1", "/;jsessionid=1"},
		{"/a b", "/a%20b"},
		{"/caf\xc3\xa9", "/caf%C3%A9"},
		{"/caf%c3%a9", "/caf%C3%A9"},
		{"/a[b]", "/a%5Bb%5D"},
		{"/!$&'()*+,;=:@", "/!$&'()*+,;=:@"},
		{"/%21", "/%21"},
		{"/100%25", "/100%25"},
		{"/100%25off", "/100%25off"},
		{"/%25%25", "/%25%25"},
		{"/a%2Eb", "/a.b"},
		// Refused.
		{"a/b", ""},
		{"*", ""},
		{"/a%2Fb", ""},
		{"/a%2fb", ""},
		{"/a%5Cb", ""},
		{`/a\b`, ""},
		{"/a%zz", ""},
		{"/a%4", ""},
		{"/a%", ""},
		{"/a%00", ""},
		{"/a\x00", ""},
		{"/a%0A", ""},
		{"/a\r\n", ""},
		{"/a%7F", ""},
		{"/a?b", ""},
		{"/a#b", ""},
		{"/a%252e", ""},
		{"/a%25%32%65", ""}, // "%25" then "2e" once decoded
		{"/%C0%AE", ""},
		{"/%c1%9c", ""},
		{"/%E0%80%AE", ""},
		{"/%F0%80%80%AE", ""},
		{"/;x/a", ""},
		{"/a%3Bb", ""},
		{"/..%3bx/a", ""},
	}
	for _, tt := range tests {
		got, err := NormalizePath(tt.raw)
		if tt.want == "" {
			if err == nil {
				t.Errorf("NormalizePath(%q) = %q, want an error", tt.raw, got)
			} else if !errors.Is(err, ErrBadPath) {
				t.Errorf("NormalizePath(%q) error %v does not wrap ErrBadPath", tt.raw, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizePath(%q) = %q, %v; want %q", tt.raw, got, err, tt.want)
		}
	}
}

func TestNormalizePath_CanonicalDoesNotAllocate(t *testing.T) {
	p := "/app/v1/users/42;jsessionid=x/caf%C3%A9"
	var out string
	if n := testing.AllocsPerRun(100, func() { out, _ = NormalizePath(p) }); n != 0 {
		t.Errorf("NormalizePath of a canonical path allocates %v times", n)
	}
	if out != p {
		t.Errorf("NormalizePath(%q) = %q", p, out)
	}
}

// TestTraversalTricks sends known traversal and encoding tricks at a policy
// that denies /admin and makes everything else public. Each must be denied
// by rule 0 or refused by NormalizePath; the few that are allowed must not
// name /admin for an upstream that decodes the forwarded path, even one
// that decodes it twice.
func TestTraversalTricks(t *testing.T) {
	p := mustCompile(t, []Rule{
		{PathPrefix: "/admin", Decision: DecisionDeny},
		{PathPrefix: "/", Decision: DecisionPublic},
	})
	const (
		deny   = "deny"   // rule 0 denies
		reject = "reject" // NormalizePath refuses: 400
		public = "public" // allowed, and not /admin upstream
	)
	tests := []struct {
		target string // request target as sent
		want   string
		note   string
	}{
		{"/admin", deny, ""},
		{"/admin/", deny, ""},
		{"/admin/users", deny, ""},
		{"/Admin", public, "paths are case-sensitive; for a case-insensitive upstream use PathRegex with (?i)"},
		{"/administrator", public, "prefixes match at segment boundaries"},
		{"//admin", deny, ""},
		{"///admin//", deny, ""},
		{"/./admin", deny, ""},
		{"/%2e/admin", deny, ""},
		{"/public/../admin", deny, ""},
		{"/public/../../../admin", deny, "never above the root"},
		{"/public/%2e%2e/admin", deny, ""},
		{"/public/%2E%2E/admin", deny, ""},
		{"/public/.%2e/admin", deny, ""},
		{"/public/%2e./admin", deny, ""},
		{"/public/..%2fadmin", reject, "encoded slash"},
		{"/public/..%2Fadmin", reject, "encoded slash"},
		{"/public%2f..%2fadmin", reject, "encoded slash"},
		{"/%2fadmin", reject, "encoded slash"},
		{"/admin%2f", reject, "encoded slash"},
		{"/ADMIN%2F", reject, "encoded slash"},
		{"/public/..%5Cadmin", reject, "encoded backslash"},
		{`/public\..\admin`, reject, "backslash"},
		{"/%61dmin", deny, "encoded unreserved letter"},
		{"/%61%64%6D%69%6E/x", deny, ""},
		{"/admin;jsessionid=x", deny, "matrix parameters are ignored when matching"},
		{"/admin;/x", deny, ""},
		{"/admin%3Bx", reject, "encoded semicolon"},
		{"/public/..%3B/admin", reject, "encoded semicolon"},
		{"/public/..;/admin", deny, "Tomcat: ..; is .."},
		{"/public/..;jsessionid=1/admin", deny, ""},
		{"/public;x/../admin", deny, ""},
		{"/.;/admin", deny, ""},
		{"/;x/admin", reject, "a segment of parameters only, not last"},
		{"/admin%00", reject, "NUL"},
		{"/admin%00.html", reject, "NUL"},
		{"/admin%09", reject, "control character"},
		{"/admin%0d%0aX-Injected:%201", reject, "CR LF"},
		{"/admin%2500", reject, "double encoding"},
		{"/public/%252e%252e/admin", reject, "double encoding must not be decoded twice"},
		{"/public/%25%32%65%25%32%65/admin", reject, "double encoding with encoded digits"},
		{"/public/%C0%AE%C0%AE/admin", reject, "overlong UTF-8 dot"},
		{"/public/%C0%AE%C0%AE%C0%AFadmin", reject, "overlong UTF-8 dot and slash"},
		{"/admin%zz", reject, "invalid escape"},
		{"/admin%4", reject, "truncated escape"},
		{"/admin?x=1", deny, "the query is not part of the path"},
		{"/public?/../admin", public, "query, not path: the upstream sees /public"},
		{"/admin/./", deny, ""},
		{"/admin/x/..", deny, ""},
		{"/public/../admin/../admin", deny, ""},
		{"/admin%20", reject, "a trailing space, which Windows servers drop"},
		{"/admin%20/x", reject, "a trailing space"},
		{"/admin%20%20", reject, "trailing spaces"},
		{"/admin./x", reject, "a trailing dot, which IIS and Windows drop"},
		{"/admin.", reject, "a trailing dot"},
		{"/admin...", reject, "trailing dots"},
		{"/admin%2E/x", reject, "an encoded trailing dot"},
		{"/admin.%20/x", reject, "dot then space"},
		{"/admin%20./x", reject, "space then dot"},
		{"/admin.;x/y", reject, "a trailing dot before matrix parameters"},
		{"/admin..%2f", reject, "encoded slash"},
		{"/admin::$DATA", reject, "an NTFS stream: IIS serves /admin"},
		{"/admin::$data/x", reject, "an NTFS stream type in any case"},
		{"/admin:$i30:$INDEX_ALLOCATION/x", reject, "a named directory stream"},
		{"/admin::%24DATA", reject, "an encoded $"},
		{"/admin%3A%3A%24DATA", reject, "an encoded colon and $"},
		{"/admin%3a:$DATA", reject, "a lower-case encoded colon"},
		{"/admin::$DATA;x/y", reject, "an NTFS stream before matrix parameters"},
		{"/admin:x", public, "a colon without a stream type is another name"},
		{"/public/a:b", public, "colons are allowed"},
		{"/public/price$5:$", reject, "a colon then $ is a stream type wherever it is"},
		{"/public/$x:y", public, "a $ before the colon"},
		{"/admin%C2%A0/x", reject, "no-break space: NFKC makes it a space"},
		{"/admin%E3%80%80", reject, "ideographic space"},
		{"/admin%EF%BC%8Fx", reject, "full-width slash U+FF0F"},
		{"/public/..%EF%BC%8Fadmin", reject, "full-width slash after dots"},
		{"/public/%EF%BC%8E%EF%BC%8E/admin", reject, "full-width dots U+FF0E"},
		{"/public/%E2%80%A5/admin", reject, "two dot leader U+2025: NFKC \"..\""},
		{"/public/%E2%80%A4%E2%80%A4/admin", reject, "one dot leader U+2024"},
		{"/public/%EF%B9%92%EF%B9%92/admin", reject, "small full stop U+FE52"},
		{"/public/..%E2%88%95admin", reject, "division slash U+2215"},
		{"/public/..%E2%81%84admin", reject, "fraction slash U+2044"},
		{"/public/..%E2%A7%B8admin", reject, "big solidus U+29F8"},
		{"/public/..%E2%95%B1admin", reject, "box drawing diagonal U+2571"},
		{"/public/..%E2%88%96admin", reject, "set minus U+2216, a look-alike backslash"},
		{"/public/..%EF%BC%BCadmin", reject, "full-width backslash U+FF3C"},
		{"/public/..%EF%B9%A8admin", reject, "small reverse solidus U+FE68"},
		{"/%EF%BD%81dmin", reject, "full-width a U+FF41"},
		{"/%F0%9D%90%9Admin", reject, "mathematical bold a U+1D41A"},
		{"/admin%E2%84%AA", reject, "Kelvin sign U+212A: NFKC K"},
		{"/%C3%A1dmin", public, "an accented letter is another letter"},
		{"/caf%C3%A9/admin", public, "ordinary non-ASCII text"},
		{"/%C3%EF%BC%8Fadmin", reject, "a look-alike after an invalid byte"},
		{"/.admin", public, "a leading dot is part of the name"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			// As the proxy sees it: net/http parses the request line and
			// the path is r.URL.EscapedPath().
			viaHTTP := http.ReadRequest
			req, err := viaHTTP(bufio.NewReader(strings.NewReader("GET " + tt.target + " HTTP/1.1\r\nHost: app.example.com\r\n\r\n")))
			got := reject
			var norm string
			if err == nil {
				got, norm = decideTrick(t, p, req.URL.EscapedPath())
			}
			if got != tt.want {
				t.Errorf("via net/http: %s (path %q), want %s (%s)", got, norm, tt.want, tt.note)
			}
			// As a forward-auth endpoint sees it: the raw X-Forwarded-Uri
			// without its query.
			raw, _, _ := strings.Cut(tt.target, "?")
			if got, norm := decideTrick(t, p, raw); got != tt.want {
				t.Errorf("raw: %s (path %q), want %s (%s)", got, norm, tt.want, tt.note)
			}
		})
	}
}

// decideTrick normalises raw and decides it against the /admin policy.
func decideTrick(t *testing.T, p *Policy, raw string) (verdict, norm string) {
	t.Helper()
	norm, err := NormalizePath(raw)
	if err != nil {
		return "reject", ""
	}
	out := p.Decide(Request{Host: "app.example.com", Path: norm, Method: "GET"}, nil, time.Now())
	switch {
	case out.Effect == Deny && out.RuleIndex == 0:
		return "deny", norm
	case out.Effect == Allow && out.RuleIndex == 1:
		// Allowed: make sure no plausible upstream reads /admin.
		for _, view := range upstreamViews(norm) {
			if view == "/admin" || strings.HasPrefix(view, "/admin/") {
				t.Errorf("allowed %q, which an upstream reads as %q", norm, view)
			}
		}
		return "public", norm
	}
	t.Fatalf("unexpected outcome %+v for %q", out, norm)
	return "", ""
}

// upstreamViews returns how upstreams might read a forwarded path: decode
// once or twice, treat backslashes as slashes, drop matrix parameters,
// clean dot segments.
func upstreamViews(p string) []string {
	var views []string
	once, err := url.PathUnescape(p)
	if err != nil {
		return []string{"<invalid>"}
	}
	twice, err := url.PathUnescape(once)
	if err != nil {
		twice = once
	}
	for _, v := range []string{once, twice} {
		v = strings.ReplaceAll(v, `\`, "/")
		views = append(views, path.Clean(v), path.Clean(dropParams(v)), path.Clean(dropStreams(dropParams(v))))
	}
	return views
}

func dropParams(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if j := strings.IndexByte(s, ';'); j >= 0 {
			segs[i] = s[:j]
		}
	}
	return strings.Join(segs, "/")
}

// dropStreams reads p as Windows does: a segment that names an NTFS
// stream by its type ("admin::$DATA", "admin:s:$DATA") is the file
// before the first colon.
func dropStreams(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if strings.Contains(s, ":$") {
			segs[i], _, _ = strings.Cut(s, ":")
		}
	}
	return strings.Join(segs, "/")
}

// FuzzNormalizePath checks the properties of canonical paths on any input.
func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{
		"/", "/a/b", "//a/./b/../c/", "/%2e%2e/%2E", "/a%2fb", "/a;x/..;y/b", "/%C0%AE",
		"/%252e", "/caf\xc3\xa9", "/a?b#c", `/a\b`, "/;x", "/a/;x", "/%25%32%65", "/..;/..;/a",
		"/admin./x", "/admin%20/x", "/admin.;x", "/%EF%BC%8Fadmin", "/a%E2%88%95b", "/%C2%A0", "/x\xef\xbc\x8e",
		"/%C3%EF%BC%8F", "/\xf0\x9d\x90\x9a", "/admin::$DATA", "/a%3A%24b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		// The fast path accepts only what the slow path leaves unchanged.
		if canonical(raw) {
			if slow, err := normalizeSlow(raw); err != nil || slow != raw {
				t.Fatalf("canonical(%q) but the slow path gives %q, %v", raw, slow, err)
			}
		}
		got, err := NormalizePath(raw)
		if err != nil {
			if !errors.Is(err, ErrBadPath) {
				t.Fatalf("error %v does not wrap ErrBadPath", err)
			}
			return
		}
		if !strings.HasPrefix(got, "/") {
			t.Fatalf("%q: result %q does not start with /", raw, got)
		}
		for _, bad := range []string{"//", "/./", "/../"} {
			if strings.Contains(got, bad) {
				t.Fatalf("%q: result %q contains %q", raw, got, bad)
			}
		}
		if strings.HasSuffix(got, "/.") || strings.HasSuffix(got, "/..") {
			t.Fatalf("%q: result %q ends in a dot segment", raw, got)
		}
		for i := 0; i < len(got); i++ {
			if c := got[i]; c < 0x20 || c >= 0x7f || c == '\\' || c == '?' || c == '#' {
				t.Fatalf("%q: result %q has byte %#x", raw, got, c)
			}
		}
		if !canonical(got) {
			t.Fatalf("%q: result %q is not canonical", raw, got)
		}
		if dec, err := url.PathUnescape(got); err == nil && strings.Contains(dec, ":$") {
			t.Fatalf("%q: result %q names an NTFS stream type", raw, got)
		}
		again, err := NormalizePath(got)
		if err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", raw, got, again, err)
		}
		// The fast path agrees with the slow one.
		if slow, err := normalizeSlow(got); err != nil || slow != got {
			t.Fatalf("canonical %q normalises (slowly) to %q, %v", got, slow, err)
		}
		// Decoding the result once names no dot segment the result did not
		// resolve, so the upstream sees the same segments as the policy.
		dec, err := url.PathUnescape(got)
		if err != nil {
			t.Fatalf("result %q does not decode: %v", got, err)
		}
		for seg := range strings.SplitSeq(dec, "/") {
			name, _, _ := strings.Cut(seg, ";")
			if name == "." || name == ".." {
				t.Fatalf("result %q decodes to %q with a dot segment", got, dec)
			}
			// Nothing a Windows server would read as another name.
			if strings.HasSuffix(name, ".") || strings.HasSuffix(name, " ") {
				t.Fatalf("result %q decodes to %q with a segment ending in a dot or space", got, dec)
			}
		}
		// Nothing an NFKC-normalising server would read as ASCII: the
		// decoded path is its own NFKC form as far as ASCII goes.
		for _, r := range dec {
			if r >= 0x80 && r != utf8.RuneError && nfkcASCII(r) {
				t.Fatalf("result %q decodes to %q with %U, which NFKC makes %q", got, dec, r, norm.NFKC.String(string(r)))
			}
		}
		if nf := norm.NFKC.String(dec); strings.Count(nf, "/") != strings.Count(dec, "/") ||
			strings.Count(nf, ".") > strings.Count(dec, ".") || strings.Count(nf, `\`) != 0 {
			t.Fatalf("result %q decodes to %q, which NFKC makes %q", got, dec, nf)
		}
	})
}
