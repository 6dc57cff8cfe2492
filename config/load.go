package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads the configuration file at path and returns Default() with the
// file's settings and then the GATEHOUSE_* environment overrides (looked
// up with getenv, normally os.Getenv) applied on top. An empty path means
// defaults and environment only.
//
// Load does not validate the result: call Config.Validate. Problems are
// returned as Errors, one *FieldError per problem, naming the file, line
// and field path (or the environment variable). See Parse for the rules.
// With problems, the Config returned still holds everything that could be
// read (a refused value keeps its default, an unknown key is skipped), so
// that Validate can report the remaining problems in the same run; it is
// the zero Config only when the file could not be read or parsed at all.
func Load(path string, getenv func(string) string) (Config, error) {
	var data []byte
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
		data = b
	}
	return parse(data, path, getenv, readSecretFile)
}

// Parse is Load for a document already in memory: it returns Default()
// with the YAML document data and then the environment overrides applied.
// Empty data (or a document holding only comments or null) means
// defaults and environment only. A nil getenv means no environment.
//
// Decoding is strict: a key that is not a field of the configuration is
// an error naming its path and line (e.g. "line 3: server.lisen: unknown
// key"), and so is a value of the wrong type, a duplicate key, or more than
// one YAML document. Integers must be written as integers: 1.5, 1e6 and
// "100" are refused, not truncated or converted. A key whose value is null
// keeps the default; a list replaces the default list. Anchors, aliases
// and "<<" merge keys work as in yaml.v3.
//
// # Secrets from files
//
// A field of type Secret may instead be given as a sibling key
// "<name>_file" holding the path of a file; the file's content, with all
// trailing "\n" and "\r" removed, is the value:
//
//	users:
//	  - id: u-alice-7f3c
//	    password_hash_file: /run/secrets/alice-hash
//
// A field that is a list of Secrets (session.secrets) may be given as
// "<name>_file" holding a list of paths, one secret per file, in order (a
// single path is accepted as a one-element list):
//
//	session:
//	  secrets_file: [/run/secrets/cookie-new, /run/secrets/cookie-old]
//
// Giving both "<name>" and "<name>_file" is an error, and so is a file
// that is missing, unreadable, empty (after trimming) or larger than 64
// KiB. Relative paths are relative to the working directory, not to the
// configuration file.
//
// # Environment
//
// After the document, environment variables override it:
//
//   - Every scalar field is set by GATEHOUSE_ followed by its YAML path in
//     upper case, keys joined with "_": GATEHOUSE_SERVER_LISTEN,
//     GATEHOUSE_SERVER_TLS_MODE, GATEHOUSE_SESSION_IDLE_TIMEOUT=30m,
//     GATEHOUSE_DEMO_ENABLED=true. Booleans take true/false/1/0/t/f,
//     durations take Go syntax ("90s", "15m", "12h"), integers base 10.
//   - List elements of structs are addressed by index:
//     GATEHOUSE_USERS_0_EMAIL. An index equal to the current number of
//     users appends a new user, starting from the zero User (a route
//     starts from DefaultRoute; then the next index may append another);
//     indexes beyond that are ignored.
//   - Lists of scalars (session.secrets, login.allowed_return_urls,
//     server.tls.self_signed_hosts, users[N].groups,
//     gateway.routes[N].upstreams, ...) are replaced as a
//     whole by a comma-separated value; items are trimmed of spaces and
//     empty items dropped, so "," sets an empty list.
//   - A Secret may instead be read from a file named by the variable with
//     "_FILE" appended (GATEHOUSE_USERS_0_PASSWORD_HASH_FILE); for the list
//     of secrets it holds comma-separated paths, one secret per file
//     (GATEHOUSE_SESSION_SECRETS_FILE=/run/secrets/a,/run/secrets/b).
//     Setting both the variable and its _FILE form is an error; either
//     one overrides the document, whether it gave the value or a _file.
//   - An empty variable counts as unset, so the environment cannot set a
//     value to the empty string.
//   - Maps (users[N].attributes) cannot be set from the environment.
//   - A value that does not parse is an error naming the variable.
//
// # Trusted clients
//
// Last, GATEHOUSE_OIDC_TRUSTED_CLIENTS may hold OIDC clients as a JSON
// array in the shape kuploy uses; they are appended to oidc.clients, after
// the clients of the document and of GATEHOUSE_OIDC_CLIENTS_<N>_*:
//
//	GATEHOUSE_OIDC_TRUSTED_CLIENTS='[{"clientId": "leeram-business",
//	  "clientSecret": "...", "name": "Leeram Business",
//	  "redirectUrls": ["https://business.example.com/api/auth/oauth2/callback/gatehouse",
//	                   "https://business.example.com/"],
//	  "skipConsent": true}]'
//
// Each entry is an object with these fields (JSON name → client key; all
// optional as far as parsing goes, Validate then checks the client):
//
//	clientId               string            client_id
//	clientSecret           string            client_secret
//	name                   string            name
//	redirectUrls           array of strings  redirect_urls
//	postLogoutRedirectUrls array of strings  post_logout_redirect_urls
//	skipConsent            boolean           skip_consent
//	requirePKCE            boolean           require_pkce
//	public                 boolean           public
//	scopes                 array of strings  scopes
//	grantTypes             array of strings  grant_types
//	backchannelLogoutUri   string            backchannel_logout_uri
//	signingAlg             string            signing_alg
//	accessTokenTTL         duration string   access_token_ttl
//	idTokenTTL             duration string   id_token_ttl
//	refreshTokenTTL        duration string   refresh_token_ttl
//
// Names are case-sensitive. An unknown field, a field given twice, a value
// of the wrong JSON type, an entry that is not an object, a value that is
// not a JSON array, and invalid JSON are errors; a null counts as an absent
// field and an empty array adds no client. Errors name the variable, the
// entry's index and its clientId when known, and the field, e.g.
// `GATEHOUSE_OIDC_TRUSTED_CLIENTS[1] "leeram-business": redirectUrls: want
// an array of strings, got a string`; they never show a value. Any error
// adds none of the entries. GATEHOUSE_OIDC_TRUSTED_CLIENTS_FILE may name a
// file holding the JSON instead (at most 64 KiB); setting both is an
// error. Validate names these clients by their entry too (see
// OIDC.ClientPath).
//
// # Per-element defaults
//
// Every element of gateway.routes starts from DefaultRoute, whether it is
// written in the document or appended through GATEHOUSE_GATEWAY_ROUTES_<N>_*
// variables: a route that leaves out headers sends both presets and the
// assertion, and "assertion: false" or "presets: []" turn them off. Other
// list elements start from their zero value.
//
// Parse does not validate: call Config.Validate. It only normalizes names:
// session.cookie_domain and gateway.cookie_domain lose a leading dot and
// are lower-cased, and gateway.routes[].host and server.tls.acme.hosts[]
// are lower-cased. Problems are returned as Errors, one *FieldError each.
func Parse(data []byte, getenv func(string) string) (Config, error) {
	return parse(data, "", getenv, readSecretFile)
}

