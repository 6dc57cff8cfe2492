package policy

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

//go:generate go run gen_lookalike.go

// ErrBadPath is wrapped by every error NormalizePath returns. A proxy
// answers such a request with 400 and does not forward it.
var ErrBadPath = errors.New("bad request path")

func pathErr(why string) error { return &pathError{why} }

type pathError struct{ why string }

func (e *pathError) Error() string { return ErrBadPath.Error() + ": " + e.why }
func (e *pathError) Unwrap() error { return ErrBadPath }

// CheckPrefix reports why a non-empty path prefix (of a rule or a route)
// could never match, or nil: it must start with "/", have no ";" (matrix
// parameters are ignored when matching), and be in the canonical form
// NormalizePath gives request paths.
func CheckPrefix(prefix string) error {
	if !strings.HasPrefix(prefix, "/") {
		return fmt.Errorf(`%q must start with "/"`, prefix)
	}
	if strings.Contains(prefix, ";") {
		return fmt.Errorf(`%q must not contain ";" (matrix parameters are ignored when matching)`, prefix)
	}
	norm, err := NormalizePath(prefix)
	if err != nil {
		return fmt.Errorf("%q is not a valid path: %w", prefix, err)
	}
	if norm != prefix {
		return fmt.Errorf("%q is not normalised, so no request path can equal it; write %q", prefix, norm)
	}
	return nil
}

// NormalizePath returns the canonical form of a request path, which is
// both what the policy matches and what the proxy forwards upstream, so
// the two always agree on which resource a request names.
//
// raw is the path as it was sent, still percent-encoded: the path of the
// request target (r.URL.EscapedPath()), or the path of a forward-auth
// request's X-Forwarded-Uri with the query cut off. The empty path is "/".
//
// The canonical form:
//
//   - Percent-encoded unreserved characters (letters, digits, "-", ".",
//     "_", "~") are decoded: "/%61dmin" is "/admin", "%2e%2E" is "..".
//     Every other escape is kept, with upper-case hex: "%3b" is "%3B".
//     Characters that may not appear raw in a path (space, '"', "<", non-
//     ASCII bytes, ...) are encoded. Nothing is decoded twice.
//   - Empty segments are removed ("//admin" is "/admin"), and "." and
//     ".." segments are resolved, never above the root
//     ("/a/../../admin" is "/admin"). A path ending in a "." or ".."
//     segment, or in "/", keeps a trailing "/".
//   - Matrix parameters (";jsessionid=x" in a segment) are kept and
//     forwarded. Servlet containers ignore them when they map a path, so
//     the policy matches segments without them ("/admin;x" is under the
//     prefix "/admin"), and a segment such as "..;x" is a dot segment and
//     is resolved ("/public/..;/admin" is "/admin"). A segment that is only
//     parameters (";x") is allowed last and refused elsewhere.
//
// Refused, with an error wrapping ErrBadPath:
//
//   - an encoded slash or backslash ("%2F", "%5C") or a raw backslash:
//     upstreams disagree on whether they separate segments, so no single
//     answer is safe; likewise an encoded semicolon ("%3B"), which some
//     decode before they cut off matrix parameters;
//   - an invalid escape ("%zz", a truncated "%4");
//   - NUL and other control characters, raw or encoded;
//   - a raw "?" or "#" (pass the path without the query);
//   - a double-encoded escape ("%252e": "%25" followed by two hex digits),
//     which upstreams that decode twice would read as ".";
//   - overlong UTF-8 encodings of ASCII ("%C0%AE" for "."), a classic way
//     to smuggle dots and slashes past a filter;
//   - a segment whose name (without matrix parameters) ends in a dot or a
//     space ("/admin./x", "/admin%20/x", "/admin..;x"): Windows, IIS and
//     servers on Windows file systems drop trailing dots and spaces and
//     read it as "/admin". The dot segments "." and ".." are resolved, not
//     refused;
//   - a segment name naming an NTFS alternate data stream by its type
//     ("/admin::$DATA", "/admin:$i30:$INDEX_ALLOCATION/x", with ":" and
//     "$" raw or encoded): IIS and Windows file servers serve the file or
//     directory itself, so the path escapes a rule on "/admin";
//   - look-alike characters: every non-ASCII character that NFKC
//     normalisation turns into something containing ASCII (full-width
//     "／" U+FF0F and "．" U+FF0E, "ａ" U+FF41, the ligature "ﬁ", "²", a
//     no-break space, ...), which routers and frameworks that normalise
//     Unicode read as "/", "." or plain letters; and the look-alike slashes
//     and backslashes that have no decomposition ("⁄" U+2044, "∕" U+2215,
//     "⟋" U+27CB, "⧸" U+29F8, "╱" U+2571, "∖" U+2216, "⟍" U+27CD, "⧵"
//     U+29F5, "⧹" U+29F9, "╲" U+2572, and U+1D23A, U+1D23B). Other
//     non-ASCII text (accented letters, CJK, ...) is allowed, encoded.
//
// NormalizePath is idempotent, and it returns raw itself, without
// allocating, when raw is already canonical.
func NormalizePath(raw string) (string, error) {
	if raw == "" {
		return "/", nil
	}
	if raw[0] != '/' {
		return "", pathErr(`path does not start with "/"`)
	}
	if canonical(raw) {
		return raw, nil
	}
	return normalizeSlow(raw)
}

