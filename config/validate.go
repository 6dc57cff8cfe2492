package config

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-sso/gatehouse/identity"
)

// Limits enforced by Validate.
const (
	maxBodyBytesLimit   = 64 << 20 // server.max_body_bytes upper bound (64 MiB)
	minHeaderBytes      = 4096     // server.max_header_bytes lower bound
	maxHeaderBytesLimit = 1 << 20  // server.max_header_bytes upper bound (1 MiB)
	maxMinHeapMiB       = 65536    // server.min_heap_mib upper bound (64 GiB)
	minSecretBytes      = 32       // minimum length of each session secret
	minMemoryKiB        = 8 << 10  // password.memory_kib lower bound (8 MiB)
	maxMemoryKiB        = 1 << 20  // password.memory_kib upper bound (1 GiB)
)

// Validate checks c and returns every problem found, as Errors whose
// elements are *FieldError prefixed with the field's path (e.g.
// "server.public_url: must be an absolute https URL"), or nil. It has no
// side effects: it reads no files and resolves no names (TLS files, for
// example, are only checked to be named; the server reports file errors
// when it starts).
//
// gateway.rules are compiled with the policy package (CompilePolicy), so
// regular expressions, unreachable rules and requirements on rules that
// cannot use them are reported here too.
func (c Config) Validate() error {
	v := validator{}
	publicURL := v.server(c.Server)
	v.log(c.Log)
	v.store(c.Store)
	v.session(c.Session, publicURL)
	v.password(c.Password)
	v.login(c.Login)
	v.ui(c.UI)
	v.users(c.Users)
	v.oidc(c.OIDC, c.Server, publicURL)
	v.gateway(c, publicURL)
	return v.errs.err()
}

type validator struct {
	errs Errors
}

func (v *validator) add(path, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Path: path, Err: fmt.Errorf(format, args...)})
}

// list checks each item of the list at path: check returns why an item is
// refused ("" when it is fine; nil accepts everything), and an item equal
// to an earlier accepted one is reported as its duplicate. It returns the
// index of each accepted item.
func (v *validator) list(path string, items []string, check func(string) string) map[string]int {
	seen := make(map[string]int, len(items))
	for i, it := range items {
		p := indexPath(path, i)
		if check != nil {
			if msg := check(it); msg != "" {
				v.add(p, "%s", msg)
				continue
			}
		}
		if j, dup := seen[it]; dup {
			v.add(p, "duplicate of %s[%d]", path, j)
			continue
		}
		seen[it] = i
	}
	return seen
}

// groupNames checks a list of group names.
func groupNames(g string) string {
	switch {
	case g == "":
		return "must not be empty"
	case strings.Contains(g, ","):
		return "must not contain a comma"
	}
	return ""
}

func (v *validator) positive(path string, d Duration) {
	if d <= 0 {
		v.add(path, "must be greater than 0")
	}
}

func (v *validator) oneOf(path, got string, allowed ...string) {
	for _, a := range allowed {
		if got == a {
			return
		}
	}
	v.add(path, "must be one of %s (got %q)", strings.Join(allowed, ", "), got)
}