// parse implements Load and Parse; file names the document in errors and
// readSecret reads secret files (tests replace it).
func parse(data []byte, file string, getenv func(string) string, readSecret func(string) (string, error)) (Config, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	cfg := Default()
	doc, err := parseYAML(data)
	if err != nil {
		return Config{}, Errors{err}.withFile(file)
	}
	var errs Errors
	if doc != nil {
		w := walker{seen: make(map[string]bool), active: make(map[*yaml.Node]bool), readSecret: readSecret}
		w.walk(doc, reflect.TypeFor[Config](), "")
		// The walk checked every key against the struct types and every
		// scalar against its field's type, so without its errors this only
		// fails in corner cases yaml.v3 itself rejects (such as excessive
		// aliasing). With them, the decoder (not strict) still reads every
		// key the walk accepted: unknown keys are skipped and values of the
		// wrong type keep their defaults, so that Validate can report the
		// other problems in the same run.
		err := doc.Decode(&cfg)
		switch {
		case len(w.errs) > 0:
			errs = w.errs
		case err != nil:
			return Config{}, decodeErrors(err).withFile(file)
		}
		errs.setFile(file)
	}
	errs = append(errs, applyEnv(&cfg, getenv, readSecret)...)
	errs = append(errs, applyTrustedClients(&cfg, getenv, readSecret)...)
	normalize(&cfg)
	if len(errs) > 0 {
		return cfg, errs
	}
	return cfg, nil
}