// normalizeSlow builds the canonical form of raw, which starts with "/".
func normalizeSlow(raw string) (string, error) {
	out := make([]byte, 0, len(raw)+8)
	var stackBuf [32]int
	starts := stackBuf[:0] // offsets in out of the "/" before each kept segment
	trailing := false
	rest := raw[1:]
	for {
		seg, after, more := strings.Cut(rest, "/")
		start := len(out)
		out = append(out, '/')
		var err error
		if out, err = appendSegment(out, seg); err != nil {
			return "", err
		}
		name := segName(out[start+1:])
		switch {
		case len(out) == start+1: // empty segment
			out = out[:start]
			trailing = !more
		case string(name) == ".":
			out = out[:start]
			trailing = !more
		case string(name) == "..":
			out = out[:start]
			if n := len(starts); n > 0 {
				out = out[:starts[n-1]]
				starts = starts[:n-1]
			}
			trailing = !more
		case len(name) == 0 && more:
			return "", pathErr(`a segment with parameters but no name (";...") is only allowed last`)
		default:
			starts = append(starts, start)
			trailing = false
		}
		if !more {
			break
		}
		rest = after
	}
	if len(out) == 0 || trailing {
		out = append(out, '/')
	}
	if doubleEncoded(out) {
		return "", pathErr(`double-encoded escape ("%25" followed by two hex digits)`)
	}
	p := string(out)
	if err := ambiguous(p); err != nil {
		return "", err
	}
	return p, nil
}

// ambiguous checks the segments of a path in canonical form for names
// that servers read as another name: a trailing dot or space, a
// look-alike character.
func ambiguous(p string) error {
	for seg := range strings.SplitSeq(p[1:], "/") {
		name, _, _ := strings.Cut(seg, ";")
		if trailingDotOrSpace(name) {
			return pathErr("a segment ending in a dot or a space, which some servers drop")
		}
		if streamType(name) {
			return pathErr(`an NTFS alternate data stream (":$DATA"), which Windows servers read as the file itself`)
		}
	}
	for i := 0; i+2 < len(p); i++ {
		if p[i] != '%' {
			continue
		}
		h, _ := unhex(p[i+1])
		l, _ := unhex(p[i+2])
		if h<<4|l >= 0xC2 && lookalikeAt(p, i) {
			return pathErr("a look-alike character that Unicode normalisation turns into ASCII (such as a full-width slash)")
		}
		i += 2
	}
	return nil
}