// server checks s and returns the parsed public URL (nil when invalid).
func (v *validator) server(s Server) *url.URL {
	tlsOff := s.TLS.Mode == TLSOff
	var publicURL *url.URL
	switch {
	case s.PublicURL == "":
		v.add("server.public_url", "required: the absolute https URL users reach Gatehouse at")
	default:
		rule := urlRule{want: "an absolute https URL", noQuery: true,
			httpRefused: `must use https (http only when server.tls.mode is "off")`}
		if tlsOff {
			rule.want = "an absolute http or https URL"
			rule.httpOK = func(string) bool { return true }
		}
		u, msg := checkURL(s.PublicURL, rule)
		switch {
		case msg != "":
			v.add("server.public_url", "%s", msg)
		case u.Path != "" && u.Path != "/":
			v.add("server.public_url", "must not have a path (Gatehouse serves from the root of its host; got %q)", u.Path)
		default:
			publicURL = u
		}
	}

	if s.Listen == "" {
		v.add("server.listen", `required: host:port such as ":8443"`)
	} else if msg := checkHostPort(s.Listen); msg != "" {
		v.add("server.listen", "%s", msg)
	}
	if s.HTTPListen != "" {
		if msg := checkHostPort(s.HTTPListen); msg != "" {
			v.add("server.http_listen", "%s", msg)
		} else if s.HTTPListen == s.Listen {
			v.add("server.http_listen", "must differ from server.listen")
		}
	}

	switch s.TLS.Mode {
	case TLSFiles:
		if s.TLS.CertFile == "" {
			v.add("server.tls.cert_file", `required when server.tls.mode is "files"`)
		}
		if s.TLS.KeyFile == "" {
			v.add("server.tls.key_file", `required when server.tls.mode is "files"`)
		}
	case TLSSelfSigned:
		if len(s.TLS.SelfSignedHosts) == 0 {
			v.add("server.tls.self_signed_hosts", `at least one host is required when server.tls.mode is "self-signed"`)
		}
		for i, h := range s.TLS.SelfSignedHosts {
			if net.ParseIP(h) != nil {
				continue
			}
			if msg := checkDomain(strings.TrimPrefix(h, "*.")); msg != "" {
				v.add(indexPath("server.tls.self_signed_hosts", i), "must be an IP address or a DNS name: %s", msg)
			}
		}
	case TLSACME:
		v.acme(s)
	case TLSOff:
	default:
		v.oneOf("server.tls.mode", s.TLS.Mode, TLSSelfSigned, TLSFiles, TLSACME, TLSOff)
	}

	v.positive("server.read_header_timeout", s.ReadHeaderTimeout)
	v.positive("server.read_timeout", s.ReadTimeout)
	v.positive("server.write_timeout", s.WriteTimeout)
	v.positive("server.idle_timeout", s.IdleTimeout)
	v.positive("server.shutdown_timeout", s.ShutdownTimeout)
	if s.MaxBodyBytes <= 0 || s.MaxBodyBytes > maxBodyBytesLimit {
		v.add("server.max_body_bytes", "must be from 1 to %d (64 MiB), got %d", maxBodyBytesLimit, s.MaxBodyBytes)
	}
	if s.MaxHeaderBytes < minHeaderBytes || s.MaxHeaderBytes > maxHeaderBytesLimit {
		v.add("server.max_header_bytes", "must be from %d to %d (1 MiB), got %d", minHeaderBytes, maxHeaderBytesLimit, s.MaxHeaderBytes)
	}
	if s.MinHeapMiB < 0 || s.MinHeapMiB > maxMinHeapMiB {
		v.add("server.min_heap_mib", "must be from 0 (Go's default) to %d, got %d", maxMinHeapMiB, s.MinHeapMiB)
	}
	return publicURL
}

func (v *validator) log(l Log) {
	v.oneOf("log.level", l.Level, "debug", "info", "warn", "error")
	v.oneOf("log.format", l.Format, "text", "json")
}

func (v *validator) store(s Store) {
	v.oneOf("store.backend", s.Backend, StoreBolt, StoreMemory)
	if s.Backend == StoreBolt {
		if s.Bolt.Path == "" {
			v.add("store.bolt.path", `required when store.backend is "bolt"`)
		}
		v.positive("store.bolt.lock_timeout", s.Bolt.LockTimeout)
	}
}

func (v *validator) session(s Session, publicURL *url.URL) {
	v.cookieName("session.cookie_name", s.CookieName)

	if s.CookieDomain != "" {
		d := normalizeDomain(s.CookieDomain)
		if msg := checkDomain(d); msg != "" {
			v.add("session.cookie_domain", "%s", msg)
		} else if publicURL != nil {
			host := strings.ToLower(publicURL.Hostname())
			if host != d && !strings.HasSuffix(host, "."+d) {
				v.add("session.cookie_domain", "the host of server.public_url (%s) is not within %s, so the browser would refuse the cookie", host, d)
			}
		}
	}

	v.positive("session.idle_timeout", s.IdleTimeout)
	if s.AbsoluteTimeout <= 0 {
		v.add("session.absolute_timeout", "must be greater than 0")
	} else if s.AbsoluteTimeout < s.IdleTimeout {
		v.add("session.absolute_timeout", "must be at least session.idle_timeout (%s)", s.IdleTimeout)
	}

	first := make(map[Secret]int)
	for i, sec := range s.Secrets {
		path := indexPath("session.secrets", i)
		if len(sec) < minSecretBytes {
			v.add(path, "must be at least %d bytes, got %d (generate one with: openssl rand -base64 32)", minSecretBytes, len(sec))
			continue
		}
		if j, dup := first[sec]; dup {
			v.add(path, "duplicate of session.secrets[%d]", j)
			continue
		}
		first[sec] = i
	}
}

