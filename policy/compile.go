package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// RuleError is one problem with one rule, found by Compile.
type RuleError struct {
	// Index is the rule's index in the list given to Compile (0-based,
	// like the rules[3] of a configuration path).
	Index int
	// Name is the rule's Name, if it has one.
	Name string
	// Field is the rule field at fault, as named in configuration files
	// ("hosts[1]", "path_prefix", "groups_any"), or "" for a problem with
	// the rule as a whole (an unreachable rule).
	Field string
	// Msg describes the problem.
	Msg string
}

// Error formats the problem: `rule 3: hosts[1]: "a.*.com" is not ...`.
func (e *RuleError) Error() string {
	var b strings.Builder
	b.WriteString(ruleLabel(e.Index, e.Name))
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ruleLabel names a rule in messages: `rule 3` or `rule 3 ("admin")`.
func ruleLabel(i int, name string) string {
	if name == "" {
		return "rule " + strconv.Itoa(i)
	}
	return "rule " + strconv.Itoa(i) + " (" + strconv.Quote(name) + ")"
}

// Policy is a compiled, immutable list of rules. It is safe for concurrent
// use.
type Policy struct {
	rules []rule
	exact map[string]*bucket // by lower-case host name
	wild  map[string]*bucket // by the suffix after "*."
	any   *bucket            // rules without Hosts
}

// rule is a validated Rule in the form the matcher uses.
type rule struct {
	src     Rule // deep copy of what was given
	label   string
	anyHost bool
	exact   []string       // lower-case host names
	wild    []string       // suffixes of "*." wildcards, lower-case
	prefix  string         // "" = any path; never "/"
	re      *regexp.Regexp // anchored
	methods []string       // upper case
	nets    []netip.Prefix // masked, IPv4 as IPv4

	decision     Decision
	users        []string
	groupsAny    []string
	groupsAll    []string
	domains      []string // lower case
	clients      []string
	scopes       []string
	secondFactor bool
	maxAge       time.Duration

	why reasons
}

// reasons are a rule's Outcome reasons, built once so that Decide does not
// allocate.
type reasons struct {
	match, login, who, service, groupsAll, scopes, second, age, allow string
}

const (
	reasonDefault = "no rule matched: default deny"
	reasonBadPath = "path is not normalised: default deny"
)

// Compile checks rules and builds a Policy from them. Rules are tried in
// order and the first whose match fields all match a request decides it;
// a request no rule matches is denied.
//
// Compile refuses, naming the rule's index and field:
//
//   - a missing or unknown Decision;
//   - requirements (Users, GroupsAny, GroupsAll, EmailDomains, Clients, Scopes,
//     SecondFactor, MaxSessionAge) on a public or deny rule, where they
//     would silently do nothing;
//   - empty entries in any list (a requirement nobody can meet, or a
//     host, method or network that means nothing), and duplicates;
//   - malformed hosts: "*" alone (leave Hosts empty instead), a wildcard
//     anywhere but a whole first label ("a.*.com", "*example.com"), a
//     port, characters outside letters, digits, "-", "_" and ".";
//   - both PathPrefix and PathRegex; a PathPrefix that does not start with
//     "/", is not in normalised form (it could never match: "/a//b",
//     "/a/../b", "/%61") or contains ";"; a PathRegex that does not
//     compile;
//   - methods that are not HTTP tokens, or "*";
//   - networks that are not a CIDR prefix or address, or a prefix with
//     host bits set ("10.0.0.1/8");
//   - e-mail domains that are not domain names (including "@example.com"),
//     scopes with spaces, a negative MaxSessionAge;
//   - unreachable rules: a rule every request of which an earlier rule
//     already matches (same or broader hosts, a covering path prefix or no
//     path, the same or more methods, the same or broader networks). Since
//     the earlier rule decides, whatever its decision, the later one could
//     never take effect. Coverage is decided exactly for hosts, prefixes,
//     methods and networks, one earlier rule at a time; a PathRegex rule
//     is covered only by a rule without path constraint or with the same
//     expression, and covers only a rule with the same expression.
//
// The error joins one *RuleError per problem (see errors.Join); every rule
// is checked, so one run lists every problem. Unreachable rules are
// looked for once every rule is otherwise valid.
func Compile(rules []Rule) (*Policy, error) {
	return compile(rules, true)
}

// compile is Compile; tests turn off the reachability check to verify it.
func compile(rules []Rule, checkReachable bool) (*Policy, error) {
	p := &Policy{
		rules: make([]rule, len(rules)),
		exact: make(map[string]*bucket),
		wild:  make(map[string]*bucket),
	}
	var errs []error
	for i := range rules {
		v := validator{index: i, name: rules[i].Name}
		p.rules[i] = v.compile(rules[i])
		errs = append(errs, v.errs...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for i := range p.rules {
		p.add(int32(i))
	}
	if !checkReachable {
		return p, nil
	}
	if errs := p.unreachable(); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// Len returns the number of rules.
func (p *Policy) Len() int { return len(p.rules) }

// Rule returns a copy of rule i as it was given to Compile, so a proxy can
// read what a Reauthenticate outcome asks for (SecondFactor,
// MaxSessionAge). It panics if i is out of range.
func (p *Policy) Rule(i int) Rule { return cloneRule(p.rules[i].src) }

func cloneRule(r Rule) Rule {
	r.Hosts = slices.Clone(r.Hosts)
	r.Methods = slices.Clone(r.Methods)
	r.Networks = slices.Clone(r.Networks)
	r.Users = slices.Clone(r.Users)
	r.GroupsAny = slices.Clone(r.GroupsAny)
	r.GroupsAll = slices.Clone(r.GroupsAll)
	r.EmailDomains = slices.Clone(r.EmailDomains)
	r.Clients = slices.Clone(r.Clients)
	r.Scopes = slices.Clone(r.Scopes)
	return r
}

// validator collects the problems of one rule.
type validator struct {
	index int
	name  string
	errs  []error
}

func (v *validator) add(field, format string, args ...any) {
	v.errs = append(v.errs, &RuleError{Index: v.index, Name: v.name, Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) compile(src Rule) rule {
	r := rule{
		src:          cloneRule(src),
		label:        ruleLabel(v.index, src.Name),
		decision:     src.Decision,
		secondFactor: src.SecondFactor,
		maxAge:       src.MaxSessionAge,
	}
	v.hosts(&r, src.Hosts)
	v.path(&r, src.PathPrefix, src.PathRegex)
	v.methods(&r, src.Methods)
	v.networks(&r, src.Networks)

	switch src.Decision {
	case DecisionPublic, DecisionDeny:
		v.noRequirements(src)
	case DecisionAuthenticated:
		r.users = v.names("users", src.Users)
		r.groupsAny = v.names("groups_any", src.GroupsAny)
		r.groupsAll = v.names("groups_all", src.GroupsAll)
		r.clients = v.names("clients", src.Clients)
		r.scopes = v.names("scopes", src.Scopes)
		for i, s := range r.scopes {
			if strings.ContainsAny(s, " \t\r\n") {
				v.add(fmt.Sprintf("scopes[%d]", i), "%q contains whitespace; list each scope separately", s)
			}
		}
		r.domains = v.domains(src.EmailDomains)
		if src.MaxSessionAge < 0 {
			v.add("max_session_age", "must not be negative (0 means no limit)")
		}
	case "":
		v.add("decision", "is required (public, deny or authenticated)")
	default:
		v.add("decision", "unknown decision %q (want public, deny or authenticated)", string(src.Decision))
	}
	r.why = makeReasons(&r)
	return r
}

func (v *validator) noRequirements(src Rule) {
	d := string(src.Decision)
	lists := []struct {
		field string
		n     int
	}{
		{"users", len(src.Users)},
		{"groups_any", len(src.GroupsAny)},
		{"groups_all", len(src.GroupsAll)},
		{"email_domains", len(src.EmailDomains)},
		{"clients", len(src.Clients)},
		{"scopes", len(src.Scopes)},
	}
	for _, l := range lists {
		if l.n > 0 {
			v.add(l.field, "requirements apply only to authenticated rules; this rule is %s", d)
		}
	}
	if src.SecondFactor {
		v.add("second_factor", "requirements apply only to authenticated rules; this rule is %s", d)
	}
	if src.MaxSessionAge != 0 {
		v.add("max_session_age", "requirements apply only to authenticated rules; this rule is %s", d)
	}
}

func (v *validator) hosts(r *rule, hosts []string) {
	r.anyHost = len(hosts) == 0
	seen := make(map[string]int, len(hosts))
	for i, h := range hosts {
		field := fmt.Sprintf("hosts[%d]", i)
		if h == "" {
			v.add(field, "is empty")
			continue
		}
		lh := strings.TrimSuffix(strings.ToLower(h), ".")
		if j, dup := seen[lh]; dup {
			v.add(field, "duplicate of hosts[%d]", j)
			continue
		}
		seen[lh] = i
		switch {
		case h == "*":
			v.add(field, `"*" is not a host; leave hosts empty to match any host`)
		case strings.HasPrefix(lh, "*."):
			s := lh[2:]
			if strings.Contains(s, "*") || !validHostName(s) {
				v.add(field, `%q is not a valid wildcard: "*." must be followed by a host name, like "*.example.com"`, h)
				continue
			}
			r.wild = append(r.wild, s)
		case strings.Contains(lh, "*"):
			v.add(field, `%q is not a valid wildcard: "*" may only be the whole first label, like "*.example.com"`, h)
		case strings.Contains(lh, ":"):
			v.add(field, "%q must not include a port (or be an IPv6 address)", h)
		case isIPv4(lh):
			v.add(field, "%q must be a DNS name, not an IP address", h)
		case !validHostName(lh):
			v.add(field, "%q is not a valid host name", h)
		default:
			r.exact = append(r.exact, lh)
		}
	}
}

// isIPv4 reports whether s is an IPv4 address.
func isIPv4(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is4()
}

// validHostName reports whether s (lower case, no trailing dot) is a
// DNS name: labels of 1 to 63 letters, digits, "-" or "_".
func validHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func (v *validator) path(r *rule, prefix, re string) {
	if prefix != "" && re != "" {
		v.add("path_regex", "path_prefix and path_regex are mutually exclusive")
		return
	}
	if re != "" {
		c, err := regexp.Compile("^(?:" + re + ")$")
		if err != nil {
			v.add("path_regex", "does not compile: %v", err)
			return
		}
		r.re = c
		return
	}
	if prefix == "" {
		return
	}
	if err := CheckPrefix(prefix); err != nil {
		v.add("path_prefix", "%v", err)
		return
	}
	if prefix != "/" {
		r.prefix = prefix
	}
}

func (v *validator) methods(r *rule, methods []string) {
	for i, m := range methods {
		field := fmt.Sprintf("methods[%d]", i)
		um := strings.ToUpper(m)
		switch {
		case m == "":
			v.add(field, "is empty")
		case m == "*":
			v.add(field, `"*" is not a method; leave methods empty to match any method`)
		case !isToken(m):
			v.add(field, "%q is not an HTTP method", m)
		case slices.Contains(r.methods, um):
			v.add(field, "duplicate method %q", m)
		default:
			r.methods = append(r.methods, um)
		}
	}
}

// isToken reports whether s is an RFC 9110 token.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return s != ""
}

func (v *validator) networks(r *rule, nets []string) {
	for i, s := range nets {
		field := fmt.Sprintf("networks[%d]", i)
		if s == "" {
			v.add(field, "is empty")
			continue
		}
		var pfx netip.Prefix
		if strings.Contains(s, "/") {
			var err error
			if pfx, err = netip.ParsePrefix(s); err != nil {
				v.add(field, "%q is not a CIDR prefix: %v", s, err)
				continue
			}
			if m := pfx.Masked(); m != pfx {
				v.add(field, "%q has host bits set; did you mean %q?", s, m.String())
				continue
			}
		} else {
			a, err := netip.ParseAddr(s)
			if err != nil {
				v.add(field, "%q is not a CIDR prefix (such as 10.0.0.0/8) or an IP address", s)
				continue
			}
			if a.Zone() != "" {
				v.add(field, "%q must not have a zone", s)
				continue
			}
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		// A masked prefix with an IPv4-mapped address has at least 96 bits
		// (a shorter one would have cleared the ffff), so it converts to
		// the IPv4 prefix the unmapped client addresses are compared with.
		if a := pfx.Addr(); a.Is4In6() {
			pfx = netip.PrefixFrom(a.Unmap(), pfx.Bits()-96)
		}
		if slices.Contains(r.nets, pfx) {
			v.add(field, "duplicate network %q", s)
			continue
		}
		r.nets = append(r.nets, pfx)
	}
}

// names checks a list of user, group or scope names.
func (v *validator) names(field string, list []string) []string {
	for i, s := range list {
		if s == "" {
			v.add(fmt.Sprintf("%s[%d]", field, i), "is empty")
		} else if j := slices.Index(list[:i], s); j >= 0 {
			v.add(fmt.Sprintf("%s[%d]", field, i), "duplicate of %s[%d]", field, j)
		}
	}
	return slices.Clone(list)
}

func (v *validator) domains(list []string) []string {
	out := make([]string, 0, len(list))
	for i, d := range list {
		field := fmt.Sprintf("email_domains[%d]", i)
		ld := strings.TrimSuffix(strings.ToLower(d), ".")
		switch {
		case d == "":
			v.add(field, "is empty")
		case strings.Contains(d, "@"):
			v.add(field, `%q must be a domain like "example.com", without "@"`, d)
		case !validHostName(ld):
			v.add(field, "%q is not a domain name", d)
		case slices.Contains(out, ld):
			v.add(field, "duplicate domain %q", d)
		default:
			out = append(out, ld)
		}
	}
	return out
}

// whoReason is the reason a person fails a rule's users, groups_any,
// email_domains and clients.
func whoReason(l string, who []string, r *rule) string {
	if len(r.users) == 0 && len(r.groupsAny) == 0 && len(r.domains) == 0 {
		return l + "only service clients " + fmt.Sprint(r.clients) + " pass, not people"
	}
	return l + "user " + strings.Join(who, ", ")
}

func makeReasons(r *rule) reasons {
	l := r.label + ": "
	var who []string
	if len(r.users) > 0 {
		who = append(who, "not one of users "+fmt.Sprint(r.users))
	}
	if len(r.groupsAny) > 0 {
		who = append(who, "not in any of groups "+fmt.Sprint(r.groupsAny))
	}
	if len(r.domains) > 0 {
		who = append(who, "no verified e-mail address in domains "+fmt.Sprint(r.domains))
	}
	if len(r.clients) > 0 {
		who = append(who, "not one of clients "+fmt.Sprint(r.clients))
	}
	service := l + "service client not one of clients " + fmt.Sprint(r.clients)
	if len(r.clients) == 0 {
		service = l + "a service client (client_credentials) passes only a rule that lists it in clients"
	}
	w := reasons{
		login:     l + "sign-in required",
		who:       whoReason(l, who, r),
		service:   service,
		groupsAll: l + "user not in all of groups " + fmt.Sprint(r.groupsAll),
		scopes:    l + "missing scopes (needs all of " + fmt.Sprint(r.scopes) + ")",
		second:    l + "second factor required",
		age:       l + "sign-in older than " + r.maxAge.String() + ", sign in again",
		allow:     l + "requirements met",
	}
	if !r.src.hasRequirements() {
		w.allow = l + "signed in"
	}
	switch r.decision {
	case DecisionPublic:
		w.match = l + "public"
	case DecisionDeny:
		w.match = l + "denied"
	}
	return w
}