// trailingDotOrSpace reports whether a segment name (canonical, without
// matrix parameters) other than "." and ".." ends in "." or an encoded
// space.
func trailingDotOrSpace(name string) bool {
	n := len(name)
	switch {
	case n == 0 || name == "." || name == "..":
		return false
	case name[n-1] == '.':
		return true
	}
	return n >= 3 && name[n-3:] == "%20"
}

// streamType reports whether a segment name (canonical, without matrix
// parameters) has a ":" followed by "$", raw or percent-encoded: the
// type of an NTFS alternate data stream ("name::$DATA",
// "name:stream:$INDEX_ALLOCATION").
func streamType(name string) bool {
	for i := 0; i < len(name); i++ {
		var rest string
		switch {
		case name[i] == ':':
			rest = name[i+1:]
		case name[i] == '%' && i+2 < len(name) && name[i+1:i+3] == "3A":
			rest = name[i+3:]
		default:
			continue
		}
		if strings.HasPrefix(rest, "$") || strings.HasPrefix(rest, "%24") {
			return true
		}
	}
	return false
}

// lookalikeAt reports whether the percent-encoded UTF-8 sequence whose
// lead byte's escape starts at p[i] is a look-alike character (see
// lookalike). An invalid sequence is not one.
func lookalikeAt(p string, i int) bool {
	var buf [utf8.UTFMax]byte
	n := 0
	for n < len(buf) && i+2 < len(p) && p[i] == '%' {
		h, ok1 := unhex(p[i+1])
		l, ok2 := unhex(p[i+2])
		if !ok1 || !ok2 {
			break
		}
		d := h<<4 | l
		if n > 0 && d&0xC0 != 0x80 {
			break
		}
		buf[n] = d
		n++
		i += 3
	}
	r, size := utf8.DecodeRune(buf[:n])
	return size > 1 && lookalike(r)
}

// lookalike reports whether r is in lookalikeRanges: a non-ASCII code
// point that NFKC turns into something containing ASCII, or a look-alike
// slash or backslash without a decomposition. The table is generated by
// gen_lookalike.go.
func lookalike(r rune) bool {
	lo, hi := 0, len(lookalikeRanges)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		switch rg := lookalikeRanges[m]; {
		case r < rg[0]:
			hi = m
		case r > rg[1]:
			lo = m + 1
		default:
			return true
		}
	}
	return false
}

// appendSegment appends the canonical form of one raw segment (which
// contains no "/") to out.
func appendSegment(out []byte, seg string) ([]byte, error) {
	prev := -1 // previous decoded byte, for the overlong check
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		d := c
		escaped := c == '%'
		if escaped {
			if i+2 >= len(seg) {
				return nil, pathErr("truncated percent-encoding")
			}
			h, ok1 := unhex(seg[i+1])
			l, ok2 := unhex(seg[i+2])
			if !ok1 || !ok2 {
				return nil, pathErr("invalid percent-encoding")
			}
			d = h<<4 | l
			i += 2
		}
		switch {
		case d == 0:
			return nil, pathErr("NUL byte")
		case d < 0x20 || d == 0x7f:
			return nil, pathErr("control character")
		case d == '/': // only reachable escaped
			return nil, pathErr("encoded slash (%2F)")
		case d == '\\':
			return nil, pathErr(`backslash ("\" or %5C)`)
		case d == ';' && escaped:
			return nil, pathErr("encoded semicolon (%3B)")
		case !escaped && (d == '?' || d == '#'):
			return nil, pathErr(`"?" or "#" in the path (pass the path without query and fragment)`)
		case overlong(prev, d):
			return nil, pathErr("overlong UTF-8 encoding")
		}
		prev = int(d)
		if unreserved(d) || (!escaped && rawReserved(d)) {
			out = append(out, d)
		} else {
			out = append(out, '%', upperHex[d>>4], upperHex[d&15])
		}
	}
	return out, nil
}