// cookieName checks the base name of a cookie Gatehouse sets and reports
// whether it is valid.
func (v *validator) cookieName(path, name string) bool {
	switch {
	case name == "":
		v.add(path, "required")
	case !isToken(name):
		v.add(path, "must be a cookie name token: letters, digits and !#$%%&'*+-.^_`|~ only")
	case hasPrefixFold(name, "__Host-") || hasPrefixFold(name, "__Secure-"):
		v.add(path, "must not start with __Host- or __Secure-: Gatehouse adds the right prefix itself")
	default:
		return true
	}
	return false
}

func (v *validator) password(p Password) {
	if p.MemoryKiB < minMemoryKiB || p.MemoryKiB > maxMemoryKiB {
		v.add("password.memory_kib", "must be from %d (8 MiB) to %d (1 GiB), got %d", minMemoryKiB, maxMemoryKiB, p.MemoryKiB)
	}
	if p.Iterations < 1 {
		v.add("password.iterations", "must be at least 1")
	}
	if p.Parallelism < 1 {
		v.add("password.parallelism", "must be at least 1")
	}
	if p.MaxConcurrent < 1 {
		v.add("password.max_concurrent", "must be at least 1")
	}
}

func (v *validator) login(l Login) {
	rule := urlRule{
		want:        "an absolute http or https URL",
		noQuery:     true,
		httpOK:      isLoopback,
		httpRefused: "http is allowed only for loopback hosts (localhost, 127.0.0.1, ::1); use https",
	}
	for i, raw := range l.AllowedReturnURLs {
		if _, msg := checkURL(raw, rule); msg != "" {
			v.add(indexPath("login.allowed_return_urls", i), "%s", msg)
		}
	}
}

// userIDRE is the syntax of users[].id.
var userIDRE = regexp.MustCompile(`^[A-Za-z0-9._:@-]{1,128}$`)

func (v *validator) users(users []User) {
	ids := make(map[string]int)
	usernames := make(map[string]int)
	emails := make(map[string]int)
	pictureRule := urlRule{want: "an absolute https URL", httpRefused: "must use https"}
	for i, u := range users {
		p := fmt.Sprintf("users[%d]", i)

		switch j, dup := ids[u.ID]; {
		case u.ID == "":
			v.add(p+".id", "required: a stable, never reused identifier such as u-alice-7f3c")
		case !userIDRE.MatchString(u.ID):
			v.add(p+".id", "must be 1 to 128 characters from A-Z a-z 0-9 . _ : @ -")
		case dup:
			v.add(p+".id", "duplicate of users[%d]", j)
		default:
			ids[u.ID] = i
		}

		name := fold(u.Username)
		switch j, dup := usernames[name]; {
		case u.Username == "":
			v.add(p+".username", "required")
		case !utf8.ValidString(u.Username):
			v.add(p+".username", "must be valid UTF-8")
		case strings.ContainsFunc(u.Username, isBadUsernameRune):
			v.add(p+".username", "must not contain spaces, control or invisible characters")
		case strings.Contains(u.Username, "@"):
			v.add(p+".username", `must not contain "@" (a sign-in name with "@" is looked up as an e-mail address)`)
		case dup:
			v.add(p+".username", "duplicate of users[%d] (usernames are compared case-insensitively)", j)
		default:
			usernames[name] = i
		}

		if u.Email != "" {
			email := fold(u.Email)
			if a, err := mail.ParseAddress(u.Email); err != nil || a.Address != u.Email || a.Name != "" {
				v.add(p+".email", "must be a plain email address such as alice@example.com")
			} else if j, dup := emails[email]; dup {
				v.add(p+".email", "duplicate of users[%d] (emails are compared case-insensitively)", j)
			} else {
				emails[email] = i
			}
		}

		if u.Picture != "" {
			if _, msg := checkURL(u.Picture, pictureRule); msg != "" {
				v.add(p+".picture", "%s", msg)
			}
		}

		if h := u.PasswordHash.Value(); h != "" {
			if !strings.HasPrefix(h, "$argon2id$") {
				v.add(p+".password_hash", "must be an argon2id hash starting with $argon2id$ (make one with: gatehouse hash-password)")
			} else if _, err := identity.ParseHash(h); err != nil {
				v.add(p+".password_hash", "%v (make one with: gatehouse hash-password)", err)
			}
		}

		v.list(p+".groups", u.Groups, groupNames)
	}
	// A username equal to someone else's email would make sign-in by
	// "username or email" ambiguous.
	for i, u := range users {
		if j, ok := emails[fold(u.Username)]; ok && j != i && u.Username != "" {
			v.add(fmt.Sprintf("users[%d].username", i), "equals the email of users[%d]", j)
		}
	}
}