// normalize puts the names Parse documents as normalized in their
// canonical form: cookie domains without a leading dot and in lower case,
// route and ACME hosts in lower case.
func normalize(cfg *Config) {
	cfg.Session.CookieDomain = normalizeDomain(cfg.Session.CookieDomain)
	cfg.Gateway.CookieDomain = normalizeDomain(cfg.Gateway.CookieDomain)
	for i := range cfg.Gateway.Routes {
		cfg.Gateway.Routes[i].Host = strings.ToLower(cfg.Gateway.Routes[i].Host)
	}
	for i, h := range cfg.Server.TLS.ACME.Hosts {
		cfg.Server.TLS.ACME.Hosts[i] = strings.ToLower(h)
	}
}

// withFile sets File on every *FieldError in e that came from the document.
func (e Errors) withFile(file string) error {
	e.setFile(file)
	return e.err()
}

// setFile sets File on every *FieldError in e that came from the document.
func (e Errors) setFile(file string) {
	if file != "" {
		for _, err := range e {
			if fe, ok := err.(*FieldError); ok && fe.Env == "" {
				fe.File = file
			}
		}
	}
}

// normalizeDomain drops a leading dot and lower-cases a cookie domain.
func normalizeDomain(d string) string {
	return strings.ToLower(strings.TrimPrefix(d, "."))
}

// parseYAML parses data as exactly one YAML document. It returns nil for an
// empty document (no content, or a null).
func parseYAML(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, syntaxError(err)
	}
	// Only empty documents (a stray "---") may follow.
	for {
		var extra yaml.Node
		err := dec.Decode(&extra)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, syntaxError(err)
		}
		if len(extra.Content) > 0 && !isNull(extra.Content[0]) {
			return nil, &FieldError{Line: extra.Line, Err: errors.New("more than one YAML document; want exactly one")}
		}
	}
	if doc.Kind == yaml.DocumentNode && (len(doc.Content) == 0 || isNull(doc.Content[0])) {
		return nil, nil
	}
	return &doc, nil
}

var yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)

// syntaxError turns a yaml.v3 parse error into a *FieldError with its line.
func syntaxError(err error) *FieldError {
	msg := err.Error()
	fe := &FieldError{}
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		fe.Line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	}
	fe.Err = errors.New(strings.TrimPrefix(msg, "yaml: "))
	return fe
}

// decodeErrors converts an error of yaml.v3's Decode into Errors.
func decodeErrors(err error) Errors {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return Errors{syntaxError(err)}
	}
	errs := make(Errors, 0, len(te.Errors))
	for _, e := range te.Errors {
		errs = append(errs, syntaxError(errors.New(e)))
	}
	return errs
}

// maxVisits bounds the nodes the walker visits, counting each expansion of
// an alias again, so a document built to explode through aliases fails
// fast instead of using unbounded time.
const maxVisits = 1_000_000

// walker checks a YAML node tree against the Go type it will be decoded
// into, before decoding: it reports unknown and duplicate keys and
// ill-typed scalars with their paths, and rewrites "<name>_file" keys of
// Secret fields into "<name>" with the file's content as value, so that
// the decode that follows sees only known keys.
type walker struct {
	errs       Errors
	seen       map[string]bool     // messages already reported (aliases revisit nodes)
	active     map[*yaml.Node]bool // mappings and lists being walked, to stop alias cycles
	visits     int
	readSecret func(name string) (string, error)
}

func (w *walker) add(fe *FieldError) {
	msg := fe.Error()
	if w.seen[msg] {
		return
	}
	w.seen[msg] = true
	w.errs = append(w.errs, fe)
}

func (w *walker) fail(n *yaml.Node, path, format string, args ...any) {
	w.add(&FieldError{Path: path, Line: n.Line, Err: fmt.Errorf(format, args...)})
}

// resolve follows an alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.AliasNode {
		return nil
	}
	return n
}

// isNull reports whether n is a null scalar ("", "~", "null").
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// isMerge reports whether n is the "<<" merge key, as yaml.v3 decides it.
func isMerge(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Value == "<<" &&
		(n.Tag == "" || n.Tag == "!" || n.ShortTag() == "!!merge")
}