// canonical reports whether p is exactly what normalizeSlow returns for it.
// It does not allocate.
func canonical(p string) bool {
	if len(p) == 0 || p[0] != '/' {
		return false
	}
	segStart := 1
	prev := -1
	colon := false // the segment has a ":", raw or encoded
	for i := 1; i <= len(p); i++ {
		if i == len(p) || p[i] == '/' {
			seg := p[segStart:i]
			last := i == len(p)
			name := seg
			if j := strings.IndexByte(seg, ';'); j >= 0 {
				name = seg[:j]
			}
			switch {
			case seg == "" && !last, name == ".", name == "..", name == "" && seg != "" && !last:
				return false
			case trailingDotOrSpace(name), colon && streamType(name):
				return false
			}
			segStart = i + 1
			prev = -1
			colon = false
			continue
		}
		c := p[i]
		if c != '%' {
			if !unreserved(c) && !rawReserved(c) {
				return false
			}
			colon = colon || c == ':'
			prev = int(c)
			continue
		}
		if i+2 >= len(p) || !isUpperHex(p[i+1]) || !isUpperHex(p[i+2]) {
			return false
		}
		h, _ := unhex(p[i+1])
		l, _ := unhex(p[i+2])
		d := h<<4 | l
		if unreserved(d) || d < 0x20 || d == 0x7f || d == '/' || d == '\\' || d == ';' || overlong(prev, d) {
			return false
		}
		if d == '%' && i+4 < len(p) && isHex(p[i+3]) && isHex(p[i+4]) {
			return false
		}
		if d >= 0xC2 && lookalikeAt(p, i) {
			return false
		}
		colon = colon || d == ':'
		prev = int(d)
		i += 2
	}
	return true
}

// segName returns a segment without its matrix parameters.
func segName(seg []byte) []byte {
	for i, c := range seg {
		if c == ';' {
			return seg[:i]
		}
	}
	return seg
}

// stripParams returns a canonical path without matrix parameters:
// "/a;x/b;y" is "/a/b". It allocates only when the path has some.
func stripParams(p string) string {
	i := strings.IndexByte(p, ';')
	if i < 0 {
		return p
	}
	var b strings.Builder
	b.Grow(len(p))
	for i >= 0 {
		b.WriteString(p[:i])
		p = p[i:]
		j := strings.IndexByte(p, '/')
		if j < 0 {
			return b.String()
		}
		p = p[j:]
		i = strings.IndexByte(p, ';')
	}
	b.WriteString(p)
	return b.String()
}

// doubleEncoded reports whether a canonical path contains "%25" followed by
// two hex digits.
func doubleEncoded(p []byte) bool {
	for i := 0; i+4 < len(p); i++ {
		if p[i] == '%' && p[i+1] == '2' && p[i+2] == '5' && isHex(p[i+3]) && isHex(p[i+4]) {
			return true
		}
	}
	return false
}

// overlong reports whether byte d after byte prev starts an overlong UTF-8
// encoding (of a character that has a shorter one, such as "." or "/").
// prev is -1 at the start of a segment.
func overlong(prev int, d byte) bool {
	switch {
	case prev == 0xC0 || prev == 0xC1:
		return d >= 0x80 && d <= 0xBF
	case prev == 0xE0:
		return d >= 0x80 && d <= 0x9F
	case prev == 0xF0:
		return d >= 0x80 && d <= 0x8F
	}
	return false
}

// unreserved reports RFC 3986 unreserved characters, which are decoded.
func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// rawReserved reports the reserved characters allowed raw in a path segment
// (RFC 3986 sub-delims, ":" and "@"). Sent raw they stay raw; sent encoded
// they stay encoded, because the two are not equivalent.
func rawReserved(c byte) bool {
	switch c {
	case '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', ':', '@':
		return true
	}
	return false
}

const upperHex = "0123456789ABCDEF"

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func isHex(c byte) bool { _, ok := unhex(c); return ok }

func isUpperHex(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' }