// fold maps s to a key for case-insensitive comparison.
func fold(s string) string {
	return strings.ToLower(strings.ToUpper(s))
}

func isBadUsernameRune(r rune) bool {
	return unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// isToken reports whether s is an RFC 7230 token, the syntax of a cookie
// name.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// urlRule says what checkURL accepts.
type urlRule struct {
	want        string                 // "an absolute https URL"
	noQuery     bool                   // refuse a query or fragment
	httpOK      func(host string) bool // hosts for which http is allowed; nil: none
	httpRefused string                 // message when http is refused
}

// checkURL parses raw and returns it, or a message saying what is wrong.
func checkURL(raw string, r urlRule) (*url.URL, string) {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Opaque != "" || u.Host == "" {
		return nil, "must be " + r.want
	}
	switch u.Scheme {
	case "https":
	case "http":
		if r.httpOK == nil || !r.httpOK(u.Hostname()) {
			return nil, r.httpRefused
		}
	default:
		return nil, "must be " + r.want
	}
	if u.Hostname() == "" {
		return nil, "must be " + r.want + " (the host is missing)"
	}
	if u.User != nil {
		return nil, "must not contain a user name or password"
	}
	if r.noQuery && (u.RawQuery != "" || u.ForceQuery) {
		return nil, "must not have a query (?...)"
	}
	if r.noQuery && strings.Contains(raw, "#") {
		return nil, "must not have a fragment (#...)"
	}
	return u, ""
}

// isLoopback reports whether host names the local machine.
func isLoopback(host string) bool {
	host = strings.ToLower(host)
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkHostPort checks a listen address and returns a message, or "".
func checkHostPort(s string) string {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return `must be host:port such as ":8443" or "127.0.0.1:8443"`
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || port == "" || n > 65535 {
		return "the port must be a number from 0 to 65535"
	}
	return ""
}

// checkDomain checks a DNS name (lower-case, without a leading dot) and
// returns a message, or "".
func checkDomain(d string) string {
	switch {
	case d == "":
		return "must not be empty"
	case strings.Contains(d, "://"):
		return "must be a domain name, not a URL"
	case strings.ContainsAny(d, "/?#@"):
		return "must be a domain name only, without a path"
	case net.ParseIP(d) != nil:
		return "must be a domain name, not an IP address"
	case strings.Contains(d, ":"):
		return "must be a domain name, without a port"
	case len(d) > 253:
		return "is too long for a domain name"
	}
	for label := range strings.SplitSeq(d, ".") {
		if !isLabel(label) {
			return fmt.Sprintf("%q is not a valid domain name (labels are 1 to 63 letters, digits or hyphens, not starting or ending with a hyphen)", d)
		}
	}
	return ""
}

func isLabel(l string) bool {
	if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := range len(l) {
		c := l[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