// describe names the kind of n for "want X, got Y" messages. It never
// shows the value, which may be a secret.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a single value"
	}
	return "something else"
}

// walk checks n against type t; path is n's YAML path.
func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) {
	w.visits++
	if w.visits > maxVisits {
		if w.visits == maxVisits+1 {
			w.add(&FieldError{Line: n.Line, Err: errors.New("document too large or uses too many aliases")})
		}
		return
	}
	n = resolve(n)
	if n == nil {
		return // a broken alias; yaml.v3's decode reports it
	}
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		// An alias may name a node it is inside of ("&a {<<: *a}"):
		// walking it again would never end.
		if w.active[n] {
			w.fail(n, path, "an alias refers to a node that contains it")
			return
		}
		w.active[n] = true
		defer delete(w.active, n)
	}
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			w.walk(c, t, path)
		}
		return
	}
	if isNull(n) {
		return // null keeps the default (or empties a list or map)
	}
	switch {
	case isScalar(t):
		w.scalar(n, t, path)
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			if h, ok := reflect.Zero(t).Interface().(interface{ hint() string }); ok {
				w.fail(n, path, "want a mapping, got %s: %s", describe(n), h.hint())
				return
			}
			w.fail(n, path, "want a mapping, got %s", describe(n))
			return
		}
		w.mapping(n, t, path)
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.fail(n, path, "want a list, got %s", describe(n))
			return
		}
		for i, c := range n.Content {
			w.walk(c, t.Elem(), indexPath(path, i))
		}
	case t.Kind() == reflect.Map:
		// Free-form (users[].attributes): yaml.v3 decodes whatever it holds.
		if n.Kind != yaml.MappingNode {
			w.fail(n, path, "want a mapping, got %s", describe(n))
		}
	}
}

// scalar checks that n decodes into a value of type t.
func (w *walker) scalar(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.ScalarNode {
		w.fail(n, path, "want a single value, got %s", describe(n))
		return
	}
	switch t.Kind() {
	case reflect.String:
		if n.ShortTag() != "!!binary" {
			return // any other scalar decodes into a string
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		// yaml.v3 would truncate 1.5 to 1 and accept 1e6; be strict.
		if _, custom := reflect.New(t).Interface().(yaml.Unmarshaler); !custom && n.ShortTag() != "!!int" {
			w.add(&FieldError{Path: path, Line: n.Line, Err: wantError(t, n.Value)})
			return
		}
	}
	v := reflect.New(t)
	err := n.Decode(v.Interface())
	if err == nil {
		return
	}
	if _, custom := v.Interface().(yaml.Unmarshaler); custom {
		// Duration: its own message, minus any "line N: " prefix.
		w.add(syntaxError(err).withPath(path, n.Line))
		return
	}
	w.add(&FieldError{Path: path, Line: n.Line, Err: wantError(t, n.Value)})
}

// withPath sets the path, and the line if e has none.
func (e *FieldError) withPath(path string, line int) *FieldError {
	e.Path = path
	if e.Line == 0 {
		e.Line = line
	}
	return e
}

// mapping checks the keys of mapping n against struct type t and walks
// their values.
func (w *walker) mapping(n *yaml.Node, t reflect.Type, path string) {
	fields := yamlFields(t)
	present := make(map[string]bool)
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := resolve(n.Content[i]); k != nil && k.Kind == yaml.ScalarNode && !isMerge(k) {
			present[k.Value] = true
		}
	}
	firstLine := make(map[string]int) // field key → line of its first key
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k == nil {
			continue
		}
		if isMerge(k) {
			w.merge(v, t, path)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			w.fail(k, path, "keys must be plain names, got %s", describe(k))
			continue
		}
		key := k.Value
		if f, ok := lookupField(fields, key); ok {
			if w.duplicate(firstLine, k, key, key, path) {
				continue
			}
			w.walk(v, f.typ, joinPath(path, key))
			continue
		}
		if base, ok := strings.CutSuffix(key, "_file"); ok {
			if f, ok := lookupField(fields, base); ok && isSecretField(f.typ) {
				if present[base] {
					w.fail(k, joinPath(path, base), "both %s and %s are set; use one", base, key)
					continue
				}
				if w.duplicate(firstLine, k, base, key, path) {
					continue
				}
				nv, ok := w.secretFiles(v, f.typ, joinPath(path, key))
				if !ok {
					continue
				}
				n.Content[i] = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: base, Line: k.Line, Column: k.Column}
				n.Content[i+1] = nv
				continue
			}
		}
		w.fail(k, joinPath(path, key), "unknown key%s", suggest(fields, key))
	}
}

// duplicate reports (and records) whether the field behind key was already
// given in this mapping.
func (w *walker) duplicate(firstLine map[string]int, k *yaml.Node, field, key, path string) bool {
	if line, dup := firstLine[field]; dup {
		w.fail(k, joinPath(path, key), "duplicate key (first given on line %d)", line)
		return true
	}
	firstLine[field] = k.Line
	return false
}

// merge walks the value of a "<<" merge key: a mapping, or a list of
// mappings, each merged into struct type t at path.
func (w *walker) merge(v *yaml.Node, t reflect.Type, path string) {
	r := resolve(v)
	if r != nil && r.Kind == yaml.SequenceNode {
		for _, c := range r.Content {
			w.walk(c, t, path)
		}
		return
	}
	w.walk(v, t, path)
}

// secretFiles reads the file(s) named by the value v of a "<name>_file" key
// (path is that key's path) and returns the node that replaces v: a string
// for a Secret, a list of strings for a list of Secrets.
func (w *walker) secretFiles(v *yaml.Node, t reflect.Type, path string) (*yaml.Node, bool) {
	v = resolve(v)
	if v == nil {
		return nil, false
	}
	if t == secretType {
		if v.Kind != yaml.ScalarNode || isNull(v) {
			w.fail(v, path, "want a file path, got %s", describe(v))
			return nil, false
		}
		s, err := w.readSecret(v.Value)
		if err != nil {
			w.add(&FieldError{Path: path, Line: v.Line, Err: err})
			return nil, false
		}
		return strNode(s, v), true
	}
	var items []*yaml.Node
	switch {
	case v.Kind == yaml.ScalarNode && !isNull(v):
		items = []*yaml.Node{v}
	case v.Kind == yaml.SequenceNode:
		items = v.Content
	default:
		w.fail(v, path, "want a list of file paths, got %s", describe(v))
		return nil, false
	}
	seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: v.Line, Column: v.Column}
	ok := true
	for i, item := range items {
		itemPath := path
		if v.Kind == yaml.SequenceNode {
			itemPath = indexPath(path, i)
		}
		item = resolve(item)
		if item == nil {
			ok = false
			continue
		}
		if item.Kind != yaml.ScalarNode || isNull(item) {
			w.fail(item, itemPath, "want a file path, got %s", describe(item))
			ok = false
			continue
		}
		s, err := w.readSecret(item.Value)
		if err != nil {
			w.add(&FieldError{Path: itemPath, Line: item.Line, Err: err})
			ok = false
			continue
		}
		seq.Content = append(seq.Content, strNode(s, item))
	}
	return seq, ok
}

// strNode returns a string scalar holding s, placed where at is.
func strNode(s string, at *yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s, Line: at.Line, Column: at.Column}
}

// maxSecretFile caps the size of a secret file.
const maxSecretFile = 64 << 10

// readSecretFile returns the content of the secret file name, without
// trailing line breaks. Errors name the file but never show its content.
func readSecretFile(name string) (string, error) {
	if name == "" {
		return "", errors.New("empty file name")
	}
	f, err := os.Open(name)
	if err != nil {
		return "", fmt.Errorf("read secret file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", fmt.Errorf("read secret file %s: %w", name, err)
	}
	if len(b) > maxSecretFile {
		return "", fmt.Errorf("secret file %s is larger than %d bytes", name, maxSecretFile)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("secret file %s is empty", name)
	}
	return s, nil
}

// suggest returns ` (did you mean "x"?)` for the field key closest to key,
// or "" when none is close.
func suggest(fields []field, key string) string {
	best, bestDist := "", 3
	for _, f := range fields {
		if d := editDistance(key, f.key); d < bestDist && d < len(key) {
			best, bestDist = f.key, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b, in bytes.
// Keys longer than 64 bytes are never close to a field name.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return max(len(a), len(b))
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
